"""Problem files: the PDE, grid, true coefficient, data distribution and defaults.

A problem file is data (`problems/*.toml`); reading it validates every field and
reports the file, the key and what was expected. The schema is documented in
`problems/README.md`. Strings live here, at the edge: the rest of the library receives
the objects this module builds.
"""

import dataclasses
import importlib.util
import math
import tomllib
from pathlib import Path

from .solvers import check_solver_name

PDES = ("wave", "diffusion", "advection-diffusion")
BOUNDARIES = ("neumann", "dirichlet", "periodic")
KERNELS = ("rbf", "matern12", "matern32", "matern52")
TRANSFORMS = ("none", "softplus", "exp", "abs")
ANALYTIC_FIELDS = ("constant", "gaussian-bump", "two-layer")
REFERENCE_SOLVERS = ("dopri8", "dopri5", "tsit5", "arnoldi", "lanczos")
#: the folder of the shipped problems (the repository's `problems/`, installed as the
#: package `pdekrylov.shipped_problems`)
def _shipped_problems_dir() -> Path:
    try:
        spec = importlib.util.find_spec("pdekrylov.shipped_problems")
    except ModuleNotFoundError:
        spec = None
    if spec is not None and spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations)))
    return Path(__file__).resolve().parent.parent / "problems"  # a source checkout


PROBLEMS_DIR = _shipped_problems_dir()


class ProblemError(ValueError):
    """A problem file that is missing, malformed, or has a bad value (names file and key)."""


@dataclasses.dataclass(frozen=True)
class Problem:
    """A validated problem file: sections as plain dicts with defaults filled in."""

    name: str
    path: str
    grid: dict
    pde: dict
    coefficient: dict
    initial: dict
    time: dict
    reference: dict
    observation: dict
    dataset: dict
    training: dict

    def as_dict(self) -> dict:
        """The problem as resolved (for metadata)."""
        return dataclasses.asdict(self)


def resolve_path(name_or_path) -> Path:
    """A problem path as given, or the shipped problem of that name."""
    path = Path(name_or_path)
    if path.suffix == ".toml" or path.exists():
        return path
    return PROBLEMS_DIR / f"{name_or_path}.toml"


def load_problem(name_or_path) -> Problem:
    """Read and validate a problem file.

    **Arguments:**

    - `name_or_path`: a path to a `.toml` file, or the name of a shipped problem
      (e.g. `"wave-small"` for `problems/wave-small.toml`).

    **Returns:** a `Problem`.

    **Raises:** `ProblemError` (a `ValueError`) naming the file and the key.
    """
    path = resolve_path(name_or_path)
    if not path.is_file():
        shipped = sorted(p.stem for p in PROBLEMS_DIR.glob("*.toml"))
        raise ProblemError(f"{path}: no such problem file (shipped problems: {', '.join(shipped)})")
    try:
        raw = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ProblemError(f"{path}: not valid TOML: {error}") from None
    reader = _Reader(path, raw)
    problem = Problem(
        name=reader.get("name", str, default=path.stem),
        path=str(path),
        grid=_read_grid(reader.section("grid")),
        pde=_read_pde(reader.section("pde")),
        coefficient=_read_field(reader.section("coefficient")),
        initial=_read_field(reader.section("initial")),
        time=_read_time(reader.section("time")),
        reference=_read_reference(reader.section("reference")),
        observation=_read_observation(reader.section("observation")),
        dataset=_read_dataset(reader.section("dataset")),
        training=_read_training(reader.section("training", required=False)),
    )
    reader.reject_unknown({"name", "description"})
    _check_consistency(reader, problem)
    return problem


class _Reader:
    """Typed access to one table of a TOML file, with errors naming file and key."""

    def __init__(self, path, table, prefix=""):
        self.path, self.table, self.prefix = path, table, prefix
        self.used = set()

    def fail(self, key, message):
        raise ProblemError(f"{self.path}: {self.prefix}{key}: {message}")

    def section(self, key, required=True):
        self.used.add(key)
        if key not in self.table:
            if required:
                self.fail(key, "missing section")
            return _Reader(self.path, {}, f"{self.prefix}{key}.")
        value = self.table[key]
        if not isinstance(value, dict):
            self.fail(key, f"expected a table [{key}], got {type(value).__name__}")
        return _Reader(self.path, value, f"{self.prefix}{key}.")

    def get(self, key, kind, *, default=..., choices=None, low=None, high=None,
            positive=False, length=None):
        self.used.add(key)
        if key not in self.table:
            if default is ...:
                self.fail(key, "missing")
            return default
        value = self.table[key]
        value = self._convert(key, value, kind, length)
        for item in value if isinstance(value, list) else [value]:
            if choices is not None and item not in choices:
                self.fail(key, f"expected one of {list(choices)}, got {item!r}")
            if isinstance(item, (int, float)):
                if positive and not item > 0:
                    self.fail(key, f"expected a positive number, got {item!r}")
                if low is not None and item < low:
                    self.fail(key, f"expected a value >= {low}, got {item!r}")
                if high is not None and item > high:
                    self.fail(key, f"expected a value <= {high}, got {item!r}")
        return value

    def _convert(self, key, value, kind, length):
        if isinstance(kind, list):  # a list of kind[0]
            if not isinstance(value, list):
                self.fail(key, f"expected a list of {kind[0].__name__}, got {value!r}")
            if length is not None and len(value) != length:
                self.fail(key, f"expected {length} values, got {len(value)}")
            return [self._convert(key, item, kind[0], None) for item in value]
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if (kind is int and isinstance(value, bool)) or not isinstance(value, kind):
            self.fail(key, f"expected {kind.__name__}, got {value!r}")
        if kind is float and not math.isfinite(value):
            self.fail(key, f"expected a finite number, got {value!r}")
        return value

    def reject_unknown(self, allowed=()):
        unknown = set(self.table) - self.used - set(allowed)
        if unknown:
            self.fail(sorted(unknown)[0], "unknown key")


def _read_grid(r):
    shape = r.get("shape", [int], low=3)
    d = len(shape)
    if d == 0:
        r.fail("shape", "expected at least one axis")
    grid = {
        "shape": shape,
        "lower": r.get("lower", [float], default=[0.0] * d, length=d),
        "upper": r.get("upper", [float], default=[1.0] * d, length=d),
    }
    if any(hi <= lo for lo, hi in zip(grid["lower"], grid["upper"])):
        r.fail("upper", "expected upper > lower on every axis")
    r.reject_unknown()
    return grid


def _read_pde(r):
    pde = {
        "kind": r.get("kind", str, choices=PDES),
        "boundary": r.get("boundary", str, choices=BOUNDARIES, default="neumann"),
        "velocity": r.get("velocity", [float], default=None),
    }
    r.reject_unknown()
    return pde


def _read_field(r):
    """A field section (`coefficient` or `initial`): a GRF or a named analytic field."""
    kind = r.get("kind", str, choices=("grf", "analytic"), default="grf")
    field = {"kind": kind}
    if kind == "grf":
        field.update(
            kernel=r.get("kernel", str, choices=KERNELS, default="rbf"),
            length_scale=r.get("length_scale", float, positive=True),
            variance=r.get("variance", float, positive=True),
        )
    else:
        field.update(
            name=r.get("name", str, choices=ANALYTIC_FIELDS),
            value=r.get("value", float, default=1.0),
            amplitude=r.get("amplitude", float, default=0.5),
            width=r.get("width", float, positive=True, default=0.15),
        )
    field.update(
        transform=r.get("transform", str, choices=TRANSFORMS, default="none"),
        scale=r.get("scale", float, default=1.0),
        offset=r.get("offset", float, default=0.0),
    )
    r.reject_unknown()
    return field


def _read_time(r):
    t1 = r.get("t1", float, positive=True)
    times = r.get("observation_times", [float], default=[t1], positive=True, high=t1)
    if times != sorted(times) or len(times) == 0:
        r.fail("observation_times", f"expected a non-empty sorted list, got {times}")
    r.reject_unknown()
    return {"t1": t1, "observation_times": times}


def _read_reference(r):
    solver = r.get("solver", str, choices=REFERENCE_SOLVERS)
    reference = {"solver": solver}
    if solver in ("arnoldi", "lanczos"):
        reference["depth"] = r.get("depth", int, low=1)
        reference["substeps"] = r.get("substeps", int, low=1, default=1)
    else:
        reference["steps"] = r.get("steps", int, low=1)
    reference["batch"] = r.get("batch", int, low=1, default=16)
    r.reject_unknown()
    return reference


def _read_observation(r):
    observation = {
        "noise_std": r.get("noise_std", float, low=0.0, default=0.0),
        "mask": r.get("mask", str, choices=("full", "random", "stripes"), default="full"),
        "fraction": r.get("fraction", float, low=0.0, high=1.0, default=1.0),
    }
    if observation["mask"] != "full" and observation["fraction"] <= 0:
        r.fail("fraction", "expected a positive observed fraction")
    r.reject_unknown()
    return observation


def _read_dataset(r):
    dataset = {
        "size": r.get("size", int, low=1),
        "test_fraction": r.get("test_fraction", float, low=0.0, high=1.0, default=0.2),
    }
    r.reject_unknown()
    return dataset


OPTIMIZERS = ("adam", "lbfgs", "sobolev-adam")
MODELS = ("mlp", "grid")
LOSSES = ("relative-mse", "relative-l2", "mse")


def _read_training(r):
    training = {
        "model": r.get("model", str, choices=MODELS, default="mlp"),
        "hidden": r.get("hidden", [int], low=1, default=[500, 500]),
        "initial_value": r.get("initial_value", float, default=0.01),
        "smoothness": r.get("smoothness", float, low=0.0, default=0.0),
        "optimizer": r.get("optimizer", str, choices=OPTIMIZERS, default="adam"),
        "learning_rate": r.get("learning_rate", float, positive=True, default=2e-4),
        "sobolev_length": r.get("sobolev_length", float, positive=True, default=0.05),
        "epochs": r.get("epochs", int, low=1, default=3000),
        "solver": r.get("solver", str, default="arnoldi"),
        "depth": r.get("depth", int, low=1, default=10),
        "steps": r.get("steps", int, low=1, default=3),
        "substeps": r.get("substeps", int, low=1, default=1),
        "loss": r.get("loss", str, choices=LOSSES, default="relative-mse"),
        "checkpoint_every": r.get("checkpoint_every", int, low=1, default=50),
        "eval_every": r.get("eval_every", int, low=1, default=10),
    }
    try:
        training["solver"] = check_solver_name(training["solver"])
    except ValueError as error:
        r.fail("solver", str(error).removeprefix("solver: "))
    if training["optimizer"].startswith("sobolev") and training["model"] != "grid":
        r.fail("optimizer", "the Sobolev preconditioner acts on grid fields; use model = \"grid\"")
    r.reject_unknown()
    return training


def _check_consistency(reader, problem):
    pde, grid = problem.pde, problem.grid
    if pde["kind"] == "advection-diffusion":
        if pde["velocity"] is None or len(pde["velocity"]) != len(grid["shape"]):
            reader.fail(
                "pde.velocity",
                f"advection-diffusion needs a constant velocity, one value per axis "
                f"({len(grid['shape'])})",
            )
    elif pde["velocity"] is not None:
        reader.fail("pde.velocity", f"only advection-diffusion takes a velocity, not {pde['kind']}")
