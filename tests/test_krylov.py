"""Arnoldi and Lanczos decompositions, their adjoints, and exp(tA)v on top (float64)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import pdekrylov as pk

MATVEC = lambda x, A: A @ x  # noqa: E731


def random_matrix(key, n, symmetric=False):
    A = jax.random.normal(key, (n, n)) / np.sqrt(n)
    return (A + A.T) / 2 if symmetric else A


def plain_arnoldi(A, v, depth):
    """Arnoldi written out as a Python loop (CGS2), differentiated by JAX's reverse mode."""
    norm = jnp.linalg.norm(v)
    q = v / norm
    rows, H = [], jnp.zeros((depth, depth))
    for k in range(depth):
        rows.append(q)
        Q = jnp.stack(rows)
        w = A @ q
        h = Q @ w
        w = w - h @ Q
        h2 = Q @ w
        w = w - h2 @ Q
        H = H.at[: k + 1, k].set(h + h2)
        beta = jnp.linalg.norm(w)
        if k + 1 < depth:
            H = H.at[k + 1, k].set(beta)
            q = w / beta
    return jnp.stack(rows).T, H, w, norm


def plain_lanczos(A, v, depth):
    """The three-term recurrence as a Python loop."""
    norm = jnp.linalg.norm(v)
    q, q_prev, b_prev = v / norm, jnp.zeros_like(v), 0.0
    rows, alphas, betas = [], [], []
    for _ in range(depth):
        rows.append(q)
        w = A @ q - b_prev * q_prev
        a = q @ w
        w = w - a * q
        b = jnp.linalg.norm(w)
        alphas.append(a)
        betas.append(b)
        q_prev, q, b_prev = q, w / b, b
    return jnp.stack(rows).T, jnp.stack(alphas), jnp.stack(betas)[:-1], w, norm


def weighted_sum(outputs, key):
    """A scalar that depends on every output, with random weights."""
    keys = jax.random.split(key, len(outputs))
    return sum(
        jnp.sum(jax.random.normal(k, jnp.shape(o)) * o) for k, o in zip(keys, outputs)
    )


DECOMPOSITIONS = {
    "arnoldi": (pk.arnoldi, plain_arnoldi, False),
    "lanczos": (pk.lanczos, plain_lanczos, True),
}


@pytest.mark.parametrize("name", DECOMPOSITIONS)
def test_custom_vjp_matches_autodiff_through_loop(name):
    ours, plain, symmetric = DECOMPOSITIONS[name]
    n, depth = 14, 8
    A = random_matrix(jax.random.PRNGKey(0), n, symmetric)
    v = jax.random.normal(jax.random.PRNGKey(1), (n,))
    key = jax.random.PRNGKey(2)

    def loss_ours(A, v):
        return weighted_sum(tuple(ours(MATVEC, v, depth, A)), key)

    def loss_plain(A, v):
        return weighted_sum(plain(A, v, depth), key)

    np.testing.assert_allclose(loss_ours(A, v), loss_plain(A, v), rtol=1e-12)
    grads = jax.jit(jax.grad(loss_ours, argnums=(0, 1)))(A, v)
    expected = jax.jit(jax.grad(loss_plain, argnums=(0, 1)))(A, v)
    for g, e in zip(grads, expected):
        assert jnp.max(jnp.abs(g - e)) <= 1e-8 * jnp.max(jnp.abs(e))


def test_arnoldi_without_reprojection_is_also_exact_on_well_conditioned_input():
    n, depth = 10, 6
    A = random_matrix(jax.random.PRNGKey(3), n)
    v = jax.random.normal(jax.random.PRNGKey(4), (n,))
    key = jax.random.PRNGKey(5)
    loss = lambda rep: lambda A: weighted_sum(  # noqa: E731
        tuple(pk.arnoldi(MATVEC, v, depth, A, reproject=rep)), key
    )
    np.testing.assert_allclose(
        jax.jit(jax.grad(loss(False)))(A), jax.jit(jax.grad(loss(True)))(A), atol=1e-10
    )


def expm_krylov(method, A, v, times, depth=None):
    decomposition = method(MATVEC, v, depth or v.size, A)
    return pk.expm_action(decomposition, times).values


@pytest.mark.parametrize("name", DECOMPOSITIONS)
def test_full_depth_equals_dense_expm_in_value_and_gradient(name):
    ours, _, symmetric = DECOMPOSITIONS[name]
    n = 9
    A = random_matrix(jax.random.PRNGKey(6), n, symmetric)
    v = jax.random.normal(jax.random.PRNGKey(7), (n,))
    times = jnp.array([0.3, 1.0, 1.7])
    w = jax.random.normal(jax.random.PRNGKey(8), (3, n))
    dense = jax.vmap(lambda t: jax.scipy.linalg.expm(t * A) @ v)(times)
    # Lanczos without reorthogonalisation on a 9x9 matrix is still accurate at full depth.
    np.testing.assert_allclose(expm_krylov(ours, A, v, times), dense, rtol=0, atol=1e-10)

    grad = jax.jit(jax.grad(lambda A, v: jnp.sum(w * expm_krylov(ours, A, v, times)), (0, 1)))(
        A, v
    )
    dense_grad = jax.grad(
        lambda A, v: jnp.sum(w * jax.vmap(lambda t: jax.scipy.linalg.expm(t * A) @ v)(times)),
        (0, 1),
    )(A, v)
    for g, e in zip(grad, dense_grad):
        if symmetric:  # only the symmetric part of dA is meaningful for a symmetric input
            g, e = (g + g.T) / 2 if g.ndim == 2 else g, (e + e.T) / 2 if e.ndim == 2 else e
        assert jnp.max(jnp.abs(g - e)) <= 1e-8 * jnp.max(jnp.abs(e))


@pytest.mark.parametrize("name", DECOMPOSITIONS)
def test_gradient_matches_finite_differences_on_operator(name):
    ours, _, symmetric = DECOMPOSITIONS[name]
    grid = pk.Grid((6, 7), upper=(1.0, 1.5))
    x = grid.coordinates()
    field = 0.5 + 0.2 * jnp.sin(3 * x[0]) * jnp.cos(2 * x[1])
    make = (lambda f: pk.DiffusionOperator(grid, f)) if symmetric else (
        lambda f: pk.WaveOperator(grid, f)
    )
    shape = make(field).state_shape
    v = jax.random.normal(jax.random.PRNGKey(9), shape)
    w = jax.random.normal(jax.random.PRNGKey(10), (int(np.prod(shape)),))
    direction = jax.random.normal(jax.random.PRNGKey(11), field.shape)

    @jax.jit
    def loss(f):
        d = ours(lambda y, op: op(y), v, 12, make(f))
        return jnp.vdot(w, pk.expm_action(d, 0.05).values[0])

    eps = 1e-6
    fd = (loss(field + eps * direction) - loss(field - eps * direction)) / (2 * eps)
    np.testing.assert_allclose(jnp.vdot(jax.grad(loss)(field), direction), fd, rtol=1e-6)


@pytest.mark.parametrize("name", DECOMPOSITIONS)
def test_invariants(name):
    ours, _, symmetric = DECOMPOSITIONS[name]
    n, depth = 40, 12
    A = random_matrix(jax.random.PRNGKey(12), n, symmetric)
    v = jax.random.normal(jax.random.PRNGKey(13), (n,))
    d = jax.jit(lambda A, v: ours(MATVEC, v, depth, A))(A, v)
    Q, r = d.basis, d.residual
    H = d.hessenberg if name == "arnoldi" else d.tridiagonal
    e_K = jnp.eye(depth)[-1]
    assert Q.shape == (n, depth) and H.shape == (depth, depth) and r.shape == (n,)
    np.testing.assert_allclose(A @ Q - Q @ H - jnp.outer(r, e_K), 0, atol=1e-13)
    np.testing.assert_allclose(Q.T @ Q, jnp.eye(depth), atol=1e-12)
    np.testing.assert_allclose(Q.T @ r, 0, atol=1e-12)
    np.testing.assert_allclose(d.norm * Q[:, 0], v, atol=1e-13)
    assert jnp.all(jnp.diagonal(H, -1) >= 0)
    np.testing.assert_array_equal(jnp.tril(H, -2), 0)


def test_error_estimate_tracks_true_error():
    n = 60
    A = random_matrix(jax.random.PRNGKey(14), n)
    v = jax.random.normal(jax.random.PRNGKey(15), (n,))
    exact = jax.scipy.linalg.expm(A) @ v
    errors, estimates = [], []
    for depth in (4, 8, 12, 16):
        action = jax.jit(
            lambda A, v: pk.expm_action(pk.arnoldi(MATVEC, v, depth, A), 1.0)
        )(A, v)
        errors.append(float(jnp.linalg.norm(action.values[0] - exact)))
        estimates.append(float(action.error_estimate[0]))
    assert all(a > b for a, b in zip(errors, errors[1:]))  # converges
    for err, est in zip(errors, estimates):  # same order of magnitude
        assert 0.1 * err <= est <= 100 * err  # an estimate, typically from above


class TwoFields(eqx_module := __import__("equinox").Module):
    a: jax.Array
    b: jax.Array
    label: str = __import__("equinox").field(static=True)

    def __call__(self, y):
        u, v = y
        return (self.a * u + v, self.b * v - u)


def test_pytree_vector_and_pytree_parameters():
    """v a tuple of arrays, the parameter an Equinox module with a static field."""
    n = 5
    op = TwoFields(jnp.linspace(-1.0, 1.0, n), jnp.linspace(0.5, 1.5, n), "two")
    v = (jnp.ones(n), jnp.arange(n, dtype=float))
    A = op_matrix = jnp.block(
        [[jnp.diag(op.a), jnp.eye(n)], [-jnp.eye(n), jnp.diag(op.b)]]
    )
    v_flat = jnp.concatenate(v)

    def loss(op, v):
        d = pk.arnoldi(lambda y, op: op(y), v, 2 * n, op)
        return jnp.sum(pk.expm_action(d, 0.7).values[0] ** 2)

    def loss_dense(a, b, v_flat):
        M = jnp.block([[jnp.diag(a), jnp.eye(n)], [-jnp.eye(n), jnp.diag(b)]])
        return jnp.sum((jax.scipy.linalg.expm(0.7 * M) @ v_flat) ** 2)

    assert jnp.allclose(A, op_matrix)
    g_op, g_v = jax.jit(jax.grad(loss, argnums=(0, 1)))(op, v)
    ga, gb, gv = jax.grad(loss_dense, argnums=(0, 1, 2))(op.a, op.b, v_flat)
    np.testing.assert_allclose(g_op.a, ga, rtol=1e-9)
    np.testing.assert_allclose(g_op.b, gb, rtol=1e-9)
    np.testing.assert_allclose(jnp.concatenate(g_v), gv, rtol=1e-9)


def test_closed_over_parameters_are_differentiated():
    n = 8
    A = random_matrix(jax.random.PRNGKey(16), n)
    v = jax.random.normal(jax.random.PRNGKey(17), (n,))

    def closed(A):
        return jnp.sum(pk.expm_action(pk.arnoldi(lambda x: A @ x, v, n), 1.0).values)

    def explicit(A):
        return jnp.sum(pk.expm_action(pk.arnoldi(MATVEC, v, n, A), 1.0).values)

    np.testing.assert_allclose(
        jax.jit(jax.grad(closed))(A), jax.jit(jax.grad(explicit))(A), rtol=1e-12
    )


@pytest.mark.parametrize("name", DECOMPOSITIONS)
def test_jit_and_vmap(name):
    ours, _, symmetric = DECOMPOSITIONS[name]
    n, depth = 10, 5
    A = random_matrix(jax.random.PRNGKey(18), n, symmetric)
    vs = jax.random.normal(jax.random.PRNGKey(19), (3, n))

    def f(A, v):
        return jnp.sum(pk.expm_action(ours(MATVEC, v, depth, A), 0.5).values)

    batched = jax.jit(jax.vmap(jax.value_and_grad(f), in_axes=(None, 0)))(A, vs)
    single = jax.jit(jax.value_and_grad(f))
    for i in range(3):
        value, grad = single(A, vs[i])
        np.testing.assert_allclose(batched[0][i], value, rtol=1e-12)
        np.testing.assert_allclose(batched[1][i], grad, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", DECOMPOSITIONS)
def test_float32_smoke(name):
    ours, _, symmetric = DECOMPOSITIONS[name]
    n = 30
    A = random_matrix(jax.random.PRNGKey(20), n, symmetric).astype(jnp.float32)
    v = jax.random.normal(jax.random.PRNGKey(21), (n,), jnp.float32)

    def f(A):
        return jnp.sum(pk.expm_action(ours(MATVEC, v, 15, A), 1.0).values)

    value, grad = jax.jit(jax.value_and_grad(f))(A)
    assert value.dtype == jnp.float32 and grad.dtype == jnp.float32
    exact = jnp.sum(jax.scipy.linalg.expm(A.astype(jnp.float64)) @ v.astype(jnp.float64))
    np.testing.assert_allclose(value, exact, rtol=1e-4)
    assert jnp.all(jnp.isfinite(grad))


@pytest.mark.parametrize("name", DECOMPOSITIONS)
def test_zero_vector_gives_zero_and_finite_zero_gradient(name):
    ours, _, symmetric = DECOMPOSITIONS[name]
    n = 8
    A = random_matrix(jax.random.PRNGKey(22), n, symmetric)
    v = jnp.zeros(n)

    def f(A, v):
        return jnp.sum(pk.expm_action(ours(MATVEC, v, 4, A), 1.0).values)

    value, grads = jax.jit(jax.value_and_grad(f, argnums=(0, 1)))(A, v)
    assert value == 0
    for g in grads:
        assert jnp.all(jnp.isfinite(g)) and jnp.all(g == 0)


@pytest.mark.parametrize("name", DECOMPOSITIONS)
def test_invariant_subspace_before_depth_is_exact_and_finite(name):
    """A has 3 distinct eigenvalues: the Krylov space of any v is invariant after 3 steps."""
    ours, _, _ = DECOMPOSITIONS[name]
    n = 9
    U, _ = jnp.linalg.qr(jax.random.normal(jax.random.PRNGKey(23), (n, n)))
    eigenvalues = jnp.repeat(jnp.array([-1.0, 0.5, 2.0]), 3)
    A = (U * eigenvalues) @ U.T
    v = jax.random.normal(jax.random.PRNGKey(24), (n,))
    w = jax.random.normal(jax.random.PRNGKey(25), (n,))
    for depth in (3, 6, n):
        def f(A, v):
            return w @ pk.expm_action(ours(MATVEC, v, depth, A), 1.0).values[0]

        value, grads = jax.jit(jax.value_and_grad(f, argnums=(0, 1)))(A, v)
        np.testing.assert_allclose(value, w @ jax.scipy.linalg.expm(A) @ v, rtol=1e-10)
        for g in grads:
            assert jnp.all(jnp.isfinite(g))
        d = ours(MATVEC, v, depth, A)
        assert jnp.all(jnp.isfinite(d.basis))


@pytest.mark.parametrize("method", [pk.arnoldi, pk.lanczos])
def test_depth_validation(method):
    v = jnp.ones(4)
    A = jnp.eye(4)
    with pytest.raises(ValueError, match="depth"):
        method(MATVEC, v, 0, A)
    with pytest.raises(ValueError, match="depth"):
        method(MATVEC, v, 5, A)
    with pytest.raises(TypeError, match="depth"):
        method(MATVEC, v, 2.5, A)


@pytest.mark.parametrize("method", [pk.arnoldi, pk.lanczos], ids=["arnoldi", "lanczos"])
def test_complex_input_is_refused_not_miscomputed(method):
    """Complex start vectors, complex matvecs (scipy's expm_multiply complex test case:
    a real-dtype iteration would be off by 5.9) and complex times are a TypeError."""
    A = jnp.array([[1 + 1j, 1 + 1j], [0, 1 + 1j]])
    v = jnp.array([1 + 0j, 1 + 0j])
    with pytest.raises(TypeError, match="^v: complex values are not supported"):
        method(MATVEC, v, 2, A)
    with pytest.raises(TypeError, match="^matvec: complex values are not supported"):
        method(MATVEC, jnp.ones(2), 2, A)
    with pytest.raises(TypeError, match="^v: expected a real floating dtype"):
        method(MATVEC, jnp.ones(2, int), 2, jnp.eye(2))
    d = pk.arnoldi(MATVEC, jnp.ones(2), 2, jnp.eye(2))
    with pytest.raises(TypeError, match="^times: expected real times"):
        pk.expm_action(d, 1j)
    with pytest.raises(TypeError, match="^decomposition: complex values"):
        pk.expm_action(d._replace(hessenberg=d.hessenberg * 1j), 1.0)


@settings(max_examples=6, deadline=None)
@given(
    n=st.integers(2, 12),
    depth_fraction=st.floats(0.1, 1.0),
    seed=st.integers(0, 2**16),
    symmetric=st.booleans(),
)
def test_property_invariants_and_gradients(n, depth_fraction, seed, symmetric):
    depth = max(1, int(round(depth_fraction * n)))
    keys = jax.random.split(jax.random.PRNGKey(seed), 3)
    A = random_matrix(keys[0], n, symmetric)
    v = jax.random.normal(keys[1], (n,))
    d = jax.jit(lambda A, v: pk.arnoldi(MATVEC, v, depth, A))(A, v)
    Q, H = d.basis, d.hessenberg
    e_K = jnp.eye(depth)[-1]
    scale = 1 + jnp.abs(A).max()
    assert jnp.max(jnp.abs(A @ Q - Q @ H - jnp.outer(d.residual, e_K))) <= 1e-12 * scale
    assert jnp.max(jnp.abs(Q.T @ Q - jnp.eye(depth))) <= 1e-12
    # the custom VJP equals reverse mode through the plain loop (depth < n: no breakdown)
    if depth < n:
        loss = lambda f: lambda A: weighted_sum(tuple(f(A)), keys[2])  # noqa: E731
        g = jax.jit(jax.grad(loss(lambda A: pk.arnoldi(MATVEC, v, depth, A))))(A)
        e = jax.jit(jax.grad(loss(lambda A: plain_arnoldi(A, v, depth))))(A)
        assert jnp.max(jnp.abs(g - e)) <= 1e-7 * (1 + jnp.max(jnp.abs(e)))
    # full depth reproduces the dense exponential
    action = jax.jit(lambda A, v: pk.expm_action(pk.arnoldi(MATVEC, v, n, A), 1.0))(A, v)
    action = action.values[0]
    np.testing.assert_allclose(action, jax.scipy.linalg.expm(A) @ v, atol=1e-10)
