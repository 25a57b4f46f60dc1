"""`krylov.expm`: the small dense exponential from matrix products only (float64).

Oracles: a 40-digit mpmath exponential (independent of every float64 implementation;
scipy's own `expm` is off by up to ~4e-12 on some of these matrices), closed forms
(scalars, nilpotent matrices), and for derivatives the Fréchet derivative from the block
matrix `exp([[A^T, W], [0, A^T]])` computed by scipy, and central finite differences.
"""

import math
import re

import jax
import jax.numpy as jnp
import mpmath
import numpy as np
import pytest
import scipy.linalg

import pdekrylov as pk
from pdekrylov.krylov import _expm

expm = jax.jit(pk.krylov.expm)


def exact_expm(M):
    """exp(M) to float64 rounding, by a 40-digit Taylor series."""
    with mpmath.workdps(40):
        return np.array(mpmath.expm(mpmath.matrix(M.tolist()), method="taylor").tolist(), float)


def relative_error(E, reference):
    return np.abs(E - reference).sum(0).max() / np.abs(reference).sum(0).max()  # 1-norm


def test_taylor_polynomial_is_the_truncated_series():
    """`taylor_18(A)` is sum_{k <= 18} A^k / k! (plain powers, summed in order)."""
    A = np.random.default_rng(0).standard_normal((5, 5)) * 0.3
    series = sum(np.linalg.matrix_power(A, k) / math.factorial(k) for k in range(19))
    np.testing.assert_allclose(_expm.taylor_18(jnp.asarray(A)), series, rtol=1e-14, atol=1e-15)


def matrix_of_norm(kind, norm, seed, n=6):
    M = np.random.default_rng(seed).standard_normal((n, n))
    M = {"symmetric": M + M.T, "skew": M - M.T, "hessenberg": np.triu(M, -1)}.get(kind, M)
    return M / np.abs(M).sum(0).max() * norm


# Squaring thresholds of this method (theta_18 2^k) and of JAX's Padé (5.37 2^k), each
# approached from both sides.
THRESHOLDS = [1.0908, 2.1817, 5.37, 10.74, 21.5, 43.0]


@pytest.mark.parametrize("kind", ["gaussian", "symmetric", "skew", "hessenberg"])
@pytest.mark.parametrize("threshold", THRESHOLDS)
def test_accurate_around_every_squaring_threshold(kind, threshold):
    """Relative 1-norm error <= 1e-14 against the exact exponential up to ||A||_1 = 21.5
    and <= 4e-14 at 43 (the forward error of scaling and squaring grows like ||A|| u;
    this method squares twice more than the Padé one, whose error is ~6e-15 there, and
    scipy's expm is off by up to 4e-12 on these symmetric matrices)."""
    tolerance = 1e-14 if threshold <= 21.5 else 4e-14
    for norm in (threshold * (1 - 1e-3), threshold * (1 + 1e-3)):
        for seed in range(2):
            M = matrix_of_norm(kind, norm, seed)
            error = relative_error(np.asarray(expm(jnp.asarray(M))), exact_expm(M))
            assert error <= tolerance, (norm, seed, error)


def test_scalar_exponentials_over_the_range_where_jax_expm_was_off():
    """exp(lambda) for lambda in [-43, 10.7] (jax.scipy.linalg.expm: up to 1.7e-7 there),
    including exp(-10 I), to within 8 |lambda| u (the condition number of exp is
    |lambda|: rounding lambda alone costs |lambda| u)."""
    lambdas = np.concatenate([np.linspace(-43.0, 10.7, 397), [-10.0, 5.38, -5.38, 10.74]])
    values = np.asarray(expm(jnp.asarray(lambdas)[:, None, None]))[:, 0, 0]
    errors = np.abs(values / np.exp(lambdas) - 1)
    assert np.all(errors <= np.maximum(1e-14, 8 * np.abs(lambdas) * 2.0**-53)), errors.max()
    identity = -10.0 * np.eye(5)  # exact after the shift by the mean eigenvalue
    np.testing.assert_allclose(expm(jnp.asarray(identity)), np.exp(-10.0) * np.eye(5), rtol=1e-14)


def test_nilpotent_matrix_is_its_finite_series():
    N = np.triu(np.random.default_rng(3).standard_normal((6, 6)), 1) * 4.0
    series = sum(np.linalg.matrix_power(N, k) / math.factorial(k) for k in range(6))
    assert relative_error(np.asarray(expm(jnp.asarray(N))), series) <= 1e-14


def test_arnoldi_hessenberg_of_a_wave_operator_matches_scipy():
    grid = pk.Grid((12, 12))
    x = grid.coordinates()
    op = pk.WaveOperator(grid, speed=0.5 + 0.2 * x[0], boundary="neumann")
    y0 = jnp.exp(-40.0 * ((x[0] - 0.5) ** 2 + (x[1] - 0.5) ** 2))
    y0 = jnp.stack([y0, jnp.zeros_like(y0)])
    H = np.asarray(pk.arnoldi(lambda y, op: op(y), y0, 30, op).hessenberg)
    for t in (0.01, 0.05, 0.1):  # ||t H||_1 = 4.3, 21.6, 43
        ours = np.asarray(expm(jnp.asarray(t * H)))
        assert relative_error(ours, exact_expm(t * H)) <= 1e-14
        assert relative_error(ours, scipy.linalg.expm(t * H)) <= 1e-14


def test_complex_matrices_match_scipy():
    rng = np.random.default_rng(1)
    M = (rng.standard_normal((5, 5)) + 1j * rng.standard_normal((5, 5))) * 2.0
    np.testing.assert_allclose(expm(jnp.asarray(M)), scipy.linalg.expm(M), rtol=1e-13)


def test_float32_is_accurate_to_single_precision():
    M = matrix_of_norm("gaussian", 8.0, 0)
    ours = np.asarray(expm(jnp.asarray(M, jnp.float32)))
    assert ours.dtype == np.float32
    assert relative_error(ours, exact_expm(M)) <= 2e-6


def test_batch_jit_and_vmap_agree_with_one_matrix_at_a_time():
    """A batch mixes norms that need 0 to 6 squarings; explicit batch, vmap and single
    calls agree to rounding (the squarings are masked per matrix, never shared)."""
    batch = np.stack([matrix_of_norm("gaussian", norm, i) for i, norm in
                      enumerate([1e-3, 0.9, 3.0, 17.0, 60.0])])
    single = np.stack([np.asarray(expm(jnp.asarray(M))) for M in batch])
    np.testing.assert_allclose(expm(jnp.asarray(batch)), single, rtol=1e-15, atol=1e-300)
    np.testing.assert_allclose(jax.vmap(expm)(jnp.asarray(batch)), single, rtol=1e-15)
    np.testing.assert_allclose(jax.vmap(jax.vmap(expm))(jnp.asarray(batch[None])), single[None],
                               rtol=1e-15)


def frechet_gradient(A, W):
    """d/dA sum(W * exp(A)) = L(A^T, W), from the block matrix exponential (scipy)."""
    n = A.shape[0]
    block = np.block([[A.T, W], [np.zeros((n, n)), A.T]])
    return scipy.linalg.expm(block)[:n, n:]


@pytest.mark.parametrize("norm", [0.5, 5.5, 30.0])
def test_gradient_against_frechet_derivative_finite_differences_and_pade(norm):
    A = matrix_of_norm("gaussian", norm, 7)
    W = np.random.default_rng(8).standard_normal(A.shape)
    loss = lambda A: jnp.sum(W * pk.krylov.expm(A))  # noqa: E731
    gradient = np.asarray(jax.jit(jax.grad(loss))(jnp.asarray(A)))
    reference = frechet_gradient(A, W)
    assert relative_error(gradient, reference) <= 1e-12
    # jax.scipy.linalg.expm differentiated by autodiff (a dense reference of its own)
    pade = np.asarray(jax.grad(lambda A: jnp.sum(W * jax.scipy.linalg.expm(A)))(jnp.asarray(A)))
    assert relative_error(gradient, pade) <= 1e-10
    # central finite differences along a random direction
    E = np.random.default_rng(9).standard_normal(A.shape)
    step = 1e-6 * max(1.0, norm)
    difference = (loss(jnp.asarray(A + step * E)) - loss(jnp.asarray(A - step * E))) / (2 * step)
    np.testing.assert_allclose(np.sum(gradient * E), difference, rtol=1e-7)
    # forward mode agrees with reverse mode
    _, tangent = jax.jvp(loss, (jnp.asarray(A),), (jnp.asarray(E),))
    np.testing.assert_allclose(tangent, np.sum(gradient * E), rtol=1e-12)


def test_norm_beyond_the_squaring_bound_is_nan_not_wrong():
    big = jnp.asarray(matrix_of_norm("skew", 1.0908 * 2.0**5 * 1.01, 0))  # no shift helps
    assert np.all(np.isnan(pk.krylov.expm(big, max_squarings=5)))
    assert np.all(np.isfinite(pk.krylov.expm(big / 2, max_squarings=5)))
    assert np.all(np.isnan(expm(jnp.full((3, 3), jnp.inf))))


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="^matrix: expected shape"):
        pk.krylov.expm(jnp.ones((2, 3)))
    with pytest.raises(TypeError, match="^matrix: expected a floating"):
        pk.krylov.expm(jnp.ones((2, 2), int))
    with pytest.raises(ValueError, match="^max_squarings"):
        pk.krylov.expm(jnp.ones((2, 2)), max_squarings=-1)


def test_krylov_solvers_call_no_lapack():
    """No LAPACK kernel (custom call) in a compiled Arnoldi or second-order Lanczos solve
    and its gradient: the small exponentials are matrix products only."""
    grid = pk.Grid((8, 8))
    op = pk.WaveOperator(grid, speed=jnp.full(grid.shape, 0.5), boundary="neumann")
    y0 = jnp.ones(op.state_shape)
    for solver in (pk.Arnoldi(8, 2), pk.Lanczos(4, 2)):
        def loss(op):
            return jnp.sum(pk.solve(op, y0, 1.0, solver).ys ** 2)

        text = jax.jit(jax.value_and_grad(loss)).lower(op).compile().as_text()
        calls = re.findall(r'custom_call_target="([^"]+)"', text)
        assert not [c for c in calls if "lapack" in c.lower() or "getrf" in c], calls
