"""The state sharded across devices: matvec, `pk.solve` and gradients under XLA SPMD.

What it shows: pdekrylov needs no communication layer of its own to run on a grid split
across devices. The coefficient field and the initial state are placed with
`jax.device_put(x, NamedSharding(mesh, P(...)))`, split along the first spatial axis over
a one-axis mesh `("x",)`; the jitted programs are ordinary pdekrylov code, and XLA's SPMD
partitioner inserts whatever communication they need. For each program the script

- compares the sharded result with the same program on one device (max relative
  difference `max|a - b| / max|b|`),
- counts the collective operations in the compiled (partitioned) HLO of the sharded
  program (`jax.jit(f).lower(*args).compile().as_text()`), lists each with its shape and
  the JAX operation it came from, and
- reports the sharding of the output and whether it stayed split over the devices.

Programs: (a) the matvec `op(y)`; (b) `pk.solve(op, y0, t1, pk.Arnoldi(depth))` and the
same with `pk.Lanczos(depth)` (the diffusion operator is symmetric; the wave operator has
a second-order form); (c) the gradient of `sum(w * y(t1))` with respect to the
coefficient field (wave speed or diffusivity), through each solver. Every program is its
own `jax.jit` (one solver loop per program).

Devices: on CPU, `--devices N` host devices are simulated by setting
`XLA_FLAGS=--xla_force_host_platform_device_count=N` before jax is imported (the script
imports jax only after parsing its arguments). The flag applies to the CPU platform only;
on a machine with accelerators, the N devices must exist. If XLA_FLAGS already sets a
host device count, it is left as it is.

The defaults are a converged approximation, so that rounding differences (a sharded
inner product adds its terms in another order) are not amplified: at 256 x 256 in float64,
depth 20 with 4 substeps is within 4e-14 (state) and 5e-9 (gradient) of depth 40 with 8
substeps for both PDEs. (With one substep the gradients are not converged even where the
state is, and they are then sensitive to the last bits of every inner product.)

Timing: best of `--repeats` calls of each compiled program, sharded and on one device.
Forced host devices share the same CPU cores (two on the machine this was written on), so
these times say nothing about the speed of real multi-device runs; they only show what
the partitioned programs cost here.

Counts are of collective instructions in the program text: an instruction inside a loop
body runs once per iteration (e.g. once per Krylov step).

What XLA inserts (split along the first grid axis): every stencil shift along
the split axis becomes a `collective-permute` of one boundary row to the neighbouring
device (a halo exchange: two per wave matvec, four per diffusion matvec, whose
diffusivity needs a halo too); every inner product of a Krylov iteration becomes a local
partial sum and an `all-reduce` of the result (one K-vector per classical Gram-Schmidt
pass, scalars for norms and Lanczos coefficients), after which each device computes the
small K x K problem itself. The Krylov vectors are the state flattened grid-major (the
wave state's (u, u_t) axis moved last, in `pdekrylov/solvers/_krylov.py`), so a state
split along the first grid axis is a block split of that vector too and the iteration
stays split; before that change XLA all-gathered the whole wave state at every Arnoldi
step and ran the iteration replicated. A split along the
second grid axis makes XLA gather for both PDEs.

The small-matrix functions are matrix products only (`pk.krylov.expm`, no LAPACK), so
the jaxlib 0.10.x hang of an earlier version — a batched LAPACK LU blocking XLA's
intra-op pool when there are as many forced devices as threads — cannot occur; the wave
equation's second-order Lanczos path runs sharded like Arnoldi.

Run it with `python examples/sharded_grid.py` (options: `--devices 2`, `--shape 256,256`,
`--depth 20`, `--substeps 4`, `--pde wave|diffusion`, `--t1 0.25`, `--float64`,
`--solvers arnoldi,lanczos`, `--repeats 3`, `--json PATH` to write the results as JSON).
"""

import argparse
import json
import os
import re
import sys
import time

#: The collective operations counted in the HLO (async forms `<name>-start` count once).
COLLECTIVES = ("all-reduce", "all-gather", "collective-permute", "all-to-all", "reduce-scatter")

_COLLECTIVE_CALL = re.compile(
    r"=\s+(?P<shape>.*?)\s+(?P<op>" + "|".join(COLLECTIVES) + r")(?:-start)?\("
)
_OP_NAME = re.compile(r'op_name="(?P<name>[^"]*)"')
_LAYOUT = re.compile(r"\{[^{}]*\}|/\*[^*]*\*/")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--devices", type=int, default=2, help="mesh size (default 2)")
    parser.add_argument(
        "--shape", default="256,256", help="grid points per axis, e.g. 256,256 (default)"
    )
    parser.add_argument("--depth", type=int, default=20, help="Krylov depth (default 20)")
    parser.add_argument(
        "--substeps", type=int, default=4, help="Krylov sub-intervals of [0, t1] (default 4)"
    )
    parser.add_argument("--pde", choices=("wave", "diffusion"), default="wave")
    parser.add_argument("--t1", type=float, default=0.25, help="final time (default 0.25)")
    parser.add_argument("--float64", action="store_true", help="float64 (default float32)")
    parser.add_argument(
        "--solvers",
        default="arnoldi,lanczos",
        help="comma-separated, from arnoldi and lanczos (default: both)",
    )
    parser.add_argument("--repeats", type=int, default=3, help="timed calls (default 3)")
    parser.add_argument("--json", default=None, help="write the results to this JSON file")
    args = parser.parse_args(argv)
    try:
        args.shape = tuple(int(n) for n in args.shape.split(","))
    except ValueError:
        parser.error(f"--shape: expected comma-separated integers, got {args.shape!r}")
    if args.depth < 1 or args.substeps < 1:
        parser.error("--depth and --substeps: expected integers >= 1")
    if args.devices < 1:
        parser.error(f"--devices: expected at least 1, got {args.devices}")
    if args.shape[0] % args.devices:
        parser.error(
            f"--shape: the first axis ({args.shape[0]}) must be divisible by --devices "
            f"({args.devices}), since it is split evenly over them"
        )
    args.solvers = tuple(args.solvers.split(","))
    unknown = set(args.solvers) - {"arnoldi", "lanczos"}
    if unknown or not args.solvers:
        parser.error(f"--solvers: expected arnoldi and/or lanczos, got {sorted(unknown)}")
    if args.repeats < 1:
        parser.error(f"--repeats: expected at least 1, got {args.repeats}")
    return args


def force_host_devices(n: int) -> None:
    """Ask XLA for `n` CPU devices, unless jax is already imported or a count is set.

    Sets `XLA_FLAGS=--xla_force_host_platform_device_count=n` (appended to any flags
    already there). Only the CPU platform reads this flag, and only when jax initialises
    its backends, so this must run before `import jax`.
    """
    if "jax" in sys.modules:
        return
    flags = os.environ.get("XLA_FLAGS", "")
    if "xla_force_host_platform_device_count" not in flags:
        os.environ["XLA_FLAGS"] = f"{flags} --xla_force_host_platform_device_count={n}".strip()


def collective_instructions(hlo_text: str) -> list[dict]:
    """The collective instructions of an HLO module's text, in order of appearance.

    **Returns:** one dict per instruction: `op` (one of `COLLECTIVES`), `shape` (its
    result type, layouts removed, e.g. `f64[1,256]` or a tuple), `source` (the JAX
    primitive(s) it was lowered from, the last part of the instruction's `op_name`, e.g.
    `pad`, `dot_general`, `reshape`), and `loops` (how many loop bodies, `while/body`, it
    sits in: 0 runs once per call, 2 e.g. once per Krylov step of every sub-interval).
    `-done` halves of asynchronous collectives are not listed.
    """
    found = []
    for line in hlo_text.splitlines():
        match = _COLLECTIVE_CALL.search(line)
        if match is None:
            continue
        name = _OP_NAME.search(line)
        name = name["name"] if name else ""
        last = name.rsplit("/", 1)[-1].strip("()")  # combined ops: "(dot_general:reduce_sum)"
        source = ",".join(dict.fromkeys(last.split(":"))) or "?"
        shape = _LAYOUT.sub("", match["shape"])
        found.append(
            {"op": match["op"], "shape": shape, "source": source, "loops": name.count("while/body")}
        )
    return found


def count_collectives(hlo_text: str) -> dict[str, int]:
    """How many instructions of each kind in `COLLECTIVES` an HLO module's text holds."""
    counts = dict.fromkeys(COLLECTIVES, 0)
    for instruction in collective_instructions(hlo_text):
        counts[instruction["op"]] += 1
    return counts


def summarise_collectives(instructions: list[dict]) -> list[str]:
    """One line per distinct (op, shape, source, loops), with its multiplicity."""
    seen: dict[tuple, int] = {}
    for item in instructions:
        key = (item["op"], item["shape"], item["source"], item["loops"])
        seen[key] = seen.get(key, 0) + 1
    return [
        f"{n} x {op} {shape} (from {source}; loop depth {loops})"
        for (op, shape, source, loops), n in seen.items()
    ]


def max_relative_difference(a, b) -> float:
    """`max|a - b| / max|b|` of two arrays (fetched to the host)."""
    import numpy as np

    a, b = np.asarray(a), np.asarray(b)
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


def describe_sharding(x) -> dict:
    """Where an array lives: its sharding spec, device count, and whether it is split.

    `sharded` is True when the array is spread over more than one device and not fully
    replicated, i.e. each device holds only part of it.
    """
    sharding = x.sharding
    spec = getattr(sharding, "spec", None)
    devices = len(sharding.device_set)
    return {
        "spec": str(spec) if spec is not None else type(sharding).__name__,
        "devices": devices,
        "sharded": devices > 1 and not sharding.is_fully_replicated,
    }


def best_time(function, args, repeats: int) -> float:
    """Best wall time in seconds of `repeats` calls (after one warm-up call)."""
    import jax

    jax.block_until_ready(function(*args))
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(function(*args))
        best = min(best, time.perf_counter() - start)
    return best


def make_problem(pde: str, shape, dtype):
    """The grid, a smooth coefficient field, an initial state and a loss weight.

    - wave: speed `0.05 + 0.01 sin(2 pi x) cos(pi y)`, state `(u, u_t)` with a Gaussian
      bump in u and `u_t = 0`, so the state has shape `(2, *shape)`;
    - diffusion: diffusivity `1e-4 (1.5 + sin(2 pi x) cos(pi y))`, a Gaussian bump.

    **Returns:** `(grid, make_operator, coefficient, y0, weight)`; `make_operator(c)`
    builds the operator from a coefficient field, `weight` has the state's shape.
    """
    import jax.numpy as jnp
    import numpy as np

    import pdekrylov as pk

    grid = pk.Grid(shape)
    x = grid.coordinates(dtype)
    pattern = jnp.sin(2 * np.pi * x[0]) * jnp.cos(np.pi * x[-1])
    bump = jnp.exp(-60.0 * jnp.sum((x - 0.4) ** 2, axis=0))
    ripple = jnp.cos(3.0 * x[0] + 2.0 * x[-1])
    if pde == "wave":
        coefficient = 0.05 + 0.01 * pattern
        y0 = jnp.stack([bump, jnp.zeros_like(bump)])
        weight = jnp.stack([ripple, 0.1 * ripple])

        def make_operator(c):
            return pk.WaveOperator(grid, c)

    else:
        coefficient = 1e-4 * (1.5 + pattern)
        y0, weight = bump, ripple

        def make_operator(c):
            return pk.DiffusionOperator(grid, c)

    return grid, make_operator, coefficient, y0, weight


def build_programs(
    make_operator, t1: float, depth: int, substeps: int = 1, solvers=("arnoldi", "lanczos")
):
    """The programs compared, each a function of `(coefficient, y0, weight)`.

    **Returns:** a dict name -> function: `matvec`, then per solver `solve <solver>` (the
    state at t1) and `gradient <solver>` (of `sum(weight * y(t1))` with respect to the
    coefficient field).
    """
    import jax
    import jax.numpy as jnp

    import pdekrylov as pk

    def matvec(c, y, w):
        return make_operator(c)(y)

    def solver_programs(solver):
        def final_state(c, y, w):
            return pk.solve(make_operator(c), y, t1, solver).ys[-1]

        def loss(c, y, w):
            return jnp.sum(w * final_state(c, y, w))

        return final_state, jax.grad(loss)

    programs = {"matvec": matvec}
    for name in solvers:
        solver = {"arnoldi": pk.Arnoldi, "lanczos": pk.Lanczos}[name](depth, substeps)
        solve, gradient = solver_programs(solver)
        programs[f"solve {name}"] = solve
        programs[f"gradient {name}"] = gradient
    return programs


def run(args) -> dict:
    """Compile and run every program sharded and on one device; collect the results."""
    import jax

    if args.float64:
        jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    import numpy as np
    from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

    devices = jax.devices()
    if len(devices) < args.devices:
        raise SystemExit(
            f"--devices {args.devices}: only {len(devices)} {devices[0].platform} device(s) "
            f"available (on CPU, set XLA_FLAGS=--xla_force_host_platform_device_count="
            f"{args.devices} before jax is imported; this script does so unless jax was "
            f"already imported or XLA_FLAGS already sets a count)"
        )
    dtype = jnp.float64 if args.float64 else jnp.float32
    _, make_operator, coefficient, y0, weight = make_problem(args.pde, args.shape, dtype)

    mesh = Mesh(np.array(devices[: args.devices]), ("x",))
    field_spec = P("x")  # first spatial axis split over the mesh
    state_spec = P(None, "x") if args.pde == "wave" else P("x")  # wave: (2, nx, ny)
    specs = (field_spec, state_spec, state_spec)
    arrays = (coefficient, y0, weight)
    sharded = tuple(
        jax.device_put(a, NamedSharding(mesh, spec)) for a, spec in zip(arrays, specs)
    )
    single = tuple(jax.device_put(a, devices[0]) for a in arrays)

    results = {
        "config": {
            "devices": args.devices,
            "platform": devices[0].platform,
            "shape": list(args.shape),
            "pde": args.pde,
            "depth": args.depth,
            "substeps": args.substeps,
            "t1": args.t1,
            "dtype": jnp.dtype(dtype).name,
            "jax": jax.__version__,
            "state_spec": str(state_spec),
            "field_spec": str(field_spec),
        },
        "programs": {},
    }
    for name, function in build_programs(
        make_operator, args.t1, args.depth, args.substeps, args.solvers
    ).items():
        print(f"[{name}] compiling and running", file=sys.stderr, flush=True)
        jitted = jax.jit(function)
        start = time.perf_counter()
        compiled_sharded = jitted.lower(*sharded).compile()
        compile_sharded = time.perf_counter() - start
        start = time.perf_counter()
        compiled_single = jitted.lower(*single).compile()
        compile_single = time.perf_counter() - start
        instructions = collective_instructions(compiled_sharded.as_text())
        out_sharded = compiled_sharded(*sharded)
        out_single = compiled_single(*single)
        results["programs"][name] = {
            "max_relative_difference": max_relative_difference(out_sharded, out_single),
            "collectives": count_collectives(compiled_sharded.as_text()),
            "collectives_unsharded": count_collectives(compiled_single.as_text()),
            "collective_details": summarise_collectives(instructions),
            "output": describe_sharding(out_sharded),
            "compile_s": {"sharded": compile_sharded, "unsharded": compile_single},
            "time_s": {
                "sharded": best_time(compiled_sharded, sharded, args.repeats),
                "unsharded": best_time(compiled_single, single, args.repeats),
            },
        }
    return results


def print_results(results: dict) -> None:
    config = results["config"]
    print(
        f"{config['pde']} on a {'x'.join(map(str, config['shape']))} grid, {config['dtype']}, "
        f"Krylov depth {config['depth']} x {config['substeps']} substeps, t1 = {config['t1']}; "
        f"{config['devices']} "
        f"{config['platform']} devices, mesh axis 'x'; coefficient {config['field_spec']}, "
        f"state {config['state_spec']}; jax {config['jax']}"
    )
    header = (
        f"{'program':<18} {'max rel diff':>12}  {'output sharding':<22} "
        + " ".join(f"{op:>7}" for op in ("a-red", "a-gath", "c-perm", "a2a", "r-scat"))
        + f"  {'sharded':>10} {'1 device':>10}"
    )
    print(header)
    print("-" * len(header))
    for name, row in results["programs"].items():
        out = row["output"]
        where = f"{out['spec']} on {out['devices']}" + ("" if out["sharded"] else " (whole)")
        counts = " ".join(f"{row['collectives'][op]:>7}" for op in COLLECTIVES)
        times = row["time_s"]
        print(
            f"{name:<18} {row['max_relative_difference']:>12.1e}  {where:<22} {counts}  "
            f"{times['sharded'] * 1e3:>8.2f}ms {times['unsharded'] * 1e3:>8.2f}ms"
        )
    print(
        "\ncollectives: a-red all-reduce, a-gath all-gather, c-perm collective-permute, "
        "a2a all-to-all, r-scat reduce-scatter (instructions in the compiled sharded "
        "program; one inside a loop runs every iteration). Times: best of the timed calls; "
        "forced host devices share the same CPU cores, so this is no speed test."
    )
    for name, row in results["programs"].items():
        print(f"\n{name}: output stays sharded: {row['output']['sharded']}")
        for line in row["collective_details"] or ["no collectives"]:
            print(f"  {line}")
        unsharded = sum(row["collectives_unsharded"].values())
        if unsharded:
            print(f"  ({unsharded} collectives in the one-device program too)")


def main(argv=None):
    args = parse_args(argv)
    force_host_devices(args.devices)
    results = run(args)
    print_results(results)
    if args.json:
        with open(args.json, "w") as file:
            json.dump(results, file, indent=2)


if __name__ == "__main__":
    main()
