"""A user's own linear operator in pk.solve: dense and sparse matrices, any matvec."""

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg
from jax.experimental import sparse

import pdekrylov as pk

N = 12


def laplacian_1d(n=N):
    """A symmetric negative definite tridiagonal matrix (Dirichlet second difference)."""
    return (np.diag(-2.0 * np.ones(n)) + np.diag(np.ones(n - 1), 1) + np.diag(np.ones(n - 1), -1)) * 4.0


def frechet_gradient(A, W):
    """d/dA sum(W * exp(A)) via the block exponential (scipy): L(A^T, W)."""
    n = A.shape[0]
    return scipy.linalg.expm(np.block([[A.T, W], [np.zeros((n, n)), A.T]]))[:n, n:]


# solver and its relative tolerance (max norm) on this problem: full-depth Arnoldi is
# exact to rounding; the others truncate
SOLVERS = {
    "arnoldi": (pk.Arnoldi(N), 1e-12),
    "arnoldi-substeps": (pk.Arnoldi(8, substeps=3), 1e-8),
    "dopri5": (pk.Diffrax(diffrax.Dopri5(), rtol=1e-11, atol=1e-13), 1e-8),
}


def assert_close(actual, expected, rtol):
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert np.max(np.abs(actual - expected)) <= rtol * np.max(np.abs(expected))


@pytest.mark.parametrize("name", list(SOLVERS))
def test_dense_matrix_operator_solves_and_differentiates_like_expm(name):
    rng = np.random.default_rng(0)
    A = rng.standard_normal((N, N)) / np.sqrt(N)
    y0 = rng.standard_normal(N)
    w = rng.standard_normal(N)
    t1 = 0.8
    solver, rtol = SOLVERS[name]
    op = pk.MatrixOperator(jnp.asarray(A))
    solution = pk.solve(op, jnp.asarray(y0), t1, solver)
    assert_close(solution.ys[0], scipy.linalg.expm(t1 * A) @ y0, rtol)

    @eqx.filter_jit
    @eqx.filter_grad
    def gradient(op):
        return jnp.vdot(jnp.asarray(w), pk.solve(op, jnp.asarray(y0), t1, solver).ys[0])

    reference = frechet_gradient(t1 * A, np.outer(w, y0)) * t1  # d/dA <w, exp(t1 A) y0>
    assert_close(gradient(op).matrix, reference, 100 * rtol)


@pytest.mark.parametrize("solver", [pk.Lanczos(N), pk.Arnoldi(8, substeps=4)], ids=["lanczos", "arnoldi"])
def test_sparse_bcoo_matrix_operator(solver):
    """A BCOO Laplacian: the solution is exp(t A) y0 and the gradient with respect to
    its stored entries is the dense gradient at those entries (the integer indices get
    no gradient)."""
    A = laplacian_1d()
    y0 = np.sin(np.linspace(0, 3, N))
    w = np.linspace(1, 2, N)
    t1 = 0.1
    op = pk.MatrixOperator(sparse.BCOO.fromdense(jnp.asarray(A)), self_adjoint=True)
    y = pk.solve(op, jnp.asarray(y0), t1, solver).ys[0]
    assert_close(y, scipy.linalg.expm(t1 * A) @ y0, 1e-12)

    def loss(op):
        return jnp.vdot(jnp.asarray(w), pk.solve(op, jnp.asarray(y0), t1, solver).ys[0])

    grad = eqx.filter_jit(eqx.filter_grad(loss))(op).matrix
    dense = frechet_gradient(t1 * A, np.outer(w, y0)) * t1
    rows, cols = np.asarray(op.matrix.indices).T
    assert_close(grad.data, dense[rows, cols], 1e-11)


def test_linear_operator_from_a_closure_over_parameters():
    """A matvec closing over a parameter on a (2, 3) state; jax.grad with respect to it
    equals the dense reference."""
    rng = np.random.default_rng(1)
    base = jnp.asarray(rng.standard_normal((6, 6)) / 3)
    y0 = jnp.asarray(rng.standard_normal((2, 3)))

    def final_sum(scale, solver):
        op = pk.LinearOperator(lambda y: (scale * base @ y.ravel()).reshape(2, 3), (2, 3))
        return jnp.sum(pk.solve(op, y0, 1.0, solver).ys[0] ** 2)

    def dense(scale):
        return jnp.sum((jax.scipy.linalg.expm(scale * base) @ y0.ravel()) ** 2)

    for solver in (pk.Arnoldi(6), pk.Arnoldi(6, substeps=3)):  # full depth: exact
        value, grad = jax.jit(jax.value_and_grad(final_sum), static_argnums=1)(0.7, solver)
        np.testing.assert_allclose(value, dense(0.7), rtol=1e-9)
        np.testing.assert_allclose(grad, jax.grad(dense)(0.7), rtol=1e-8)


def test_user_operators_validate_and_lanczos_needs_a_declaration():
    with pytest.raises(TypeError, match="^matvec: expected a callable"):
        pk.LinearOperator(3.0, (2,))
    with pytest.raises(ValueError, match="^state_shape"):
        pk.LinearOperator(lambda y: y, (0,))
    with pytest.raises(TypeError, match="^state_shape"):
        pk.LinearOperator(lambda y: y, "big")
    with pytest.raises(ValueError, match="^matvec: expected an output of shape"):
        pk.LinearOperator(lambda y: y[:2], (3,))(jnp.ones(3))
    with pytest.raises(ValueError, match="^matrix: expected a square"):
        pk.MatrixOperator(jnp.ones((2, 3)))
    with pytest.raises(TypeError, match="^matrix: expected a real floating"):
        pk.MatrixOperator(jnp.ones((2, 2), complex))
    with pytest.raises(ValueError, match="solver: Lanczos needs a self-adjoint"):
        pk.solve(pk.MatrixOperator(jnp.eye(3)), jnp.ones(3), 1.0, pk.Lanczos(2))
