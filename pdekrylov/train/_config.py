"""The resolved configuration of a training run: problem defaults, then overrides."""

import dataclasses
import math

from ..problems import LOSSES, MODELS, OPTIMIZERS, Problem
from ..solvers import check_solver_name, solver_from_name


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Everything that determines a training run (stored in `metrics.json` and checkpoints).

    The fields mirror the `[training]` section of a problem file (see
    `problems/README.md`), plus the `seed`. Build one with `TrainConfig.from_problem`.
    """

    model: str = "mlp"
    hidden: tuple = (500, 500)
    initial_value: float = 0.01
    smoothness: float = 0.0
    optimizer: str = "adam"
    learning_rate: float = 2e-4
    sobolev_length: float = 0.05
    epochs: int = 3000
    solver: str = "arnoldi"
    depth: int = 10
    steps: int = 3
    substeps: int = 1
    loss: str = "relative-mse"
    checkpoint_every: int = 50
    eval_every: int = 10
    seed: int = 0

    def __post_init__(self):
        _check_choice("model", self.model, MODELS)
        _check_choice("optimizer", self.optimizer, OPTIMIZERS)
        _check_choice("loss", self.loss, LOSSES)
        object.__setattr__(self, "solver", check_solver_name(self.solver))
        object.__setattr__(self, "hidden", tuple(self.hidden))
        for name in ("epochs", "depth", "steps", "substeps", "checkpoint_every", "eval_every"):
            _check_int(name, getattr(self, name), low=1)
        _check_int("seed", self.seed, low=0)
        if not self.hidden or any(isinstance(h, bool) or not isinstance(h, int) or h < 1 for h in self.hidden):
            raise ValueError(f"hidden: expected positive layer widths, got {self.hidden!r}")
        for name in ("learning_rate", "sobolev_length"):
            _check_number(name, getattr(self, name), positive=True)
        _check_number("smoothness", self.smoothness, low=0.0)
        _check_number("initial_value", self.initial_value)
        if self.optimizer.startswith("sobolev") and self.model != "grid":
            raise ValueError(
                f"optimizer: {self.optimizer!r} preconditions grid fields; use model='grid'"
            )

    @classmethod
    def from_problem(cls, problem: Problem, **overrides) -> "TrainConfig":
        """The problem file's `[training]` defaults with `overrides` (None means default).

        **Raises:** `ValueError` naming an unknown or invalid option.
        """
        names = {f.name for f in dataclasses.fields(cls)}
        for key in overrides:
            if key not in names:
                raise ValueError(f"{key}: not a training option (options: {', '.join(sorted(names))})")
        values = {k: v for k, v in problem.training.items() if k in names}
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def replace(self, **changes) -> "TrainConfig":
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def as_dict(self) -> dict:
        """JSON-ready."""
        values = dataclasses.asdict(self)
        values["hidden"] = list(self.hidden)
        return values

    def make_solver(self):
        """The solver object this configuration names."""
        return solver_from_name(self.solver, depth=self.depth, steps=self.steps, substeps=self.substeps)


def _check_choice(name, value, choices):
    if value not in choices:
        raise ValueError(f"{name}: expected one of {list(choices)}, got {value!r}")


def _check_int(name, value, low):
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name}: expected an int, got {value!r}")
    if value < low:
        raise ValueError(f"{name}: expected an int >= {low}, got {value}")


def _check_number(name, value, positive=False, low=None):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name}: expected a number, got {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{name}: expected a finite number, got {value!r}")
    if positive and not value > 0:
        raise ValueError(f"{name}: expected a positive number, got {value!r}")
    if low is not None and value < low:
        raise ValueError(f"{name}: expected a number >= {low}, got {value!r}")
