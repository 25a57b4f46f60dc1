"""Property tests (hypothesis) for the operators, the Krylov decompositions and pk.solve.

What is checked, for randomly drawn grids, boundaries, coefficient fields and vectors:

1. Every operator class is linear: `op(a x + b y) == a op(x) + b op(y)`.
2. `as_matrix()` is the operator's matrix; operators with `is_self_adjoint` are
   symmetric (`<x, op y> == <op x, y>`, `A == A^T`) and the others really are not; the
   wave operator's second-order form `(u_t, W S W^-1 u)` is its matrix.
3. Krylov invariants `A Q = Q H + r e_K^T`, `Q^T Q = I`, `Q^T r = 0`, `v = ||v|| Q e_1`
   for `pk.lanczos` on random symmetric matrices (test_krylov.py already has the
   Arnoldi one on dense matrices) and for both methods with the PDE operators' matvecs.
4. At full depth, `pk.solve` with Arnoldi / Lanczos equals the dense exponential
   `expm(t1 A) y0`, and its gradient with respect to y0 equals `expm(t1 A)^T w`.
5. Zero and tiny initial states give finite values and gradients, an exactly zero
   solution and field gradient for y0 = 0, and results that scale with y0.

Start vectors whose entries square to below the smallest normal number (1e-200,
1e-300) are tested too: their norm once underflowed to zero (fixed by a scaled norm).
At y0 = 0 the y0-gradient is zero by convention (the map is not differentiable there
below full depth; README). The small exponentials once lost up to ~1e-8 relative
accuracy beyond `||t H||_1 > 5.37` (JAX's Padé squaring count); a test keeps that fixed.

Cost: the default tests must stay cheap (about 30 s in all on a 2-core CPU), and almost
all of it is XLA compilation, once per new shape or static argument. So: few examples,
small grids, the expensive value-and-gradient programs of pk.solve compiled once per
configuration (fixed shapes, random values) and shared by several tests, and
`FAST_COMPILE`. The thorough versions over random shapes and depths are marked `slow`.
Reference exponentials come from `scipy.linalg.expm`: an implementation independent of
`krylov.expm` that needs no compilation.
"""

import functools
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg
from hypothesis import given, settings, strategies as st

import pdekrylov as pk
import reference

OPERATOR_KINDS = (
    pk.WaveOperator,
    pk.DiffusionOperator,
    pk.AdvectionDiffusionOperator,
    pk.SymmetrizedWaveStiffness,
)
BOUNDARIES = ("neumann", "dirichlet", "periodic")  # every operator accepts all three
MATVEC = lambda x, A: A @ x  # noqa: E731

#: LLVM at -O0: compiles in about half the time; the same floating-point semantics
#: (XLA CPU does not use fast-math), only slower code, irrelevant at these sizes.
FAST_COMPILE = {"xla_backend_optimization_level": 0}
jit = functools.partial(jax.jit, compiler_options=FAST_COMPILE)

shapes = st.lists(st.integers(3, 8), min_size=1, max_size=2).map(tuple)
small_shapes = st.lists(st.integers(3, 5), min_size=1, max_size=2).map(tuple)
seeds = st.integers(0, 2**32 - 1)
# Scalars that stay clear of underflow: XLA's CPU backend flushes subnormals to zero.
scalars = st.floats(-1e3, 1e3, allow_subnormal=False).filter(lambda a: a == 0 or abs(a) >= 1e-3)


# ---------------------------------------------------------------------------- helpers


def random_grid(shape, rng):
    """A grid of `shape` on `[0, upper]` with a random extent per axis."""
    return pk.Grid(shape, upper=tuple(rng.uniform(0.5, 2.0, len(shape))))


def positive_field(rng, shape):
    """A log-uniform field in [0.2, 5]: positive, with a contrast of up to 25."""
    return jnp.asarray(np.exp(rng.uniform(np.log(0.2), np.log(5.0), shape)))


def random_operator(kind, grid, boundary, rng):
    field = positive_field(rng, grid.shape)
    if kind is pk.AdvectionDiffusionOperator:
        velocity = rng.standard_normal((grid.ndim, *grid.shape))  # both upwind branches
        return kind(grid, field, jnp.asarray(velocity), boundary)
    return kind(grid, field, boundary)


def state_size(op):
    return int(np.prod(op.state_shape))


def random_depth(fraction, size):
    """A depth in [1, size], from a fraction in [0, 1]."""
    return 1 + round(fraction * (size - 1))


def pade_safe_time(A, fraction):
    """`fraction * t_max`, where `||t_max H||_1 <= 5.37` for every Krylov matrix H of A
    (`||H||_1 <= sqrt(K) ||H||_2 <= sqrt(N) ||A||_2`): few squarings, so the small
    exponentials are accurate to a few units of rounding (`tests/test_expm.py`)."""
    return fraction * 5.37 / (np.sqrt(A.shape[0]) * np.linalg.norm(A, 2))


def max_abs(x):
    return float(np.max(np.abs(x)))


def assert_close(actual, expected, rtol):
    """Max-norm relative closeness: `max|actual - expected| <= rtol * max|expected|`."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape
    error = max_abs(actual - expected)
    assert error <= rtol * max_abs(expected), (error, max_abs(expected))


def _apply(y, op):
    return op(y)


@jit
def apply_each(op, ys):
    """`op(y)` for each y of a tuple, each applied separately (no vmap)."""
    return tuple(op(y) for y in ys)


@functools.partial(jit, static_argnames=("method", "depth"))
def decompose_operator(op, v, method, depth):
    """A Krylov decomposition with the operator's matvec, and `A Q` for its basis."""
    d = method(_apply, v, depth, op)
    AQ = jax.vmap(lambda q: op(q.reshape(v.shape)).ravel(), in_axes=1, out_axes=1)(d.basis)
    return d, AQ


@functools.partial(jit, static_argnames=("method", "depth"))
def decompose_dense(A, v, method, depth):
    return method(MATVEC, v, depth, A)


def check_krylov_invariants(d, AQ, v, orthogonality_tol):
    """`A Q = Q H + r e_K^T`, `Q^T Q = I`, `Q^T r = 0`, `v = ||v|| Q e_1`, and H upper
    Hessenberg (tridiagonal for Lanczos) with a non-negative subdiagonal."""
    Q, r, AQ = np.asarray(d.basis), np.asarray(d.residual), np.asarray(AQ)
    H = np.asarray(d.hessenberg if isinstance(d, pk.ArnoldiResult) else d.tridiagonal)
    K = H.shape[0]
    e_K = np.eye(K)[-1]
    scale = np.linalg.norm(AQ, axis=0).max()  # the size of the terms A q_k
    assert max_abs(AQ - Q @ H - np.outer(r, e_K)) <= 1e-12 * scale
    # after an exact breakdown (an invariant Krylov space, e.g. the few free nodes of a
    # small Dirichlet grid) the remaining columns are zero, as documented
    active = np.linalg.norm(Q, axis=0) > 0.5
    assert np.all(active[: active.sum()]), "zero columns only after the last basis vector"
    assert max_abs(Q.T @ Q - np.diag(active.astype(float))) <= orthogonality_tol
    assert max_abs(Q.T @ r) <= orthogonality_tol * scale
    assert max_abs(float(d.norm) * Q[:, 0] - np.ravel(v)) <= 1e-14 * max_abs(v)
    assert np.all(np.diagonal(H, -1) >= 0)
    assert np.all(np.tril(H, -2) == 0)


def paige_orthogonality_bounds(d, norm_A):
    """Paige's estimate of Lanczos's loss of orthogonality, per prefix of the basis.

    In floating point the Lanczos vector q_{k+1} leans towards each Ritz vector y_i of T_k
    by about `eps ||A|| / (beta_k |s_{ki}|)`, where `beta_k |s_{ki}|` is the Ritz pair's
    residual (s_{ki} the last component of its eigenvector): orthogonality is lost as a
    Ritz pair converges. Returns the estimate for prefixes k = 1..K (the last one against
    the residual vector r).
    """
    T = np.asarray(d.tridiagonal)
    K = T.shape[0]
    betas = np.append(np.diagonal(T, -1), np.linalg.norm(np.asarray(d.residual)))
    bounds = np.empty(K)
    for k in range(1, K + 1):
        _, S = np.linalg.eigh(T[:k, :k])
        smallest_residual = np.min(betas[k - 1] * np.abs(S[-1]))
        with np.errstate(divide="ignore"):
            bounds[k - 1] = np.finfo(T.dtype).eps * norm_A / smallest_residual
    return bounds


# ------------------------------------------------------------ 1. operators are linear


@pytest.mark.parametrize("kind", OPERATOR_KINDS, ids=lambda kind: kind.__name__)
@settings(max_examples=3, deadline=None)
@given(shape=shapes, boundary=st.sampled_from(BOUNDARIES), seed=seeds, a=scalars, b=scalars)
def test_operators_are_linear(kind, shape, boundary, seed, a, b):
    """op(a x + b y) == a op(x) + b op(y), to rounding."""
    rng = np.random.default_rng(seed)
    op = random_operator(kind, random_grid(shape, rng), boundary, rng)
    x, y = rng.standard_normal((2, *op.state_shape))
    ox, oy, oz = map(np.asarray, apply_each(op, (x, y, a * x + b * y)))
    # Rounding of a x + b y and of the stencil sums: a few ulps of the terms' size.
    scale = abs(a) * max_abs(ox) + abs(b) * max_abs(oy)
    assert max_abs(oz - (a * ox + b * oy)) <= 1e-12 * scale


# ------------------------------------- 2. matrices, self-adjointness, second-order form


@pytest.mark.parametrize("kind", OPERATOR_KINDS, ids=lambda kind: kind.__name__)
@settings(max_examples=2, deadline=None)
@given(shape=shapes, boundary=st.sampled_from(BOUNDARIES), seed=seeds)
def test_matrix_and_self_adjointness(kind, shape, boundary, seed):
    """as_matrix() @ y == op(y); `is_self_adjoint` holds exactly when A is symmetric;
    the wave operator's matrix is [[0, I], [W S W^-1, 0]] with its second-order form."""
    rng = np.random.default_rng(seed)
    op = random_operator(kind, random_grid(shape, rng), boundary, rng)
    A = np.asarray(op.as_matrix())
    x, y = rng.standard_normal((2, *op.state_shape))
    ox, oy = (np.ravel(o) for o in apply_each(op, (x, y)))
    x, y = x.ravel(), y.ravel()
    # Entrywise forward-error bound of a matrix-vector product: a few eps |A| |x|.
    assert np.all(np.abs(A @ x - ox) <= 1e-13 * (np.abs(A) @ np.abs(x)))
    if op.is_self_adjoint:
        assert max_abs(A - A.T) <= 1e-14 * max_abs(A)
        assert abs(x @ oy - ox @ y) <= 1e-13 * (np.abs(x) @ np.abs(A) @ np.abs(y))
    else:  # the flag is not merely conservative: the matrix really is non-symmetric
        assert max_abs(A - A.T) > 1e-6 * max_abs(A)
    if kind is pk.WaveOperator:
        form = op.second_order_form()
        assert form.stiffness.is_self_adjoint
        np.testing.assert_array_equal(form.scale, op.speed)
        n, c = op.grid.size, np.ravel(op.speed)
        S = np.asarray(form.stiffness.as_matrix())
        h = reference.spacing(shape, op.grid.lower, op.grid.upper)
        laplacian = reference.diffusion_matrix(np.ones(shape), h, boundary)
        assert max_abs(S - c[:, None] * laplacian * c[None, :]) <= 1e-13 * max_abs(S)
        np.testing.assert_array_equal(A[:n], np.hstack([np.zeros((n, n)), np.eye(n)]))
        assert max_abs(A[n:, :n] - c[:, None] * S / c[None, :]) <= 1e-13 * max_abs(A)
        np.testing.assert_array_equal(A[n:, n:], 0)


# ------------------------------------------------------------ 3. Krylov invariants


@settings(max_examples=3, deadline=None)
@given(n=st.integers(2, 12), depth_fraction=st.floats(0, 1), seed=seeds)
def test_lanczos_invariants_on_random_symmetric_matrices(n, depth_fraction, seed):
    """The Lanczos decomposition of a random symmetric matrix, any depth up to n."""
    rng = np.random.default_rng(seed)
    G = rng.standard_normal((n, n)) / np.sqrt(n)
    A = (G + G.T) / 2
    v = rng.standard_normal(n)
    depth = random_depth(depth_fraction, n)
    d = decompose_dense(jnp.asarray(A), jnp.asarray(v), method=pk.lanczos, depth=depth)
    # Lanczos does not reorthogonalise: orthogonality decays like eps ||A|| / (Ritz-value
    # gap) (Paige), worst at full depth; 3.5e-10 was the worst of 2000 random draws of
    # these sizes (numpy replica of the recurrence), 1e-13 the typical value. The
    # recurrence itself, A Q = Q T + r e_K^T, holds to rounding.
    check_krylov_invariants(d, A @ np.asarray(d.basis), v, orthogonality_tol=1e-9)


@settings(max_examples=3, deadline=None)
@given(
    kind=st.sampled_from(OPERATOR_KINDS),
    shape=shapes,
    boundary=st.sampled_from(BOUNDARIES),
    depth=st.integers(1, 6),
    seed=seeds,
)
def test_krylov_invariants_with_operator_matvecs(kind, shape, boundary, depth, seed):
    """Arnoldi on every operator, Lanczos on the self-adjoint ones, with their matvecs."""
    rng = np.random.default_rng(seed)
    op = random_operator(kind, random_grid(shape, rng), boundary, rng)
    depth = min(depth, state_size(op))
    v = jnp.asarray(rng.standard_normal(op.state_shape))
    d, AQ = decompose_operator(op, v, method=pk.arnoldi, depth=depth)
    check_krylov_invariants(d, AQ, v, orthogonality_tol=1e-12)
    if op.is_self_adjoint:
        t, AQ = decompose_operator(op, v, method=pk.lanczos, depth=depth)
        bounds = paige_orthogonality_bounds(t, np.linalg.norm(op.as_matrix(), 2))
        # Lanczos does not reorthogonalise, so its basis is orthogonal only to the level
        # of Paige's bound; twice the bound held in 416 random draws (worst ratio 0.69).
        # Once a Ritz pair has converged (e.g. an exact breakdown: the few free nodes of
        # a small Dirichlet grid) the bound exceeds 1 and promises nothing.
        check_krylov_invariants(t, AQ, v, orthogonality_tol=2 * bounds.max())
        # where the basis is still orthogonal to 1e-10 it is Arnoldi's, whose H is then
        # tridiagonal
        k = int(np.argmin(np.append(bounds, np.inf) <= 1e-10))
        if k:  # k = 0 only if v is an eigenvector to rounding: nothing to compare
            assert_close(t.tridiagonal[:k, :k], d.hessenberg[:k, :k], rtol=1e-9)


# ------------------------------ 4 and 5. pk.solve at full depth; zero and tiny y0


class SolveCase(NamedTuple):
    """A fixed-shape pk.solve configuration at full Krylov depth (compiled once)."""

    build: Callable  # rng -> operator
    solver: pk.AbstractSolver
    t1: float


def _advection(rng):
    grid = pk.Grid((4, 3), upper=(1.0, 0.8))
    velocity = jnp.asarray(rng.standard_normal((2, *grid.shape)))
    field = positive_field(rng, grid.shape)
    return pk.AdvectionDiffusionOperator(grid, field, velocity, "dirichlet")


def _wave(rng):
    grid = pk.Grid((3, 4), upper=(0.8, 1.0))
    return pk.WaveOperator(grid, positive_field(rng, grid.shape), "neumann")


# ||t1 A||_1 is about 13 and 230 here, beyond the Padé bound of jax's expm; the error
# that costs is negligible for these operators (worst 2e-13 over 150 seeds, all checks).
SOLVE_CASES = {
    # Arnoldi on a non-symmetric operator: depth 12 = N
    "arnoldi-advection": SolveCase(_advection, pk.Arnoldi(12), t1=0.05),
    # Lanczos on the wave operator's second-order form: depth 12 = size of S
    "lanczos-wave": SolveCase(_wave, pk.Lanczos(12), t1=0.2),
}
# rows of a batch of initial states (`start_vectors`, `solve_batch`)
PLAIN, TINY, ZERO, UNDERFLOW = 0, 1, 2, 3
U_ONLY, U_T_ONLY = 4, 5  # wave operator only: (u, 0) and (0, u_t)


def start_vectors(v, tiny, underflow):
    """The rows PLAIN, TINY, ZERO, UNDERFLOW: v, tiny v, 0, underflow v."""
    return [v, tiny * v, np.zeros_like(v), underflow * v]


def solve_values_and_grads(op, y0s, w, solver, t1):
    """`_solve_values_and_grads` as numpy arrays."""
    return jax.tree_util.tree_map(np.asarray, _solve_values_and_grads(op, y0s, w, solver, t1))


@functools.partial(jit, static_argnames=("solver", "t1"))
def _solve_values_and_grads(op, y0s, w, solver, t1):
    """For each y0: the solution at t1 and the gradients of <w, y(t1)> with respect to
    the operator's fields and y0 (one vmapped loop: no independent loops in one program)."""

    def loss(op, y0):
        ys = pk.solve(op, y0, t1, solver).ys[0]
        return jnp.vdot(w, ys), ys

    grad = jax.value_and_grad(loss, argnums=(0, 1), has_aux=True)
    (_, ys), (g_op, g_y0) = jax.vmap(grad, in_axes=(None, 0))(op, y0s)
    return ys, jax.tree_util.tree_leaves(g_op), g_y0


class Batch(NamedTuple):
    op: pk.AbstractOperator
    v: np.ndarray
    w: np.ndarray
    ys: np.ndarray  # (B, *state_shape)
    g_fields: list  # each (B, *field_shape)
    g_y0: np.ndarray  # (B, *state_shape)


def solve_batch(case, seed, tiny=1e-120, underflow=1e-300):
    """`solve_values_and_grads` from `start_vectors` (and, for the wave operator, from
    `(u, 0)` and `(0, u_t)`): always the same shapes, so one compilation per case."""
    rng = np.random.default_rng(seed)
    op = case.build(rng)
    v, w = rng.standard_normal((2, *op.state_shape))
    starts = start_vectors(v, tiny, underflow)
    if isinstance(op, pk.WaveOperator):
        starts += [np.stack([v[0], 0 * v[1]]), np.stack([0 * v[0], v[1]])]
    ys, g_fields, g_y0 = solve_values_and_grads(
        op, jnp.asarray(np.stack(starts)), jnp.asarray(w), solver=case.solver, t1=case.t1
    )
    return Batch(op, v, w, ys, g_fields, g_y0)


def propagator(op, t1):
    """The dense `expm(t1 A)` of the operator's matrix."""
    return scipy.linalg.expm(t1 * np.asarray(op.as_matrix()))


def check_zero_and_tiny(ys, g_fields, g_y0, tiny):
    """Solutions and gradients from the rows PLAIN, TINY, ZERO, UNDERFLOW (+ any more):
    all finite; y0 = 0 gives y = 0 and zero field gradients; tiny y0 scales."""
    for array in (ys, g_y0, *g_fields):
        assert np.all(np.isfinite(array))
    np.testing.assert_array_equal(ys[ZERO], 0)
    for g in g_fields:  # exact: y is identically zero in the fields when y0 = 0
        np.testing.assert_array_equal(g[ZERO], 0)
    # Degree-1 homogeneity: y(s v) = s y(v), field gradients likewise, y0-gradient fixed.
    assert_close(ys[TINY], tiny * ys[PLAIN], rtol=1e-12)
    for g in g_fields:
        assert_close(g[TINY], tiny * g[PLAIN], rtol=1e-12)
    assert_close(g_y0[TINY], g_y0[PLAIN], rtol=1e-12)


@pytest.mark.parametrize("case", SOLVE_CASES)
@settings(max_examples=3, deadline=None)
@given(seed=seeds)
def test_full_depth_solve_equals_dense_exponential(case, seed):
    """pk.solve at full depth: y(t1) == expm(t1 A) y0, d<w, y(t1)>/dy0 == expm(t1 A)^T w."""
    batch = solve_batch(SOLVE_CASES[case], seed)
    E = propagator(batch.op, SOLVE_CASES[case].t1)
    assert_close(batch.ys[PLAIN].ravel(), E @ batch.v.ravel(), rtol=1e-11)
    assert_close(batch.g_y0[PLAIN].ravel(), E.T @ batch.w.ravel(), rtol=1e-11)


@pytest.mark.parametrize("case", SOLVE_CASES)
@settings(max_examples=4, deadline=None)
@given(seed=seeds, tiny_exponent=st.integers(100, 150), underflow_exponent=st.integers(160, 300))
def test_zero_and_tiny_initial_states(case, seed, tiny_exponent, underflow_exponent):
    """y0 = 0, tiny y0 (1e-150..1e-100) and underflowing y0 (1e-300..1e-160): finite
    values and gradients; y = 0 and zero field gradients for y0 = 0; tiny y0 scales."""
    tiny = 10.0**-tiny_exponent
    batch = solve_batch(SOLVE_CASES[case], seed, tiny=tiny, underflow=10.0**-underflow_exponent)
    check_zero_and_tiny(batch.ys, batch.g_fields, batch.g_y0, tiny)
    if isinstance(batch.op, pk.WaveOperator):  # one of the two Lanczos runs starts at 0
        assert_close(batch.ys[U_ONLY] + batch.ys[U_T_ONLY], batch.ys[PLAIN], rtol=1e-12)


@pytest.mark.parametrize("underflow", [1e-200, 1e-300])
@pytest.mark.parametrize("case", SOLVE_CASES)
def test_initial_states_below_the_norm_underflow_scale(case, underflow):
    """y(s v) == s y(v) also for s = 1e-200 and 1e-300 (the issue's tiny scales)."""
    batch = solve_batch(SOLVE_CASES[case], seed=0, underflow=underflow)
    assert_close(batch.ys[UNDERFLOW], underflow * batch.ys[PLAIN], rtol=1e-12)


def test_small_exponential_beyond_the_pade_bound():
    """exp(t H) e_1 for H = [[-1]] and t = 10 is e^-10 to rounding (with
    jax.scipy.linalg.expm, which squares by floor where ceil is needed, it was off by
    2.2e-8; `krylov.expm` is exact here)."""
    d = pk.ArnoldiResult(
        basis=jnp.ones((1, 1)), hessenberg=-jnp.ones((1, 1)), residual=jnp.zeros(1), norm=1.0
    )
    value = float(jit(pk.expm_action)(d, 10.0).values[0, 0])
    assert abs(value / np.exp(-10.0) - 1) <= 1e-14


# ------------------------------------ thorough versions over random shapes (slow)


@functools.partial(jit, static_argnames=("solver", "t1"))
def solve_final(op, y0, solver, t1):
    return pk.solve(op, y0, t1, solver).ys[0]


@functools.partial(jit, static_argnames=("method", "depth"))
def expm_action_final(op, v, t, method, depth):
    return pk.expm_action(method(_apply, v, depth, op), t).values[0]


@pytest.mark.slow
@settings(max_examples=20, deadline=None)
@given(
    kind=st.sampled_from(OPERATOR_KINDS),
    shape=shapes,
    boundary=st.sampled_from(BOUNDARIES),
    time_fraction=st.floats(0.1, 0.9),
    seed=seeds,
)
def test_full_depth_equals_dense_exponential_on_random_operators(
    kind, shape, boundary, time_fraction, seed
):
    """expm_action and pk.solve at full depth N equal expm(t1 A) y0: Arnoldi for every
    operator, Lanczos for the self-adjoint ones and the wave operator's second-order form."""
    rng = np.random.default_rng(seed)
    op = random_operator(kind, random_grid(shape, rng), boundary, rng)
    A = np.asarray(op.as_matrix())
    n = A.shape[0]
    t1 = pade_safe_time(A, time_fraction)
    y0 = rng.standard_normal(op.state_shape)
    expected = (scipy.linalg.expm(t1 * A) @ y0.ravel()).reshape(op.state_shape)
    y0 = jnp.asarray(y0)
    arnoldi = expm_action_final(op, y0, t1, method=pk.arnoldi, depth=n)
    assert_close(arnoldi, expected.ravel(), 1e-10)
    assert_close(solve_final(op, y0, solver=pk.Arnoldi(n), t1=t1), expected, 1e-10)
    # Lanczos (no reorthogonalisation) is exact at full depth only while the basis stays
    # orthogonal; beyond ~12 nodes it does not (e.g. 1e-6 relative error on a 5x5 grid).
    if op.is_self_adjoint and n <= 12:
        lanczos = expm_action_final(op, y0, t1, method=pk.lanczos, depth=n)
        assert_close(lanczos, expected.ravel(), 1e-10)
        assert_close(solve_final(op, y0, solver=pk.Lanczos(n), t1=t1), expected, 1e-10)
    if isinstance(op, pk.WaveOperator) and op.grid.size <= 12:  # Lanczos on S
        solver = pk.Lanczos(op.grid.size)
        assert_close(solve_final(op, y0, solver=solver, t1=t1), expected, 1e-10)


#: the random setup shared by the slow zero / tiny start-vector tests
RANDOM_START_SETUP = dict(
    kind=st.sampled_from(OPERATOR_KINDS),
    shape=small_shapes,
    boundary=st.sampled_from(BOUNDARIES),
    depth_fraction=st.floats(0, 1),
    use_lanczos=st.booleans(),
    tiny_exponent=st.integers(100, 150),
    seed=seeds,
)


@functools.partial(jit, static_argnames=("method", "depth"))
def decomposition_values_and_grads(op, vs, weights, t, method, depth):
    """For each v: the decomposition's outputs and exp(t A) v, and the gradients of a
    random weighting of them with respect to the operator's fields and v."""

    def loss(op, v):
        d = method(_apply, v, depth, op)
        outputs = (*d, pk.expm_action(d, t).values)
        return sum(jnp.vdot(w, o) for w, o in zip(weights, outputs)), outputs

    grad = jax.value_and_grad(loss, argnums=(0, 1), has_aux=True)
    (_, outputs), (g_op, g_v) = jax.vmap(grad, in_axes=(None, 0))(op, vs)
    return outputs, jax.tree_util.tree_leaves(g_op), g_v


@pytest.mark.slow
@settings(max_examples=10, deadline=None)
@given(**RANDOM_START_SETUP)
def test_zero_and_tiny_start_vectors_in_decompositions(
    kind, shape, boundary, depth_fraction, use_lanczos, tiny_exponent, seed
):
    """pk.arnoldi / pk.lanczos and expm_action from v = 0, tiny v and an underflowing v,
    at random depths: outputs and gradients finite, all zero for v = 0, and for tiny v
    the same basis with the norm and exp(t A) v scaled."""
    rng = np.random.default_rng(seed)
    op = random_operator(kind, random_grid(shape, rng), boundary, rng)
    method = pk.lanczos if use_lanczos and op.is_self_adjoint else pk.arnoldi
    depth = random_depth(depth_fraction, state_size(op))
    t = pade_safe_time(np.asarray(op.as_matrix()), 0.5)
    tiny = 10.0**-tiny_exponent
    v = rng.standard_normal(op.state_shape)
    vs = jnp.asarray(np.stack(start_vectors(v, tiny, underflow=1e-250)))
    outputs = (*jax.eval_shape(lambda: method(_apply, vs[0], depth, op)), np.zeros((1, v.size)))
    weights = [jnp.asarray(rng.standard_normal(np.shape(o))) for o in outputs]
    outputs, g_fields, g_v = jax.tree_util.tree_map(
        np.asarray, decomposition_values_and_grads(op, vs, weights, t, method=method, depth=depth)
    )
    for array in (*outputs, *g_fields, g_v):
        assert np.all(np.isfinite(array))
    for o in outputs:
        np.testing.assert_array_equal(o[ZERO], 0)
    basis, norm, values = outputs[0], outputs[-2], outputs[-1]
    assert_close(basis[TINY], basis[PLAIN], 1e-12)
    assert_close(norm[TINY], tiny * norm[PLAIN], 1e-12)
    assert_close(values[TINY], tiny * values[PLAIN], 1e-12)


@pytest.mark.slow
@settings(max_examples=10, deadline=None)
@given(**RANDOM_START_SETUP, substeps=st.integers(1, 2))
def test_zero_and_tiny_initial_states_at_random_depths(
    kind, shape, boundary, depth_fraction, use_lanczos, substeps, tiny_exponent, seed
):
    """pk.solve (Arnoldi, or Lanczos where the operator allows it) at random depths and
    substeps: the checks of `test_zero_and_tiny_initial_states`."""
    rng = np.random.default_rng(seed)
    op = random_operator(kind, random_grid(shape, rng), boundary, rng)
    if use_lanczos and kind is pk.WaveOperator:  # Lanczos on the stiffness S
        solver = pk.Lanczos(random_depth(depth_fraction, op.grid.size), substeps)
    else:
        method = pk.Lanczos if use_lanczos and op.is_self_adjoint else pk.Arnoldi
        solver = method(random_depth(depth_fraction, state_size(op)), substeps)
    t1 = pade_safe_time(np.asarray(op.as_matrix()), 0.5)
    tiny = 10.0**-tiny_exponent
    v, w = rng.standard_normal((2, *op.state_shape))
    vs = jnp.asarray(np.stack(start_vectors(v, tiny, underflow=1e-250)))
    ys, g_fields, g_y0 = solve_values_and_grads(op, vs, jnp.asarray(w), solver=solver, t1=t1)
    check_zero_and_tiny(ys, g_fields, g_y0, tiny)
