"""The Arnoldi iteration with its adjoint system (Krämer et al. 2024) as custom VJP.

Storage convention: internally the basis is kept as rows, `Qr` of shape `(K, N)`, so
each basis vector is contiguous in memory and `Qr @ w` / `h @ Qr` stream through it.
The public `ArnoldiResult.basis` is its transpose, `(N, K)`.

Notation of the backward pass follows Krämer et al. (2024), "Gradients of Functions
of Large Matrices", the adjoint of the Arnoldi iteration: multipliers
`lambda_k` for `A Q = Q H + r e_K^T`, `Gamma` (lower triangular) for `Q^T Q = I`, `gamma`
for `Q^T r = 0`; the sweep solves for them from the last column to the first.
"""

import functools
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PyTree

from ._flatten import (
    breakdown_tolerance,
    check_depth,
    differentiable_leaves,
    flatten_problem,
    full_cotangent,
    safe_inverse,
    set_row,
    vector_norm,
)


class ArnoldiResult(NamedTuple):
    """An Arnoldi decomposition `A Q = Q H + r e_K^T`, `Q^T Q = I`, `v = norm * Q e_1`.

    - `basis`: `Q`, shape `(N, K)`, orthonormal columns (zero columns after an exact
      breakdown, i.e. once the Krylov space is invariant).
    - `hessenberg`: `H`, shape `(K, K)`, upper Hessenberg, non-negative subdiagonal.
    - `residual`: `r`, shape `(N,)`, orthogonal to the basis.
    - `norm`: `||v||`.
    """

    basis: Float[Array, "n k"]
    hessenberg: Float[Array, "k k"]
    residual: Float[Array, " n"]
    norm: Float[Array, ""]


def arnoldi(
    matvec: Callable, v: PyTree[Float[Array, "..."]], depth: int, *params: PyTree,
    reproject: bool = True,
) -> ArnoldiResult:
    """Arnoldi iteration with full reorthogonalisation and an adjoint-based gradient.

    Reverse-mode derivatives come from the adjoint system of the decomposition (one
    vector-Jacobian product of the matvec per step, which gives both `A^T lambda` and the
    parameter gradient), not from a tape of the loop; memory is O(N * depth).

    **Arguments:**

    - `matvec`: `matvec(v, *params)`, the linear map; must return a pytree like `v`.
    - `v`: the start vector, any pytree of floating arrays (flattened internally).
    - `depth`: the number of Arnoldi steps K, `1 <= K <= N`.
    - `params`: parameters of the matvec (any pytrees, e.g. an Equinox operator);
      gradients flow to their array leaves.
    - `reproject`: re-project each adjoint multiplier onto the constraints already known
      (the paper's "adjoint with projection"; keep it on, it is the accurate variant).

    **Returns:** an `ArnoldiResult`; `basis` and `residual` are flat (length N).

    **Raises:** `ValueError` if `depth` is outside `[1, N]`; `TypeError` if not an int.
    """
    v_flat, _, matvec_flat, args = flatten_problem(matvec, v, params)
    depth = check_depth(depth, v_flat.size)
    Qr, H, r, norm = _decompose(matvec_flat, depth, reproject, v_flat, *args)
    return ArnoldiResult(basis=Qr.T, hessenberg=H, residual=r, norm=norm)


def forward(matvec, depth: int, v, *args):
    """The Arnoldi iteration itself (classical Gram-Schmidt, applied twice).

    **Returns:** `(Qr, H, r, norm)` with the basis as rows, `Qr` of shape `(K, N)`.
    """
    (n,) = v.shape
    dtype = v.dtype
    norm = vector_norm(v)
    tol = breakdown_tolerance(dtype)

    def step(k, carry):
        Qr, H, q, _ = carry
        Qr = set_row(Qr, k, q)
        w = matvec(q, *args)
        scale = jnp.sqrt(jnp.vdot(w, w))
        # Classical Gram-Schmidt twice ("twice is enough"): rows > k of Qr are zero and
        # contribute nothing.
        h = Qr @ w
        w = w - h @ Qr
        correction = Qr @ w
        w = w - correction @ Qr
        h = h + correction
        beta = jnp.sqrt(jnp.vdot(w, w))
        # Breakdown: w is rounding noise, the Krylov space is invariant. Continue with a
        # zero vector (so later columns are zero and the result stays exact) instead of
        # dividing by ~0.
        breakdown = beta <= tol * scale
        beta = jnp.where(breakdown, 0, beta)
        q_next = w * safe_inverse(beta)
        H = H.at[:, k].set(h.at[k + 1].set(beta, mode="drop"))
        return Qr, H, q_next, w

    init = (
        jnp.zeros((depth, n), dtype),
        jnp.zeros((depth, depth), dtype),
        v * safe_inverse(norm),
        jnp.zeros_like(v),
    )
    Qr, H, _, r = jax.lax.fori_loop(0, depth, step, init)
    return Qr, H, r, norm


@functools.partial(jax.custom_vjp, nondiff_argnums=(0, 1, 2))
def _decompose(matvec, depth, reproject, v, *args):
    return forward(matvec, depth, v, *args)


def _decompose_fwd(matvec, depth, reproject, v, *args):
    outputs = forward(matvec, depth, v, *args)
    return outputs, (outputs, args)


def _decompose_bwd(matvec, depth, reproject, residuals, cotangents):
    (Qr, H, r, norm), args = residuals
    dQr, dH, dr, dnorm = cotangents
    dv, dargs = adjoint(matvec, args, Qr, H, r, norm, dQr, dH, dr, dnorm, reproject)
    return (dv, *dargs)


_decompose.defvjp(_decompose_fwd, _decompose_bwd)


def adjoint(matvec, args, Qr, H, r, norm, dQr, dH, dr, dnorm, reproject=True):
    """Solve the adjoint system of an Arnoldi decomposition, last column first.

    **Arguments:** the matvec and its arguments, the forward outputs (basis as rows) and
    their cotangents; `reproject` as in `arnoldi`.

    **Returns:** `(dv, dargs)`: the cotangents of the start vector and of `args`.
    """
    K = H.shape[0]
    e_K = jnp.zeros(K, H.dtype).at[-1].set(1)
    index = jnp.arange(K)
    # Row k of lower_mask selects the entries of Gamma solved at step k (diagonal halved).
    lower_mask = jnp.tril(jnp.ones((K, K), H.dtype)) - 0.5 * jnp.eye(K, dtype=H.dtype)
    # Entries of H (and so of dH) that the Hessenberg pattern allows in column k: j <= k+1.
    known_mask = index[None, :] <= index[:, None] + 1
    # Pi_Gamma = H dH^T - dQ^T Q - dc c e1 e1^T, with c = 1/norm (dc c = -dnorm norm).
    Pi_Gamma = H @ dH.T - dQr @ Qr.T
    Pi_Gamma = Pi_Gamma.at[0, 0].add(dnorm * norm)
    gamma = dH[:, -1] - Qr @ dr
    lam = dr + gamma @ Qr
    subdiagonal = jnp.concatenate([jnp.ones((1,), H.dtype), jnp.diagonal(H, -1)])
    strictly_upper = jnp.triu(H, 1)

    def step(carry, xs):
        lam, Lambda, Gamma, dargs = carry
        k, q, dq, pi_gamma, h_row, dh_col, known, beta = xs
        s = Qr @ lam
        if reproject:
            # Enforce Q_m^T lambda = dH[m, k] for the known entries m: lambda stays
            # consistent with the constraints it must satisfy (mirrors reorthogonalisation).
            p = jnp.where(known, dh_col - s, 0)
            lam = lam + p @ Qr
            s = s + p
        _, vjp = jax.vjp(matvec, q, *args)
        At_lam, *dargs_k = vjp(lam)
        dargs = [a + b for a, b in zip(dargs, differentiable_leaves(tuple(dargs_k)))]
        # (A^T lambda)^T Q = lambda^T (Q H + r e_K^T): from s, no pass over Q needed.
        At_lam_Q = s @ H + jnp.vdot(r, lam) * e_K
        Gamma = Gamma.at[k].set(lower_mask[k] * (pi_gamma - At_lam_Q))
        Lambda = set_row(Lambda, k, lam)
        xi = dq + gamma[k] * r + (Gamma[k] + Gamma[:, k]) @ Qr
        lam_prev = xi - H[k, k] * lam + At_lam - h_row @ Lambda
        # An exact breakdown (beta = 0) leaves lambda_{k-1} undetermined by this row;
        # zero is the multiplier of the truncated (invariant) decomposition.
        lam_prev = lam_prev * safe_inverse(beta)
        return (lam_prev, Lambda, Gamma, dargs), None

    init = (
        lam,
        jnp.zeros_like(Qr),
        jnp.zeros_like(H),
        [jnp.zeros_like(leaf) for leaf in differentiable_leaves(args)],
    )
    xs = (index, Qr, dQr, Pi_Gamma, strictly_upper, dH.T, known_mask, subdiagonal)
    (lam0, _, _, dargs), _ = jax.lax.scan(step, init, xs, reverse=True)
    dv = lam0 * safe_inverse(norm)
    return dv, full_cotangent(args, dargs)
