"""The memory of one gradient (one shot), and how it grows with the sub-intervals, the time
samples and the checkpoints; Diffrax's recursive-checkpoint adjoint beside it.

One shot of the trace problem: a Ricker source and receivers on a 2D grid (`--n`² nodes,
wave speed 1), traces at `T` equally spaced times, the loss their squared misfit to zero,
the gradient with respect to the speed field. For each configuration the compiled
value-and-gradient's memory is read from XLA (`jax.jit(...).lower(...).compile()
.memory_analysis()`: the temporary buffers, which are what the backward pass stores; the
arguments and outputs are the same for all) beside the time of one call (median of 3,
compilation excluded). Rows:

- Arnoldi, tolerance mode, by `rtol` (more sub-intervals at a tighter tolerance) and by
  `checkpoints` (the start states the checkpointed loop keeps: the trade);
- Arnoldi by the number of time samples T;
- Diffrax Tsit5 (adaptive, `RecursiveCheckpointAdjoint`), the ODE-solver baseline.

Run it with `python examples/bench_adjoint_memory.py` (a few minutes on a 2-core CPU;
`--n 64` for a quicker look).
"""

import argparse
import time

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import pdekrylov as pk  # noqa: E402
from pdekrylov.study import machine_info  # noqa: E402


def shot(n):
    grid = pk.Grid((n, n), (-1.0, -1.0), (1.0, 1.0))
    forcing = pk.Forcing(pk.PointSources(grid, jnp.asarray([[0.013, -0.007]])), pk.Ricker(jnp.asarray(5.0), jnp.asarray(0.3)))
    angles = np.linspace(0, 2 * np.pi, 16, endpoint=False)
    receivers = pk.Receivers(grid, jnp.asarray(0.5 * np.stack([np.cos(angles), np.sin(angles)], axis=1)))
    return grid, forcing, receivers


def measure(grid, forcing, receivers, solver, samples, t1=1.0):
    times = np.linspace(0.0, t1, samples)

    def loss(speed):
        op = pk.WaveOperator(grid, speed)
        rest = jnp.zeros(op.state_shape)
        traces = pk.solve(op, rest, t1, solver, forcing=forcing, saveat=pk.SaveAt(times, receivers)).ys
        return jnp.sum(traces**2)

    speed = jnp.ones(grid.shape)
    compiled = jax.jit(jax.value_and_grad(loss)).lower(speed).compile()
    memory = compiled.memory_analysis()
    jax.block_until_ready(compiled(speed))
    seconds = []
    for _ in range(3):
        start = time.perf_counter()
        jax.block_until_ready(compiled(speed))
        seconds.append(time.perf_counter() - start)
    steps = None
    if isinstance(solver, pk.Arnoldi):
        op = pk.WaveOperator(grid, speed)
        steps = int(pk.solve(op, jnp.zeros(op.state_shape), t1, solver, forcing=forcing,
                             saveat=pk.SaveAt(times, receivers)).stats["num_steps"])
    return memory.temp_size_in_bytes, float(np.median(seconds)), steps


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=128, help="grid nodes per axis")
    args = parser.parse_args()
    grid, forcing, receivers = shot(args.n)
    state_mb = 2 * grid.size * 8 / 2**20
    print(f"machine: {machine_info()}")
    print(f"grid {args.n}x{args.n}: one state (u, u_t) = {state_mb:.2f} MB in float64; 16 receivers, t1 = 1")
    rows = []
    for rtol in (1e-2, 1e-4, 1e-6):
        for checkpoints in (2, 8, 32):
            solver = pk.Arnoldi(rtol=rtol, max_steps=256, checkpoints=checkpoints)
            rows.append((f"Arnoldi rtol {rtol:g}", checkpoints, 201, *measure(grid, forcing, receivers, solver, 201)))
    for samples in (51, 801):
        solver = pk.Arnoldi(rtol=1e-4, max_steps=256)
        rows.append(("Arnoldi rtol 0.0001", 8, samples, *measure(grid, forcing, receivers, solver, samples)))
    tsit5 = pk.Diffrax(rtol=1e-6, atol=1e-9, max_steps=4096)
    rows.append(("Diffrax Tsit5 rtol 1e-6, recursive checkpoint", "-", 201, *measure(grid, forcing, receivers, tsit5, 201)))
    print("| solver | checkpoints | time samples | sub-intervals | gradient memory (temp) | in states | seconds per value+grad |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, checkpoints, samples, memory, seconds, steps in rows:
        mb = memory / 2**20
        print(f"| {name} | {checkpoints} | {samples} | {'' if steps is None else steps} | {mb:.1f} MB | "
              f"{mb / state_mb:.0f} | {seconds:.3f} |")


if __name__ == "__main__":
    main()
