"""pdekrylov against Deepwave (PyTorch, CPU): trace accuracy and time per gradient, in one run.

Both codes model the same problem: `u_tt = c² Δu + f(t) δ(x - x_s)` in a homogeneous
2D medium (c = 1), a Ricker source (f0 = 5, delay 0.3: wavelength λ = 0.2) and
receivers at about 0.5 and 0.75 λ in four directions, traces over [0, 0.5] (101 samples)
on `[-0.4, 0.4]²`, a window that ends before the first boundary reflection reaches a
receiver. It is `pk.study.GreenSetup` made smaller (so that fine grids fit the time
budget) and moved onto the grid's nodes: Deepwave injects and records at nodes, so for
every grid the source and the receivers are snapped to the nearest nodes and both codes
use those same positions; the analytic reference (`analytic_traces_2d`) is computed
at the snapped distances of each grid.

It measures, for each points-per-wavelength (`--ppw`):

1. the relative trace error against the analytic traces of pdekrylov (`pk.solve` with
   `pk.Arnoldi` in tolerance mode, as `pk.study.green_convergence` does, for each stencil
   order of `--orders` and tolerance of `--rtols`) and of Deepwave's `scalar` propagator (for each `accuracy` of
   `--accuracies`, each time step of `--peer-dt`: `auto` lets Deepwave choose its
   internal step by its CFL rule and resample the source and traces itself, `cfl` gives
   that same step directly (no resampling), a number gives another step);
2. for each configuration, at the coarsest grid where its error is <= `--tol` (1e-2), the
   time of one value and gradient of the misfit `0.5 ‖traces(c) - analytic‖²` with
   respect to the speed field c (warm-up excluded, median of `--repeats`, interleaved; 3
   rounds for a gradient slower than 6 s), with the fastest round beside it;
3. the ratio of the fastest pdekrylov gradient to the fastest Deepwave gradient, each at
   its own coarsest grid that meets the tolerance, and whether the goal (ratio <= 1) is met.

Both run in float64 (Deepwave's CPU backend takes float64; float32 gives the same traces
to about 1e-6 here). Torch uses 2 threads (`torch.set_num_threads(2)`, OpenMP waiting
passively unless `OMP_WAIT_POLICY` is set: see below), JAX the machine's cores (2 here).

Run it with `python examples/bench_peer.py` (about 5 minutes on a 2-core CPU) or
`python examples/bench_peer.py --quick` (under a minute: grids of 4, 8, 16 points per
wavelength, where pdekrylov's order 2 reaches 1e-2 at none, so no ratio; a smoke test).
Deepwave is optional: `pip install -e '.[peers]'`; without it only the pdekrylov columns
run.
"""

import argparse
import dataclasses
import functools
import os
import statistics
import time
import warnings

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import pdekrylov as pk  # noqa: E402
from pdekrylov.study import machine_info, relative_trace_error  # noqa: E402
from pdekrylov.study._green import ricker  # noqa: E402

# Torch's OpenMP threads busy-wait between parallel regions by default; on a 2-core machine
# shared with other work (JAX's own threads between rounds, anything else running) that
# made Deepwave's gradients erratic and slow: 33 ms to 1.4 s for one configuration, median
# 1.3 s against 7 ms with passive waiting, measured at a load average of 5.5. Passive
# unless the caller sets it (it must be set before torch starts).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

try:
    import deepwave
    import torch
except ImportError:
    deepwave = torch = None

MISSING_PEER = "deepwave is not installed (pip install -e '.[peers]'): peer columns skipped"

BASE = pk.study.GreenSetup(
    half_width=0.4, source=(0.0, 0.0), offsets=(0.1, 0.15), angles=(0.0, 30.0, 45.0, 75.0), t1=0.5, samples=101,
)


@dataclasses.dataclass(frozen=True)
class NodeSetup(pk.study.GreenSetup):
    """A `GreenSetup` whose source and receivers sit on nodes of one grid (`ppw`)."""

    ppw: float = 12.0
    receivers: tuple[tuple[float, ...], ...] = ()

    def receiver_positions(self) -> np.ndarray:
        return np.asarray(self.receivers, float)

    @functools.cache
    def analytic(self) -> np.ndarray:
        """`GreenSetup.analytic`, computed once per grid (its quadrature dominates the
        coarse grids' run time otherwise)."""
        traces = super().analytic()
        traces.setflags(write=False)
        return traces


def node_setup(base: pk.study.GreenSetup, ppw: float) -> tuple[NodeSetup, np.ndarray, np.ndarray]:
    """`base` with its source and receivers snapped to the nearest nodes of its grid of
    `ppw` points per wavelength; also the integer node indices `(source (2,), receivers (R, 2))`."""
    grid = base.grid(ppw)
    lower, h = np.asarray(grid.lower), np.asarray(grid.spacing)

    def snap(points):
        return np.rint((np.asarray(points, float) - lower) / h).astype(int)

    source = snap(base.source)
    receivers = snap(base.receiver_positions())
    if len({tuple(r) for r in receivers} | {tuple(source)}) != len(receivers) + 1:
        raise ValueError(f"{ppw:g} points per wavelength: snapped receivers coincide (too coarse a grid)")
    fields = {f.name: getattr(base, f.name) for f in dataclasses.fields(pk.study.GreenSetup)}
    fields.update(source=tuple(lower + h * source), ppw=float(ppw), receivers=tuple(map(tuple, lower + h * receivers)))
    setup = NodeSetup(**fields)
    return setup, source, receivers


# --- pdekrylov -------------------------------------------------------------------------


def wave_operator(grid, speed, order):
    """`pk.WaveOperator`, with `order=` only for a stencil order other than 2 (the keyword
    is newer than order 2)."""
    if order == 2:
        return pk.WaveOperator(grid, speed)
    try:
        return pk.WaveOperator(grid, speed, order=order)
    except TypeError as error:
        raise OrderUnavailable(
            f"order {order}: this pdekrylov's pk.WaveOperator takes no order= keyword ({error}); "
            f"only order 2 runs"
        ) from None


class OrderUnavailable(Exception):
    pass


def ours(setup: NodeSetup, order: int, rtol: float):
    """`(forward, value_and_grad, speed)` for pdekrylov on `setup`'s grid: jitted
    functions of the speed field."""
    grid = setup.grid(setup.ppw)
    speed = jnp.full(grid.shape, setup.speed)
    wave_operator(grid, speed, order)  # raises OrderUnavailable before any compilation
    signal = pk.Ricker(jnp.asarray(setup.frequency), jnp.asarray(setup.delay))
    forcing = pk.Forcing(pk.PointSources(grid, jnp.asarray([setup.source])), signal)
    receivers = pk.Receivers(grid, jnp.asarray(setup.receiver_positions()))
    times = setup.times()
    analytic = jnp.asarray(setup.analytic())
    solver = pk.Arnoldi(rtol=rtol, max_steps=512)
    rest = jnp.zeros((2, *grid.shape))

    def traces(c):
        solution = pk.solve(
            wave_operator(grid, c, order), rest, float(times[-1]), solver,
            forcing=forcing, saveat=pk.SaveAt(times, receivers),
        )
        return solution.ys, solution.stats["num_steps"]

    def misfit(c):
        return 0.5 * jnp.sum((traces(c)[0] - analytic) ** 2)

    return jax.jit(traces), jax.jit(jax.value_and_grad(misfit)), speed


# --- Deepwave --------------------------------------------------------------------------
#
# Source scaling, read in the installed package (deepwave 0.1.0, deepwave/scalar.py, where
# `scalar` prepares its sources: "the source amplitudes we add to the wavefield each time
# step are multiplied by -v^2 * dt^2") and its step (`_forward_step`:
# `u_next = v² dt² Δ_h u + 2 u - u_prev`): one step of Deepwave is
#     u^{n+1} = 2 u^n - u^{n-1} + dt² (c² Δ_h u^n - c² a^n)   at the source's node,
# i.e. leapfrog for u_tt = c² Δu - c² a(t) δ_node. Our equation's point source is
# f(t) δ(x - x_s), whose discrete delta at a node is 1 / h² (cell area), so the amplitude
# to pass is a(t) = -f(t) / (c(x_s)² h²). Receivers record u^n at the node (no
# interpolation, no time shift). Checked numerically against the analytic traces
# (the least-squares factor between Deepwave's traces with this
# amplitude and the analytic traces, the table's "fit" column, is 1 to within the
# discretisation error; shifting Deepwave's traces by one sample, tried by hand, made the
# error 5 to 40 times larger).
#
# Gradients: since Deepwave multiplies the amplitude by the model's own v(x_s)², its
# gradient with respect to the speed differs from ours at the source's node (there the
# source strength depends on v); elsewhere the two gradients of the misfit agree (checked
# by hand at 16 points per wavelength, order 2 against accuracy 2 with dt 0.001: 0.7 %
# relative difference off the source node). The timing is not affected.
#
# Boundaries: `pml_width=0` with `boundary="rigid"` (a reflecting wall like our Neumann
# boundary), so both codes step the same n × n nodes; the time window ends before a
# reflection arrives, so the boundary does not enter the error.


def peer(setup: NodeSetup, source, receivers, accuracy: int, dt):
    """`(forward, value_and_grad, speed, internal dt)` for Deepwave on `setup`'s grid.

    `dt`: `"auto"` passes the sampling interval as Deepwave's step and lets it choose its
    internal step by its CFL rule (it then resamples the source up and the traces down
    inside); `"cfl"` gives that same internal step directly (the interval divided by
    Deepwave's own step ratio), and a number gives it: the source is then sampled at every
    step and the traces taken every `interval / dt`-th step, with no resampling."""
    grid = setup.grid(setup.ppw)
    h = float(grid.spacing[0])
    times = setup.times()
    interval = float(times[1] - times[0])
    if dt == "cfl":
        _, step_ratio = deepwave.discretisation.cfl_condition(h, h, interval, setup.speed)
        dt = interval / step_ratio
    if dt == "auto":
        stride, user_dt, user_times = 1, interval, times
    else:
        stride = int(round(interval / dt))
        if not np.isclose(stride * dt, interval):
            raise ValueError(f"--peer-dt {dt:g} does not divide the sampling interval {interval:g}")
        user_dt = interval / stride
        user_times = np.arange((len(times) - 1) * stride + 1) * user_dt
    dtype = torch.float64
    speed = torch.full(grid.shape, setup.speed, dtype=dtype)
    amplitude = -ricker(user_times, setup.frequency, setup.delay) / (setup.speed**2 * h**2)
    amplitudes = torch.tensor(amplitude, dtype=dtype)[None, None]
    source_locations = torch.tensor(source, dtype=torch.long)[None, None]
    receiver_locations = torch.tensor(receivers, dtype=torch.long)[None]
    analytic = torch.tensor(setup.analytic(), dtype=dtype)

    def run(c):
        return deepwave.scalar(
            c, h, user_dt, source_amplitudes=amplitudes, source_locations=source_locations,
            receiver_locations=receiver_locations, accuracy=accuracy, pml_width=0, boundary="rigid",
            pml_freq=setup.frequency,
        )

    def forward(c):
        out = run(c)
        return out.receiver_amplitudes[0, :, ::stride].T, out.info

    def value_and_grad(c):
        c = c.detach().requires_grad_(True)
        loss = 0.5 * torch.sum((forward(c)[0] - analytic) ** 2)
        loss.backward()
        return loss.detach(), c.grad

    info = forward(speed)[1]
    if dt != "auto" and info.step_ratio != 1:
        raise ValueError(f"Deepwave resampled a given step {user_dt:g} (step ratio {info.step_ratio}): above its CFL limit")
    return forward, value_and_grad, speed, info.internal_dt


# --- the run ---------------------------------------------------------------------------


def median_times(calls: dict, repeats: int, budget: float = 30.0) -> dict:
    """`(median, min)` wall time of zero-argument calls (JAX results waited for), after one
    untimed warm-up each, timed in interleaved rounds (background load hits all alike).
    A call whose warm-up took over `budget / repeats` seconds is timed in 3 rounds only."""
    rounds = {}
    for name, call in calls.items():
        start = time.perf_counter()
        jax.block_until_ready(call())
        rounds[name] = repeats if time.perf_counter() - start <= budget / repeats else min(repeats, 3)
    seconds = {name: [] for name in calls}
    for round_ in range(repeats):
        for name, call in calls.items():
            if round_ >= rounds[name]:
                continue
            start = time.perf_counter()
            jax.block_until_ready(call())
            seconds[name].append(time.perf_counter() - start)
    return {name: (statistics.median(values), min(values)) for name, values in seconds.items()}


def fit_factor(traces, reference) -> float:
    """The least-squares factor `a` minimising `‖a traces - reference‖`: 1 when the source
    scaling is right."""
    traces, reference = np.asarray(traces), np.asarray(reference)
    return float(np.sum(traces * reference) / np.sum(traces * traces))


def parse_list(text, kind):
    return [kind(x) for x in str(text).split(",") if x.strip()]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ppw", default=None, help="points per wavelength of the grids (default 4,6,8,12,16,24,32,40; --quick 4,8,16)")
    parser.add_argument("--orders", default=None,
                        help="pdekrylov stencil orders; 4, 6, 8 need pk.WaveOperator(order=) (default 2,4,8; --quick 2)")
    parser.add_argument("--accuracies", default="2,4,8", help="Deepwave's accuracy orders (default 2,4,8)")
    parser.add_argument("--peer-dt", default=None,
                        help="Deepwave's steps: 'auto' (its CFL rule, resampling inside), 'cfl' (the same step given "
                             "directly, no resampling), numbers (given steps) (default auto,cfl,0.001; --quick cfl)")
    parser.add_argument("--rtols", default=None,
                        help="Arnoldi's tolerances (default 1e-5, green_convergence's, and 1e-2: the "
                             "stencil's error dominates the traces' either way; --quick 1e-5)")
    parser.add_argument("--tol", type=float, default=1e-2, help="the trace error a grid must reach to be timed (default 1e-2)")
    parser.add_argument("--repeats", type=int, default=None, help="timed rounds (median) (default 5; --quick 3)")
    parser.add_argument("--all-grids", action="store_true",
                        help="also run pdekrylov on grids finer than its first one within --tol (slow)")
    parser.add_argument("--quick", action="store_true",
                        help="coarse grids (4,8,16: pdekrylov's order 2 reaches 1e-2 at none), order 2, "
                             "Deepwave's dt cfl, 3 repeats (under a minute); options given explicitly win")
    args = parser.parse_args()
    defaults = dict(ppw="4,8,16", orders="2", rtols="1e-5", peer_dt="cfl", repeats=3) if args.quick else dict(
        ppw="4,6,8,12,16,24,32", orders="2,4,8", rtols="1e-5,1e-2", peer_dt="auto,cfl,0.001", repeats=5,
    )
    for name, value in defaults.items():  # what the command line names wins over --quick
        if getattr(args, name) is None:
            setattr(args, name, value)
    ppws = parse_list(args.ppw, float)
    orders = parse_list(args.orders, int)
    rtols = parse_list(args.rtols, float)
    accuracies = parse_list(args.accuracies, int)
    peer_dts = [d.strip() if d.strip() in ("auto", "cfl") else float(d) for d in args.peer_dt.split(",")]

    print(f"machine: {machine_info()}")
    if deepwave is None:
        print(MISSING_PEER)
    else:
        torch.set_num_threads(2)
        # Deepwave warns below six grid cells per wavelength: the coarse grids are meant
        warnings.filterwarnings("ignore", message="At least six grid cells per wavelength")
        print(f"peer: deepwave {deepwave.__version__}, torch {torch.__version__}, {torch.get_num_threads()} threads, "
              f"OMP_WAIT_POLICY={os.environ['OMP_WAIT_POLICY']}, float64")
    print(f"setup: c = {BASE.speed:g}, f0 = {BASE.frequency:g} (λ = {BASE.wavelength:g}), [-{BASE.half_width:g}, "
          f"{BASE.half_width:g}]², {len(BASE.offsets) * len(BASE.angles)} receivers at {BASE.offsets} "
          f"in directions {BASE.angles}° (snapped to nodes), {BASE.samples} samples over [0, {BASE.t1:g}]", flush=True)

    rows = []  # dicts: code, config, ppw, grid, dt, error, seconds, calls (for timing)
    unavailable = {}  # order -> why
    reached = set()
    for ppw in ppws:
        setup, source, receivers = node_setup(BASE, ppw)
        grid = setup.grid(ppw)
        for order in orders:
            if order in unavailable:
                continue
            for rtol in rtols:
                config = f"pdekrylov order {order}, Arnoldi rtol {rtol:g}"
                if config in reached and not args.all_grids:
                    continue
                start = time.perf_counter()
                try:
                    forward, gradient, speed = ours(setup, order, rtol)
                except OrderUnavailable as error:
                    print(f"  {error}", flush=True)
                    unavailable[order] = str(error)
                    break
                traces, steps = forward(speed)
                error = relative_trace_error(traces, setup.analytic())
                rows.append(dict(code="pdekrylov", config=config, ppw=ppw, grid=grid.shape, dt=f"{int(steps)} steps",
                                 error=error, fit=fit_factor(traces, setup.analytic()),
                                 gradient=lambda g=gradient, s=speed: g(s)))
                print(f"  {config}, {ppw:g} ppw {grid.shape}: error {error:.3e}, {int(steps)} Krylov steps "
                      f"({time.perf_counter() - start:.1f} s with compilation)", flush=True)
                if error <= args.tol:
                    reached.add(config)
        if deepwave is None:
            continue
        for accuracy in accuracies:
            for dt in peer_dts:
                label = {"auto": "CFL (resampled inside)", "cfl": "CFL (given)"}.get(dt, f"{dt:g}" if isinstance(dt, float) else dt)
                config = f"deepwave accuracy {accuracy}, dt {label}"
                forward, gradient, speed, internal = peer(setup, source, receivers, accuracy, dt)
                traces = forward(speed)[0].numpy()
                error = relative_trace_error(traces, setup.analytic())
                rows.append(dict(code="deepwave", config=config, ppw=ppw, grid=grid.shape, dt=f"dt {internal:.3g}",
                                 error=error, fit=fit_factor(traces, setup.analytic()), gradient=lambda g=gradient, s=speed: g(s)))

    print()
    # the coarsest grid within the tolerance of each configuration: timed there
    coarsest = {}
    for row in rows:
        if row["error"] <= args.tol and row["config"] not in coarsest:
            coarsest[row["config"]] = row
    print(f"timing value+grad at each configuration's coarsest grid with error <= {args.tol:g} "
          f"({len(coarsest)} configurations, median of {args.repeats})...", flush=True)
    seconds = median_times({config: row["gradient"] for config, row in coarsest.items()}, args.repeats)
    for config, row in coarsest.items():
        row["seconds"], row["fastest"] = seconds[config]
    print(f"load average after timing: {', '.join(f'{x:.1f}' for x in os.getloadavg())} (other work on the machine slows every row)")

    print()
    print(f"| code | configuration | points per wavelength | grid | steps / internal dt | relative trace error | fit "
          f"| value+grad ms, median (min), at the coarsest grid <= {args.tol:g} |")
    print("|---|---|---:|---|---|---:|---:|---:|")
    for row in sorted(rows, key=lambda r: (r["code"] != "pdekrylov", r["config"], r["ppw"])):
        timed = f"{1e3 * row['seconds']:.1f} (min {1e3 * row['fastest']:.1f})" if "seconds" in row else ""
        print(f"| {row['code']} | {row['config']} | {row['ppw']:g} | {'×'.join(map(str, row['grid']))} | {row['dt']} "
              f"| {row['error']:.3e} | {row['fit']:.4f} | {timed} |")
    for order, why in unavailable.items():
        print(f"| pdekrylov | order {order} | | | | skipped: {why} | | |")
    print()

    best = {}
    for code in ("pdekrylov", "deepwave"):
        timed = [r for r in coarsest.values() if r["code"] == code]
        if timed:
            best[code] = min(timed, key=lambda r: r["seconds"])
            b = best[code]
            print(f"- fastest {code} gradient within {args.tol:g}: {b['config']}, {b['ppw']:g} ppw, "
                  f"{1e3 * b['seconds']:.1f} ms (error {b['error']:.2e})")
        elif code == "pdekrylov" or deepwave is not None:
            print(f"- {code}: no configuration reached error <= {args.tol:g} on the grids run (--ppw {args.ppw})")
    if deepwave is None:
        print("- ratio ours/peer: not measured (no deepwave)")
    elif len(best) == 2:
        ratio = best["pdekrylov"]["seconds"] / best["deepwave"]["seconds"]
        print(f"- ratio ours/peer (time per gradient at error <= {args.tol:g}): {ratio:.2f}: "
              f"{'goal met' if ratio <= 1 else 'goal not met'} (goal: ours <= peer's)")
    else:
        print("- ratio ours/peer: not measured (a code reached no grid within the tolerance): goal not met")


if __name__ == "__main__":
    main()
