"""Traces of one shot on a 128² grid: Krylov against Diffrax at equal trace accuracy.

One Ricker source (f0 = 5, c = 1: 20 points per wavelength at h = 0.01) in a
homogeneous medium, 120 receivers on rings at 0.5, 1 and 1.5 wavelengths, 501 time
samples over [0, 0.9] (before boundary reflections arrive), float64. Every solver's
traces are compared with the analytic traces (2D Green's function * Ricker); its error
is floored by the stencil's dispersion (the error of a time-exact solve, Arnoldi rtol
1e-8). For each family, the cheapest configuration within 5 % of that floor is "at equal
accuracy"; its forward time and the time of value and gradient of the misfit
`0.5 ||traces - analytic||²` with respect to the speed field are compared, all timed
interleaved in one run (best of `--repeats`). The receivers' cost share is the time of
a solve recording 501 x 120 samples less that of the same solve saving only its end
state, over the former.

Run it with `python examples/bench_traces.py` (about 10 minutes on a 2-core CPU).
"""

import argparse
import time

import jax

jax.config.update("jax_enable_x64", True)

import diffrax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import pdekrylov as pk  # noqa: E402
from pdekrylov.study import best_times, machine_info, relative_trace_error  # noqa: E402

SETUP = pk.study.GreenSetup(
    half_width=0.635, offsets=(0.1, 0.2, 0.3), angles=tuple(np.arange(40) * 9.0), t1=0.9, samples=501,
    source=(0.0023, -0.0041),
)
PPW = 20.0  # h = 0.01: a 128 x 128 grid


def candidates(args):
    """The configurations of each family, cheapest first."""
    krylov = [(f"Arnoldi rtol {r:g}", pk.Arnoldi(rtol=r, max_steps=256)) for r in args.rtols]
    diffrax_ = [
        (f"{name} {steps} steps", pk.Diffrax(method(), steps=steps))
        for name, method in (("Dopri5", diffrax.Dopri5), ("Tsit5", diffrax.Tsit5))
        for steps in args.steps
    ]
    return {"krylov": krylov, "diffrax": diffrax_}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rtols", default="1e-1,1e-3", help="Arnoldi tolerances")
    parser.add_argument("--steps", default="90,100,130", help="Diffrax fixed steps")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    args.rtols = [float(r) for r in args.rtols.split(",")]
    args.steps = [int(s) for s in args.steps.split(",")]
    print(f"machine: {machine_info()}")
    operator, forcing, receivers = SETUP.problem(PPW)
    grid, times = operator.grid, SETUP.times()
    analytic = jnp.asarray(SETUP.analytic())
    print(f"grid {grid.shape}, h = {grid.spacing[0]:.4f}, {receivers.num_receivers} receivers, {len(times)} samples")
    rest = jnp.zeros(operator.state_shape)

    def traces(speed, solver):
        op = pk.WaveOperator(grid, speed)
        return pk.solve(op, rest, SETUP.t1, solver, forcing=forcing, saveat=pk.SaveAt(times, receivers))

    def end_only(speed, solver):
        return pk.solve(pk.WaveOperator(grid, speed), rest, SETUP.t1, solver, forcing=forcing).ys

    def misfit(speed, solver):
        return 0.5 * jnp.sum((traces(speed, solver).ys - analytic) ** 2)

    speed = operator.speed
    floor = relative_trace_error(jax.jit(lambda c: traces(c, pk.Arnoldi(rtol=1e-8, max_steps=512)).ys)(speed), analytic)
    print(f"error floor (Arnoldi rtol 1e-8, the stencil's dispersion): {floor:.4e}")
    rows, calls = [], {}
    for family, configs in candidates(args).items():
        for label, solver in configs:
            start = time.perf_counter()
            forward = jax.jit(lambda c, solver=solver: traces(c, solver))
            solution = forward(speed)
            error = relative_trace_error(solution.ys, analytic)
            gradient = jax.jit(jax.value_and_grad(lambda c, solver=solver: misfit(c, solver)))
            jax.block_until_ready(gradient(speed))
            rows.append(dict(family=family, label=label, error=error, steps=int(solution.stats["num_steps"]),
                             matvecs=int(solution.stats["num_matvecs"]), compile=time.perf_counter() - start))
            calls[f"{label} forward"] = lambda forward=forward: forward(speed).ys
            calls[f"{label} gradient"] = lambda gradient=gradient: gradient(speed)
            if family == "krylov":
                plain = jax.jit(lambda c, solver=solver: end_only(c, solver))
                calls[f"{label} end state only"] = lambda plain=plain: plain(speed)
            print(f"  {label}: error {error:.4e}, {rows[-1]['steps']} steps, compiled in {rows[-1]['compile']:.0f} s", flush=True)
    seconds = best_times(calls, args.repeats, warm_up=True)
    print()
    print("| solver | steps | matvecs | trace error | within 5 % of the floor | forward (ms) | value+grad (ms) | receivers' share |")
    print("|---|---:|---:|---:|---|---:|---:|---:|")
    for row in rows:
        row["forward"] = seconds[f"{row['label']} forward"]
        row["gradient"] = seconds[f"{row['label']} gradient"]
        row["ok"] = row["error"] <= 1.05 * floor
        share = ""
        if row["family"] == "krylov":
            plain = seconds[f"{row['label']} end state only"]
            row["share"] = (row["forward"] - plain) / row["forward"]
            share = f"{100 * row['share']:.1f} %"
        print(f"| {row['label']} | {row['steps']} | {row['matvecs']} | {row['error']:.4e} | {'yes' if row['ok'] else 'no'} | "
              f"{1e3 * row['forward']:.1f} | {1e3 * row['gradient']:.1f} | {share} |")
    print()
    best = {}
    for family in ("krylov", "diffrax"):
        ok = [r for r in rows if r["family"] == family and r["ok"]]
        if ok:
            best[family] = (min(ok, key=lambda r: r["forward"]), min(ok, key=lambda r: r["gradient"]))
    if len(best) == 2:
        for i, what in enumerate(("forward", "gradient")):
            k, d = best["krylov"][i], best["diffrax"][i]
            ratio = k[what] / d[what]
            print(f"- {what}: best Krylov {k['label']} {1e3 * k[what]:.1f} ms / best Diffrax {d['label']} "
                  f"{1e3 * d[what]:.1f} ms = {ratio:.2f} (goal <= 0.5: {'met' if ratio <= 0.5 else 'not met'})")
        share = best["krylov"][0]["share"]
        print(f"- receivers' share of the Krylov solve ({best['krylov'][0]['label']}): {100 * share:.1f} % "
              f"(goal <= 10 %: {'met' if share <= 0.1 else 'not met'})")
    else:
        print(f"- no configuration within 5 % of the floor in: {sorted({'krylov', 'diffrax'} - set(best))}")


if __name__ == "__main__":
    main()
