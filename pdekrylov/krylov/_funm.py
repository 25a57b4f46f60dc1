"""Matrix-function actions from a Krylov decomposition: `exp(t A) v` for many t."""

from typing import NamedTuple

import jax
import jax.numpy as jnp

from ._arnoldi import ArnoldiResult
from ._lanczos import LanczosResult


class ExpmAction(NamedTuple):
    """`exp(t A) v` for a vector of times, from one Krylov decomposition.

    - `values`: shape `(T, N)`; row i approximates `exp(times[i] A) v`.
    - `error_estimate`: shape `(T,)`; the a posteriori estimate
      `||v|| * ||r|| * |e_K^T exp(t H) e_1|` (Saad 1992), the size of the first
      neglected term. Cheap, and close to the true error once the method converges.
    """

    values: jax.Array
    error_estimate: jax.Array


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


def expm_action(decomposition, times):
    """Evaluate `exp(t A) v ≈ ||v|| Q exp(t H) e_1` for every t in `times`.

    The small exponentials use `jax.scipy.linalg.expm` (scaling and squaring with Padé
    approximants), whose derivative is accurate even when Ritz values cluster (unlike a
    derivative through an eigendecomposition, which divides by eigenvalue gaps).

    **Arguments:**

    - `decomposition`: an `ArnoldiResult` or `LanczosResult` of `(A, v)`.
    - `times`: a scalar or 1D array of times.

    **Returns:** an `ExpmAction` (values of shape `(T, N)`; T = 1 for scalar times).
    """
    H = small_matrix(decomposition)
    times = jnp.atleast_1d(jnp.asarray(times, H.dtype))
    if times.ndim != 1:
        raise ValueError(f"times: expected a scalar or a 1D array, got shape {times.shape}")
    first_columns = jax.vmap(lambda t: jax.scipy.linalg.expm(t * H)[:, 0])(times)
    values = decomposition.norm * (first_columns @ decomposition.basis.T)
    residual_norm = jnp.sqrt(jnp.vdot(decomposition.residual, decomposition.residual))
    error = decomposition.norm * residual_norm * jnp.abs(first_columns[:, -1])
    return ExpmAction(values, error)
