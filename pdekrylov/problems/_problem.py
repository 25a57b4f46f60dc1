"""`Problem`: a validated, frozen problem that builds the library's objects."""

import dataclasses
import math
from typing import TYPE_CHECKING, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .._grid import Grid
from .._operators import AbstractGridOperator
from .._solve import SaveAt, Solution, solve
from .._stencil import interior_mask
from ._specs import (
    DatasetSpec,
    FieldSpec,
    ObservationSpec,
    PDESpec,
    ReceiversSpec,
    ReferenceSpec,
    SourcesSpec,
    TimeSpec,
    grid_as_dict,
)

if TYPE_CHECKING:  # train is a layer above: it imports this module
    from ..train import TrainConfig


class SampleKeys(NamedTuple):
    """The keys a problem's random draws use, split from one key in one fixed order.

    Datasets (`pk.data.generate`) and studies (`pk.study.workprecision`) both split
    their key here, so that the same seed gives them the same true coefficient field.

    - `coefficient`: the true coefficient field.
    - `initial`: the initial states.
    - `noise`: the observation noise of a dataset; a study's loss weights.
    - `mask`: the sensor mask.
    """

    coefficient: jax.Array
    initial: jax.Array
    noise: jax.Array
    mask: jax.Array

    @classmethod
    def split(cls, key) -> "SampleKeys":
        """Split `key` into the four keys."""
        return cls(*jax.random.split(key, 4))


@dataclasses.dataclass(frozen=True, kw_only=True)
class Problem:
    """A PDE inverse problem: every section a typed spec, validated together.

    Read one from a file with `pk.problems.load_problem`; change one with `replace`
    (validated again). The sections build the objects:

    - `grid`: the `pk.Grid`.
    - `pde`: a `PDESpec`; `problem.operator(field)` is the operator for a coefficient.
    - `coefficient`, `initial`: `FieldSpec`s of the true coefficient and of the initial
      states (`sample_coefficient`, `sample_initial`).
    - `time`: a `TimeSpec` (`t1`, `observation_times`).
    - `reference`: a `ReferenceSpec`, the solver of the targets (`make_solver()`).
    - `observation`: an `ObservationSpec` (noise, `sensor_mask`).
    - `dataset`: a `DatasetSpec` (default size, test fraction).
    - `training`: a `pk.train.TrainConfig`, the training defaults.
    - `sources`, `receivers`: a `SourcesSpec` and a `ReceiversSpec`, or None. A problem
      with them records traces: its pairs are shots from rest (no `initial`), a pair's
      input is its source position `(1, d)` and its targets the traces
      `(times, receivers)` (`solve_pair`).
    - `name`, `description`, `path`: where it came from.
    """

    name: str
    grid: Grid
    pde: PDESpec
    coefficient: FieldSpec
    initial: FieldSpec | None
    time: TimeSpec
    reference: ReferenceSpec
    observation: ObservationSpec
    dataset: DatasetSpec
    training: "TrainConfig"
    sources: SourcesSpec | None = None
    receivers: ReceiversSpec | None = None
    description: str = ""
    path: str | None = None

    def __post_init__(self):
        from ..train import TrainConfig  # the layer above; imported by the time one is made

        sections = {
            "grid": Grid, "pde": PDESpec, "coefficient": FieldSpec, "initial": FieldSpec,
            "time": TimeSpec, "reference": ReferenceSpec, "observation": ObservationSpec,
            "dataset": DatasetSpec, "training": TrainConfig,
        }
        absent = ("initial", "sources", "receivers")  # may be None (see _check_traces)
        sections.update(sources=SourcesSpec, receivers=ReceiversSpec)
        for name, kind in sections.items():
            value = getattr(self, name)
            if not isinstance(value, kind) and not (value is None and name in absent):
                raise TypeError(f"{name}: expected a {kind.__name__}, got {type(value).__name__}")
        for name in ("name", "description"):
            if not isinstance(getattr(self, name), str):
                raise TypeError(f"{name}: expected a str, got {getattr(self, name)!r}")
        for name in ("pde", "coefficient", "initial"):
            try:
                if getattr(self, name) is not None:
                    getattr(self, name).check_grid(self.grid)
            except ValueError as error:
                raise ValueError(f"{name}.{error}") from None
        self._check_traces()

    def _check_traces(self):
        """Initial states, or sources and receivers (which must fit the grid)."""
        if (self.sources is None) != (self.receivers is None):
            given, other = ("sources", "receivers") if self.receivers is None else ("receivers", "sources")
            raise ValueError(f"{other}: missing section (a problem with [{given}] needs [{other}])")
        absorbing = getattr(self.pde, "absorbing", None)
        if absorbing is not None and self.sources is None:
            raise ValueError(
                "pde.absorbing: an absorbing layer needs a problem with [sources] and [receivers] "
                "(observed states would include the layer and its memory variables)"
            )
        if self.sources is None:
            if self.initial is None:
                raise ValueError("initial: missing section (a problem without sources needs initial states)")
            return
        if self.initial is not None:
            raise ValueError("initial: a problem with sources starts from rest; remove [initial]")
        for name in ("sources", "receivers"):
            try:
                getattr(self, name).layout.check_grid(self.grid)
            except ValueError as error:
                raise ValueError(f"{name}.{error}") from None
            if absorbing is not None:
                self._check_outside_layer(name)
        if self.observation.mask != "full":
            raise ValueError("observation.mask: a problem with receivers observes at the receivers; use mask = 'full'")
        if self.dataset.size > self.sources.shots:
            raise ValueError(
                f"dataset.size: a problem with sources has one pair per shot ({self.sources.shots}), "
                f"got {self.dataset.size}"
            )
        times = self.receivers.wavefield_times or ()
        if times and times[-1] > self.time.t1:
            raise ValueError(f"receivers.wavefield_times: expected times in [0, t1 = {self.time.t1}], got {list(times)}")

    def _check_outside_layer(self, name):
        """Sources and receivers in the absorbing layer would be damped with the waves."""
        lower, upper = self.pde.interior_box(self.grid)
        points = getattr(self, name).layout.positions()
        inside = np.all((points >= lower - 1e-12) & (points <= upper + 1e-12), axis=1)
        if not np.all(inside):
            raise ValueError(
                f"{name}.layout: the point {points[~inside][0].tolist()} lies in the absorbing layer; "
                f"the interior is {lower.tolist()} .. {upper.tolist()}"
            )

    def replace(self, **changes) -> "Problem":
        """A copy with some sections (or the name) changed, validated again."""
        return dataclasses.replace(self, **changes)

    def operator(self, coefficient) -> AbstractGridOperator:
        """The PDE's operator on the problem's grid with this coefficient field."""
        return self.pde.operator(self.grid, coefficient)

    @property
    def state_shape(self) -> tuple[int, ...]:
        """The shape of a state (the wave's is `(2, *grid.shape)`: u and u_t)."""
        return self.operator(jnp.zeros(self.grid.shape)).state_shape

    def sample_coefficient(self, key):
        """A draw of the true coefficient field (`key`: `SampleKeys.coefficient`)."""
        return self.coefficient.sample(self.grid, key)

    def sample_initial(self, key, num: int):
        """`num` initial states, `(num, *state_shape)` (`key`: `SampleKeys.initial`).

        Every state component (u and u_t for the wave) is an independent draw; under a
        Dirichlet boundary it is zero on the boundary nodes (which the operator holds).
        """
        components = math.prod(self.state_shape) // self.grid.size
        states = self.initial.sample(self.grid, key, num * components).reshape(num, *self.state_shape)
        if self.pde.boundary == "dirichlet":
            states = jnp.where(interior_mask(self.grid.shape), states, jnp.zeros((), states.dtype))
        return states

    def sensor_mask(self, key):
        """The sensor mask of `state_shape`, or None (`key`: `SampleKeys.mask`)."""
        if self.sources is not None:
            return None  # traces: every receiver observed
        return self.observation.sensor_mask(self.grid, self.state_shape, key)

    @property
    def input_shape(self) -> tuple[int, ...]:
        """The shape of a pair's input: the state, or a shot's source position `(1, d)`."""
        return self.state_shape if self.sources is None else (1, self.grid.ndim)

    @property
    def observed_shape(self) -> tuple[int, ...]:
        """The shape of one observation: the state, or the traces at one time `(R,)`."""
        return self.state_shape if self.receivers is None else (self.receivers.layout.num_points,)

    def sample_inputs(self, key, num: int):
        """The inputs of `num` pairs: initial states (`sample_initial`), or the first
        `num` shots' source positions `(num, 1, d)` (no randomness)."""
        if self.sources is None:
            return self.sample_initial(key, num)
        if num > self.sources.shots:
            raise ValueError(f"num: a problem with sources has one pair per shot ({self.sources.shots}), got {num}")
        return jnp.asarray(self.sources.layout.positions()[:num, None, :], jnp.result_type(float))

    def solve_pair(self, operator, pair_input, solver) -> Solution:
        """Solve one pair at the observation times: from the initial state `pair_input`,
        or from rest with the shot whose source position is `pair_input`, recording the
        receivers' traces (`ys` of shape `(T, R)`)."""
        t1, times = self.time.t1, list(self.time.observation_times)
        if self.sources is None:
            return solve(operator, pair_input, t1, solver, saveat=times)
        receivers = self.receivers.receivers(self.grid, jnp.result_type(pair_input))
        return self._solve_shot(operator, pair_input, solver, SaveAt(times, receivers))

    def wavefields(self, operator, pair_input, solver):
        """A shot's wavefield u at `receivers.wavefield_times`, `(W, *grid.shape)`."""
        states = self._solve_shot(operator, pair_input, solver, list(self.receivers.wavefield_times)).ys
        return states[:, 0] if states.ndim > self.grid.ndim + 1 else states

    def _solve_shot(self, operator, position, solver, saveat):
        rest = jnp.zeros(operator.state_shape, jnp.result_type(position))
        forcing = self.sources.forcing(self.grid, position)
        return solve(operator, rest, self.time.t1, solver, forcing=forcing, saveat=saveat)

    def as_dict(self) -> dict:
        """JSON-ready (as stored in dataset metadata; `problem_from_dict` reads it back)."""
        values = {"name": self.name, "description": self.description, "path": self.path}
        values["grid"] = grid_as_dict(self.grid)
        sections = ("pde", "coefficient", "initial", "time", "reference", "observation", "dataset", "training")
        for name in (*sections, "sources", "receivers"):
            value = getattr(self, name)
            values[name] = None if value is None else value.as_dict()
        return values
