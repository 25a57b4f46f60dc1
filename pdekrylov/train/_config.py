"""`TrainConfig`: the one definition of the training options.

Problem files (`[training]`), `pk.train.fit` keywords and the CLI's flags all end up
here; their names, defaults and checks are this class's fields and `__post_init__`.
"""

import dataclasses

from .._check import check_choice, check_int, check_number, check_sequence
from ..fields import LOSSES, REGULARISERS
from ..solvers import check_solver_name, solver_from_name
from ._build import GRID_OPTIMIZERS, MODELS, OPTIMIZERS


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Everything that determines a training run (stored in `metrics.json` and checkpoints).

    - `model`: one of `MODELS` (`"mlp"`, the paper's; `"grid"`, one value per node).
    - `hidden`: the MLP's hidden widths.
    - `initial_value`, `smoothness`, `regulariser`: the grid model's start value, its
      regulariser's weight and kind (`pk.fields.REGULARISERS`: Tikhonov or total variation).
    - `optimizer`: one of `OPTIMIZERS`; `learning_rate`; `sobolev_length`, the smoothing
      length of the Sobolev preconditioner.
    - `epochs`: total epochs (full batch).
    - `solver`: a solver name. Krylov solvers run in tolerance mode (`rtol`, default
      1e-6) unless a `depth` is given (then `substeps`, default 1); Diffrax ones take
      `steps` fixed steps, or their PID controller at `rtol` when one is given.
    - `loss`: one of `pk.fields.LOSSES`.
    - `checkpoint_every`, `eval_every`: epochs between checkpoints / evaluations.
    - `seed`: of the model's initial parameters.

    A problem's `training` is one (its `[training]` section); `from_problem` applies
    overrides to it, `replace` changes fields. Both validate again.
    """

    model: str = "mlp"
    hidden: tuple[int, ...] = (500, 500)
    initial_value: float = 0.01
    smoothness: float = 0.0
    regulariser: str = "tikhonov"
    optimizer: str = "adam"
    learning_rate: float = 2e-4
    sobolev_length: float = 0.05
    epochs: int = 3000
    solver: str = "arnoldi"
    depth: int | None = None
    steps: int = 3
    substeps: int | None = None
    rtol: float | None = None
    loss: str = "relative-mse"
    checkpoint_every: int = 50
    eval_every: int = 10
    seed: int = 0

    def __post_init__(self):
        check_choice("model", self.model, MODELS)
        check_choice("optimizer", self.optimizer, OPTIMIZERS)
        check_choice("loss", self.loss, LOSSES)
        check_choice("regulariser", self.regulariser, REGULARISERS)
        object.__setattr__(self, "solver", check_solver_name(self.solver))
        object.__setattr__(self, "hidden", check_sequence("hidden", self.hidden, check_int, low=1))
        if not self.hidden:
            raise ValueError("hidden: expected at least one layer width")
        for name in ("epochs", "depth", "steps", "substeps", "checkpoint_every", "eval_every"):
            if getattr(self, name) is not None or name not in ("depth", "substeps"):
                check_int(name, getattr(self, name), low=1)
        if self.rtol is not None:
            object.__setattr__(self, "rtol", check_number("rtol", self.rtol, positive=True, high=0.5))
        self.make_solver()  # the combination of solver options is valid
        check_int("seed", self.seed, low=0)
        numbers = {
            "learning_rate": {"positive": True}, "sobolev_length": {"positive": True},
            "smoothness": {"low": 0.0}, "initial_value": {},
        }
        for name, bounds in numbers.items():
            object.__setattr__(self, name, check_number(name, getattr(self, name), **bounds))
        if self.optimizer in GRID_OPTIMIZERS and self.model != "grid":
            raise ValueError(
                f"optimizer: {self.optimizer!r} preconditions fields on the grid nodes; "
                f"use model='grid'"
            )

    @classmethod
    def from_problem(cls, problem, **overrides) -> "TrainConfig":
        """The problem's training defaults with `overrides` (None means: the default).

        **Raises:** `ValueError` naming an unknown or invalid option.
        """
        check_options(overrides)
        return problem.training.replace(**{k: v for k, v in overrides.items() if v is not None})

    def replace(self, **changes) -> "TrainConfig":
        """A copy with some fields changed (validated again)."""
        check_options(changes)
        return dataclasses.replace(self, **changes)

    def as_dict(self) -> dict:
        """JSON-ready."""
        values = dataclasses.asdict(self)
        values["hidden"] = list(self.hidden)
        return values

    def make_solver(self):
        """The solver object this configuration names."""
        return solver_from_name(
            self.solver, depth=self.depth, steps=self.steps, substeps=self.substeps, rtol=self.rtol
        )


def option_names() -> tuple[str, ...]:
    """The training options, in order."""
    return tuple(field.name for field in dataclasses.fields(TrainConfig))


def check_options(options) -> None:
    """Raise `ValueError` for a name that is not a training option."""
    for name in options:
        if name not in option_names():
            raise ValueError(f"{name}: not a training option (options: {', '.join(option_names())})")
