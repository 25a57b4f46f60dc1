"""The exponential of small dense matrices from matrix products only (no LAPACK).

Scaling and squaring around the degree-18 Taylor polynomial, with the squaring
threshold of Bader, Blanes & Casas, "Computing the matrix exponential with an optimized
Taylor polynomial approximation", Mathematics 7 (2019) 1174 (the method behind PyTorch's
`matrix_exp`). Why not `jax.scipy.linalg.expm`:

- its Padé step solves a linear system, which jaxlib runs through LAPACK on CPU: a
  batched LU inside XLA's thread pool is what deadlocked jaxlib 0.10.x, and
  multi-threaded OpenBLAS there made a 60 x 60 solve 100x slower;
- it picks its number of squarings with `floor` where `ceil` is needed, so just above
  each threshold (||A||_1 > 5.37 * 2^k) it loses up to ~1e-7 relative accuracy;
- under `vmap` its degree selection evaluates every Padé branch.

Here the polynomial degree is fixed (18), the squaring count is `ceil`, and the
squarings run in a `lax.scan` of static length (no data-dependent loop): reverse- and
forward-mode autodiff go through it as written, and under `vmap` every matrix pays for
at most `max_squarings` products, never for untaken branches.
"""

import math

import jax
import jax.numpy as jnp
from jaxtyping import Array, Inexact
import numpy as np

# Largest ||A||_1 for which the degree-18 Taylor polynomial has relative backward error
# below the unit roundoff (Bader, Blanes & Casas 2019, table of theta_m for m = 18).
_THETA_18 = {np.dtype("float64"): 1.090863719290036, np.dtype("float32"): 3.010066362817634}

# Taylor coefficients 1/k!, k = 0..18.
_TAYLOR_18 = tuple(1.0 / math.factorial(k) for k in range(19))


def expm(
    matrix: Inexact[Array, "*batch k k"], *, max_squarings: int = 16
) -> Inexact[Array, "*batch k k"]:
    """`exp(A)` for a square matrix or a batch of them, from matrix products only.

    Each matrix is first shifted by its mean eigenvalue where that lowers its norm
    (`exp(A) = e^mu exp(A - mu I)`). The squaring count is then
    `s = ceil(log2(||A||_1 / theta_18))` (zero for small norms); the squarings run in a
    scan of `max_squarings` steps, each applied only where `s` asks for it. Matrices whose norm needs more than `max_squarings`
    squarings (`||A||_1 > theta_18 * 2^max_squarings`, about 7e4 in float64) give NaN,
    as `jax.scipy.linalg.expm` does, instead of an inaccurate result.

    **Arguments:**

    - `matrix`: shape `(..., K, K)`, floating or complex.
    - `max_squarings`: the static bound on the number of squarings.

    **Returns:** `exp(matrix)`, of the same shape and dtype.

    **Raises:** `ValueError` if `matrix` is not a (batch of) square matrices or
    `max_squarings` is negative; `TypeError` for integer or boolean matrices.
    """
    A = jnp.asarray(matrix)
    if A.ndim < 2 or A.shape[-1] != A.shape[-2]:
        raise ValueError(f"matrix: expected shape (..., K, K), got {A.shape}")
    if not jnp.issubdtype(A.dtype, jnp.inexact):
        raise TypeError(f"matrix: expected a floating or complex dtype, got {A.dtype}")
    if isinstance(max_squarings, bool) or not isinstance(max_squarings, (int, np.integer)):
        raise TypeError(f"max_squarings: expected an int, got {type(max_squarings).__name__}")
    if max_squarings < 0:
        raise ValueError(f"max_squarings: expected an int >= 0, got {max_squarings}")

    real_dtype = np.dtype(jnp.finfo(A.dtype).dtype)
    theta = _THETA_18.get(real_dtype, _THETA_18[np.dtype("float32")])
    A, shift = _shift_by_mean_eigenvalue(A, real_dtype)
    # The squaring count is a piecewise-constant function of A: no derivative flows
    # through it (the derivative of the approximant is taken at fixed s).
    norm = jax.lax.stop_gradient(one_norm(A))
    squarings = squaring_count(norm, theta)
    scale = jnp.exp2(-squarings.astype(real_dtype))[..., None, None]  # exact powers of 2
    X = taylor_18(A * scale.astype(A.dtype))

    def square(X, i):
        needed = (i < squarings)[..., None, None]
        # Skips the product when no matrix of this (explicit) batch needs it; under an
        # outer vmap the predicate is batched and this is a select, as `where` is.
        X = jax.lax.cond(
            jnp.any(needed), lambda X: jnp.where(needed, X @ X, X), lambda X: X, X
        )
        return X, None

    X, _ = jax.lax.scan(square, X, jnp.arange(max_squarings))
    X = X * jnp.exp(shift)[..., None, None].astype(A.dtype)
    too_large = (squarings > max_squarings)[..., None, None]
    return jnp.where(too_large, jnp.nan, X).astype(A.dtype)


def one_norm(A: jax.Array) -> jax.Array:
    """`||A||_1`, the largest column sum of absolute values, per matrix of the batch."""
    return jnp.max(jnp.sum(jnp.abs(A), axis=-2), axis=-1)


def _shift_by_mean_eigenvalue(A, real_dtype):
    """`(A - mu I, mu)` with `mu = Re trace(A) / K` where that lowers `||A||_1`, else `(A, 0)`.

    `exp(A) = e^mu exp(A - mu I)` exactly; a smaller norm needs fewer squarings, and each
    squaring doubles the relative rounding error (`-43 I` becomes the zero matrix). Not
    where `e^mu` would come near underflow: with eigenvalues {10, -2000} the shifted
    factor would be 0 times a huge number.
    """
    K = A.shape[-1]
    # exp(A) = e^mu exp(A - mu I) holds for every constant mu, so the derivative at fixed
    # mu is exact. Differentiating mu as well adds two terms that cancel only up to
    # rounding, which then swamps the tiny far-from-diagonal entries of the derivative
    # that the Arnoldi adjoint amplifies (measured: a depth-40 wave gradient 2 % wrong).
    mu = jax.lax.stop_gradient(jnp.real(jnp.trace(A, axis1=-2, axis2=-1)) / K)
    shifted = A - (mu[..., None, None] * jnp.eye(K, dtype=real_dtype)).astype(A.dtype)
    underflow_margin = 0.5 * float(np.log(np.finfo(real_dtype).tiny))
    use = (one_norm(shifted) < one_norm(A)) & (mu > underflow_margin)
    return jnp.where(use[..., None, None], shifted, A), jnp.where(use, mu, 0.0)


def squaring_count(norm: jax.Array, theta: float) -> jax.Array:
    """The least `s >= 0` with `norm / 2^s <= theta`, as int32 (huge for inf or NaN).

    Exact at powers of two: `norm / theta = m 2^e` with `m` in [0.5, 1) (`frexp`), so
    `s = e`, or `e - 1` when `m = 0.5`.
    """
    ratio = norm / theta
    mantissa, exponent = jnp.frexp(ratio)
    s = jnp.where(mantissa == 0.5, exponent - 1, exponent)
    s = jnp.where(ratio <= 1, 0, s)
    return jnp.where(jnp.isfinite(ratio), s, jnp.iinfo(jnp.int32).max).astype(jnp.int32)


def taylor_18(A: jax.Array) -> jax.Array:
    """The degree-18 Taylor polynomial of `exp` at `A`, by Paterson–Stockmeyer.

    With the powers `I, A, A^2, A^3` and `A^4`, `T_18(A) = C_0 + A^4 (C_1 + A^4 (C_2 +
    A^4 (C_3 + A^4 C_4)))`, each `C_j` a combination of `I, A, A^2, A^3`: seven matrix
    products. (Bader, Blanes & Casas evaluate the same polynomial with five, but their
    coefficients of size ~10 cancel; on Krylov Hessenberg matrices that made the result
    3-5x less accurate after squaring, measured against a 40-digit reference.)
    """
    identity = jnp.eye(A.shape[-1], dtype=A.dtype)
    A2 = A @ A
    A3 = A2 @ A
    A4 = A2 @ A2
    powers = (identity, A, A2, A3)

    def block(j):  # C_j = sum_i A^i / (4 j + i)!
        return sum(_TAYLOR_18[4 * j + i] * powers[i] for i in range(4) if 4 * j + i <= 18)

    X = block(4)
    for j in (3, 2, 1, 0):
        X = block(j) + A4 @ X
    return X
