"""The work–precision study: forward and gradient error of every solver against its work.

For one data point of a problem (the true coefficient field `c` and one initial state),
the scalar loss `L(c) = <w, y(t1)>` with `w ~ Uniform[0, 1)` (as in the paper) is
evaluated with each solver at each work level (Krylov depth, or number of fixed steps),
together with its gradient with respect to `c`. Errors are relative to a high-accuracy
reference, which is itself checked against a second reference at another resolution.
"""

import dataclasses
import functools
import math
import warnings
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from .. import _io
from .._check import check_tolerance
from .._solve import solve
from ..problems import AdvectionDiffusionSpec, DiffusionSpec, Problem, SampleKeys, load_problem
from ..solvers import Diffrax, solver_from_name, work_parameter
from .._versions import package_versions
from ._measure import best_times, machine_info, relative_error

CSV_FILE, METADATA_FILE, FIGURE_FILE = "workprecision.csv", "workprecision.json", "workprecision.png"
#: the paper's solvers, and Lanczos (skipped where the operator does not allow it)
DEFAULT_SOLVERS = (
    "arnoldi", "lanczos", "euler+backsolve", "heun+recursive-checkpoint",
    "dopri5+backsolve", "tsit5+recursive-checkpoint",
)
#: the PDEs whose solutions decay (integrating them backwards in time is unstable)
DISSIPATIVE_PDES = (DiffusionSpec, AdvectionDiffusionSpec)
#: a relative gradient error above this counts as diverged (no longer an inaccuracy)
DIVERGED = 1e3
#: a row's errors count as resolved when they exceed the references' disagreement this much
RESOLUTION_FACTOR = 10.0


@dataclasses.dataclass(frozen=True)
class WorkPrecisionRow:
    """One (solver, work level) of the study.

    - `solver`: the solver's label; `level`: its depth or number of steps, or, in a
      sweep by tolerance, its `rtol` (`pk.Arnoldi(rtol=...)`, Diffrax's PID controller).
    - `matvecs`: forward matvecs of one solve; `seconds`: best value-and-gradient time.
    - `value_error`, `gradient_error`: relative errors against the reference.
    - `resolved`: whether both errors exceed `RESOLUTION_FACTOR` times the reference's
      disagreement with its check (else the reference cannot confirm them).
    - `value`: the loss value.
    - `diverged`: the value or gradient is not finite, or the gradient error exceeds
      `DIVERGED` (1e3; the row's errors are then no measurement of accuracy).
    """

    solver: str
    level: float
    matvecs: int
    seconds: float
    value_error: float
    gradient_error: float
    resolved: bool
    value: float
    diverged: bool = False

    def as_dict(self) -> dict:
        """The row as a dict of the `COLUMNS`."""
        return dataclasses.asdict(self)


#: the columns of `workprecision.csv`: the fields of a row
COLUMNS = tuple(field.name for field in dataclasses.fields(WorkPrecisionRow))


@dataclasses.dataclass
class WorkPrecision:
    """The result of `workprecision`.

    - `rows`: one `WorkPrecisionRow` per (solver, level).
    - `reference`: dict with the reference's and the check's description, their relative
      disagreement in value and gradient (`value_gap`, `gradient_gap`), and a `message`.
    - `skipped`: {solver label: reason} for solvers that do not apply to the problem.
    """

    rows: list
    reference: dict
    skipped: dict


WEIGHTS = ("uniform", "normal", "ones")


def data_point(problem: Problem, key, weights: str = "uniform"):
    """The study's data point: true coefficient, one initial state, the loss weights `w`.

    The key is split by `pk.problems.SampleKeys`, as `pk.data.generate` splits it, so a
    study and a dataset made with the same seed share the true field (the weights come
    from the key of a dataset's noise). `weights` is
    `"uniform"` (`w ~ Uniform[0, 1)`, the paper's), `"normal"` or `"ones"`.

    **Returns:** `(coefficient, y0, w)`.
    """
    if problem.sources is not None:
        raise ValueError(
            f"problem: {problem.name} records traces from sources; the work-precision study "
            f"measures problems with initial states (examples/bench_traces.py measures traces)"
        )
    keys = SampleKeys.split(key)
    coefficient = problem.sample_coefficient(keys.coefficient)
    y0 = problem.sample_initial(keys.initial, 1)[0]
    state_shape = y0.shape
    if weights not in WEIGHTS:
        raise ValueError(f"weights: expected one of {list(WEIGHTS)}, got {weights!r}")
    draw = {"uniform": jax.random.uniform, "normal": jax.random.normal}.get(weights)
    w = jnp.ones(state_shape, y0.dtype) if draw is None else draw(keys.noise, state_shape, dtype=y0.dtype)
    return coefficient, y0, w


def reference_solvers(name: str = "dopri8", level: int = 256):
    """A reference solver and its check at three quarters of the resolution.

    **Arguments:**

    - `name`: any solver name (`"dopri8"`, `"arnoldi"`, ...).
    - `level`: its steps or depth.

    **Returns:** `(reference, check)` solver objects.
    """
    option = work_parameter(name)
    if isinstance(level, bool) or not isinstance(level, int) or level < 4:
        raise ValueError(f"level: expected an int >= 4 for a reference, got {level!r}")
    return (solver_from_name(name, **{option: level}), solver_from_name(name, **{option: (3 * level) // 4}))


def loss_value_and_gradient(problem: Problem, solver, y0, w):
    """A jitted `c -> ((L(c), forward matvecs), dL/dc)` with `L(c) = <w, y(t1)>`."""
    t1 = problem.time.t1

    def loss(coefficient):
        solution = solve(problem.operator(coefficient), y0, t1, solver)
        return jnp.vdot(w, solution.ys[-1]), solution.stats["num_matvecs"]

    return jax.jit(jax.value_and_grad(loss, has_aux=True))


def workprecision(
    problem,
    solvers=DEFAULT_SOLVERS,
    levels=(1, 2, 4, 8, 16, 32),
    *,
    key=None,
    repeats: int = 3,
    reference=None,
    check=None,
    weights: str = "uniform",
    tolerances=None,
    progress: bool = False,
) -> WorkPrecision:
    """Measure value and gradient error against work for several solvers.

    **Arguments:**

    - `problem`: a `Problem`, or a problem name / path.
    - `solvers`: solver names (`"arnoldi"`, `"lanczos"`, `"METHOD+ADJOINT"`), or
      `(label, factory)` pairs where `factory(level)` returns a solver object.
    - `levels`: the work levels: Krylov depth, or number of fixed steps.
    - `tolerances`: instead of `levels`, sweep by tolerance: every named solver at each
      `rtol` (Krylov tolerance mode; Diffrax's PID controller with `atol = rtol`); the
      rows' `level` is the tolerance.
    - `key`: PRNG key of the data point (default `PRNGKey(0)`).
    - `repeats`: best-of-`repeats` wall time of the jitted value-and-gradient.
    - `reference`, `check`: solver objects for the reference and its check at another
      resolution (default: Dopri8 with 256 and with 192 fixed steps).
    - `weights`: the loss weights `w`: `"uniform"` (the paper's), `"normal"` or `"ones"`.
    - `progress`: show a progress bar.

    **Returns:** a `WorkPrecision`. A `UserWarning` is issued when some reported errors
    are not resolved by the reference (their rows have `resolved = False`).

    **Raises:** `ValueError` naming `solvers` when none of them gives a row (all skipped
    for the operator, or failed), with each one's reason.
    """
    if not isinstance(problem, Problem):
        problem = load_problem(problem)
    if tolerances is not None:
        levels = _check_tolerances(tolerances)
        if any(not isinstance(item, str) for item in solvers):
            raise TypeError("solvers: a sweep by tolerance takes solver names")
        solvers = [(name, functools.partial(_solver_at_tolerance, name)) for name in solvers]
    else:
        levels = _check_levels(levels)
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
        raise ValueError(f"repeats: expected an int >= 1, got {repeats!r}")
    factories = _solver_factories(solvers)
    key = jax.random.PRNGKey(0) if key is None else key
    coefficient, y0, w = data_point(problem, key, weights)
    default_reference, default_check = reference_solvers()
    reference = default_reference if reference is None else reference
    check = default_check if check is None else check

    (value_ref, _), gradient_ref = loss_value_and_gradient(problem, reference, y0, w)(coefficient)
    (value_check, _), gradient_check = loss_value_and_gradient(problem, check, y0, w)(coefficient)
    gaps = {
        "value_gap": relative_error(value_check, value_ref),
        "gradient_gap": relative_error(gradient_check, gradient_ref),
    }

    rows, skipped, failed = [], {}, {}
    work = [(label, factory, level) for label, factory in factories for level in levels]
    work = _io.progress_bar(work, enabled=progress, desc="work-precision", unit="solve")
    operator = problem.operator(coefficient)
    for label, factory, level in work:
        if label in skipped:
            continue
        solver = factory(level)
        try:
            solver.check_operator(operator)
        except ValueError as reason:
            skipped[label] = str(reason)
            continue
        if getattr(solver, "depth", None) is not None and solver.depth > math.prod(operator.state_shape):
            continue  # deeper than the state: the Krylov space is already exhausted
        function = loss_value_and_gradient(problem, solver, y0, w)
        try:
            (value, matvecs), gradient = function(coefficient)
        except jax.errors.JaxRuntimeError as error:  # e.g. a step budget that ran out
            failed[label, level] = _runtime_reason(error)
            continue
        # compiled by the call above
        seconds = best_times({"run": lambda: function(coefficient)}, repeats, warm_up=False)["run"]
        value_error = relative_error(value, value_ref)
        gradient_error = relative_error(gradient, gradient_ref)
        diverged = not (
            math.isfinite(value_error) and math.isfinite(gradient_error) and gradient_error <= DIVERGED
        )
        rows.append(WorkPrecisionRow(
            solver=label,
            level=level,
            matvecs=int(matvecs),
            seconds=seconds,
            value_error=value_error,
            gradient_error=gradient_error,
            resolved=bool(
                value_error >= RESOLUTION_FACTOR * gaps["value_gap"]
                and gradient_error >= RESOLUTION_FACTOR * gaps["gradient_gap"]
            ),
            value=float(value),
            diverged=diverged,
        ))
    if not rows:  # nothing to compare: refuse rather than write empty tables
        reasons = {**skipped, **{f"{label} at {level:g}": reason for (label, level), reason in failed.items()}}
        said = "; ".join(f"{label}: {reason}" for label, reason in reasons.items()) or "every level exceeds the state size"
        raise ValueError(f"solvers: none of them could run on {problem.name} ({said})")
    _warn_about_diverged(rows, problem)
    for (label, level), reason in failed.items():
        warnings.warn(f"{label} at {level:g} failed, left out: {reason}", stacklevel=2)
    unresolved = sum(not row.resolved and not row.diverged for row in rows)
    message = (
        f"reference {_describe(reference)} and check {_describe(check)} differ by "
        f"{gaps['value_gap']:.1e} (value) and {gaps['gradient_gap']:.1e} (gradient)"
    )
    if unresolved:
        message += (
            f"; {unresolved} of {len(rows)} rows have errors below {RESOLUTION_FACTOR:g}x that "
            f"(resolved = False): the reference cannot confirm them"
        )
        warnings.warn(message, stacklevel=2)
    reference_info = {"reference": _describe(reference), "check": _describe(check), **gaps, "message": message}
    return WorkPrecision(rows, reference_info, skipped)


def save_workprecision(result: WorkPrecision, out, *, force: bool = False):
    """Write `workprecision.csv`, `workprecision.json` and `workprecision.png` into the
    folder `out` (atomically).

    The CSV is a plain table of the `COLUMNS`; the JSON beside it holds the reference
    check (`reference`), the skipped solvers and why (`skipped`), the machine and the
    package versions.

    **Returns:** the three paths.
    """
    from .. import plot  # matplotlib only when the figure is made

    out = Path(out)
    paths = (out / CSV_FILE, out / METADATA_FILE, out / FIGURE_FILE)
    if not force:
        for path in paths:
            if path.exists():
                raise FileExistsError(f"{path} exists (use --force to replace it)")
    metadata = {
        "reference": result.reference, "skipped": result.skipped,
        "machine": machine_info(), "versions": package_versions(),
    }
    _io.write_table(paths[0], COLUMNS, [row.as_dict() for row in result.rows], metadata, force=force)
    _io.save_figure(plot.workprecision_figure(result.rows), paths[2], force=force)
    return paths


def _solver_factories(solvers):
    factories = []
    for item in solvers:
        if isinstance(item, str):
            name = item
            option = work_parameter(name)  # also validates the name
            factories.append((name, lambda level, name=name, option=option: solver_from_name(name, **{option: level})))
        elif isinstance(item, tuple) and len(item) == 2 and callable(item[1]):
            factories.append((str(item[0]), item[1]))
        else:
            raise TypeError(f"solvers: expected solver names or (label, factory) pairs, got {item!r}")
    if not factories:
        raise ValueError("solvers: expected at least one solver")
    return factories


def _runtime_reason(error) -> str:
    """The message of an error raised inside a jitted computation (`eqx.error_if`)."""
    lines = [line for line in str(error).splitlines() if "RuntimeError:" in line]
    return lines[-1].split("RuntimeError:", 1)[1].strip() if lines else str(error).splitlines()[0]


def _solver_at_tolerance(name, rtol):
    return solver_from_name(name, rtol=rtol)


def _check_tolerances(tolerances):
    tolerances = tuple(check_tolerance("tolerances", t) for t in tolerances)
    if not tolerances:
        raise ValueError("tolerances: expected at least one tolerance")
    return tuple(sorted(set(tolerances), reverse=True))


def _warn_about_diverged(rows, problem):
    """One warning naming the diverged rows, and the likely cause for backsolve ones."""
    diverged = sorted({row.solver for row in rows if row.diverged})
    if not diverged:
        return
    message = f"diverged (non-finite, or gradient error > {DIVERGED:g}): {', '.join(diverged)}"
    if any("backsolve" in label for label in diverged) and isinstance(problem.pde, DISSIPATIVE_PDES):
        message += (
            "; BacksolveAdjoint integrates the state backwards in time alongside the adjoint, "
            "which is unstable for a dissipative PDE (diffusion): use recursive-checkpoint"
        )
    warnings.warn(message, stacklevel=3)


def _check_levels(levels):
    levels = tuple(levels)
    if not levels or any(isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1 for v in levels):
        raise ValueError(f"levels: expected positive integers, got {levels!r}")
    return tuple(sorted(set(int(v) for v in levels)))


def _describe(solver):
    if isinstance(solver, Diffrax):
        if solver.steps is None:
            return f"{type(solver.solver).__name__} at rtol {solver.rtol:g}"
        return f"{type(solver.solver).__name__} with {solver.steps} steps"
    if solver.adaptive:
        return f"{type(solver).__name__} at rtol {solver.rtol:g}"
    return f"{type(solver).__name__} depth {solver.depth} x {solver.substeps}"
