"""`Problem`: a validated, frozen problem that builds the library's objects."""

import dataclasses
import math
from typing import TYPE_CHECKING, NamedTuple

import jax
import jax.numpy as jnp

from .._grid import Grid
from .._operators import AbstractGridOperator
from ._specs import (
    DatasetSpec,
    FieldSpec,
    ObservationSpec,
    PDESpec,
    ReferenceSpec,
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
    - `name`, `description`, `path`: where it came from.
    """

    name: str
    grid: Grid
    pde: PDESpec
    coefficient: FieldSpec
    initial: FieldSpec
    time: TimeSpec
    reference: ReferenceSpec
    observation: ObservationSpec
    dataset: DatasetSpec
    training: "TrainConfig"
    description: str = ""
    path: str | None = None

    def __post_init__(self):
        from ..train import TrainConfig  # the layer above; imported by the time one is made

        sections = {
            "grid": Grid, "pde": PDESpec, "coefficient": FieldSpec, "initial": FieldSpec,
            "time": TimeSpec, "reference": ReferenceSpec, "observation": ObservationSpec,
            "dataset": DatasetSpec, "training": TrainConfig,
        }
        for name, kind in sections.items():
            if not isinstance(getattr(self, name), kind):
                raise TypeError(f"{name}: expected a {kind.__name__}, got {type(getattr(self, name)).__name__}")
        for name in ("name", "description"):
            if not isinstance(getattr(self, name), str):
                raise TypeError(f"{name}: expected a str, got {getattr(self, name)!r}")
        try:
            self.pde.check_grid(self.grid)
        except ValueError as error:
            raise ValueError(f"pde.{error}") from None

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

        Every state component (u and u_t for the wave) is an independent draw.
        """
        components = math.prod(self.state_shape) // self.grid.size
        return self.initial.sample(self.grid, key, num * components).reshape(num, *self.state_shape)

    def sensor_mask(self, key):
        """The sensor mask of `state_shape`, or None (`key`: `SampleKeys.mask`)."""
        return self.observation.sensor_mask(self.grid, self.state_shape, key)

    def as_dict(self) -> dict:
        """JSON-ready (as stored in dataset metadata; `problem_from_dict` reads it back)."""
        values = {"name": self.name, "description": self.description, "path": self.path}
        values["grid"] = grid_as_dict(self.grid)
        for name in ("pde", "coefficient", "initial", "time", "reference", "observation", "dataset", "training"):
            values[name] = getattr(self, name).as_dict()
        return values
