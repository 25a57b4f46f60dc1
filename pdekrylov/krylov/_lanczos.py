"""The Lanczos iteration (three-term recurrence) with a hand-written adjoint sweep.

Without reorthogonalisation the Lanczos vectors lose orthogonality in floating point,
so the constraints `Q^T Q = I` hold only approximately and a constraint-based adjoint
would differentiate a slightly different function. Instead, the backward pass here is
the exact reverse (discrete adjoint) of the recurrence *as executed*: a sweep from the
last step to the first that needs only the stored basis, the recurrence coefficients
and one vector-Jacobian product of the matvec per step. Cost and memory are O(N * K);
nothing else is stored (no tape), and `w_k` is recomputed from
`A q_k = beta_{k-1} q_{k-1} + alpha_k q_k + beta_k q_{k+1}`.
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


class LanczosResult(NamedTuple):
    """A Lanczos decomposition `A Q = Q T + r e_K^T`, `v = norm * Q e_1`, T tridiagonal.

    - `basis`: `Q`, shape `(N, K)`.
    - `diagonal`: the K diagonal entries of T.
    - `offdiagonal`: the K-1 off-diagonal entries of T (non-negative).
    - `residual`: `r`, shape `(N,)`.
    - `norm`: `||v||`.
    """

    basis: Float[Array, "n k"]
    diagonal: Float[Array, " k"]
    offdiagonal: Float[Array, " k-1"]
    residual: Float[Array, " n"]
    norm: Float[Array, ""]

    @property
    def tridiagonal(self):
        """The dense symmetric tridiagonal matrix T, shape `(K, K)` (unbatched results)."""
        return tridiagonal_matrix(self.diagonal, self.offdiagonal)


def tridiagonal_matrix(
    diagonal: Float[Array, " k"], offdiagonal: Float[Array, " k-1"]
) -> Float[Array, "k k"]:
    """The dense symmetric tridiagonal matrix with the given diagonals."""
    return jnp.diag(diagonal) + jnp.diag(offdiagonal, 1) + jnp.diag(offdiagonal, -1)


def lanczos(
    matvec: Callable, v: PyTree[Float[Array, "..."]], depth: int, *params: PyTree
) -> LanczosResult:
    """Lanczos iteration for a self-adjoint (symmetric) matvec, with an O(N K) adjoint.

    The matvec must be symmetric in the Euclidean inner product of the flattened state;
    this is not checked (pass operators that declare `is_self_adjoint`).

    **Arguments:**

    - `matvec`: `matvec(v, *params)`, symmetric linear map returning a pytree like `v`.
    - `v`: the start vector, any pytree of floating arrays.
    - `depth`: the number of Lanczos steps K, `1 <= K <= N`.
    - `params`: parameters of the matvec (any pytrees); gradients flow to their arrays.

    **Returns:** a `LanczosResult` with flat `basis` (N, K) and `residual` (N,).

    **Raises:** `ValueError` if `depth` is outside `[1, N]`; `TypeError` if not an int.
    """
    v_flat, _, matvec_flat, args = flatten_problem(matvec, v, params)
    depth = check_depth(depth, v_flat.size)
    Qr, alpha, beta, r, norm = _decompose(matvec_flat, depth, v_flat, *args)
    return LanczosResult(Qr.T, alpha, beta[:-1], r, norm)


def forward(matvec, depth: int, v, *args):
    """The three-term recurrence. Returns `(Qr, alpha, beta, r, norm)`, basis as rows.

    `beta` has K entries; the last is `||r||` (not part of T).
    """
    (n,) = v.shape
    dtype = v.dtype
    norm = vector_norm(v)
    tol = breakdown_tolerance(dtype)

    def step(k, carry):
        Qr, alpha, beta, q, q_prev, beta_prev, _ = carry
        Qr = set_row(Qr, k, q)
        u = matvec(q, *args)
        w = u - beta_prev * q_prev
        a = jnp.vdot(q, w)
        w = w - a * q
        b = jnp.sqrt(jnp.vdot(w, w))
        b = jnp.where(b <= tol * jnp.sqrt(jnp.vdot(u, u)), 0, b)  # invariant subspace
        return (
            Qr,
            alpha.at[k].set(a),
            beta.at[k].set(b),
            w * safe_inverse(b),
            q,
            b,
            w,
        )

    zeros = jnp.zeros_like(v)
    init = (
        jnp.zeros((depth, n), dtype),
        jnp.zeros(depth, dtype),
        jnp.zeros(depth, dtype),
        v * safe_inverse(norm),
        zeros,
        jnp.zeros((), dtype),
        zeros,
    )
    Qr, alpha, beta, _, _, _, r = jax.lax.fori_loop(0, depth, step, init)
    return Qr, alpha, beta, r, norm


@functools.partial(jax.custom_vjp, nondiff_argnums=(0, 1))
def _decompose(matvec, depth, v, *args):
    return forward(matvec, depth, v, *args)


def _decompose_fwd(matvec, depth, v, *args):
    outputs = forward(matvec, depth, v, *args)
    return outputs, (outputs, args)


def _decompose_bwd(matvec, depth, residuals, cotangents):
    (Qr, alpha, beta, r, norm), args = residuals
    dQr, dalpha, dbeta, dr, dnorm = cotangents
    dv, dargs = adjoint(matvec, args, Qr, alpha, beta, r, norm, dQr, dalpha, dbeta, dr, dnorm)
    return (dv, *dargs)


_decompose.defvjp(_decompose_fwd, _decompose_bwd)


def adjoint(matvec, args, Qr, alpha, beta, r, norm, dQr, dalpha, dbeta, dr, dnorm):
    """Reverse sweep through the recurrence.

    **Returns:** `(dv, dargs)`, the cotangents of the start vector and of `args`.
    """
    K = alpha.shape[0]
    zero_row = jnp.zeros_like(Qr[:1])
    q_next_rows = jnp.concatenate([Qr[1:], zero_row])
    q_prev_rows = jnp.concatenate([zero_row, Qr[:-1]])
    beta_prev = jnp.concatenate([jnp.zeros((1,), beta.dtype), beta[:-1]])
    is_last = jnp.arange(K) == K - 1

    def step(carry, xs):
        g_next, g_partial, b_bar, dargs = carry
        q, q_next, q_prev, dq, a, b, bp, da, dbp, last = xs
        # q_{k+1} = w / b and b = ||w||  (last step: r = w)
        w = jnp.where(last, r, b * q_next)
        w_bar = (g_next - jnp.vdot(g_next, q_next) * q_next) * safe_inverse(b)
        w_bar = w_bar + b_bar * q_next + jnp.where(last, dr, 0)
        # w = w1 - a q and a = <q, w1>
        w1 = w + a * q
        a_bar = da - jnp.vdot(q, w_bar)
        q_bar = g_partial + dq - a * w_bar + a_bar * w1
        w1_bar = w_bar + a_bar * q
        # w1 = A q - beta_prev q_prev
        _, vjp = jax.vjp(matvec, q, *args)
        At_w1_bar, *dargs_k = vjp(w1_bar)
        dargs = [a + b for a, b in zip(dargs, differentiable_leaves(tuple(dargs_k)))]
        q_bar = q_bar + At_w1_bar
        bp_bar = dbp - jnp.vdot(q_prev, w1_bar)
        return (q_bar, -bp * w1_bar, bp_bar, dargs), None

    # dbeta[k-1] is the output cotangent of beta_{k-1}, consumed at step k.
    dbeta_prev = jnp.concatenate([jnp.zeros((1,), dbeta.dtype), dbeta[:-1]])
    init = (
        jnp.zeros_like(r),
        jnp.zeros_like(r),
        dbeta[-1],
        [jnp.zeros_like(leaf) for leaf in differentiable_leaves(args)],
    )
    xs = (Qr, q_next_rows, q_prev_rows, dQr, alpha, beta, beta_prev, dalpha, dbeta_prev, is_last)
    (q0_bar, _, _, dargs), _ = jax.lax.scan(step, init, xs, reverse=True)
    q0 = Qr[0]
    dv = (q0_bar - jnp.vdot(q0_bar, q0) * q0) * safe_inverse(norm) + dnorm * q0
    return dv, full_cotangent(args, dargs)
