"""Benchmark gradients through `pk.solve`: Krylov solvers against Diffrax baselines.

What is measured: the scalar loss `L(c) = <w, y(1)>` of the Neumann wave equation
`u_tt = c^2 Δ_h u`, state `y = (u, u_t)` on an n x n vertex grid of the unit square
(default n = 128, N = 2 n^2 = 32768 values), float64, CPU, and its gradient with respect
to the speed field `c` (n^2 values), by `jax.value_and_grad` through `pk.solve`.

- speed: `c(x, y) = 0.05 + 0.01 sin(2π x) cos(π y)` (smooth, between 0.04 and 0.06), so
  `c^2 Δ_h` has spectral radius of a few hundred (the Gershgorin bound
  `max(c^2) · 4 · Σ 1/h^2` is printed) and the fastest wave mode has angular
  frequency of about 20;
- initial state (smooth, so that no grid-scale modes are excited):
  `u(0) = exp(-|x - (0.4, 0.5)|^2 / (2 · 0.08^2))`,
  `u_t(0) = 0.5 exp(-|x - (0.6, 0.4)|^2 / (2 · 0.1^2))`;
- weight: `w ~ Uniform[0, 1)` on the whole state (seed 0). The gradient pairs the
  adjoint state, which starts from this rough `w`, with `Δ_h u` pointwise, so it is the
  gradient (not the value) that needs the fast modes resolved.

Reference: Diffrax Dopri8 with 400 fixed steps and `RecursiveCheckpointAdjoint`. It is
checked against Dopri8 with 600 steps; their disagreement is printed and should be far
below the tolerance.

Families of configurations (`pk.solve` solvers):

- `Tsit5 + RecursiveCheckpoint`: `pk.Diffrax(diffrax.Tsit5(), steps=N,
  adjoint=diffrax.RecursiveCheckpointAdjoint())`, fixed steps N;
- `Dopri5 + Backsolve`: `pk.Diffrax(diffrax.Dopri5(), steps=N,
  adjoint=diffrax.BacksolveAdjoint())`, fixed steps N;
- `Arnoldi`: `pk.Arnoldi(depth, substeps)` (checkpointed sub-intervals);
- `Lanczos`: `pk.Lanczos(depth, substeps)`, for the wave operator the second-order form:
  two Lanczos runs of `depth` on the symmetrised `c Δ_h c` per sub-interval, whose
  matvecs act on half the state (`u` only).

Errors, relative to the reference: value `|L - L_ref| / |L_ref|`, final state
`||y(1) - y_ref(1)||_2 / ||y_ref(1)||_2`, gradient `||g - g_ref||_2 / ||g_ref||_2`
(Euclidean norms over all grid points). A configuration *passes* if its gradient error
is at most the tolerance 1e-6. `matvecs` is `sol.stats["num_matvecs"]` (forward pass
only); `estimate` is the Krylov solvers' a-posteriori estimate of the error of y(1)
(`sol.stats["error_estimate"]`, absolute): an estimate for the state, not the gradient.

How the sweep is kept short (every configuration compiles its own program, several
seconds each): per family and number of substeps, the step counts / depths of a coarse
list are evaluated in increasing order until the first one passes; then the gap between
it and the last failing one is bisected `--refine` times (default 2), to narrow the
frontier. This assumes the error decreases with the depth / step count; `--full`
evaluates the whole coarse lists instead (slower, no bisection), which shows whether it
does. Every evaluated configuration is then timed and appears in the table.

How it is timed: `jax.jit(jax.value_and_grad(loss))` per configuration, the first call
(compile + run, "first call s") is the error scan; then all configurations are called
`--repeats` times (default 10) in interleaved rounds, with `block_until_ready`, and the
best (minimum) wall-clock time by `time.perf_counter` is reported, so that background
load affects all alike. The goal line compares the fastest passing Krylov configuration
(Arnoldi or Lanczos) with the fastest passing Diffrax configuration, both timed in the
same run: goal `best Krylov / best Diffrax <= 0.5`.

Run it with `python examples/bench_solve.py` (options: `--repeats 10`, `--grid 128`,
`--refine 2`, `--quick` (substeps 1 and 2 instead of 1, 2, 3, 4, 6; no bisection),
`--full`, `--tolerance 1e-6`). It takes about 5-6 minutes on 2 CPU cores (mostly
compilation); the reference alone takes about a minute.
"""

import argparse
import functools
import time
from dataclasses import dataclass
from typing import Callable

import jax

jax.config.update("jax_enable_x64", True)

import diffrax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import pdekrylov as pk  # noqa: E402
from _benchmarking import best_times, machine_info, relative_error  # noqa: E402

#: packages whose versions the report header lists
PACKAGES = ("jax", "jaxlib", "diffrax", "equinox", "pdekrylov")

TOLERANCE = 1e-6  # relative gradient error a configuration must reach
GOAL_RATIO = 0.5  # best Krylov time / best Diffrax time
REFERENCE_STEPS = 400
CHECK_STEPS = 600


# ---------------------------------------------------------------- problem


@dataclass(frozen=True)
class Problem:
    grid: pk.Grid
    speed: jax.Array
    y0: jax.Array
    w: jax.Array


def make_problem(n, seed=0):
    """The wave problem of the module docstring on an n x n grid."""
    grid = pk.Grid((n, n))
    x = grid.coordinates()
    speed = 0.05 + 0.01 * jnp.sin(2 * jnp.pi * x[0]) * jnp.cos(jnp.pi * x[1])

    def bump(cx, cy, width):
        return jnp.exp(-((x[0] - cx) ** 2 + (x[1] - cy) ** 2) / (2 * width**2))

    y0 = jnp.stack([bump(0.4, 0.5, 0.08), 0.5 * bump(0.6, 0.4, 0.1)])
    w = jax.random.uniform(jax.random.PRNGKey(seed), y0.shape, jnp.float64)
    return Problem(grid, speed, y0, w)


def spectral_radius_bound(problem):
    """Gershgorin bound on the spectral radius of c^2 Δ_h."""
    inverse_h2 = sum(1 / h**2 for h in problem.grid.spacing)
    return 4 * inverse_h2 * float(jnp.max(problem.speed)) ** 2


def loss(speed, problem, solver):
    """`<w, y(1)>`, with the final state and the forward stats as auxiliary output."""
    operator = pk.WaveOperator(problem.grid, speed, "neumann")
    solution = pk.solve(operator, problem.y0, 1.0, solver)
    final = solution.ys[-1]
    estimate = solution.stats.get("error_estimate", jnp.full((1,), jnp.nan))[-1]
    return jnp.vdot(problem.w, final), (final, solution.stats["num_matvecs"], estimate)


def value_and_grad_function(problem, solver):
    """The jitted `speed -> ((L, (y(1), matvecs, estimate)), dL/dspeed)` of a solver."""
    return jax.jit(
        jax.value_and_grad(functools.partial(loss, problem=problem, solver=solver), has_aux=True)
    )


# ---------------------------------------------------------------- configurations


def tsit5_recursive(steps, substeps):
    del substeps
    return pk.Diffrax(diffrax.Tsit5(), steps=steps, adjoint=diffrax.RecursiveCheckpointAdjoint())


def dopri5_backsolve(steps, substeps):
    del substeps
    return pk.Diffrax(diffrax.Dopri5(), steps=steps, adjoint=diffrax.BacksolveAdjoint())


def dopri8_recursive(steps, substeps=1):
    del substeps
    return pk.Diffrax(diffrax.Dopri8(), steps=steps, adjoint=diffrax.RecursiveCheckpointAdjoint())


@dataclass(frozen=True)
class Family:
    name: str
    make_solver: Callable  # (size, substeps) -> solver
    sizes: tuple  # coarse list of step counts (Diffrax) or depths (Krylov), increasing
    substeps: tuple = (1,)
    krylov: bool = False


def families(quick):
    substeps = (1, 2) if quick else (1, 2, 3, 4, 6)
    steps = (16, 24, 32, 48, 64, 96)
    return (
        Family("Tsit5 + RecursiveCheckpoint", tsit5_recursive, steps),
        Family("Dopri5 + Backsolve", dopri5_backsolve, steps),
        Family("Arnoldi", pk.Arnoldi, (10, 20, 30, 40, 50, 60, 80), substeps, krylov=True),
        Family("Lanczos", pk.Lanczos, (5, 10, 20, 30, 40, 60), substeps, krylov=True),
    )


# ---------------------------------------------------------------- evaluation


@dataclass(frozen=True)
class Outputs:
    """What one value_and_grad call of a configuration returns."""

    value: float  # L
    final: np.ndarray  # y(1)
    gradient: np.ndarray  # dL / dspeed
    matvecs: int  # sol.stats["num_matvecs"]
    estimate: float  # Krylov error estimate of y(1) (nan for Diffrax)


@dataclass
class Result:
    family: Family
    size: int  # steps (Diffrax) or depth (Krylov)
    substeps: int
    call: Callable  # zero-argument jitted value_and_grad
    outputs: Outputs
    first_call: float  # seconds, compile + one run
    errors: dict  # "value", "state", "gradient", relative to the reference
    seconds: float = float("nan")  # best timed value_and_grad

    def passes(self, tolerance):
        return self.errors["gradient"] <= tolerance


def relative_errors(outputs, reference):
    """Relative errors of value, final state and gradient (2-norms)."""
    return {
        "value": abs(outputs.value - reference.value) / abs(reference.value),
        "state": relative_error(outputs.final, reference.final),
        "gradient": relative_error(outputs.gradient, reference.gradient),
    }


def run_solver(problem, solver):
    """Compile and call value_and_grad once: (zero-argument call, Outputs, seconds)."""
    call = functools.partial(value_and_grad_function(problem, solver), problem.speed)
    start = time.perf_counter()
    (value, (final, matvecs, estimate)), gradient = jax.block_until_ready(call())
    seconds = time.perf_counter() - start
    outputs = Outputs(
        float(value), np.asarray(final), np.asarray(gradient), int(matvecs), float(estimate)
    )
    return call, outputs, seconds


def evaluate(problem, family, size, substeps, reference):
    call, outputs, seconds = run_solver(problem, family.make_solver(size, substeps))
    errors = relative_errors(outputs, reference)
    return Result(family, size, substeps, call, outputs, seconds, errors)


def compute_reference(problem):
    """Dopri8 with REFERENCE_STEPS steps, checked against CHECK_STEPS: (Outputs, lines)."""
    references, lines = {}, []
    for steps in (REFERENCE_STEPS, CHECK_STEPS):
        _, outputs, seconds = run_solver(problem, dopri8_recursive(steps))
        references[steps] = outputs
        lines.append(
            f"Dopri8 + RecursiveCheckpoint, {steps} steps: L = {outputs.value:.15e}, "
            f"||g||_2 = {np.linalg.norm(outputs.gradient):.6e}, {outputs.matvecs} matvecs, "
            f"first call {seconds:.1f} s"
        )
    reference = references[REFERENCE_STEPS]
    errors = relative_errors(reference, references[CHECK_STEPS])
    lines.append(
        f"self-check, {REFERENCE_STEPS} vs {CHECK_STEPS} steps: rel. value diff "
        f"{errors['value']:.1e}, rel. state diff {errors['state']:.1e}, rel. gradient diff "
        f"(2-norm) {errors['gradient']:.1e}"
    )
    return reference, lines


def scan_family(problem, family, reference, tolerance, full, refine, report):
    """Evaluate one family's configurations (see the module docstring); a list of results.

    Unless `full`, per number of substeps: the coarse sizes in increasing order up to the
    first passing one, then `refine` bisections of the gap to the last failing one.
    """
    results = []

    def run(size, substeps):
        result = evaluate(problem, family, size, substeps, reference)
        results.append(result)
        report(result)
        return result.passes(tolerance)

    for substeps in family.substeps:
        failing = None
        for size in family.sizes:
            if run(size, substeps) and not full:
                bisect(failing, size, functools.partial(run, substeps=substeps), refine)
                break
            failing = size
    return results


def bisect(failing, passing, passes, levels):
    """Narrow the gap between a failing and a passing size by `levels` bisections."""
    for _ in range(levels):
        if failing is None or passing - failing < 2:
            return
        midpoint = (failing + passing) // 2
        if passes(midpoint):
            passing = midpoint
        else:
            failing = midpoint


# ---------------------------------------------------------------- report


def settings_label(result):
    if not result.family.krylov:
        return f"{result.size} steps"
    plural = "s" if result.substeps > 1 else ""
    return f"depth {result.size}, {result.substeps} substep{plural}"


def configuration_label(result):
    return f"{result.family.name}, {settings_label(result)}"


def scan_line(result, tolerance):
    verdict = "pass" if result.passes(tolerance) else "fail"
    return (
        f"  {configuration_label(result)}: grad err {result.errors['gradient']:.1e} "
        f"({verdict}), first call {result.first_call:.1f} s"
    )


TABLE_HEADER = (
    "| family | steps / depth | substeps | matvecs | value err | state err | grad err "
    "| pass | estimate | first call s | value_and_grad ms |\n"
    "|---|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|"
)


def table_row(result, tolerance):
    estimate = f"{result.outputs.estimate:.1e}" if result.family.krylov else "-"
    substeps = result.substeps if result.family.krylov else "-"
    return (
        f"| {result.family.name} | {result.size} | {substeps} | {result.outputs.matvecs} | "
        f"{result.errors['value']:.1e} | {result.errors['state']:.1e} | "
        f"{result.errors['gradient']:.1e} | {'yes' if result.passes(tolerance) else 'no'} | "
        f"{estimate} | {result.first_call:.1f} | {result.seconds * 1e3:.1f} |"
    )


def fastest_passing(results, tolerance):
    passing = [r for r in results if r.passes(tolerance)]
    return min(passing, key=lambda r: r.seconds) if passing else None


def summary_lines(results, all_families, tolerance):
    """The fastest passing configuration per family, then the goal line."""
    lines = []
    for family in all_families:
        best = fastest_passing([r for r in results if r.family is family], tolerance)
        lines.append(
            f"- {family.name}: "
            + (
                f"{settings_label(best)}: {best.seconds * 1e3:.1f} ms, grad err "
                f"{best.errors['gradient']:.1e}, {best.outputs.matvecs} matvecs"
                if best
                else f"no configuration reached grad err <= {tolerance:g}"
            )
        )
    krylov = fastest_passing([r for r in results if r.family.krylov], tolerance)
    baseline = fastest_passing([r for r in results if not r.family.krylov], tolerance)
    if krylov is None or baseline is None:
        lines.append(f"\ngoal: best Krylov / best Diffrax <= {GOAL_RATIO:g}: not evaluated "
                     "(a side has no passing configuration)")
        return lines
    ratio = krylov.seconds / baseline.seconds
    lines.append(
        f"\ngoal: best Krylov ({configuration_label(krylov)}, {krylov.seconds * 1e3:.1f} ms) / "
        f"best Diffrax ({configuration_label(baseline)}, {baseline.seconds * 1e3:.1f} ms) "
        f"= {ratio:.2f}; goal <= {GOAL_RATIO:g}: {'met' if ratio <= GOAL_RATIO else 'not met'}"
    )
    return lines


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=10,
                        help="timed calls per configuration; the best is reported (default 10)")
    parser.add_argument("--grid", type=int, default=128,
                        help="grid points per axis (n x n grid); default 128")
    parser.add_argument("--quick", action="store_true",
                        help="fewer configurations: substeps 1 and 2 only, no bisection")
    parser.add_argument("--full", action="store_true",
                        help="evaluate the whole coarse lists (no early stop, no bisection)")
    parser.add_argument("--refine", type=int, default=2,
                        help="bisections of the gap between the last failing and the first "
                        "passing size (default 2)")
    parser.add_argument("--tolerance", type=float, default=TOLERANCE,
                        help=f"relative gradient error to reach (default {TOLERANCE:g})")
    args = parser.parse_args(argv)
    started = time.perf_counter()

    problem = make_problem(args.grid)
    print(f"# Gradient benchmark: pk.solve, Krylov vs Diffrax\n\n{machine_info(PACKAGES)}\n")
    print(
        f"L(c) = <w, y(1)>, WaveOperator {args.grid}x{args.grid} neumann, "
        f"N = {problem.y0.size}, float64; gradient w.r.t. the speed ({problem.speed.size} "
        f"values); speed in [{float(jnp.min(problem.speed)):.3f}, "
        f"{float(jnp.max(problem.speed)):.3f}], spectral radius of c^2 Δ_h <= "
        f"{spectral_radius_bound(problem):.0f} (Gershgorin); tolerance on the relative "
        f"gradient error (2-norm): {args.tolerance:g}\n"
    )

    print("## Reference\n", flush=True)
    reference, lines = compute_reference(problem)
    print("\n".join(lines), flush=True)

    print("\n## Error scan (first call = compile + one value_and_grad)\n", flush=True)
    all_families = families(args.quick)
    results = []
    for family in all_families:
        results += scan_family(
            problem, family, reference, args.tolerance, args.full,
            refine=0 if args.quick else args.refine,
            report=lambda result: print(scan_line(result, args.tolerance), flush=True),
        )

    print(f"\n## Timing ({len(results)} configurations, best of {args.repeats}, "
          "interleaved)\n", flush=True)
    calls = {i: r.call for i, r in enumerate(results)}  # compiled by the error scan
    seconds_by_index = best_times(calls, args.repeats, warm_up=False)
    for result, seconds in zip(results, seconds_by_index.values()):
        result.seconds = seconds
    print(TABLE_HEADER)
    for result in results:
        print(table_row(result, args.tolerance))
    print(
        "\nerrors are relative to the Dopri8 reference, in the 2-norm; matvecs: forward "
        "pass (Lanczos: of the half-size symmetrised stiffness); estimate: the Krylov "
        "a-posteriori error estimate of y(1)\n"
    )
    print(f"## Fastest configuration with grad err <= {args.tolerance:g}, per family\n")
    print("\n".join(summary_lines(results, all_families, args.tolerance)))
    print(f"\ntotal run time {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
