"""`pdekrylov demo`: a small wave problem solved forward, with figures."""

import time
from pathlib import Path

import diffrax
import jax
import jax.numpy as jnp

from . import _io, plot
from ._grid import Grid
from ._operators import WaveOperator

#: The embedded default problem: a 48 x 48 unit square, Neumann boundaries.
DEMO_SHAPE = (48, 48)
DEMO_T1 = 1.0


def demo_problem():
    """The demo's operator and initial state.

    A smooth speed field (a slow region in the lower left corner) and a Gaussian pulse at
    rest off the centre, so the wave front visibly bends.

    **Returns:** `(operator, y0)`.
    """
    grid = Grid(DEMO_SHAPE)
    x = grid.coordinates()
    speed = 0.4 - 0.25 * jnp.exp(-((x[0] - 0.3) ** 2 + (x[1] - 0.3) ** 2) / 0.04)
    u0 = jnp.exp(-((x[0] - 0.6) ** 2 + (x[1] - 0.55) ** 2) / 0.005)
    y0 = jnp.stack([u0, jnp.zeros_like(u0)])
    return WaveOperator(grid, speed, "neumann"), y0


def _forward(operator, y0, t1, steps):
    term = diffrax.ODETerm(lambda t, y, op: op(y))
    solution = diffrax.diffeqsolve(
        term, diffrax.Tsit5(), 0.0, t1, t1 / steps, y0, args=operator,
        max_steps=steps,
    )
    return solution.ys[-1]


def run_demo(out, *, force=False, steps=200):
    """Solve the demo problem forward and write its figures.

    **Arguments:**

    - `out`: output folder (created if missing).
    - `force`: replace existing files in `out`.
    - `steps`: number of fixed Tsit5 steps over `[0, 1]`.

    **Returns:** a dict with the written paths and the measured solve time in seconds.
    """
    out = Path(out)
    targets = {"states": out / "states.png", "speed": out / "speed.png"}
    if not force:
        existing = [str(p) for p in targets.values() if p.exists()]
        if existing:
            raise FileExistsError(f"{existing[0]} exists (use --force to replace it)")
    operator, y0 = demo_problem()
    solve = jax.jit(_forward, static_argnums=(2, 3))
    solve(operator, y0, DEMO_T1, steps).block_until_ready()  # compile
    start = time.perf_counter()
    y1 = solve(operator, y0, DEMO_T1, steps).block_until_ready()
    seconds = time.perf_counter() - start

    grid = operator.grid
    fig = plot.field_panels(
        [y0[0], y1[0], y1[1]], ["u(0)", f"u({DEMO_T1:g})", f"u_t({DEMO_T1:g})"], grid,
        suptitle="wave equation u_tt = c² Δu", cmap="RdBu_r",
    )
    _io.save_figure(fig, targets["states"], force=force)
    fig = plot.field_panels([operator.speed], ["speed c(x)"], grid)
    _io.save_figure(fig, targets["speed"], force=force)
    return {"paths": targets, "seconds": seconds, "steps": steps, "grid": grid.shape}
