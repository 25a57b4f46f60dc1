"""pk.solve with every solver against dense matrix exponentials (float64)."""

import functools

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import pdekrylov as pk

SAVEAT = [0.1, 0.35, 0.35, 0.6]  # includes a repeated time and one on a substep boundary


def smooth_field(grid, base, amplitude):
    x = grid.coordinates()
    return base + amplitude * jnp.sin(3 * x[0] + 1) * jnp.cos(2 * x[-1])


def bump(grid, centre=0.4):
    x = grid.coordinates()
    return jnp.exp(-jnp.sum((x - centre) ** 2, axis=0) / 0.05)


def wave_problem():
    grid = pk.Grid((8, 7), upper=(1.0, 1.2))
    make = lambda c: pk.WaveOperator(grid, c)  # noqa: E731
    y0 = jnp.stack([bump(grid), 0.3 * jnp.cos(2 * grid.coordinates()[1])])
    return make, smooth_field(grid, 0.3, 0.1), y0


def diffusion_problem():
    grid = pk.Grid((8, 9))
    make = lambda k: pk.DiffusionOperator(grid, k, "dirichlet")  # noqa: E731
    return make, smooth_field(grid, 0.02, 0.01), bump(grid)


def advection_problem():
    grid = pk.Grid((9, 8))
    velocity = jnp.stack([0.3 * jnp.ones(grid.shape), -0.2 * jnp.ones(grid.shape)])
    make = lambda k: pk.AdvectionDiffusionOperator(grid, k, velocity)  # noqa: E731
    return make, smooth_field(grid, 0.02, 0.01), bump(grid)


PROBLEMS = {"wave": wave_problem, "diffusion": diffusion_problem, "advection": advection_problem}

# (solver, relative tolerance on values and gradients, problems it applies to)
SOLVERS = {
    "arnoldi": (pk.Arnoldi(40), 1e-9, ("wave", "diffusion", "advection")),
    "arnoldi-substeps": (pk.Arnoldi(24, substeps=3), 1e-9, ("wave", "diffusion", "advection")),
    "arnoldi-stored": (pk.Arnoldi(24, substeps=3, checkpoint=False), 1e-9, ("wave",)),
    "lanczos": (pk.Lanczos(30), 1e-9, ("wave", "diffusion")),
    "lanczos-substeps": (pk.Lanczos(16, substeps=3), 1e-9, ("wave", "diffusion")),
    "tsit5": (pk.Diffrax(diffrax.Tsit5(), steps=120), 1e-6, ("wave", "diffusion", "advection")),
    "dopri5-backsolve-adaptive": (
        pk.Diffrax(diffrax.Dopri5(), rtol=1e-10, atol=1e-10, adjoint=diffrax.BacksolveAdjoint()),
        1e-6,
        ("wave", "diffusion", "advection"),
    ),
}
CASES = [(p, s) for s, (_, _, problems) in SOLVERS.items() for p in problems]


def dense_solution(make, field, y0, times):
    A = make(field).as_matrix()
    return jnp.stack([jax.scipy.linalg.expm(t * A) @ y0.ravel() for t in times]).reshape(
        len(times), *y0.shape
    )


def relative_error(a, b):
    return float(jnp.linalg.norm((a - b).ravel()) / jnp.linalg.norm(b.ravel()))


@functools.cache
def dense_reference(problem):
    """Solution, loss and gradients of `problem` by dense `expm`, computed once."""
    make, field, y0 = PROBLEMS[problem]()
    w = jax.random.uniform(jax.random.PRNGKey(0), (len(SAVEAT), *y0.shape))

    def dense_loss(field, y0):
        return jnp.sum(w * dense_solution(make, field, y0, SAVEAT))

    value, grads = jax.jit(jax.value_and_grad(dense_loss, argnums=(0, 1)))(field, y0)
    return w, dense_solution(make, field, y0, SAVEAT), value, grads


@pytest.mark.parametrize("problem, solver_name", CASES)
def test_solvers_agree_with_dense_exponential(problem, solver_name):
    make, field, y0 = PROBLEMS[problem]()
    solver, tol, _ = SOLVERS[solver_name]
    w, expected_ys, expected_value, expected_grads = dense_reference(problem)

    @jax.jit
    def loss(field, y0):
        solution = pk.solve(make(field), y0, 0.6, solver, saveat=SAVEAT)
        return jnp.sum(w * solution.ys), solution

    (value, solution), grads = jax.value_and_grad(loss, argnums=(0, 1), has_aux=True)(field, y0)
    assert solution.ys.shape == (len(SAVEAT), *y0.shape)
    np.testing.assert_allclose(solution.ts, SAVEAT)
    assert relative_error(solution.ys, expected_ys) <= tol
    assert relative_error(value, expected_value) <= tol
    for g, e in zip(grads, expected_grads):
        assert relative_error(g, e) <= 10 * tol


def test_default_saveat_is_t1_and_t0_shifts_time():
    make, field, y0 = wave_problem()
    solution = jax.jit(lambda f: pk.solve(make(f), y0, 1.5, pk.Arnoldi(40), t0=1.0))(field)
    assert solution.ys.shape == (1, *y0.shape)
    np.testing.assert_allclose(solution.ts, [1.5])
    expected = dense_solution(make, field, y0, [0.5])
    assert relative_error(solution.ys, expected) <= 1e-9


def test_error_estimate_is_reported_and_shrinks_with_depth():
    grid = pk.Grid((24, 24))
    op = pk.WaveOperator(grid, smooth_field(grid, 0.3, 0.1))
    y0 = jnp.stack([bump(grid), jnp.zeros(grid.shape)])
    exact = dense_solution(lambda f: op, None, y0, [1.0])[0]
    estimates, errors = [], []
    for depth in (20, 30, 40):
        sol = jax.jit(lambda op: pk.solve(op, y0, 1.0, pk.Arnoldi(depth, substeps=2)))(op)
        estimates.append(float(sol.stats["error_estimate"][0]))
        errors.append(float(jnp.linalg.norm((sol.ys[0] - exact).ravel())))
    assert estimates[0] > estimates[1] > estimates[2]
    assert errors[0] > errors[2]
    assert all(np.isfinite(estimates))


class CountingDiffusion(pk.DiffusionOperator):
    """A diffusion operator that counts its applications at run time."""

    counter: list = eqx.field(static=True, default_factory=list)

    def __init__(self, grid, diffusivity, counter):
        super().__init__(grid, diffusivity, "neumann")
        self.counter = counter

    def __call__(self, y):
        jax.debug.callback(lambda: self.counter.append(1))
        return super().__call__(y)


@pytest.mark.parametrize(
    "solver",
    [
        pk.Arnoldi(7, substeps=3),
        pk.Lanczos(5, substeps=2),
        pk.Diffrax(diffrax.Tsit5(), steps=9),
        pk.Diffrax(diffrax.Heun(), steps=4),
        pk.Diffrax(diffrax.Euler(), steps=5),
        pk.Diffrax(diffrax.Dopri5(), rtol=1e-5, atol=1e-5),
    ],
    ids=lambda s: type(s).__name__ + str(getattr(s, "solver", "")),
)
def test_num_matvecs_counts_actual_applications(solver):
    make, field, y0 = diffusion_problem()
    counter = []
    op = CountingDiffusion(make(field).grid, field, counter)
    solution = jax.jit(lambda op, y0: pk.solve(op, y0, 0.5, solver))(op, y0)
    jax.block_until_ready(solution.ys)
    jax.effects_barrier()
    # the propagation's matvecs, plus one vmapped application of the operator to its
    # probes where the Krylov solvers' a priori bound is reported (its
    # `num_bound_matvecs` vectors: the callback runs once for the batch)
    probing = 1 if "num_bound_matvecs" in solution.stats else 0
    assert int(solution.stats["num_matvecs"]) + probing == len(counter)


@pytest.mark.parametrize("solver", [pk.Arnoldi(30), pk.Lanczos(20), pk.Diffrax(steps=100)])
def test_vmap_over_batch_of_initial_states(solver):
    make, field, y0 = wave_problem()
    batch = jnp.stack([y0, 2.0 * y0[::-1], -y0])
    op = make(field)
    solve_one = lambda y: pk.solve(op, y, 0.5, solver).ys  # noqa: E731
    batched = jax.jit(jax.vmap(solve_one))(batch)
    assert batched.shape == (3, 1, *y0.shape)
    single = jax.jit(solve_one)
    for i in range(3):
        np.testing.assert_allclose(batched[i], single(batch[i]), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("solver", [pk.Arnoldi(30), pk.Lanczos(20), pk.Diffrax(steps=100)])
def test_float32(solver):
    make, field, y0 = wave_problem()
    field, y0 = field.astype(jnp.float32), y0.astype(jnp.float32)

    @jax.jit
    def loss(field):
        return jnp.sum(pk.solve(make(field), y0, 0.5, solver).ys ** 2)

    value, grad = jax.value_and_grad(loss)(field)
    assert value.dtype == jnp.float32 and grad.dtype == jnp.float32
    exact = jnp.sum(dense_solution(make, field.astype(float), y0.astype(float), [0.5]) ** 2)
    np.testing.assert_allclose(value, exact, rtol=1e-4)
    assert jnp.all(jnp.isfinite(grad))


def test_filter_grad_wrt_operator_and_y0():
    make, field, y0 = diffusion_problem()

    @eqx.filter_jit
    @eqx.filter_grad
    def grads(inputs):
        op, y0 = inputs
        return jnp.sum(pk.solve(op, y0, 0.3, pk.Lanczos(20)).ys ** 2)

    g_op, g_y0 = grads((make(field), y0))
    assert g_op.diffusivity.shape == field.shape and jnp.any(g_op.diffusivity != 0)
    assert g_y0.shape == y0.shape


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(t1=0.0), ValueError, "t1: expected t1 > t0"),
        (dict(t1=1.0, t0=2.0), ValueError, "t1: expected t1 > t0"),
        (dict(t1=1.0, saveat=[0.5, 0.2]), ValueError, "saveat: expected sorted"),
        (dict(t1=1.0, saveat=[0.5, 1.5]), ValueError, r"saveat: expected times in \[t0, t1\]"),
        (dict(t1=1.0, saveat=[-0.1]), ValueError, "saveat"),
        (dict(t1=1.0, saveat=[]), ValueError, "saveat"),
        (dict(t1=float("nan")), ValueError, "t1"),
        (dict(t1=1.0, y0_shape=(3, 8, 7)), ValueError, r"y0: expected shape \(2, 8, 7\)"),
        (dict(t1=1.0, solver="arnoldi"), TypeError, "solver: expected a solver object"),
        (dict(t1=1.0, solver=pk.Arnoldi(113)), ValueError, r"depth: expected 1 <= depth <= 112"),
    ],
)
def test_bad_input_is_rejected_with_named_argument(kwargs, error, match):
    make, field, y0 = wave_problem()
    op = make(field)
    y0_shape = kwargs.pop("y0_shape", None)
    if y0_shape is not None:
        y0 = jnp.zeros(y0_shape)
    solver = kwargs.pop("solver", pk.Arnoldi(10))
    with pytest.raises(error, match=match):
        pk.solve(op, y0, kwargs.pop("t1"), solver, **kwargs)


def test_complex_states_and_coefficients_are_refused():
    make, field, y0 = wave_problem()
    with pytest.raises(TypeError, match="^y0: expected a floating dtype"):
        pk.solve(make(field), y0 + 0j, 1.0, pk.Arnoldi(10))
    with pytest.raises(TypeError, match="^speed: expected a floating dtype"):
        make(field + 0j)


def test_lanczos_refuses_non_self_adjoint_operator():
    make, field, y0 = advection_problem()
    with pytest.raises(ValueError, match="solver: Lanczos needs a self-adjoint"):
        pk.solve(make(field), y0, 1.0, pk.Lanczos(10))


@pytest.mark.parametrize(
    "build, error, match",
    [
        (lambda: pk.Arnoldi(0), ValueError, "depth"),
        (lambda: pk.Lanczos(10, substeps=0), ValueError, "substeps"),
        (lambda: pk.Arnoldi(2.5), TypeError, "depth"),
        (lambda: pk.Diffrax(diffrax.Tsit5()), ValueError, "steps"),
        (lambda: pk.Diffrax(diffrax.Tsit5(), steps=10, rtol=1e-3), ValueError, "exclusive"),
        (lambda: pk.Diffrax("tsit5", steps=10), TypeError, "solver"),
        (lambda: pk.Diffrax(steps=0), ValueError, "steps"),
    ],
)
def test_solver_constructors_validate(build, error, match):
    with pytest.raises(error, match=match):
        build()


@pytest.mark.parametrize("depth", [30, 40])
def test_deep_single_step_gradient_on_a_smooth_wave(depth):
    """A converged Krylov expansion (smooth start, tiny late coefficients): its gradient
    must be as accurate as its state. Differentiating the small exponential's mean-
    eigenvalue shift once cost this gradient 4-5 digits (2e-9 at depth 30, 1e-8 at 40)."""
    grid = pk.Grid((32, 32))
    x = grid.coordinates(jnp.float64)
    speed = 0.05 + 0.01 * jnp.sin(2 * np.pi * x[0]) * jnp.cos(np.pi * x[1])
    bump = jnp.exp(-((x[0] - 0.4) ** 2 + (x[1] - 0.5) ** 2) / (2 * 0.08**2))
    y0 = jnp.stack([bump, 0.5 * bump[::-1]])
    w = jnp.asarray(np.random.default_rng(0).uniform(size=y0.shape))

    def gradient(solver):
        def loss(c):
            return jnp.vdot(w, pk.solve(pk.WaveOperator(grid, c), y0, 1.0, solver).ys[-1])

        return jax.jit(jax.grad(loss))(speed)

    reference = gradient(pk.Diffrax(diffrax.Dopri8(), steps=300))
    error = jnp.linalg.norm(gradient(pk.Arnoldi(depth)) - reference) / jnp.linalg.norm(reference)
    assert error < 1e-11, error


def test_gradient_finite_when_arnoldi_breaks_down():
    """Depth beyond the Krylov space's dimension (here the 16 free nodes of a Dirichlet
    grid plus its held boundary): an exact breakdown. The value and the gradient are
    the dense ones (the error estimate's square root at a zero residual once gave NaN)."""
    grid = pk.Grid((6, 6))
    rng = np.random.default_rng(0)
    k = jnp.asarray(0.6 + 0.8 * rng.uniform(size=grid.shape))
    y0 = jnp.asarray(rng.standard_normal(grid.shape))
    w = jnp.asarray(rng.uniform(size=grid.shape))

    def loss(k, solver):
        return jnp.vdot(w, pk.solve(pk.DiffusionOperator(grid, k, "dirichlet"), y0, 0.3, solver).ys[-1])

    def dense(k):
        A = pk.DiffusionOperator(grid, k, "dirichlet").as_matrix()
        return jnp.vdot(w.ravel(), jax.scipy.linalg.expm(0.3 * A) @ y0.ravel())

    for solver in (pk.Arnoldi(30), pk.Arnoldi(rtol=1e-6, depth=30, max_steps=16)):
        value, gradient = jax.value_and_grad(loss)(k, solver)
        np.testing.assert_allclose(value, dense(k), rtol=1e-9)
        np.testing.assert_allclose(gradient, jax.grad(dense)(k), rtol=1e-7, atol=1e-10)
