"""The sections of a problem as typed, frozen specs that build the library's objects.

Each spec validates itself when it is made (also by `replace`), with errors that start
with the field's name; the problem-file reader prefixes the file and the section. The
names a problem file may use (`kind = "wave"`, `transform = "exp"`, `mask = "random"`)
are the keys of the registries below, next to what they name.
"""

import dataclasses
from collections.abc import Callable
from typing import ClassVar

import jax
import jax.numpy as jnp
import numpy as np

from .._absorbing import PML, AbsorbingWaveOperator, Sponge
from .._check import check_choice, check_int, check_number, check_sequence
from .._forcing import Forcing, Ricker
from .._grid import Grid
from .._operators import (
    AbstractGridOperator,
    AdvectionDiffusionOperator,
    DiffusionOperator,
    WaveOperator,
)
from .._sources import RULES, PointSources, Receivers
from .._stencil import BOUNDARIES, check_order
from ..grf import KERNELS, GaussianRandomField
from ..solvers import check_solver_name, solver_from_name, work_parameter

_spec = dataclasses.dataclass(frozen=True, kw_only=True)


class Spec:
    """What every section spec has: `replace` (validated again) and `as_dict`."""

    #: the section's `kind` in a problem file, for sections with several kinds
    kind: ClassVar[str | None] = None

    def replace(self, **changes):
        """A copy with some fields changed, validated again."""
        return dataclasses.replace(self, **changes)

    def as_dict(self) -> dict:
        """JSON-ready: the `kind` (if any) and every field that is set (lists for tuples)."""
        values = {} if self.kind is None else {"kind": self.kind}
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if isinstance(value, Spec):  # a nested table (`[sources.layout]`)
                values[field.name] = value.as_dict()
            elif value is not None:
                values[field.name] = list(value) if isinstance(value, tuple) else value
        return values

    def _normalise(self, name, value):
        """Set a field of this frozen spec to its validated (normalised) value."""
        object.__setattr__(self, name, value)


def grid_as_dict(grid: Grid) -> dict:
    """A `Grid` as a problem file writes it (the grid is its own spec: it validates)."""
    return {"shape": list(grid.shape), "lower": list(grid.lower), "upper": list(grid.upper)}


def _check_nested(name, value, registry):
    if not isinstance(value, tuple(registry.values())):
        raise TypeError(f"{name}: expected a table with kind one of {list(registry)}, got {value!r}")


# ---------------------------------------------------------------- the PDE


@_spec
class PDESpec(Spec):
    """The PDE: builds the grid operator for a coefficient field.

    - `boundary`: one of `BOUNDARIES` (the ghost-node rule of the stencil).
    - `order`: the stencil's spatial order of accuracy: 2, 4, 6 or 8 (`_stencil.ORDERS`).
    """

    boundary: str = "neumann"
    order: int = 2
    #: the coefficient's name in figures and reports
    coefficient_symbol: ClassVar[str] = "k"
    #: the operator depends on the coefficient's magnitude only (the wave's c²): its sign
    #: is arbitrary, so fields are compared and drawn as |coefficient|
    sign_free: ClassVar[bool] = False

    def __post_init__(self):
        check_choice("boundary", self.boundary, BOUNDARIES)
        check_order(self.order)

    def coefficient_label(self) -> str:
        """How figures name the coefficient as compared: `|c|` for the wave, `k` else."""
        return f"|{self.coefficient_symbol}|" if self.sign_free else self.coefficient_symbol

    def operator(self, grid: Grid, coefficient) -> AbstractGridOperator:
        """The operator of this PDE on `grid` with the coefficient field `coefficient`."""
        raise NotImplementedError

    def check_grid(self, grid: Grid) -> None:
        """Raise `ValueError` (naming the field) if this PDE does not fit `grid`."""


@_spec
class AbsorbingSpec(Spec):
    """An absorbing layer in the outer `width` nodes of every side of the grid
    (`pk.AbsorbingWaveOperator`): `[pde.absorbing]` with `kind = "pml"` or `"sponge"`.

    - `width`: nodes on each side (the model of interest is the rest of the grid).
    - `power`, `reflection`, `strength`: the damping profile's exponent, the target
      reflection that sets its strength (default: the layer's), or the strength itself.
    """

    #: the layer class this spec builds
    layer_class: ClassVar[type] = None
    width: int = 10
    power: float = 2.0
    reflection: float | None = None
    strength: float | None = None

    def __post_init__(self):
        self.layer()  # the layer validates the values (errors name the field)

    def layer(self):
        """The `pk.PML` or `pk.Sponge` this spec describes."""
        return self.layer_class(self.width, power=self.power, reflection=self.reflection, strength=self.strength)


@_spec
class PMLSpec(AbsorbingSpec):
    """The Grote–Sim perfectly matched layer (`pk.PML`; 1D and 2D grids)."""

    kind = "pml"
    layer_class = PML


@_spec
class SpongeSpec(AbsorbingSpec):
    """A damping layer `u_tt + σ u_t = c² Δu` (`pk.Sponge`)."""

    kind = "sponge"
    layer_class = Sponge


#: the absorbing layers by the `kind` of `[pde.absorbing]`
LAYERS = {spec.kind: spec for spec in (PMLSpec, SpongeSpec)}


@_spec
class WaveSpec(PDESpec):
    """`u_tt = c² Δu`; the coefficient is the speed c.

    - `absorbing`: an `AbsorbingSpec` (`[pde.absorbing]`), or None for none: the
      boundary condition then holds at the grid's ends.
    """

    kind = "wave"
    coefficient_symbol = "c"
    sign_free = True
    #: the nested tables and their registries (the problem-file reader builds them)
    nested: ClassVar[dict] = {"absorbing": LAYERS}
    absorbing: AbsorbingSpec | None = None

    def __post_init__(self):
        super().__post_init__()
        if self.absorbing is not None:
            _check_nested("absorbing", self.absorbing, LAYERS)
            if self.boundary == "periodic":
                raise ValueError("absorbing: an absorbing layer needs ends; periodic has none")

    def operator(self, grid, coefficient):
        if self.absorbing is None:
            return WaveOperator(grid, coefficient, self.boundary, self.order)
        return AbsorbingWaveOperator(grid, coefficient, self.absorbing.layer(), self.boundary, self.order)

    def check_grid(self, grid):
        if self.absorbing is None:
            return
        if self.absorbing.kind == "pml" and grid.ndim > 2:
            raise ValueError(f"absorbing: the PML is implemented for 1D and 2D grids, got a {grid.ndim}D grid")
        if 2 * self.absorbing.width >= min(grid.shape):
            raise ValueError(
                f"absorbing.width: {self.absorbing.width} nodes on each side leave no interior "
                f"on a grid of shape {list(grid.shape)}"
            )

    def interior_box(self, grid: Grid) -> tuple[np.ndarray, np.ndarray]:
        """The box `(lower, upper)` inside the absorbing layer (the whole grid without one)."""
        width = 0 if self.absorbing is None else self.absorbing.width
        spacing = np.array(grid.spacing)
        return np.array(grid.lower) + width * spacing, np.array(grid.upper) - width * spacing


@_spec
class DiffusionSpec(PDESpec):
    """`u_t = ∇·(k ∇u)`; the coefficient is the diffusivity k."""

    kind = "diffusion"

    def operator(self, grid, coefficient):
        return DiffusionOperator(grid, coefficient, self.boundary, self.order)


@_spec
class AdvectionDiffusionSpec(PDESpec):
    """`u_t = ∇·(k ∇u) − v·∇u` with a constant velocity v (one value per axis)."""

    kind = "advection-diffusion"
    velocity: tuple[float, ...]

    def __post_init__(self):
        super().__post_init__()
        self._normalise("velocity", check_sequence("velocity", self.velocity, check_number))
        if self.order != 2:  # the upwind advection is first order; its diffusion order 2
            raise ValueError(f"order: advection-diffusion has order 2 only, got {self.order}")

    def check_grid(self, grid):
        if len(self.velocity) != grid.ndim:
            raise ValueError(
                f"velocity: advection-diffusion needs a constant velocity, one value per axis "
                f"({grid.ndim}), got {len(self.velocity)}"
            )

    def operator(self, grid, coefficient):
        dtype = jnp.result_type(coefficient)
        velocity = jnp.stack([jnp.full(grid.shape, v, dtype=dtype) for v in self.velocity])
        return AdvectionDiffusionOperator(grid, coefficient, velocity, self.boundary)


#: the PDEs by the `pde.kind` of problem files
PDES = {spec.kind: spec for spec in (WaveSpec, DiffusionSpec, AdvectionDiffusionSpec)}


# ---------------------------------------------------------------- fields


#: pointwise transforms of a drawn field, by the `transform` of problem files
TRANSFORMS: dict[str, Callable] = {
    "none": lambda values: values,
    "softplus": jax.nn.softplus,
    "exp": jnp.exp,
    "abs": jnp.abs,
}


@_spec
class FieldSpec(Spec):
    """A distribution of fields on a grid: `scale * transform(draw) + offset`.

    - `transform`: one of `TRANSFORMS`.
    - `scale`, `offset`: numbers.
    """

    transform: str = "none"
    scale: float = 1.0
    offset: float = 0.0

    def __post_init__(self):
        check_choice("transform", self.transform, TRANSFORMS)
        self._normalise("scale", check_number("scale", self.scale))
        self._normalise("offset", check_number("offset", self.offset))

    def sample(self, grid: Grid, key, num: int | None = None):
        """Draw fields on `grid`.

        **Arguments:**

        - `grid`: the `Grid`.
        - `key`: a JAX PRNG key.
        - `num`: the number of fields, or None for one.

        **Returns:** an array of `grid.shape`, or `(num, *grid.shape)`.
        """
        return self.scale * TRANSFORMS[self.transform](self._draw(grid, key, num)) + self.offset

    def _draw(self, grid, key, num):
        raise NotImplementedError

    def check_grid(self, grid: Grid) -> None:
        """Raise `ValueError` (naming the field) if this field does not fit `grid`."""


@_spec
class GRFSpec(FieldSpec):
    """A Gaussian random field (exact, by circulant embedding: `pk.grf`).

    - `length_scale`, `variance`: positive kernel parameters.
    - `kernel`: one of `pk.grf.KERNELS`.
    """

    kind = "grf"
    length_scale: float
    variance: float
    kernel: str = "rbf"

    def __post_init__(self):
        super().__post_init__()
        check_choice("kernel", self.kernel, KERNELS)
        for name in ("length_scale", "variance"):
            self._normalise(name, check_number(name, getattr(self, name), positive=True))

    def _draw(self, grid, key, num):
        return GaussianRandomField(grid, self.kernel, self.length_scale, self.variance).sample(key, num)


def _constant(spec, grid, x, centre):
    return jnp.full(grid.shape, spec.value)


def _gaussian_bump(spec, grid, x, centre):
    r2 = jnp.sum((x - centre) ** 2, axis=0)
    return spec.value + spec.amplitude * jnp.exp(-r2 / (2 * spec.width**2))


def _two_layer(spec, grid, x, centre):
    # value below the middle of axis 0, value + amplitude above, a smooth step between
    return spec.value + spec.amplitude * 0.5 * (1 + jnp.tanh((x[0] - centre[0]) / spec.width))


#: the named analytic fields, by the `name` of problem files
ANALYTIC_FIELDS = {"constant": _constant, "gaussian-bump": _gaussian_bump, "two-layer": _two_layer}


@_spec
class AnalyticSpec(FieldSpec):
    """A named analytic field (the same for every draw).

    - `name`: one of `ANALYTIC_FIELDS`.
    - `value`, `amplitude`: its level and the height of its feature.
    - `width`: the feature's width (positive).
    """

    kind = "analytic"
    name: str
    value: float = 1.0
    amplitude: float = 0.5
    width: float = 0.15

    def __post_init__(self):
        super().__post_init__()
        check_choice("name", self.name, ANALYTIC_FIELDS)
        for name in ("value", "amplitude"):
            self._normalise(name, check_number(name, getattr(self, name)))
        self._normalise("width", check_number("width", self.width, positive=True))

    def _draw(self, grid, key, num):
        x = grid.coordinates()
        centre = jnp.array([(lo + hi) / 2 for lo, hi in zip(grid.lower, grid.upper)])
        values = ANALYTIC_FIELDS[self.name](self, grid, x, centre.reshape(-1, *([1] * grid.ndim)))
        return values if num is None else jnp.broadcast_to(values, (num, *values.shape))


@_spec
class LayeredSpec(FieldSpec):
    """Layers along one axis, with an optional circular inclusion (the same for every
    draw): the model of a wave-inversion benchmark.

    - `interfaces`: increasing coordinates along `axis` where one layer meets the next.
    - `values`: one value per layer (one more than `interfaces`), from the lowest
      coordinate up.
    - `axis`: the axis across the layers (default 0, the vertical one in figures).
    - `smoothing`: the width of the smooth (tanh) step at each interface and at the
      inclusion's rim, in units of the coordinates (positive).
    - `inclusion_center`, `inclusion_radius`, `inclusion_value`: a disk (a ball in 3D)
      of its own value, or none when `inclusion_center` is not given.
    """

    kind = "layered"
    interfaces: tuple[float, ...]
    values: tuple[float, ...]
    axis: int = 0
    smoothing: float = 0.02
    inclusion_center: tuple[float, ...] | None = None
    inclusion_radius: float = 0.1
    inclusion_value: float = 1.0

    def __post_init__(self):
        super().__post_init__()
        interfaces = check_sequence("interfaces", self.interfaces, check_number)
        if any(b <= a for a, b in zip(interfaces, interfaces[1:])):
            raise ValueError(f"interfaces: expected increasing coordinates, got {list(interfaces)}")
        self._normalise("interfaces", interfaces)
        values = check_sequence("values", self.values, check_number)
        if len(values) != len(interfaces) + 1:
            raise ValueError(
                f"values: expected one value per layer ({len(interfaces) + 1} for "
                f"{len(interfaces)} interfaces), got {len(values)}"
            )
        self._normalise("values", values)
        check_int("axis", self.axis, low=0)
        for name in ("smoothing", "inclusion_radius"):
            self._normalise(name, check_number(name, getattr(self, name), positive=True))
        self._normalise("inclusion_value", check_number("inclusion_value", self.inclusion_value))
        if self.inclusion_center is not None:
            self._normalise("inclusion_center", check_sequence("inclusion_center", self.inclusion_center, check_number))

    def check_grid(self, grid):
        if self.axis >= grid.ndim:
            raise ValueError(f"axis: expected an axis of the {grid.ndim}D grid, got {self.axis}")
        if self.inclusion_center is not None and len(self.inclusion_center) != grid.ndim:
            raise ValueError(
                f"inclusion_center: expected {grid.ndim} coordinates (the grid's), got {len(self.inclusion_center)}"
            )

    def _draw(self, grid, key, num):
        self.check_grid(grid)
        x = grid.coordinates()
        values = jnp.full(grid.shape, self.values[0])
        for interface, below, above in zip(self.interfaces, self.values, self.values[1:]):
            step = 0.5 * (1 + jnp.tanh((x[self.axis] - interface) / self.smoothing))
            values = values + (above - below) * step
        if self.inclusion_center is not None:
            centre = jnp.asarray(self.inclusion_center).reshape(-1, *([1] * grid.ndim))
            radius = jnp.sqrt(jnp.sum((x - centre) ** 2, axis=0))
            inside = 0.5 * (1 + jnp.tanh((self.inclusion_radius - radius) / self.smoothing))
            values = values + (self.inclusion_value - values) * inside
        return values if num is None else jnp.broadcast_to(values, (num, *values.shape))


#: the field distributions by the `kind` of a problem file's field sections
FIELDS = {spec.kind: spec for spec in (GRFSpec, AnalyticSpec, LayeredSpec)}


# ---------------------------------------------------------------- time, reference, data


@_spec
class TimeSpec(Spec):
    """The time interval `[0, t1]` and the observation times in `(0, t1]` (sorted), or
    `samples` equally spaced times `t1 k / samples`, `k = 1 … samples` (traces)."""

    t1: float
    observation_times: tuple[float, ...] | None = None
    samples: int | None = None

    def __post_init__(self):
        t1 = check_number("t1", self.t1, positive=True)
        times = (t1,) if self.observation_times is None else self.observation_times
        if self.samples is not None:  # traces: equally spaced samples in (0, t1]
            check_int("samples", self.samples, low=1)
            sampled = tuple(float(t) for t in t1 * np.arange(1, self.samples + 1) / self.samples)
            if self.observation_times is not None and not np.allclose(self.observation_times, sampled):
                raise ValueError("samples: give either samples or observation_times (they differ)")
            times = sampled
        times = check_sequence("observation_times", times, check_number, positive=True, high=t1)
        if not times or list(times) != sorted(times):
            raise ValueError(f"observation_times: expected a non-empty sorted list, got {list(times)}")
        self._normalise("t1", t1)
        self._normalise("observation_times", times)


@_spec
class ReferenceSpec(Spec):
    """The solver that makes a dataset's targets.

    - `solver`: a solver name without an adjoint (`"dopri8"`, `"arnoldi"`, ...: a forward
      solve needs none).
    - `steps`: fixed steps (Runge–Kutta solvers only, required there).
    - `depth`, `substeps`: Krylov depth (required) and sub-intervals (Krylov only;
      None means 1).
    - `batch`: pairs solved per vmapped batch.
    """

    solver: str
    steps: int | None = None
    depth: int | None = None
    substeps: int | None = None
    batch: int = 16

    def __post_init__(self):
        self._normalise("solver", check_solver_name(self.solver))
        if "+" in self.solver:
            raise ValueError(f"solver: a reference solve has no adjoint; got {self.solver!r}")
        krylov = work_parameter(self.solver) == "depth"
        needed, unused = (("depth",), ("steps",)) if krylov else (("steps",), ("depth", "substeps"))
        for name in unused:
            if getattr(self, name) is not None:
                raise ValueError(f"{name}: the {self.solver} reference does not take {name}")
        for name in needed:
            if getattr(self, name) is None:
                raise ValueError(f"{name}: missing (the {self.solver} reference needs it)")
        for name in ("steps", "depth", "substeps", "batch"):
            if getattr(self, name) is not None:
                check_int(name, getattr(self, name), low=1)

    def make_solver(self):
        """The solver object (`pk.Arnoldi`, `pk.Lanczos` or `pk.Diffrax`)."""
        if work_parameter(self.solver) == "depth":
            return solver_from_name(self.solver, depth=self.depth, substeps=self.substeps or 1)
        return solver_from_name(self.solver, steps=self.steps)


def _random_nodes(spec, shape, key):
    return jax.random.uniform(key, shape) < spec.fraction


def _stripe_nodes(spec, shape, key):
    every = max(1, int(round(1 / spec.fraction)))  # every k-th line along axis 0
    lines = (jnp.arange(shape[0]) % every == 0).reshape(-1, *([1] * (len(shape) - 1)))
    return jnp.broadcast_to(lines, shape)


#: sensor layouts by the `mask` of problem files (`full`: every node, no mask)
MASKS = {"full": None, "random": _random_nodes, "stripes": _stripe_nodes}


@_spec
class ObservationSpec(Spec):
    """How the targets are observed.

    - `noise_std`: absolute Gaussian noise on the targets (>= 0).
    - `mask`: one of `MASKS`, per grid node (all state components of a node alike).
    - `fraction`: the observed fraction for `random` and `stripes`, in `(0, 1]`.
    """

    noise_std: float = 0.0
    mask: str = "full"
    fraction: float = 1.0

    def __post_init__(self):
        self._normalise("noise_std", check_number("noise_std", self.noise_std, low=0.0))
        check_choice("mask", self.mask, MASKS)
        self._normalise("fraction", check_number("fraction", self.fraction, low=0.0, high=1.0))
        if self.mask != "full" and self.fraction <= 0:
            raise ValueError("fraction: expected a positive observed fraction")

    def sensor_mask(self, grid: Grid, state_shape, key):
        """The sensor mask, booleans of `state_shape` (numpy), or None when all is observed."""
        nodes = MASKS[self.mask]
        if nodes is None:
            return None
        return np.asarray(jnp.broadcast_to(nodes(self, grid.shape, key), tuple(state_shape)))


@_spec
class DatasetSpec(Spec):
    """A dataset's default size and the fraction of its pairs held out (the first ones)."""

    size: int
    test_fraction: float = 0.2

    def __post_init__(self):
        check_int("size", self.size, low=1)
        self._normalise(
            "test_fraction", check_number("test_fraction", self.test_fraction, low=0.0, high=1.0)
        )


# ---------------------------------------------------------------- sources and receivers


@_spec
class LayoutSpec(Spec):
    """Where points lie: `positions()`, `(count, d)` coordinates (sources: one shot per
    point; receivers: one trace per point)."""

    def positions(self) -> np.ndarray:
        raise NotImplementedError

    @property
    def num_points(self) -> int:
        """How many points the layout has."""
        return len(self.positions())

    def check_grid(self, grid: Grid) -> None:
        """Raise `ValueError` unless every point lies in the grid's box."""
        points = self.positions()
        if points.shape[1] != grid.ndim:
            raise ValueError(f"layout: expected points with {grid.ndim} coordinates (the grid's), got {points.shape[1]}")
        inside = (points >= np.array(grid.lower)) & (points <= np.array(grid.upper))
        if not np.all(inside):
            bad = points[~np.all(inside, axis=1)][0].tolist()
            raise ValueError(f"layout: the point {bad} lies outside the grid's box {list(grid.lower)} .. {list(grid.upper)}")


def _check_point(name, value):
    return check_sequence(name, value, check_number)


@_spec
class PointsLayout(LayoutSpec):
    """Points given one by one: `points = [[x, y], ...]`."""

    kind = "points"
    points: tuple[tuple[float, ...], ...]

    def __post_init__(self):
        points = check_sequence("points", self.points, _check_point)
        if not points or len({len(p) for p in points}) != 1:
            raise ValueError(f"points: expected a non-empty list of points of one dimension, got {self.points!r}")
        self._normalise("points", points)

    def positions(self):
        return np.array(self.points, dtype=float)


@_spec
class LineLayout(LayoutSpec):
    """`count` points equally spaced from `start` to `end` (both included)."""

    kind = "line"
    start: tuple[float, ...]
    end: tuple[float, ...]
    count: int

    def __post_init__(self):
        self._normalise("start", _check_point("start", self.start))
        self._normalise("end", _check_point("end", self.end))
        if len(self.start) != len(self.end):
            raise ValueError(f"end: expected {len(self.start)} coordinates (as start), got {len(self.end)}")
        check_int("count", self.count, low=1)

    def positions(self):
        fractions = np.linspace(0.0, 1.0, self.count) if self.count > 1 else np.zeros(1)
        start, end = np.array(self.start), np.array(self.end)
        return start + fractions[:, None] * (end - start)


@_spec
class CircleLayout(LayoutSpec):
    """`count` points equally spaced on the circle of `radius` around `center` (2D), the
    first at `angle` degrees."""

    kind = "circle"
    center: tuple[float, ...]
    radius: float
    count: int
    angle: float = 0.0

    def __post_init__(self):
        center = _check_point("center", self.center)
        if len(center) != 2:
            raise ValueError(f"center: a circle needs a 2D center, got {list(center)}")
        self._normalise("center", center)
        self._normalise("radius", check_number("radius", self.radius, positive=True))
        check_int("count", self.count, low=1)
        self._normalise("angle", check_number("angle", self.angle))

    def positions(self):
        angles = np.deg2rad(self.angle + 360.0 * np.arange(self.count) / self.count)
        return np.array(self.center) + self.radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)


#: point layouts by the `kind` of `[sources.layout]` / `[receivers.layout]`
LAYOUTS = {spec.kind: spec for spec in (PointsLayout, LineLayout, CircleLayout)}


@_spec
class RickerSpec(Spec):
    """The Ricker wavelet (`pk.Ricker`): peak `frequency`, `delay` of the peak (default
    `1.5 / frequency`), `amplitude`."""

    kind = "ricker"
    frequency: float
    delay: float | None = None
    amplitude: float = 1.0

    def __post_init__(self):
        self._normalise("frequency", check_number("frequency", self.frequency, positive=True))
        if self.delay is not None:
            self._normalise("delay", check_number("delay", self.delay, low=0.0))
        self._normalise("amplitude", check_number("amplitude", self.amplitude))

    def signal(self, count: int, dtype):
        """The `pk.Ricker` of `count` equal signals."""
        delay = 1.5 / self.frequency if self.delay is None else self.delay
        values = (self.frequency, delay, self.amplitude)
        return Ricker(*(jnp.full(count, v, dtype) for v in values))


#: source wavelets by the `kind` of `[sources.wavelet]`
WAVELETS = {spec.kind: spec for spec in (RickerSpec,)}


@_spec
class SourcesSpec(Spec):
    """Point sources: one shot per point of `layout`, each a point source with the
    `wavelet`, injected by `rule` (`pk.PointSources`). A problem with sources starts
    from rest, and its pairs are shots: the input of a pair is its source position.

    - `layout`: a `LayoutSpec` (`[sources.layout]`); `wavelet`: a `RickerSpec`
      (`[sources.wavelet]`); `rule`: one of `pk.PointSources`' rules.
    """

    #: the nested tables and their registries (the problem-file reader builds them)
    nested: ClassVar[dict] = {"layout": LAYOUTS, "wavelet": WAVELETS}
    layout: LayoutSpec
    wavelet: RickerSpec
    rule: str = "bilinear"

    def __post_init__(self):
        for name, registry in self.nested.items():
            _check_nested(name, getattr(self, name), registry)
        check_choice("rule", self.rule, RULES)

    @property
    def shots(self) -> int:
        """The number of shots (points of the layout)."""
        return self.layout.num_points

    def forcing(self, grid: Grid, position) -> Forcing:
        """The forcing of one shot: a point source at `position` (`(1, d)`)."""
        return Forcing(PointSources(grid, position, self.rule), self.wavelet.signal(1, jnp.result_type(position)))


@_spec
class ReceiversSpec(Spec):
    """Receivers at the points of `layout` (`[receivers.layout]`), sampling by `rule`
    (`pk.Receivers`, the wave's u); traces at the problem's observation times
    (`[time] samples`). `wavefield_times`: times at which `pdekrylov generate` also
    stores the whole wavefield u of every shot (optional)."""

    nested: ClassVar[dict] = {"layout": LAYOUTS}
    layout: LayoutSpec
    rule: str = "bilinear"
    wavefield_times: tuple[float, ...] | None = None

    def __post_init__(self):
        _check_nested("layout", self.layout, LAYOUTS)
        check_choice("rule", self.rule, RULES)
        if self.wavefield_times is not None:
            times = check_sequence("wavefield_times", self.wavefield_times, check_number, low=0.0)
            if not times or list(times) != sorted(times):
                raise ValueError(f"wavefield_times: expected a non-empty sorted list, got {list(times)}")
            self._normalise("wavefield_times", times)

    def receivers(self, grid: Grid, dtype) -> Receivers:
        """The `pk.Receivers` on `grid`."""
        return Receivers(grid, jnp.asarray(self.layout.positions(), dtype), self.rule)
