"""Operators a user brings: any linear map given by a matvec, or a (sparse) matrix.

The solvers need nothing but `op(y)` and `op.state_shape` (plus, for Lanczos, a declared
symmetry); these wrap what a user has — a finite-element matrix, a
`jax.experimental.sparse` matrix, a closure over a learned parameter — into that contract.
"""

import operator as _operator
from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from ._operators import AbstractOperator
from ._spectrum import SpectrumBound


def _check_state_shape(state_shape) -> tuple[int, ...]:
    try:
        shape = tuple(_operator.index(n) for n in state_shape)
    except TypeError:
        raise TypeError(
            f"state_shape: expected a tuple of ints, got {state_shape!r}"
        ) from None
    if not shape or any(n < 1 for n in shape):
        raise ValueError(f"state_shape: expected a non-empty tuple of ints >= 1, got {shape}")
    return shape


class LinearOperator(AbstractOperator):
    """A linear operator given by its matvec: `y -> matvec(y)` on states of `state_shape`.

    Gradients reach whatever the matvec depends on: the array leaves of `matvec` when it
    is a pytree (an `equinox.Module`, a `jax.tree_util.Partial`), and arrays a plain
    function closes over when the operator is built inside the differentiated function.

    **Arguments:**

    - `matvec`: a callable, linear in its argument, mapping an array of `state_shape` to
      one of the same shape.
    - `state_shape`: the shape of the states.
    - `self_adjoint`: declare the matrix symmetric (not checked), which `pk.Lanczos` needs.

    **Raises:** `TypeError` / `ValueError` naming the argument.
    """

    matvec: Callable
    _state_shape: tuple[int, ...] = eqx.field(static=True)
    self_adjoint: bool = eqx.field(static=True)

    def __init__(self, matvec: Callable, state_shape, *, self_adjoint: bool = False):
        if not callable(matvec):
            raise TypeError(f"matvec: expected a callable, got {type(matvec).__name__}")
        self.matvec = matvec
        self._state_shape = _check_state_shape(state_shape)
        self.self_adjoint = bool(self_adjoint)

    @property
    def state_shape(self) -> tuple[int, ...]:
        return self._state_shape

    @property
    def is_self_adjoint(self) -> bool:
        return self.self_adjoint

    def __call__(self, y: Float[Array, "*state"]) -> Float[Array, "*state"]:
        self._check_state(y)
        out = self.matvec(y)
        if jnp.shape(out) != self.state_shape:
            raise ValueError(
                f"matvec: expected an output of shape {self.state_shape} (the state shape), "
                f"got {jnp.shape(out)}"
            )
        return out


class MatrixOperator(AbstractOperator):
    """The operator `y -> M y` of an `(N, N)` matrix: a dense array or a
    `jax.experimental.sparse` matrix (`BCOO`, `BCSR`); states have shape `(N,)`.

    The matrix is a field, so `equinox.filter_grad` with respect to the operator gives the
    gradient with respect to its (stored) entries.

    **Arguments:**

    - `matrix`: the square matrix, floating.
    - `self_adjoint`: declare it symmetric (not checked), which `pk.Lanczos` needs.

    **Raises:** `TypeError` / `ValueError` naming the argument.
    """

    matrix: jax.Array
    self_adjoint: bool = eqx.field(static=True)

    def __init__(self, matrix, *, self_adjoint: bool = False):
        shape = getattr(matrix, "shape", None)
        if shape is None or len(shape) != 2 or shape[0] != shape[1]:
            raise ValueError(f"matrix: expected a square (N, N) matrix, got shape {shape}")
        dtype = getattr(matrix, "dtype", None)
        if dtype is None or not jnp.issubdtype(dtype, jnp.floating):
            raise TypeError(f"matrix: expected a real floating matrix, got dtype {dtype}")
        self.matrix = matrix if hasattr(matrix, "todense") else jnp.asarray(matrix)
        self.self_adjoint = bool(self_adjoint)

    @property
    def state_shape(self) -> tuple[int, ...]:
        return (self.matrix.shape[0],)

    @property
    def is_self_adjoint(self) -> bool:
        return self.self_adjoint

    def __call__(self, y: Float[Array, " n"]) -> Float[Array, " n"]:
        self._check_state(y)
        return self.matrix @ y

    def spectrum_bound(self) -> SpectrumBound:
        """A disk: `‖M‖₂ <= sqrt(‖M‖₁ ‖M‖_∞)` (`‖M‖_∞` when declared symmetric), from the
        absolute row and column sums of the stored entries."""
        rows, columns = _absolute_sums(self.matrix)
        radius = jnp.max(rows) if self.self_adjoint else jnp.sqrt(jnp.max(rows) * jnp.max(columns))
        return SpectrumBound("disk", radius)


def _absolute_sums(matrix):
    """The absolute row and column sums of a dense or `jax.experimental.sparse` matrix."""
    if not hasattr(matrix, "todense"):
        return jnp.sum(jnp.abs(matrix), axis=1), jnp.sum(jnp.abs(matrix), axis=0)
    coo = matrix.to_bcoo() if hasattr(matrix, "to_bcoo") else matrix
    size = coo.shape[0]
    values = jnp.abs(coo.data)
    rows = jax.ops.segment_sum(values, coo.indices[:, 0], size)
    columns = jax.ops.segment_sum(values, coo.indices[:, 1], size)
    return rows, columns
