"""Traces of a point source against the analytic solution: the convergence check.

`GreenSetup` is a homogeneous 2D (or 3D) medium with a Ricker source and receivers at several
offsets and directions, on a square grid of a given number of points per wavelength, in
a time window that ends before the first reflection from the grid's boundary reaches a
receiver: there the discrete traces must converge to the analytic ones
(`_green.analytic_traces_2d`) at the stencil's order. `green_convergence` measures it for
a solver and, beside it, for a simple leapfrog scheme at the same grid (`leapfrog_traces`).
"""

import dataclasses
import time

import jax
import jax.numpy as jnp
import numpy as np

from .._forcing import Forcing, Ricker
from .._grid import Grid
from .._operators import WaveOperator
from .._solve import SaveAt, solve
from .._sources import PointSources, Receivers
from ._green import analytic_traces_2d, analytic_traces_3d, ricker


@dataclasses.dataclass(frozen=True)
class GreenSetup:
    """A Ricker point source in a homogeneous 2D (or 3D) medium, receivers around it.

    - `speed`, `frequency`, `delay`: c, the Ricker peak frequency f0 and its delay (the
      wavelength at the peak is `speed / frequency`).
    - `half_width`: the grid covers `[-half_width, half_width]^d`.
    - `source`: the source position (off the grid's nodes): 2 or 3 coordinates.
    - `offsets`, `angles`: receivers at each offset in each direction (degrees) from
      the source: `len(offsets) * len(angles)` receivers, off the nodes.
    - `t1`, `samples`: the time window `[0, t1]` and its number of equally spaced samples.
      The defaults end the window before the first boundary reflection reaches any
      receiver: the image source is `2 (half_width - |source|)` away.
    - `rule`: the sources' and receivers' interpolation rule (`pk.PointSources`): the
      bilinear rule is second order, `"sinc"` keeps a higher-order stencil's accuracy.
    """

    speed: float = 1.0
    frequency: float = 5.0
    delay: float = 0.3
    half_width: float = 0.7
    source: tuple[float, ...] = (0.0123, -0.0071)
    offsets: tuple[float, ...] = (0.1, 0.15, 0.2)
    angles: tuple[float, ...] = (0.0, 30.0, 45.0, 75.0)
    t1: float = 0.9
    samples: int = 181
    rule: str = "bilinear"

    @property
    def ndim(self) -> int:
        """2 or 3 (the source's coordinates); in 3D the receivers lie in the plane of the
        first two axes through the source."""
        return len(self.source)

    @property
    def wavelength(self) -> float:
        """The wavelength at the peak frequency."""
        return self.speed / self.frequency

    def grid(self, points_per_wavelength: float) -> Grid:
        """The square grid with `points_per_wavelength` nodes per peak wavelength."""
        h = self.wavelength / points_per_wavelength
        n = int(round(2 * self.half_width / h)) + 1
        d = self.ndim
        return Grid((n,) * d, lower=(-self.half_width,) * d, upper=(self.half_width,) * d)

    def receiver_positions(self) -> np.ndarray:
        """`(R, 2)`, offset-major (all angles of the first offset first)."""
        angles = np.deg2rad(self.angles)
        directions = np.stack([np.cos(angles), np.sin(angles)] + [0 * angles] * (self.ndim - 2), axis=1)
        return np.concatenate([np.asarray(self.source) + r * directions for r in self.offsets])

    def times(self) -> np.ndarray:
        return np.linspace(0.0, self.t1, self.samples)

    def analytic(self) -> np.ndarray:
        """The analytic traces `(T, R)` (in 2D two quadratures checked against each other)."""
        distances = np.linalg.norm(self.receiver_positions() - np.asarray(self.source), axis=1)
        signal = lambda t: ricker(t, self.frequency, self.delay)  # noqa: E731
        if self.ndim == 3:
            return analytic_traces_3d(distances, self.times(), signal, self.speed).T
        traces, difference = analytic_traces_2d(
            distances, self.times(), signal, (0.0, 4 * self.delay), self.speed, check=True,
        )
        if difference > 1e-10:
            raise RuntimeError(f"the two quadratures of the analytic traces differ by {difference:.1e}")
        return traces.T

    def problem(self, points_per_wavelength: float, dtype=None, order: int = 2):
        """`(operator, forcing, receivers)` on the grid of `points_per_wavelength`, with
        the stencil of spatial `order`."""
        grid = self.grid(points_per_wavelength)
        dtype = dtype or jnp.result_type(float)
        operator = WaveOperator(grid, jnp.full(grid.shape, self.speed, dtype), order=order)
        signal = Ricker(jnp.asarray(self.frequency, dtype), jnp.asarray(self.delay, dtype))
        forcing = Forcing(PointSources(grid, jnp.asarray([self.source], dtype), self.rule), signal)
        receivers = Receivers(grid, jnp.asarray(self.receiver_positions(), dtype), self.rule)
        return operator, forcing, receivers


def relative_trace_error(traces, reference) -> float:
    """`‖traces - reference‖₂ / ‖reference‖₂` over all receivers and times."""
    traces, reference = np.asarray(traces), np.asarray(reference)
    return float(np.linalg.norm(traces - reference) / np.linalg.norm(reference))


def leapfrog_traces(operator: WaveOperator, forcing, receivers, times, courant: float = 0.5):
    """Traces of the wave equation by the leapfrog scheme (second order in time), from rest.

    `u^{n+1} = 2 u^n - u^{n-1} + dt² (c² Δ_h u^n + f(t_n))`, with the operator's stencil
    and the forcing's source density, `dt` the largest step at most `courant * h / max c`
    that divides the sampling interval (`times` must be equally spaced from 0).

    **Returns:** `(T, R)` traces at `times`.
    """
    times = np.asarray(times, float)
    substeps = leapfrog_substeps(operator, times, courant)
    dt = (times[1] - times[0]) / substeps

    def acceleration(u, t):  # c² Δ_h u + f(t): the u_t row of the first-order operator
        return operator(jnp.stack([u, jnp.zeros_like(u)]))[1] + forcing(t)

    def step(carry, n):
        u, previous = carry
        return (2 * u - previous + dt**2 * acceleration(u, n * dt), u), None

    def sample(carry, k):
        carry, _ = jax.lax.scan(step, carry, k * substeps + jnp.arange(substeps))
        return carry, receivers(carry[0])

    @jax.jit
    def run():
        rest = jnp.zeros(operator.grid.shape, operator.speed.dtype)
        _, traces = jax.lax.scan(sample, (rest, rest), jnp.arange(len(times) - 1))
        return jnp.concatenate([receivers(rest)[None], traces])

    return run()


def leapfrog_substeps(operator: WaveOperator, times, courant: float = 0.5) -> int:
    """The leapfrog steps per sampling interval of `times` (see `leapfrog_traces`)."""
    interval = times[1] - times[0]
    if not np.allclose(np.diff(times), interval) or times[0] != 0:
        raise ValueError("times: expected equally spaced times from 0")
    largest = courant * min(operator.grid.spacing) / float(jnp.max(jnp.abs(operator.speed)))
    return int(np.ceil(interval / largest))


@dataclasses.dataclass(frozen=True)
class ConvergenceRow:
    """One grid and method of `green_convergence`: the relative trace error over all
    receivers and per offset (all directions at that offset), the time steps taken and the
    seconds (compilation included); `traces` `(T, R)`."""

    method: str
    order: int
    points_per_wavelength: float
    shape: tuple[int, ...]
    spacing: float
    error: float
    error_by_offset: tuple[float, ...]
    steps: int
    seconds: float
    traces: np.ndarray = dataclasses.field(repr=False, compare=False)


def green_convergence(
    points_per_wavelength, solver, *, setup: GreenSetup = GreenSetup(), leapfrog=True, order: int = 2
):
    """The relative trace error against the analytic traces on grids of
    `points_per_wavelength` (each a grid), for `solver` and (with `leapfrog`) the
    leapfrog scheme at the same grid, both with the stencil of spatial `order`.

    **Returns:** a list of `ConvergenceRow`s, grid by grid.
    """
    analytic = setup.analytic()
    times = setup.times()
    rows = []
    for ppw in points_per_wavelength:
        operator, forcing, receivers = setup.problem(ppw, order=order)
        runs = {
            "krylov": lambda: _solved(operator, forcing, receivers, times, solver),
        }
        if leapfrog:
            count = (len(times) - 1) * leapfrog_substeps(operator, times)
            runs["leapfrog"] = lambda: (leapfrog_traces(operator, forcing, receivers, times), count)
        for method, run in runs.items():
            start = time.perf_counter()
            traces, steps = run()
            traces = np.asarray(traces)
            seconds = time.perf_counter() - start
            by_offset = [
                relative_trace_error(traces[:, block], analytic[:, block])
                for block in np.split(np.arange(analytic.shape[1]), len(setup.offsets))
            ]
            rows.append(ConvergenceRow(
                method, order, float(ppw), operator.grid.shape, operator.grid.spacing[0],
                relative_trace_error(traces, analytic), tuple(by_offset), int(steps), seconds, traces,
            ))
    return rows


def _solved(operator, forcing, receivers, times, solver):
    @jax.jit
    def run():
        rest = jnp.zeros(operator.state_shape, operator.speed.dtype)
        solution = solve(operator, rest, float(times[-1]), solver, forcing=forcing, saveat=SaveAt(times, receivers))
        return solution.ys, solution.stats["num_steps"]

    traces, steps = run()
    return traces, int(steps)
