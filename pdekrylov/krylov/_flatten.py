"""Turn a pytree matvec with pytree parameters into a flat, closure-free function.

`jax.custom_vjp` needs its non-differentiable function argument to close over no
tracers, and its differentiable arguments to be arrays. Both Krylov decompositions
therefore work on `matvec_flat(x, dynamic, constants)` with `x` a flat vector,
`dynamic` the array leaves of the user's parameters and `constants` whatever arrays the
user's matvec closed over (hoisted by `jax.closure_convert`, so they are differentiated
too).
"""

import operator

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree


def flatten_problem(matvec, v, params):
    """Flatten `v` and convert `matvec(v, *params)` to a flat, closure-free form.

    **Arguments:**

    - `matvec`: `matvec(v, *params)` returning a pytree like `v`.
    - `v`: the start vector, any pytree of arrays.
    - `params`: the tuple of extra arguments (any pytrees; array leaves are differentiable).

    **Returns:** `(v_flat, unravel, matvec_flat, args)` where
    `matvec_flat(x, *args)` is the flat matvec and `args` its differentiable arguments.
    """
    v_flat, unravel = ravel_pytree(v)
    check_real("v", v_flat.dtype)
    dynamic, static = eqx.partition(params, eqx.is_array)

    def matvec_on_flat(x, dyn):
        out = matvec(unravel(x), *eqx.combine(dyn, static))
        out_flat, _ = ravel_pytree(out)
        # a complex output cast to the real dtype of v would silently lose its imaginary part
        check_real("matvec", out_flat.dtype, what="its output")
        if out_flat.shape != x.shape:
            raise ValueError(
                f"matvec: expected an output of the same size as v ({x.size}), "
                f"got {out_flat.size}"
            )
        return out_flat.astype(x.dtype)

    converted, constants = jax.closure_convert(matvec_on_flat, v_flat, dynamic)
    return v_flat, unravel, converted, (dynamic, *constants)


def check_real(name: str, dtype, what: str = "its dtype") -> None:
    """Refuse complex and non-floating dtypes, naming the argument.

    The decompositions use real inner products (`Q^T Q = I`) and a real adjoint; a
    complex vector would give wrong numbers without a word (no conjugation).

    **Raises:** `TypeError` naming `name`.
    """
    if jnp.issubdtype(dtype, jnp.complexfloating):
        raise TypeError(
            f"{name}: complex values are not supported ({what} is {dtype}); the Krylov "
            f"decompositions are real. Split a complex state into real and imaginary parts"
        )
    if not jnp.issubdtype(dtype, jnp.floating):
        raise TypeError(f"{name}: expected a real floating dtype, got {dtype}")


def check_depth(depth, size: int) -> int:
    """Validate a Krylov depth: an integer in `[1, size]`."""
    if isinstance(depth, bool) or not isinstance(depth, int):
        try:
            depth = operator.index(depth)
        except TypeError:
            raise TypeError(f"depth: expected an int, got {type(depth).__name__}") from None
    if not 1 <= depth <= size:
        raise ValueError(
            f"depth: expected 1 <= depth <= {size} (the size of v), got {depth}"
        )
    return depth


def vector_norm(v):
    """`||v||_2`, also for vectors whose squared entries underflow.

    XLA on CPU flushes subnormal numbers to zero, so `sqrt(vdot(v, v))` is 0 once every
    entry is below ~1.5e-154 (float64; ~1.1e-19 in float32). Scaling by `max|v|` first
    keeps such vectors (a start vector of 1e-200, say) from being taken for zero.
    """
    scale = jnp.max(jnp.abs(v))
    scale = jnp.where(scale > 0, scale, 1)
    w = v / scale
    return scale * jnp.sqrt(jnp.vdot(w, w))


def safe_inverse(x):
    """`1/x` where `x != 0`, else 0 (for norms of vectors that may vanish)."""
    nonzero = x != 0
    return jnp.where(nonzero, 1 / jnp.where(nonzero, x, 1), 0)


def breakdown_tolerance(dtype):
    """Relative size below which an orthogonalised vector counts as zero."""
    return 10 * jnp.finfo(dtype).eps


def set_row(matrix, index, row):
    """`matrix.at[index].set(row)` as an in-place dynamic-update-slice.

    The `.at[].set` scatter of a traced index lowers, on CPU, to a select over the whole
    matrix (a full pass over an N x K basis per Krylov step); this does not.
    """
    return jax.lax.dynamic_update_index_in_dim(matrix, row, index, 0)


def differentiable_leaves(tree) -> list:
    """The floating (differentiable) array leaves of `tree`, in order.

    A matvec's arguments may hold integer arrays (the indices of a sparse matrix); their
    cotangents are `float0`, which cannot be summed, so the adjoint sweeps accumulate
    only these leaves and `full_cotangent` puts the zeros back.
    """
    return [leaf for leaf in jax.tree_util.tree_leaves(tree) if eqx.is_inexact_array(leaf)]


def full_cotangent(tree, cotangents):
    """The cotangent of `tree` from those of its `differentiable_leaves` (in order):
    `float0` zeros for the integer and boolean leaves."""
    leaves, treedef = jax.tree_util.tree_flatten(tree)
    remaining = iter(cotangents)
    full = [
        next(remaining) if eqx.is_inexact_array(leaf) else np.zeros(np.shape(leaf), jax.dtypes.float0)
        for leaf in leaves
    ]
    return jax.tree_util.tree_unflatten(treedef, full)
