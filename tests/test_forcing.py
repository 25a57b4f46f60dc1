"""Forced solves `y' = A y + b(t)`: sources, signals, receivers (float64).

Oracles: the exponential of the augmented matrix built densely (`jax.scipy.linalg.expm`,
an independent construction in Taylor form), Diffrax on the same forced system (its
vector field evaluates the signal itself), finite differences, and the moment conditions
of the injection rule.
"""

import functools
import math

import diffrax
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.experimental.jet import jet

import pdekrylov as pk
from pdekrylov.study import ricker

GRID = pk.Grid((9, 8), lower=(0.0, -0.2), upper=(1.0, 1.1))
SOURCES = [[0.43, 0.52]]
RECEIVERS = [[0.2, 0.3], [0.71, 0.75], [0.5, 0.05], [0.9, 1.0]]
RECEIVER_ARRAY = pk.Receivers(GRID, RECEIVERS)  # made here, not inside a trace
TIMES = np.linspace(0.0, 0.6, 61)  # equally spaced: the steps chain their samples
T1 = 0.6


def speed(grid=GRID):
    x = grid.coordinates()
    return 1.0 + 0.2 * jnp.sin(3 * x[0]) * jnp.cos(2 * x[1])


def forcing(grid=GRID, positions=SOURCES, frequency=5.0, amplitude=1.3, delay=None, order=8):
    signal = pk.Ricker(frequency, delay, amplitude)
    return pk.Forcing(pk.PointSources(grid, positions), signal, order=order)


def relative(a, b):
    return float(jnp.linalg.norm(jnp.ravel(a - b)) / jnp.linalg.norm(jnp.ravel(b)))


# ------------------------------------------------------------------ injection and signals


@pytest.mark.parametrize("shape", [(7,), (7, 6), (5, 6, 4)])
def test_injection_has_the_moments_of_a_delta_and_receivers_are_its_transpose(shape):
    grid = pk.Grid(shape, lower=(-0.3,) * len(shape), upper=tuple(1.0 + 0.2 * i for i in range(len(shape))))
    rng = np.random.default_rng(len(shape))
    low, high = np.array(grid.lower), np.array(grid.upper)
    points = low + (high - low) * rng.uniform(size=(5, len(shape)))
    points[0] = low  # the corners: the support stays inside the grid
    points[1] = high
    sources, receivers = pk.PointSources(grid, points), pk.Receivers(grid, points)
    volume = float(np.prod(grid.spacing))
    x = np.asarray(grid.coordinates())
    for s in range(len(points)):
        density = np.asarray(sources.inject(jnp.eye(len(points))[s]))
        assert np.sum(density) * volume == pytest.approx(1.0, abs=1e-12)  # order 0
        for axis in range(len(shape)):  # order 1: the discrete delta's centre is the point
            assert np.sum(density * x[axis]) * volume == pytest.approx(points[s, axis], abs=1e-12)
    # receivers interpolate linear functions exactly and are the injection's transpose
    linear = 0.7 + sum((i + 1.0) * x[i] for i in range(len(shape)))
    assert np.allclose(receivers(jnp.asarray(linear)), 0.7 + points @ np.arange(1.0, len(shape) + 1), atol=1e-12)
    field, amplitudes = rng.standard_normal(shape), rng.standard_normal(len(points))
    lhs = np.sum(np.asarray(sources.inject(jnp.asarray(amplitudes))) * field) * volume
    assert lhs == pytest.approx(float(jnp.dot(amplitudes, receivers(jnp.asarray(field)))), rel=1e-12)


def test_ricker_values_and_derivative_bounds_are_exact():
    signal = pk.Ricker(jnp.array([3.0, 7.0]), jnp.array([0.5, 0.4]), jnp.array([1.0, -2.0]))
    t = np.linspace(0.0, 1.2, 4001)
    values = jax.vmap(signal)(jnp.asarray(t))
    assert np.allclose(values[:, 1], ricker(t, 7.0, 0.4, -2.0), atol=1e-14)
    assert float(signal.scale()) == 2.0
    # every derivative up to order 8 at once, by Taylor-mode autodiff (jet)
    ones = jnp.ones_like(jnp.asarray(t))
    _, series = jet(lambda s: jax.vmap(signal)(s)[:, 1], (jnp.asarray(t),), ((ones,) + (0 * ones,) * 7,))
    for order in (1, 2, 5, 8):
        measured = float(jnp.max(jnp.abs(series[order - 1])))  # jet's terms are the derivatives
        bound = float(signal.derivative_bound(order))
        assert measured <= bound <= 1.01 * measured  # a bound, and a tight one


def test_sampled_signal_interpolates_and_bounds_its_derivatives():
    dt = 0.01
    t = dt * np.arange(120)
    values = np.stack([ricker(t, 6.0, 0.3), 0.5 * ricker(t, 9.0, 0.4)])
    signal = pk.SampledSignal(values, dt)
    assert np.allclose(jax.vmap(signal)(jnp.asarray(t)).T, values, atol=1e-13)
    between = t[:-1] + dt / 2  # a well-sampled wavelet: the band-limited interpolant is close
    assert np.allclose(jax.vmap(signal)(jnp.asarray(between))[:, 0], ricker(between, 6.0, 0.3), atol=1e-6)
    fine = jnp.asarray(np.linspace(0, t[-1], 3001))
    third = jax.vmap(jax.grad(jax.grad(jax.grad(lambda s: signal(s)[0]))))(fine)
    assert float(jnp.max(jnp.abs(third))) <= float(signal.derivative_bound(3))
    assert float(signal.scale()) == pytest.approx(np.max(np.abs(values)))


# ------------------------------------------------------------------ against dense and Diffrax


class Polynomial(pk.AbstractSignal):
    """`f_s(t) = Σ_k coefficients[s, k] t^k` (a test signal the forcing represents exactly)."""

    coefficients: jax.Array

    @property
    def num_signals(self):
        return self.coefficients.shape[0]

    def __call__(self, t):
        return self.coefficients @ t ** jnp.arange(self.coefficients.shape[1])

    def derivative_bound(self, order):
        return jnp.zeros(()) if order >= self.coefficients.shape[1] else jnp.asarray(1e300)

    def scale(self):
        return jnp.max(jnp.abs(self.coefficients))


def dense_forced_solution(matrix, columns, coefficients, y0, steps, t1, order):
    """Step by step `exp(tau M) (y, e_p)` with `M = [[A, B], [0, J]]` in Taylor form:
    `B[:, p-1-j] = j! (Taylor coefficient j of the forcing at the step's start)`."""
    n, tau = matrix.shape[0], t1 / steps
    degree = coefficients.shape[1]
    shift = jnp.diag(jnp.ones(order - 1), 1)
    y = y0
    for i in range(steps):
        a = i * tau
        # Taylor coefficients of t^k about a: C(k, j) a^(k - j)
        taylor = jnp.stack([
            sum(coefficients[:, k] * math.comb(k, j) * a ** (k - j) for k in range(j, degree)) if j < degree
            else jnp.zeros(coefficients.shape[0]) for j in range(order)
        ])  # (order, S)
        B = jnp.stack([math.factorial(j) * columns @ taylor[j] for j in range(order)][::-1], axis=1)
        big = jnp.block([[matrix, B], [jnp.zeros((order, n)), shift]])
        start = jnp.concatenate([y, jnp.zeros(order).at[-1].set(1.0)])
        y = (jax.scipy.linalg.expm(tau * big) @ start)[:n]
    return y


def test_polynomial_forcing_is_exact_and_its_gradients_match_the_dense_augmented_exponential():
    grid = pk.Grid((4, 3))
    order, steps = 4, 3
    y0 = jnp.asarray(np.random.default_rng(0).standard_normal((2, *grid.shape)))
    coefficients = jnp.array([[0.3, -1.0, 2.0, 0.5], [1.0, 0.4, -0.7, 0.0]])  # cubic: exact
    positions = jnp.array([[0.3, 0.6], [0.8, 0.2]])
    w = jnp.asarray(np.random.default_rng(1).uniform(size=(2, *grid.shape)))

    def loss_krylov(c, coefficients):
        op = pk.WaveOperator(grid, c)
        f = pk.Forcing(pk.PointSources(grid, positions), Polynomial(coefficients), order=order)
        size = 2 * grid.size + order  # full depth of the augmented operator: exact
        y = pk.solve(op, y0, 0.9, pk.Arnoldi(size, substeps=steps), forcing=f).ys[-1]
        return jnp.vdot(w, y)

    def loss_dense(c, coefficients):
        op = pk.WaveOperator(grid, c)
        sources = pk.PointSources(grid, positions)
        columns = jnp.stack([op.source_term(sources.inject(e)).ravel() for e in jnp.eye(2)], axis=1)
        y = dense_forced_solution(op.as_matrix(), columns, coefficients, y0.ravel(), steps, 0.9, order)
        return jnp.vdot(w.ravel(), y)

    c = 0.8 + 0.1 * jnp.arange(grid.size).reshape(grid.shape) / grid.size
    value, grads = jax.jit(jax.value_and_grad(loss_krylov, argnums=(0, 1)))(c, coefficients)
    dense_value, dense_grads = jax.jit(jax.value_and_grad(loss_dense, argnums=(0, 1)))(c, coefficients)
    assert value == pytest.approx(float(dense_value), rel=1e-10)
    for g, d in zip(grads, dense_grads):
        assert relative(g, d) < 1e-9


@functools.cache
def traces_function(solver, observe=True):
    """`(c, frequency, amplitude, delay) -> traces (T, R)` on GRID, jitted, one per solver."""
    receivers = RECEIVER_ARRAY

    def traces(c, frequency, amplitude, delay):
        op = pk.WaveOperator(GRID, c)
        f = forcing(frequency=frequency, amplitude=amplitude, delay=delay)
        y0 = jnp.zeros(op.state_shape)
        if observe:
            return pk.solve(op, y0, T1, solver, forcing=f, saveat=pk.SaveAt(TIMES, receivers)).ys
        return jax.vmap(receivers)(pk.solve(op, y0, T1, solver, forcing=f, saveat=TIMES).ys)

    return jax.jit(traces)


WEIGHTS = jnp.asarray(np.random.default_rng(5).uniform(size=(len(TIMES), len(RECEIVERS))))
# 601 steps: with 600 the save times fall on step boundaries, and Diffrax 0.7.2's
# RecursiveCheckpointAdjoint then returns gradients a few percent wrong for this
# time-dependent vector field (its values stay right; checked by finite differences)
REFERENCE = pk.Diffrax(diffrax.Dopri8(), steps=601)
SIGNAL = (jnp.asarray(5.0), jnp.asarray(1.3), jnp.asarray(0.25))


@functools.cache
def loss_and_gradient(solver):
    """`(c, frequency, amplitude, delay) -> ((loss, traces), gradients)`, jitted."""

    def loss(c, frequency, amplitude, delay):
        traces = traces_function(solver)(c, frequency, amplitude, delay)
        return jnp.sum(WEIGHTS * traces), traces

    return jax.jit(jax.value_and_grad(loss, argnums=(0, 1, 2, 3), has_aux=True))


def test_tolerance_mode_traces_and_gradients_match_diffrax_and_finite_differences():
    c = speed()
    (ref_value, reference), ref_grads = loss_and_gradient(REFERENCE)(c, *SIGNAL)
    scale = float(jnp.max(jnp.abs(reference)))
    rtol = 1e-5
    solver = pk.Arnoldi(rtol=rtol, max_steps=24)  # fewer steps than half the samples: chained
    (value, traces), grads = loss_and_gradient(solver)(c, *SIGNAL)
    assert float(jnp.max(jnp.abs(traces - reference))) / scale < rtol
    assert abs(value - ref_value) / abs(ref_value) < rtol
    assert relative(grads[0], ref_grads[0]) < rtol  # the field
    # the signal (frequency, amplitude, delay): the derivative of the step's interpolant
    # w.r.t. the frequency or delay is the interpolant of the signal's time derivative,
    # whose error the step's bound (of the signal itself) holds only to about pi f0 tau
    for g, r in zip(grads[1:], ref_grads[1:]):
        assert relative(g, r) < 10 * rtol
    # finite differences in a random direction of the field, and in the frequency
    direction = jnp.asarray(np.random.default_rng(2).standard_normal(GRID.shape))
    step = 1e-5
    loss = lambda *args: loss_and_gradient(solver)(*args)[0][0]  # noqa: E731
    fd = (loss(c + step * direction, *SIGNAL) - loss(c - step * direction, *SIGNAL)) / (2 * step)
    assert float(jnp.vdot(grads[0], direction)) == pytest.approx(float(fd), rel=1e-6)
    f, a, d = SIGNAL
    fd = (loss(c, f + step, a, d) - loss(c, f - step, a, d)) / (2 * step)
    assert float(grads[1]) == pytest.approx(float(fd), rel=1e-6)


def test_observations_are_the_observed_states_for_every_solver():
    c = speed()
    reference = traces_function(REFERENCE)(c, *SIGNAL)
    for solver in (pk.Arnoldi(30, substeps=12), REFERENCE):  # tolerance mode: the test above
        observed = traces_function(solver, observe=True)(c, *SIGNAL)
        states = traces_function(solver, observe=False)(c, *SIGNAL)
        assert relative(observed, states) < 1e-9
        assert relative(observed, reference) < 1e-5
    # the error estimate covers the Krylov and the signal approximation (a trace is a
    # weighted mean of state entries: its error is at most the state's)
    solution = jax.jit(lambda c: pk.solve(
        pk.WaveOperator(GRID, c), jnp.zeros((2, *GRID.shape)), T1, pk.Arnoldi(24, substeps=6),
        forcing=forcing(frequency=SIGNAL[0], amplitude=SIGNAL[1], delay=SIGNAL[2]), saveat=pk.SaveAt(TIMES, RECEIVER_ARRAY),
    ))(c)
    assert np.all(np.max(np.abs(solution.ys - reference), axis=1) <= solution.stats["error_estimate"])
    assert float(jnp.max(jnp.abs(solution.ys - reference))) > 1e-9  # not a trivial check
    # unforced: Arnoldi projects, Lanczos applies fn to its states
    receivers = RECEIVER_ARRAY
    op = pk.WaveOperator(GRID, c)
    x = GRID.coordinates()
    y0 = jnp.stack([jnp.exp(-jnp.sum((x - 0.5) ** 2, axis=0) / 0.02), jnp.zeros(GRID.shape)])
    full = pk.solve(op, y0, T1, REFERENCE, saveat=TIMES[::3]).ys
    for solver in (pk.Arnoldi(30, substeps=4), pk.Lanczos(12, substeps=4)):
        observed = pk.solve(op, y0, T1, solver, saveat=pk.SaveAt(TIMES[::3], receivers)).ys
        assert observed.shape == (len(TIMES[::3]), len(RECEIVERS))
        assert relative(observed, jax.vmap(receivers)(full)) < 1e-7


def test_shots_batch_with_vmap():
    c = speed()
    receivers = RECEIVER_ARRAY
    shots = jnp.array([[[0.43, 0.52]], [[0.2, 0.8]], [[0.75, 0.1]]])
    solver = pk.Arnoldi(rtol=1e-6)

    @jax.jit
    def shot(position):
        op = pk.WaveOperator(GRID, c)
        f = pk.Forcing(pk.PointSources(GRID, position), pk.Ricker(5.0, 0.25))
        return pk.solve(op, jnp.zeros(op.state_shape), T1, solver, forcing=f, saveat=pk.SaveAt(TIMES, receivers)).ys

    batched = jax.vmap(shot)(shots)
    assert batched.shape == (3, len(TIMES), len(RECEIVERS))
    for i in range(3):
        assert relative(batched[i], shot(shots[i])) < 1e-12


def test_tolerance_mode_steps_resolve_the_signal():
    op = pk.WaveOperator(GRID, speed())
    y0 = jnp.zeros(op.state_shape)
    slow, fast = forcing(frequency=2.0), forcing(frequency=12.0)
    solver = pk.Arnoldi(rtol=1e-6)
    steps_slow = pk.solve(op, y0, T1, solver, forcing=slow).stats
    stats = pk.solve(op, y0, T1, solver, forcing=fast).stats
    assert int(stats["num_steps"]) > int(steps_slow["num_steps"])  # the faster signal takes more
    assert float(stats["signal_error_bound"]) <= 1e-6
    assert int(stats["num_matvecs"]) == int(stats["num_steps"]) * (20 + 8)  # default depth + order


# ------------------------------------------------------------------ refusals


def test_bad_forcings_and_observations_are_refused_naming_the_argument():
    op = pk.WaveOperator(GRID, speed())
    y0 = jnp.zeros(op.state_shape)
    f = forcing()
    with pytest.raises(ValueError, match="^forcing: Lanczos"):
        pk.solve(op, y0, T1, pk.Lanczos(10), forcing=f)
    with pytest.raises(TypeError, match="^forcing: expected a pk.Forcing"):
        pk.solve(op, y0, T1, pk.Arnoldi(20), forcing=pk.Ricker(5.0))
    with pytest.raises(ValueError, match="^forcing: its sources give densities"):
        pk.solve(op, y0, T1, pk.Arnoldi(20), forcing=pk.Forcing(pk.DenseSources(jnp.ones((1, 3))), pk.Ricker(5.0)))
    with pytest.raises(ValueError, match="^depth: with a forcing of order 8"):
        pk.solve(op, y0, T1, pk.Arnoldi(8), forcing=f)
    with pytest.raises(ValueError, match="^signal: expected one signal per source"):
        pk.Forcing(pk.PointSources(GRID, SOURCES), pk.Ricker([5.0, 6.0]))
    with pytest.raises(ValueError, match="^order:"):
        pk.Forcing(pk.PointSources(GRID, SOURCES), pk.Ricker(5.0), order=0)
    with pytest.raises(ValueError, match="^positions: expected points inside"):
        pk.PointSources(GRID, [[0.5, 1.5]])
    with pytest.raises(ValueError, match="^positions: expected an array"):
        pk.Receivers(GRID, [[0.5, 0.5, 0.5]])
    with pytest.raises(ValueError, match="^rule:"):
        pk.Receivers(GRID, RECEIVERS, rule="nearest")
    with pytest.raises(ValueError, match="^frequency:"):
        pk.Ricker(-1.0)
    with pytest.raises(TypeError, match="^fn:"):
        pk.SaveAt(TIMES, fn="receivers")
    with pytest.raises(ValueError, match="^saveat: its fn does not take"):
        pk.solve(op, y0, T1, pk.Arnoldi(20), saveat=pk.SaveAt(TIMES, pk.Receivers(pk.Grid((5, 5)), RECEIVERS)))
    with pytest.raises(ValueError, match="^saveat: expected times in"):
        pk.solve(op, y0, T1, pk.Arnoldi(20), saveat=pk.SaveAt([0.1, 2.0], pk.Receivers(GRID, RECEIVERS)))
    with pytest.raises(ValueError, match="^dt:"):
        pk.SampledSignal(jnp.ones(10), dt=0.0)


def test_sinc_rule_samples_band_limited_fields_accurately_and_stays_the_transpose():
    """The windowed sinc (Hicks 2002) samples a smooth field at 8 points per wavelength
    far better than the bilinear rule, injects a unit mass, and receivers stay the
    injection's transpose."""
    grid = pk.Grid((40, 36), (0.0, 0.0), (1.0, 0.9))
    x = np.asarray(grid.coordinates())
    wave = 2 * np.pi / (8 * grid.spacing[0])  # 8 points per wavelength
    field = np.cos(wave * x[0] + 0.3) * np.sin(0.7 * wave * x[1] + 0.1)
    rng = np.random.default_rng(3)
    points = 0.3 + 0.35 * rng.uniform(size=(6, 2))  # at least 4 nodes from the boundary
    exact = np.cos(wave * points[:, 0] + 0.3) * np.sin(0.7 * wave * points[:, 1] + 0.1)
    error = {
        rule: np.max(np.abs(np.asarray(pk.Receivers(grid, points, rule)(jnp.asarray(field))) - exact))
        for rule in ("bilinear", "sinc")
    }
    assert error["sinc"] < 2e-3 < 0.02 < error["bilinear"], error
    sources, receivers = pk.PointSources(grid, points, "sinc"), pk.Receivers(grid, points, "sinc")
    volume = float(np.prod(grid.spacing))
    density = np.asarray(sources.inject(jnp.eye(len(points))[0]))
    assert np.sum(density) * volume == pytest.approx(1.0, abs=1e-3)
    amplitudes = rng.standard_normal(len(points))
    lhs = np.sum(np.asarray(sources.inject(jnp.asarray(amplitudes))) * field) * volume
    assert lhs == pytest.approx(float(jnp.dot(amplitudes, receivers(jnp.asarray(field)))), rel=1e-12)
