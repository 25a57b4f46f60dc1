"""Matrix-function actions from a Krylov decomposition: `exp(t A) v` for many t."""

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from ._arnoldi import ArnoldiResult
from ._expm import expm
from ._flatten import check_real
from ._lanczos import LanczosResult


class ExpmAction(NamedTuple):
    """`exp(t A) v` for a vector of times, from one Krylov decomposition.

    - `values`: shape `(T, N)`; row i approximates `exp(times[i] A) v`.
    - `error_estimate`: shape `(T,)`; the a posteriori estimate
      `||v|| * ||r|| * |e_K^T exp(t H) e_1|` (Saad 1992), the size of the first
      neglected term. Cheap, and close to the true error once the method converges.
    """

    values: Float[Array, "times n"]
    error_estimate: Float[Array, " times"]


def small_matrix(decomposition):
    """The projected K x K matrix of an Arnoldi (H) or Lanczos (T) decomposition."""
    if isinstance(decomposition, ArnoldiResult):
        return decomposition.hessenberg
    if isinstance(decomposition, LanczosResult):
        return decomposition.tridiagonal
    raise TypeError(
        "decomposition: expected an ArnoldiResult or LanczosResult, got "
        f"{type(decomposition).__name__}"
    )


def expm_action(
    decomposition: ArnoldiResult | LanczosResult, times: float | Float[Array, " times"]
) -> ExpmAction:
    """Evaluate `exp(t A) v ≈ ||v|| Q exp(t H) e_1` for every t in `times`.

    The small exponentials are `krylov.expm` (scaling and squaring of a Taylor
    polynomial, matrix products only, one batched call for all times), whose derivative
    is accurate even when Ritz values cluster (unlike a derivative through an
    eigendecomposition, which divides by eigenvalue gaps).

    **Arguments:**

    - `decomposition`: an `ArnoldiResult` or `LanczosResult` of `(A, v)`.
    - `times`: a scalar or 1D array of times.

    **Returns:** an `ExpmAction` (values of shape `(T, N)`; T = 1 for scalar times).
    """
    H = small_matrix(decomposition)
    check_real("decomposition", H.dtype, what="its small matrix")
    if jnp.iscomplexobj(times):
        raise TypeError(f"times: expected real times, got {jnp.result_type(times)}")
    times = jnp.atleast_1d(jnp.asarray(times, H.dtype))
    if times.ndim != 1:
        raise ValueError(f"times: expected a scalar or a 1D array, got shape {times.shape}")
    first_columns = expm(times[:, None, None] * H)[:, :, 0]
    values = decomposition.norm * (first_columns @ decomposition.basis.T)
    # a diagnostic, not differentiated: sqrt's derivative at a zero residual (an exact
    # breakdown, once the Krylov space is invariant) would turn the gradient into NaN
    residual = jax.lax.stop_gradient(decomposition.residual)
    residual_norm = jnp.sqrt(jnp.vdot(residual, residual))
    error = decomposition.norm * residual_norm * jnp.abs(first_columns[:, -1])
    return ExpmAction(values, error)


def second_order_functions(
    T: Float[Array, "k k"], times: Float[Array, " times"]
) -> tuple[Float[Array, "times k"], Float[Array, "times k"], Float[Array, "times k"]]:
    """First columns of the functions that solve `z'' = T z`, for each time t.

    With `F_c(x) = cosh(t sqrt(x))`, `F_s(x) = sinh(t sqrt(x)) / sqrt(x)` (as power
    series: entire functions of x, so `T` may have any sign), and their reductions
    `G_c(x) = (F_c(x) - 1) / x`, `G_s(x) = (F_s(x) - t) / x`, this returns
    `(G_s(T) e_1, G_c(T) e_1, F_s(T) e_1)` evaluated at each t.

    All three come from one exponential of a 4K x 4K block matrix: the state
    `(p, w, w', b)` with `p' = w`, `w'' = T w + b`, `b' = 0`, started at `(0, 0, 0, e_1)`,
    is `(G_s e_1, G_c e_1, F_s e_1, e_1)` at time t. `krylov.expm` keeps the derivative
    accurate where an eigendecomposition would divide by eigenvalue gaps.

    **Arguments:**

    - `T`: a K x K matrix (the Lanczos tridiagonal).
    - `times`: a 1D array of P times.

    **Returns:** three arrays of shape `(P, K)`.
    """
    K = T.shape[0]
    identity = jnp.eye(K, dtype=T.dtype)
    zero = jnp.zeros_like(T)
    M = jnp.block(
        [
            [zero, identity, zero, zero],
            [zero, zero, identity, zero],
            [zero, T, zero, identity],
            [zero, zero, zero, zero],
        ]
    )
    columns = expm(times[:, None, None] * M)[:, :, 3 * K]
    return columns[:, :K], columns[:, K : 2 * K], columns[:, 2 * K : 3 * K]
