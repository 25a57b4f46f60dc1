"""The `solve` measurement: time to a gradient tolerance through `pk.solve`, Krylov
solvers against Diffrax, on the same problem and reference (one work-precision study)."""

import dataclasses
import functools
import warnings
from collections.abc import Callable

import diffrax
import jax

from ...solvers import Arnoldi, Diffrax, Lanczos
from .._measure import best_times
from .._workprecision import data_point, loss_value_and_gradient, workprecision
from ._problems import SOLVE_SPEED_OFFSET, solve_problem
from ._rows import BenchRow, comparison

GOAL_VS_DIFFRAX = 0.5  # fastest Krylov / fastest Diffrax, both at the gradient tolerance
GRADIENT_TOLERANCE = 1e-6  # relative gradient error a `solve` configuration must reach


@dataclasses.dataclass(frozen=True)
class SolveFamily:
    """Configurations of one solver family for the `solve` measurement.

    - `label`: the family's name in the table.
    - `krylov`: whether it is a Krylov family (compared with the best Diffrax one).
    - `make`: `size -> solver object`, size a depth (Krylov) or a step count (Diffrax).
    - `sizes`: the sizes tried, increasing.
    - `describe`: `size -> text`, the configuration in the table.
    """

    label: str
    krylov: bool
    make: Callable
    sizes: tuple
    describe: Callable


def solve_families() -> tuple:
    """The `solve` configurations: a few sizes around each family's frontier.

    Version 0.1's `examples/bench_solve.py` found, for its c ~ 0.05 wave (128 x 128), the
    fastest configurations at 1e-6 gradient error to be Lanczos depth 8 x 4 substeps, Arnoldi
    depth 20 x 3, Dopri5 40 steps and Tsit5 30 steps. On the `solve_problem` field the
    Diffrax frontiers lie higher (first full run: Dopri5 fails at 40 steps with 2e-6 and
    passes at 56, Tsit5 fails at 30 with 3e-6 and passes at 40), so their lists start at
    the old frontier and step by about 10 %: the frontier is bracketed to that resolution
    (a smallest size that fails shows it). Compilation dominates the run time, so the
    lists are short; every family has as many sizes (one workprecision call).
    """

    def diffrax_family(label, method, adjoint, sizes):
        return SolveFamily(
            label, False, lambda steps: Diffrax(method(), steps=steps, adjoint=adjoint()),
            sizes, lambda steps: f"{steps} steps",
        )

    def krylov_family(label, solver, substeps, sizes):
        return SolveFamily(
            label, True, lambda depth: solver(depth, substeps=substeps), sizes,
            lambda depth: f"depth {depth} x {substeps} substeps",
        )

    return (
        krylov_family("Lanczos", Lanczos, 4, (7, 8, 10, 12)),
        krylov_family("Arnoldi", Arnoldi, 3, (18, 20, 24, 28)),
        diffrax_family(
            "Diffrax Dopri5 + backsolve", diffrax.Dopri5, diffrax.BacksolveAdjoint, (40, 44, 48, 56),
        ),
        diffrax_family(
            "Diffrax Tsit5 + recursive checkpoint", diffrax.Tsit5, diffrax.RecursiveCheckpointAdjoint,
            (30, 34, 38, 44),
        ),
    )


def measure_solve(n: int, repeats: int, families=None) -> list[BenchRow]:
    """Rows 3: time to a relative gradient error <= 1e-6, Krylov against Diffrax.

    One `pk.study.workprecision` run (one reference for all families): its work levels
    1, 2, ... index each family's `sizes`, so families try different sizes in one call.
    Per family, the smallest size whose gradient error is <= 1e-6 is its fastest passing
    configuration (at fixed substeps, cost grows with the size; choosing by size, not by
    the measured times, keeps noise out of the choice). workprecision times every
    configuration on its own, right after compiling it; these winners are timed again
    here, interleaved, so that load drift on a shared machine hits all of them alike.

    **Arguments:**

    - `n`: grid points per axis.
    - `repeats`: best-of-n wall time, in workprecision and in the interleaved rounds.
    - `families`: `SolveFamily` objects (default `solve_families()`), all with as many
      sizes.

    **Returns:** one row per family: Krylov families against the fastest Diffrax one
    (goal <= 0.5), Diffrax families as information.
    """
    families = solve_families() if families is None else tuple(families)
    levels = range(1, len(families[0].sizes) + 1)
    if any(len(family.sizes) != len(levels) for family in families):
        raise ValueError("families: expected the same number of sizes in every family")
    solvers = [(family.label, lambda level, f=family: f.make(f.sizes[level - 1])) for family in families]
    problem = solve_problem(n)
    key = jax.random.PRNGKey(0)
    with warnings.catch_warnings():
        # rows below the reference's accuracy floor are flagged in `resolved`; the best
        # rows here only need to be below the tolerance, far above that floor
        warnings.simplefilter("ignore", UserWarning)
        result = workprecision(problem, solvers, levels, key=key, repeats=repeats)
    best = {family.label: _smallest_passing(result.rows, family.label) for family in families}
    seconds = _retime(problem, key, families, best, repeats)
    best = {label: row if row is None else dataclasses.replace(row, seconds=seconds[label]) for label, row in best.items()}
    setting = (
        f"<w, y(1)> and d/dc, {problem.name} (c = GRF draw + {SOLVE_SPEED_OFFSET:g}), float64; "
        f"per family the smallest size with gradient error <= {GRADIENT_TOLERANCE:g}, timed "
        f"interleaved; reference {result.reference['reference']} (gradient gap to its check "
        f"{result.reference['gradient_gap']:.0e})"
    )
    diffrax_best = [(f, best[f.label]) for f in families if not f.krylov and best[f.label] is not None]
    peer = min(diffrax_best, key=lambda pair: pair[1].seconds) if diffrax_best else None
    return [_solve_row(family, best[family.label], peer, result.rows, setting) for family in families]


def _solve_row(family: SolveFamily, best, peer, rows, setting) -> BenchRow:
    """The `solve` row of one family: Krylov against the fastest Diffrax (`peer`, a pair
    (family, row) or None), Diffrax as information."""
    measurement = f"solve to grad err {GRADIENT_TOLERANCE:g}: {family.label}"
    errors = ", ".join(
        f"{family.sizes[r.level - 1]}: {r.gradient_error:.0e} ({r.seconds * 1e3:.0f} ms)"
        for r in rows if r.solver == family.label
    )
    if best is None:
        return comparison(
            measurement, setting, family.label, "", None, "", None,
            note=f"no size reached it; gradient error (workprecision's time) by size: {errors}",
        )
    ours = f"{family.label} {family.describe(family.sizes[best.level - 1])}"
    note = f"{best.matvecs} forward matvecs; gradient error (workprecision's time) by size: {errors}"
    if not family.krylov or peer is None:
        return comparison(measurement, setting, ours, "", None, "", None, note=note, ours_seconds=best.seconds)
    peer_family, peer_row = peer
    ratio = best.seconds / peer_row.seconds
    return comparison(
        f"{measurement} / best Diffrax", setting, ours,
        f"{peer_family.label} {peer_family.describe(peer_family.sizes[peer_row.level - 1])}",
        ratio, f"<= {GOAL_VS_DIFFRAX:g}", ratio <= GOAL_VS_DIFFRAX, note=note,
        ours_seconds=best.seconds, peer_seconds=peer_row.seconds,
    )


def _smallest_passing(rows, label):
    passing = [r for r in rows if r.solver == label and r.gradient_error <= GRADIENT_TOLERANCE]
    return min(passing, key=lambda row: row.level) if passing else None


def _retime(problem, key, families, best, repeats) -> dict:
    """Interleaved best-of-`repeats` value-and-gradient time of each family's `best` row
    (on the same data point as workprecision's), by family label."""
    coefficient, y0, w = data_point(problem, key)
    calls = {}
    for family in families:
        if best[family.label] is not None:
            solver = family.make(family.sizes[best[family.label].level - 1])
            function = loss_value_and_gradient(problem, solver, y0, w)
            calls[family.label] = functools.partial(function, coefficient)
    return best_times(calls, repeats)
