"""Point sources and receivers at arbitrary (off-grid) positions of a `Grid`.

Both use one interpolation rule, per axis, between the grid nodes; a receiver samples a
field by it, a source injects by its transpose divided by the cell volume (so that it
approximates a delta function): `inject` and `sample` are adjoint up to that factor.

**The rule `"bilinear"`** (tensor product of the hat function: the 2^d nodes of the
cell holding the point, weights `Π_i (1 - |x_i - node_i| / h_i)`). Its weights
reproduce constants and linear functions exactly (the discrete delta has the continuous
one's moments of order 0 and 1), which is what a second-order stencil needs: away
from the source the solution converges at second order (Tornberg & Engquist 2004), and
sampling a smooth field is second-order accurate. A higher-order stencil needs a rule
with more moments: **the rule `"sinc"`**, the Kaiser-windowed sinc of Hicks (2002),
`sinc(x) I0(b sqrt(1 - (x/r)²)) / I0(b)` on `2 r = 8` nodes per axis (`b = 6.31`), which
is exact for band-limited fields well below the grid's Nyquist wavenumber and so keeps
the accuracy of the stencils of order 4-8. Its support must fit inside the grid: points
at least 4 nodes from the boundary (nearer ones get the support shifted inwards, and the
weights lose their accuracy).
"""

from collections.abc import Callable
from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from ._forcing import AbstractSources
from ._grid import Grid


class Rule(NamedTuple):
    """A 1D interpolation rule: `support` nodes around a point (even: `support / 2` on each
    side of the point's cell), weights `kernel(distance in cells)`."""

    support: int
    kernel: Callable  # distances in cells (..., support) -> weights (..., support)


def _hat(distance):
    return jnp.maximum(1 - jnp.abs(distance), 0)


#: Hicks' (2002) windowed sinc: half-width r (nodes on each side) and Kaiser shape b
SINC_HALF_WIDTH, SINC_SHAPE = 4, 6.31


def _windowed_sinc(distance):
    inside = jnp.clip(1 - (distance / SINC_HALF_WIDTH) ** 2, 0, 1)
    window = jax.scipy.special.i0(SINC_SHAPE * jnp.sqrt(inside)) / jax.scipy.special.i0(SINC_SHAPE)
    return jnp.where(jnp.abs(distance) <= SINC_HALF_WIDTH, jnp.sinc(distance) * window, 0)


#: the interpolation rules by name (problem files' `rule`)
RULES = {
    "bilinear": Rule(support=2, kernel=_hat),
    "sinc": Rule(support=2 * SINC_HALF_WIDTH, kernel=_windowed_sinc),
}


def check_rule(rule) -> str:
    """`rule` if it names one of `RULES`, else `ValueError`."""
    if not isinstance(rule, str) or rule not in RULES:
        raise ValueError(f"rule: expected one of {list(RULES)}, got {rule!r}")
    return rule


def _check_positions(grid, positions):
    if not isinstance(grid, Grid):
        raise TypeError(f"grid: expected a pdekrylov.Grid, got {type(grid).__name__}")
    positions = jnp.asarray(positions)
    if positions.ndim == 1:
        positions = positions[None]
    if positions.ndim != 2 or positions.shape[1] != grid.ndim or positions.shape[0] < 1:
        raise ValueError(
            f"positions: expected an array (points, {grid.ndim}) of coordinates, got shape {positions.shape}"
        )
    if not jnp.issubdtype(positions.dtype, jnp.floating):
        positions = positions.astype(float)
    if not isinstance(positions, jax.core.Tracer):  # concrete: checked here
        values = np.asarray(positions)
        inside = (values >= np.array(grid.lower)) & (values <= np.array(grid.upper))
        if not np.all(np.isfinite(values)) or not np.all(inside):
            bad = values[~np.all(inside, axis=1)][:1].tolist() or values.tolist()[:1]
            raise ValueError(
                f"positions: expected points inside the grid's box {list(grid.lower)} .. "
                f"{list(grid.upper)}, got {bad[0]}"
            )
    return positions


def stencil(grid: Grid, positions, rule: str):
    """The nodes and weights of `rule` around each position.

    **Returns:** `(indices, weights)`: `indices` a tuple of d integer arrays
    `(points, support^d)` (one per axis), `weights` `(points, support^d)`; sampling a
    field `u` is `Σ weights * u[indices]`.
    """
    rule_ = RULES[rule]
    half = rule_.support // 2
    per_axis = []
    for axis, (n, lo, h) in enumerate(zip(grid.shape, grid.lower, grid.spacing)):
        u = (positions[:, axis] - lo) / h  # in cells
        # the first node of the support, kept inside the grid
        first = jnp.clip(jnp.floor(u).astype(jnp.int32) - half + 1, 0, n - rule_.support)
        nodes = first[:, None] + jnp.arange(rule_.support)
        per_axis.append((nodes, rule_.kernel(u[:, None] - nodes)))
    count = len(positions)
    full = (count,) + (rule_.support,) * grid.ndim
    indices, weights = [], jnp.ones(full, positions.dtype)
    for axis, (nodes, w) in enumerate(per_axis):  # the tensor product over the axes
        shape = (count,) + tuple(rule_.support if a == axis else 1 for a in range(grid.ndim))
        indices.append(jnp.broadcast_to(nodes.reshape(shape), full).reshape(count, -1))
        weights = weights * w.reshape(shape)
    return tuple(indices), weights.reshape(count, -1)


class PointSources(AbstractSources):
    """Point sources at arbitrary positions of a grid: `inject(a)` is `Σ_s a_s δ_h(x - x_s)`.

    The discrete delta `δ_h` spreads a unit source over the nodes around its position
    with the weights of `rule`, divided by the cell volume `Π h_i` (see the module
    docstring for why bilinear suits the standard stencil). For the wave equation the
    operator enters the density in the `u_t` equation (`u_tt = c² Δu + Σ_s f_s(t)
    δ(x - x_s)`); `pk.Forcing(sources, signal)` adds the signals.

    **Arguments:**

    - `grid`: the `pk.Grid`.
    - `positions`: `(num_sources, d)` coordinates inside the grid's box (a batch of them
      may be `vmap`ped: shots); learnable.
    - `rule`: the interpolation rule, one of `RULES` (default `"bilinear"`).
    """

    grid: Grid
    positions: Float[Array, "sources dim"]
    rule: str = eqx.field(static=True)

    def __init__(self, grid, positions, rule="bilinear"):
        self.positions = _check_positions(grid, positions)
        self.grid = grid
        self.rule = check_rule(rule)

    @property
    def num_sources(self):
        return self.positions.shape[0]

    @property
    def shape(self):
        return self.grid.shape

    def inject(self, amplitudes):
        indices, weights = stencil(self.grid, self.positions, self.rule)
        volume = float(np.prod(self.grid.spacing))
        values = (amplitudes[:, None] * weights / volume).astype(jnp.result_type(amplitudes, weights))
        return jnp.zeros(self.grid.shape, values.dtype).at[indices].add(values)


class Receivers(eqx.Module):
    """Receivers at arbitrary positions: `receivers(y)` samples one component of a state.

    The transpose of `PointSources`' injection (without the cell volume): the weights of
    `rule` around each position. Linear in `y`, so the Krylov solvers project it on each
    step's basis once and serve every time sample with a small product: pass it as
    `pk.solve(..., saveat=pk.SaveAt(ts=times, fn=receivers))` for traces of shape
    `(times, receivers)`.

    **Arguments:**

    - `grid`: the `pk.Grid`.
    - `positions`: `(num_receivers, d)` coordinates inside the grid's box.
    - `rule`: one of `RULES` (default `"bilinear"`).
    - `component`: which state component is recorded when the state has a component
      axis (the wave state `(u, u_t)`: 0 records u).
    """

    grid: Grid
    positions: Float[Array, "receivers dim"]
    rule: str = eqx.field(static=True)
    component: int = eqx.field(static=True)

    def __init__(self, grid, positions, rule="bilinear", component=0):
        self.positions = _check_positions(grid, positions)
        self.grid = grid
        self.rule = check_rule(rule)
        if isinstance(component, bool) or not isinstance(component, (int, np.integer)) or component < 0:
            raise ValueError(f"component: expected a non-negative int, got {component!r}")
        self.component = int(component)

    @property
    def num_receivers(self) -> int:
        """The number of receivers R."""
        return self.positions.shape[0]

    def __call__(self, y) -> Float[Array, " receivers"]:
        """The samples of `y` (a state, or a field of the grid's shape), shape `(R,)`."""
        field = y if y.ndim == self.grid.ndim else y[self.component]
        if field.shape != self.grid.shape:
            raise ValueError(f"y: expected a state on the grid {self.grid.shape}, got shape {y.shape}")
        indices, weights = stencil(self.grid, self.positions, self.rule)
        return jnp.sum(weights * field[indices], axis=-1)
