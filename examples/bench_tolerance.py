"""Tolerance mode against Diffrax's adaptive solvers and hand-tuned Krylov, in one run.

For each problem, `pk.study.workprecision` sweeps the tolerances for the Krylov solvers'
tolerance mode (`pk.Arnoldi(rtol=...)`, `pk.Lanczos(rtol=...)`) and for Diffrax's
PID-controlled Dopri5 / Tsit5 with both adjoints (`rtol = atol`), then the hand-tuned
fixed Krylov configurations (depth x substeps) of `pdekrylov bench`'s `solve` rows. The
loss is `<w, y(t1)>` with `w ~ U[0, 1)`, its gradient taken with respect to the
coefficient field, errors against a Dopri8 reference (float64). It prints:

1. per tolerance and solver: achieved value and gradient error, forward matvecs, time;
   whether the gradient error is within 10 x rtol;
2. the fastest configuration of each family whose gradient error is <= 1e-6, and the
   goals: tolerance-mode Krylov <= 0.4 x the best adaptive Diffrax, <= 1.3 x the best
   hand-tuned Krylov;
3. the adjoint: value+grad over forward of tolerance-mode Krylov at that configuration
   (goal <= 2.5).

Times are the best of `--repeats` per configuration, each timed right after it compiles
(workprecision's timing, not interleaved across configurations: expect some noise).

Run it with `python examples/bench_tolerance.py` (about 10 minutes on a 2-core CPU;
`--quick` runs the wave only; `--out DIR` also writes each sweep's CSV and figure).
"""

import argparse
import warnings

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402

import pdekrylov as pk  # noqa: E402
from pdekrylov.study import bench, best_times, machine_info  # noqa: E402

TOLERANCES = (1e-2, 1e-3, 1e-4, 1e-6, 1e-8, 1e-10)
KRYLOV = ("arnoldi", "lanczos")
DIFFRAX = ("dopri5+recursive-checkpoint", "tsit5+recursive-checkpoint", "dopri5+backsolve", "tsit5+backsolve")
TARGET = 1e-6  # the gradient error at which the families are compared
GOAL_VS_DIFFRAX, GOAL_VS_HAND_TUNED, GOAL_ADJOINT = 0.4, 1.3, 2.5


def problems(quick):
    """The 128 x 128 wave of `pdekrylov bench`'s solve rows, and a 64 x 64 diffusion."""
    found = {"wave 128x128 (wave-paper field + 0.05)": bench.solve_problem(128)}
    if not quick:
        diffusion = pk.problems.load_problem("diffusion-small")
        found["diffusion 64x64 (diffusion-small field)"] = diffusion.replace(grid=pk.Grid((64, 64)))
    return found


def hand_tuned(problem):
    """Fixed-depth Krylov configurations around the known frontiers, as factories."""
    if isinstance(problem.pde, pk.problems.WaveSpec):
        lanczos, arnoldi = [(8, 4), (10, 3), (12, 3), (8, 6)], [(20, 3), (24, 3), (20, 4), (30, 2)]
    else:
        lanczos, arnoldi = [(40, 8), (40, 12), (60, 6), (60, 8)], [(40, 8), (40, 12), (60, 6), (60, 8)]
    configurations = [("Lanczos", pk.Lanczos, d, k) for d, k in lanczos]
    configurations += [("Arnoldi", pk.Arnoldi, d, k) for d, k in arnoldi]
    return [
        (f"{label} {d} x {k}", lambda level, cls=cls, d=d, k=k: cls(d, substeps=k))
        for label, cls, d, k in configurations
    ]


def fastest_passing(rows, labels):
    passing = [r for r in rows if r.solver in labels and not r.diverged and r.gradient_error <= TARGET]
    return min(passing, key=lambda r: r.seconds) if passing else None


def adjoint_ratio(problem, solver, repeats):
    """value+grad over forward time of `solver` on the study's data point."""
    coefficient, y0, w = pk.study.data_point(problem, jax.random.PRNGKey(0))
    t1 = problem.time.t1

    def loss(c):
        return jnp.vdot(w, pk.solve(problem.operator(c), y0, t1, solver).ys[-1])

    forward, both = jax.jit(loss), jax.jit(jax.value_and_grad(loss))
    seconds = best_times({"forward": lambda: forward(coefficient), "vg": lambda: both(coefficient)}, repeats)
    return seconds["vg"] / seconds["forward"], seconds


def report(name, problem, repeats, out):
    print(f"\n## {name}\n")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sweep = pk.study.workprecision(problem, KRYLOV + DIFFRAX, tolerances=TOLERANCES, repeats=repeats)
        tuned = pk.study.workprecision(problem, hand_tuned(problem), (1,), repeats=repeats)
    for warning in caught:
        if "diverged" in str(warning.message):
            print(f"warning: {warning.message}\n")
    print(sweep.reference["message"].split(";")[0] + "\n")
    print("| solver | rtol | matvecs | time ms | value err | grad err | grad err <= 10 rtol |")
    print("|---|---:|---:|---:|---:|---:|---|")
    for r in sweep.rows:
        within = "diverged" if r.diverged else ("yes" if r.gradient_error <= 10 * r.level else "no")
        print(f"| {r.solver} | {r.level:g} | {r.matvecs} | {r.seconds * 1e3:.1f} | {r.value_error:.1e} | "
              f"{r.gradient_error:.1e} | {within} |")
    for r in tuned.rows:
        print(f"| {r.solver} (fixed) | | {r.matvecs} | {r.seconds * 1e3:.1f} | {r.value_error:.1e} | "
              f"{r.gradient_error:.1e} | |")
    best = {
        "Krylov tolerance mode": fastest_passing(sweep.rows, KRYLOV),
        "Diffrax adaptive": fastest_passing(sweep.rows, DIFFRAX),
        "hand-tuned Krylov": fastest_passing(tuned.rows, {r.solver for r in tuned.rows}),
    }
    print(f"\nFastest with gradient error <= {TARGET:g}:")
    for family, row in best.items():
        where = "none" if row is None else (
            f"{row.solver} at {row.level:g}: {row.seconds * 1e3:.1f} ms, error {row.gradient_error:.1e}"
        )
        print(f"- {family}: {where}")
    ours = best["Krylov tolerance mode"]
    for peer, goal in (("Diffrax adaptive", GOAL_VS_DIFFRAX), ("hand-tuned Krylov", GOAL_VS_HAND_TUNED)):
        if ours is not None and best[peer] is not None:
            ratio = ours.seconds / best[peer].seconds
            print(f"- goal: tolerance-mode Krylov / {peer} <= {goal:g}: {ratio:.2f} "
                  f"({'met' if ratio <= goal else 'not met'})")
    if ours is not None:
        solver = pk.solvers.solver_from_name(ours.solver, rtol=ours.level)
        ratio, seconds = adjoint_ratio(problem, solver, repeats)
        print(f"- goal: value+grad / forward <= {GOAL_ADJOINT:g} for {ours.solver} at {ours.level:g}: "
              f"{ratio:.2f} ({seconds['vg'] * 1e3:.1f} / {seconds['forward'] * 1e3:.1f} ms; "
              f"{'met' if ratio <= GOAL_ADJOINT else 'not met'})")
    if out is not None:
        pk.study.save_workprecision(sweep, f"{out}/{name.split()[0]}", force=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="best-of-n timing (default 3)")
    parser.add_argument("--quick", action="store_true", help="the wave problem only")
    parser.add_argument("--out", default=None, help="folder for each sweep's CSV and figure")
    args = parser.parse_args(argv)
    print(f"machine: {machine_info()}")
    for name, problem in problems(args.quick).items():
        report(name, problem, args.repeats, args.out)


if __name__ == "__main__":
    main()
