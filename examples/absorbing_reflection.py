"""How much do the absorbing layers reflect? Sponge and PML against a rigid (Neumann) wall.

A Ricker source (f0 = 5, c = 1: wavelength 0.2) in a homogeneous 2D medium whose region
of interest is `[-0.6, 0.6] x [-1.2, 1.2]`, on a grid of `--ppw` points per wavelength;
an absorbing layer of `width` nodes is added outside it on every side. Two receivers
between the source and the left side: one where the reflection off the left side arrives
at normal incidence, one where it arrives at 45°. The reflected wave at a receiver is its
trace minus the trace of a reference run on a grid so much larger (same spacing, same
nodes around source and receivers) that nothing comes back within the time window; the
window `[0, 1.9]` closes before any other side's reflection arrives. The table gives, per
layer and width, `max |reflected|` relative to that of a rigid wall (Neumann, no layer:
1 by definition), and relative to the incident (direct) wave's peak at the receiver.

Run it with `python examples/absorbing_reflection.py` (a few minutes on a 2-core CPU;
`--widths 10,20` for a quicker look).
"""

import argparse

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import pdekrylov as pk  # noqa: E402
from pdekrylov.study import machine_info  # noqa: E402

FREQUENCY, DELAY, SPEED = 5.0, 0.3, 1.0
INTERIOR = (0.6, 1.2)  # half-widths of the region of interest
SOURCE = (-0.2, -0.25)
# normal incidence: on the source's line perpendicular to the left side; 45°: the image
# source across x = -0.6 lies at 45° below the receiver
RECEIVERS = {"normal": (-0.5, -0.25), "45°": (-0.5, 0.25)}
T1 = 1.9


def grid_around(h, margin):
    """The grid of spacing h covering the interior plus `margin` nodes on every side."""
    shape = tuple(int(round(2 * a / h)) + 1 + 2 * margin for a in INTERIOR)
    extent = [a + margin * h for a in INTERIOR]
    return pk.Grid(shape, lower=tuple(-e for e in extent), upper=tuple(extent))


def traces(operator, times, solver):
    grid = operator.grid
    forcing = pk.Forcing(
        pk.PointSources(grid, jnp.asarray([SOURCE])), pk.Ricker(jnp.asarray(FREQUENCY), jnp.asarray(DELAY))
    )
    receivers = pk.Receivers(grid, jnp.asarray(list(RECEIVERS.values())))

    @jax.jit
    def run():
        rest = jnp.zeros(operator.state_shape)
        return pk.solve(operator, rest, T1, solver, forcing=forcing, saveat=pk.SaveAt(times, receivers)).ys

    return np.asarray(run())


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ppw", type=float, default=10.0, help="points per wavelength")
    parser.add_argument("--widths", default="10,20,30", help="layer widths in nodes")
    parser.add_argument("--order", type=int, default=4, help="the stencil's spatial order")
    parser.add_argument("--rtol", type=float, default=1e-7, help="Arnoldi's tolerance")
    args = parser.parse_args()
    h = SPEED / FREQUENCY / args.ppw
    times = np.linspace(0.0, T1, 191)
    solver = pk.Arnoldi(rtol=args.rtol, max_steps=4096)
    print(f"machine: {machine_info()}")
    print(f"h = {h:g} ({args.ppw:g} points per wavelength), stencil order {args.order}, Arnoldi rtol {args.rtol:g}")

    # reference: far enough that the nearest side's reflection needs longer than T1
    far = int(np.ceil(T1 * SPEED / h)) + 5
    reference_grid = grid_around(h, far)
    speed = lambda grid: jnp.full(grid.shape, SPEED)  # noqa: E731
    reference = traces(pk.WaveOperator(reference_grid, speed(reference_grid), order=args.order), times, solver)
    first_arrival = np.array([np.linalg.norm(np.subtract(r, SOURCE)) for r in RECEIVERS.values()]) / SPEED
    incident = np.array([
        np.max(np.abs(reference[times < first_arrival[i] + 2 * DELAY + 0.1, i])) for i in range(len(RECEIVERS))
    ])

    rows = []
    wall_grid = grid_around(h, 0)
    wall = traces(pk.WaveOperator(wall_grid, speed(wall_grid), order=args.order), times, solver)
    rigid = np.max(np.abs(wall - reference), axis=0)
    rows.append(("Neumann (rigid wall)", 0, rigid))
    for width in [int(w) for w in args.widths.split(",")]:
        grid = grid_around(h, width)
        for name, layer in (("sponge", pk.Sponge(width)), ("PML", pk.PML(width))):
            operator = pk.AbsorbingWaveOperator(grid, speed(grid), layer, order=args.order)
            reflected = np.max(np.abs(traces(operator, times, solver) - reference), axis=0)
            rows.append((name, width, reflected))
    names = list(RECEIVERS)
    print(
        "| layer | width (nodes) | "
        + " | ".join(f"reflected / rigid wall's, {n}" for n in names)
        + " | "
        + " | ".join(f"reflected / incident, {n}" for n in names)
        + " |"
    )
    print("|---|---:|" + "---:|" * (2 * len(names)))
    for name, width, reflected in rows:
        print(
            f"| {name} | {width} | "
            + " | ".join(f"{r:.2e}" for r in reflected / rigid)
            + " | "
            + " | ".join(f"{r:.2e}" for r in reflected / incident)
            + " |"
        )


if __name__ == "__main__":
    main()
