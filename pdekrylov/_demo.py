"""`pdekrylov demo`: a small wave problem solved forward, with figures."""

import time
from pathlib import Path

import diffrax
import jax
import jax.numpy as jnp

from . import _io, plot
from ._grid import Grid
from ._operators import WaveOperator
from ._solve import solve
from .solvers import Diffrax, Lanczos

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


def _timed_solve(operator, y0, solver):
    """Final state and best-of-3 wall time (after compilation) of one solve."""
    run = jax.jit(lambda op, y: solve(op, y, DEMO_T1, solver).ys[-1])
    y1 = run(operator, y0).block_until_ready()
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        run(operator, y0).block_until_ready()
        best = min(best, time.perf_counter() - start)
    return y1, best


def run_demo(out, *, force=False):
    """Solve the demo problem forward with Lanczos and with Diffrax, write figures.

    **Arguments:**

    - `out`: output folder (created if missing).
    - `force`: replace existing files in `out`.

    **Returns:** a dict with the written paths, and per solver its description, wall
    time in seconds and relative difference to the Diffrax solution.
    """
    out = Path(out)
    targets = {"states": out / "states.png", "speed": out / "speed.png"}
    if not force:
        existing = [str(p) for p in targets.values() if p.exists()]
        if existing:
            raise FileExistsError(f"{existing[0]} exists (use --force to replace it)")
    operator, y0 = demo_problem()
    solvers = {
        "Lanczos, depth 30, 2 substeps": Lanczos(30, substeps=2),
        "Diffrax Tsit5, 200 steps": Diffrax(diffrax.Tsit5(), steps=200),
    }
    results = {name: _timed_solve(operator, y0, s) for name, s in solvers.items()}
    reference, _ = results["Diffrax Tsit5, 200 steps"]
    y1, _ = results["Lanczos, depth 30, 2 substeps"]
    summary = {
        name: {
            "seconds": seconds,
            "difference": float(jnp.linalg.norm(y - reference) / jnp.linalg.norm(reference)),
        }
        for name, (y, seconds) in results.items()
    }

    grid = operator.grid
    fig = plot.field_panels(
        [y0[0], y1[0], y1[1]], ["u(0)", f"u({DEMO_T1:g})", f"u_t({DEMO_T1:g})"], grid,
        suptitle="wave equation u_tt = c² Δu", cmap="RdBu_r",
    )
    _io.save_figure(fig, targets["states"], force=force)
    fig = plot.field_panels([operator.speed], ["speed c(x)"], grid)
    _io.save_figure(fig, targets["speed"], force=force)
    return {"paths": targets, "solvers": summary, "grid": grid.shape}
