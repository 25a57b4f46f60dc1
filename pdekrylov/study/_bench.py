"""`pdekrylov bench`: pdekrylov's performance table, every row measured in one run.

Absolute times on a shared machine are noisy, so every row compares two things timed in
the same run (interleaved where the row's own functions are timed here) and the ratio is
what the row reports. The measurements (`MEASUREMENTS`), all float64 on the 128 x 128
Neumann wave operator unless said otherwise:

- `adjoint`: value-and-gradient time of `pk.arnoldi` + `pk.expm_action` over the
  forward time, depth 50 (goal <= 2.5); and, when matfree is installed, pdekrylov's
  value-and-gradient time over matfree's (`decomp.hessenberg` with its custom VJP, the
  reference implementation of the same adjoint; goal <= 0.5).
- `solve`: the fastest configuration whose relative gradient error is <= 1e-6, per
  solver family (Lanczos, Arnoldi, Diffrax Dopri5 + backsolve, Diffrax Tsit5 + recursive
  checkpoint), from `pk.study.workprecision`; Krylov time over the best Diffrax time
  (goal <= 0.5).
- `expm`: forward `exp(tA) v` at t = 1 against `scipy.sparse.linalg.expm_multiply` on the
  assembled sparse matrix, at the accuracy expm_multiply reaches: the smallest Arnoldi
  depth that reaches it with one decomposition, and with sub-intervals.
- `scaling`: value-and-gradient time and compiled memory at a fixed depth on growing
  grids, per state entry, relative to the smallest grid (goal: linear in N).

`run_bench` returns the rows, `format_bench` prints them, `save_bench` writes the CSV.
"""

import csv
import dataclasses
import functools
import importlib.metadata
import math
import warnings
from collections.abc import Callable
from pathlib import Path

import diffrax
import jax
import jax.numpy as jnp
import numpy as np
import scipy.linalg
import scipy.sparse
import scipy.sparse.linalg
import threadpoolctl

from .. import _io
from .._grid import Grid
from .._operators import WaveOperator
from .._solve import solve
from ..krylov import arnoldi, expm, expm_action
from ..problems import load_problem
from ..solvers import Arnoldi, Diffrax, Lanczos
from ._measure import (
    best_times,
    compile_for,
    machine_info,
    max_relative_difference,
    memory_bytes,
    relative_error,
)
from ._workprecision import data_point, loss_value_and_gradient, workprecision

CSV_FILE = "bench.csv"
COLUMNS = (
    "measurement", "setting", "ours", "ours_seconds", "ours_bytes", "peer", "peer_seconds",
    "peer_bytes", "ratio", "goal", "status", "note",
)
#: the measurement groups, in the order they run and print
MEASUREMENTS = ("adjoint", "solve", "expm", "scaling")

GOAL_ADJOINT_RATIO = 2.5  # value+grad / forward
GOAL_VS_MATFREE = 0.5  # pdekrylov value+grad / matfree value+grad
GOAL_VS_DIFFRAX = 0.5  # fastest Krylov / fastest Diffrax, both at the gradient tolerance
GRADIENT_TOLERANCE = 1e-6  # relative gradient error a `solve` configuration must reach
#: per-entry time and memory count as linear in N while within this factor of the
#: smallest grid's (the goal "ratios ~ 1" made checkable)
SCALING_TOLERANCE = 1.5
#: `solve`: the wave-paper speed field plus this offset (c ~ 0.04-0.06, as in
#: examples/bench_solve.py, where the wave is oscillatory enough for gradients to be hard)
SOLVE_SPEED_OFFSET = 0.05
#: `expm`: errors below this many times the gap between two accurate references (the
#: rounding floor) count as equal
ROUNDING_FACTOR = 2.0


# ---------------------------------------------------------------- the benchmark problem


@dataclasses.dataclass(frozen=True)
class WaveBenchProblem:
    """A Neumann wave operator with a start vector `y0` and loss weights `w`."""

    op: WaveOperator
    y0: jax.Array
    w: jax.Array

    @property
    def size(self) -> int:
        """N, the number of state entries."""
        return self.y0.size


def wave_problem(n: int, seed: int = 0) -> WaveBenchProblem:
    """The `adjoint`, `expm` and `scaling` problem on an n x n grid (float64).

    Speed `0.05 + 0.01 sin(3x) cos(2y)` (smooth, no zero), `y0 ~ N(0, 1)` (every mode
    excited: the hard case for a Krylov method), `w ~ U[0, 1)`: the problem of
    `examples/bench_krylov.py` (same speed and distributions, drawn by NumPy).

    **Arguments:**

    - `n`: grid points per axis.
    - `seed`: seed of `y0` and `w`.

    **Returns:** a `WaveBenchProblem`.
    """
    grid = Grid((n, n))
    x = grid.coordinates(jnp.float64)
    speed = 0.05 + 0.01 * jnp.sin(3 * x[0]) * jnp.cos(2 * x[1])
    op = WaveOperator(grid, speed, "neumann")
    # NumPy's generator: JAX's would compile a program per grid size (seconds each)
    rng = np.random.default_rng(seed)
    y0 = jnp.asarray(rng.standard_normal(op.state_shape))
    w = jnp.asarray(rng.uniform(size=op.state_shape))
    return WaveBenchProblem(op, y0, w)


def spectral_radius_bound(op: WaveOperator) -> float:
    """An upper bound on the spectral radius of the wave operator's matrix.

    Its eigenvalues are `±i sqrt(mu)` with `mu` the eigenvalues of `-c^2 lap`, and
    Gershgorin bounds those by `max(c^2) * 4 * sum(1 / h^2)`.
    """
    inverse_h2 = sum(1 / h**2 for h in op.grid.spacing)
    return math.sqrt(4 * inverse_h2 * float(jnp.max(op.speed**2)))


# ---------------------------------------------------------------- rows


def _row(measurement, setting, ours, peer, ratio, goal, met, note="", **values) -> dict:
    """A table row; `met` is True / False against the goal, or None where there is none."""
    status = "info" if met is None else ("met" if met else "not met")
    row = dict.fromkeys(COLUMNS, "")
    row.update(
        measurement=measurement, setting=setting, ours=ours, peer=peer, ratio=ratio,
        goal=goal, status=status, note=note, **values,
    )
    return row


# ---------------------------------------------------------------- adjoint and matfree


def _pdekrylov_objective(problem: WaveBenchProblem, depth: int):
    """`op -> <w, exp(A) y0>` from a depth-K `pk.arnoldi` decomposition."""

    def objective(op):
        decomposition = arnoldi(lambda y, op: op(y), problem.y0, depth, op)
        return jnp.vdot(problem.w.ravel(), expm_action(decomposition, 1.0).values[0])

    return objective


def _matfree_objective(problem: WaveBenchProblem, depth: int):
    """The same objective from matfree's Hessenberg decomposition and its custom VJP."""
    from matfree import decomp

    hessenberg = decomp.hessenberg(depth, reortho="full", custom_vjp=True)

    def objective(op):
        # matfree returns the basis as (K, *state) and c = 1 / ||y0||
        basis, small, _, inverse_norm = hessenberg(lambda y, op: op(y), problem.y0, op)
        coefficients = expm(small)[:, 0]  # the same small exponential as ours
        return jnp.vdot(problem.w, jnp.tensordot(coefficients, basis, axes=1)) / inverse_norm

    return objective


def _matfree_version():
    """matfree's version, or None when it cannot be imported."""
    try:
        import matfree.decomp  # noqa: F401
    except ImportError:
        return None
    return importlib.metadata.version("matfree")


def measure_adjoint(problem: WaveBenchProblem, depth: int, repeats: int) -> list:
    """Rows 1 and 2: adjoint / forward cost, and pdekrylov against matfree.

    **Arguments:**

    - `problem`: the wave problem (`wave_problem(n)`).
    - `depth`: the Krylov depth K.
    - `repeats`: timed rounds (best of).

    **Returns:** two rows (the matfree row says so when matfree is not installed).
    """
    n = problem.op.grid.shape[0]
    setting = f"<w, exp(A) y0>, wave {n}x{n} neumann, N = {problem.size}, float64, depth {depth}"
    objective = _pdekrylov_objective(problem, depth)
    calls = {
        "forward": compile_for(objective, problem.op),
        "value+grad": compile_for(jax.value_and_grad(objective), problem.op),
    }
    matfree = _matfree_version()
    if matfree is not None:
        calls["matfree"] = compile_for(jax.value_and_grad(_matfree_objective(problem, depth)), problem.op)
    seconds = best_times({name: (lambda f=f: f(problem.op)) for name, f in calls.items()}, repeats)
    ratio = seconds["value+grad"] / seconds["forward"]
    ours_bytes = memory_bytes(calls["value+grad"])
    rows = [_row(
        "adjoint / forward cost", setting, "pk.arnoldi + expm_action value+grad",
        "same, forward only", ratio, f"<= {GOAL_ADJOINT_RATIO:g}", ratio <= GOAL_ADJOINT_RATIO,
        ours_seconds=seconds["value+grad"], peer_seconds=seconds["forward"],
        ours_bytes=ours_bytes,
    )]
    if matfree is None:
        rows.append(_row("vs matfree", setting, "pk value+grad", "matfree", "", f"<= {GOAL_VS_MATFREE:g}",
                         None, note="matfree not installed"))
        return rows
    _, ours = calls["value+grad"](problem.op)
    _, theirs = calls["matfree"](problem.op)
    difference = max_relative_difference(ours.speed, theirs.speed)
    ratio = seconds["value+grad"] / seconds["matfree"]
    rows.append(_row(
        "vs matfree", setting, "pk value+grad", f"matfree {matfree} hessenberg value+grad",
        ratio, f"<= {GOAL_VS_MATFREE:g}", ratio <= GOAL_VS_MATFREE,
        note=f"gradients agree to {difference:.1e} (max relative difference)",
        ours_seconds=seconds["value+grad"], peer_seconds=seconds["matfree"],
        ours_bytes=ours_bytes,
        peer_bytes=memory_bytes(calls["matfree"]),
    ))
    return rows


# ---------------------------------------------------------------- solve vs Diffrax


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

    `examples/bench_solve.py` found, for its c ~ 0.05 wave (128 x 128), the fastest
    configurations at 1e-6 gradient error to be Lanczos depth 8 x 4 substeps, Arnoldi
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


def solve_problem(n: int):
    """The `solve` problem: wave-paper on an n x n grid, speed shifted by 0.05.

    wave-paper's speed is a small random field (c ~ ±0.007): so slow that the solution
    barely oscillates by t = 1. Shifting it by `SOLVE_SPEED_OFFSET` gives c ~ 0.04-0.06,
    the regime of `examples/bench_solve.py`, where accurate gradients need real work.
    """
    problem = load_problem("wave-paper")
    coefficient = {**problem.coefficient, "offset": problem.coefficient["offset"] + SOLVE_SPEED_OFFSET}
    return dataclasses.replace(
        problem, grid={**problem.grid, "shape": [n, n]}, coefficient=coefficient,
        name=f"wave-paper {n}x{n}, speed + {SOLVE_SPEED_OFFSET:g}",
    )


def measure_solve(n: int, repeats: int, families=None) -> list:
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
    best = {label: row if row is None else {**row, "seconds": seconds[label]} for label, row in best.items()}
    setting = (
        f"<w, y(1)> and d/dc, {problem.name} (c = GRF draw + {SOLVE_SPEED_OFFSET:g}), float64; "
        f"per family the smallest size with gradient error <= {GRADIENT_TOLERANCE:g}, timed "
        f"interleaved; reference {result.reference['reference']} (gradient gap to its check "
        f"{result.reference['gradient_gap']:.0e})"
    )
    diffrax_best = [(f, best[f.label]) for f in families if not f.krylov and best[f.label] is not None]
    peer = min(diffrax_best, key=lambda pair: pair[1]["seconds"]) if diffrax_best else None
    return [_solve_row(family, best[family.label], peer, result.rows, setting) for family in families]


def _solve_row(family: SolveFamily, best, peer, rows, setting) -> dict:
    """The `solve` row of one family: Krylov against the fastest Diffrax (`peer`, a pair
    (family, row) or None), Diffrax as information."""
    measurement = f"solve to grad err {GRADIENT_TOLERANCE:g}: {family.label}"
    errors = ", ".join(
        f"{family.sizes[r['level'] - 1]}: {r['gradient_error']:.0e} ({r['seconds'] * 1e3:.0f} ms)"
        for r in rows if r["solver"] == family.label
    )
    if best is None:
        return _row(measurement, setting, family.label, "", "", "", None,
                    note=f"no size reached it; gradient error (workprecision's time) by size: {errors}")
    ours = f"{family.label} {family.describe(family.sizes[best['level'] - 1])}"
    note = f"{best['matvecs']} forward matvecs; gradient error (workprecision's time) by size: {errors}"
    if not family.krylov or peer is None:
        return _row(measurement, setting, ours, "", "", "", None, note=note, ours_seconds=best["seconds"])
    peer_family, peer_row = peer
    ratio = best["seconds"] / peer_row["seconds"]
    return _row(
        f"{measurement} / best Diffrax", setting, ours,
        f"{peer_family.label} {peer_family.describe(peer_family.sizes[peer_row['level'] - 1])}",
        ratio, f"<= {GOAL_VS_DIFFRAX:g}", ratio <= GOAL_VS_DIFFRAX, note=note,
        ours_seconds=best["seconds"], peer_seconds=peer_row["seconds"],
    )


def _smallest_passing(rows, label):
    passing = [r for r in rows if r["solver"] == label and r["gradient_error"] <= GRADIENT_TOLERANCE]
    return min(passing, key=lambda row: row["level"]) if passing else None


def _retime(problem, key, families, best, repeats) -> dict:
    """Interleaved best-of-`repeats` value-and-gradient time of each family's `best` row
    (on the same data point as workprecision's), by family label."""
    coefficient, y0, w = data_point(problem, key)
    calls = {}
    for family in families:
        if best[family.label] is not None:
            solver = family.make(family.sizes[best[family.label]["level"] - 1])
            function = loss_value_and_gradient(problem, solver, y0, w)
            calls[family.label] = functools.partial(function, coefficient)
    return best_times(calls, repeats)


# ---------------------------------------------------------------- exp(tA) v vs SciPy


def _arnoldi_forward(problem: WaveBenchProblem, t: float, depth: int, substeps: int, saveat=None):
    """A jitted `() -> states` by `pk.solve` with `pk.Arnoldi(depth, substeps)`.

    **Returns:** a zero-argument callable; its result has a leading axis of save times
    (`saveat`, default just `t`).
    """
    solver = Arnoldi(depth, substeps=substeps)
    function = jax.jit(lambda op, y0: solve(op, y0, t, solver, saveat=saveat).ys)
    return lambda: function(problem.op, problem.y0)


def nested_errors(problem: WaveBenchProblem, times, references, max_depth: int) -> np.ndarray:
    """Errors of `exp(tau A) y0` from one Arnoldi decomposition at every depth at once.

    The Arnoldi iteration is nested: the depth-k decomposition is the leading part of a
    deeper one (the first k basis vectors, the leading k x k block of H). So one
    decomposition of depth `max_depth` gives the approximation `||y0|| Q_k exp(tau H_k) e_1`
    of every depth k, for every time, without compiling one program per depth.

    **Arguments:**

    - `problem`: the wave problem (A and y0).
    - `times`: the times tau.
    - `references`: accurate `exp(tau A) y0`, one per time.
    - `max_depth`: the deepest depth (at most N).

    **Returns:** an array `(len(times), max_depth)`; entry `[i, k - 1]` is the relative
    error at time `times[i]` and depth k.
    """
    decompose = jax.jit(lambda op, y0: arnoldi(lambda y, op: op(y), y0, max_depth, op))
    decomposition = decompose(problem.op, problem.y0)
    basis = np.asarray(decomposition.basis)
    small, norm = np.asarray(decomposition.hessenberg), float(decomposition.norm)
    errors = np.empty((len(times), max_depth))
    for k in range(1, max_depth + 1):
        for i, (tau, reference) in enumerate(zip(times, references)):
            approximation = norm * basis[:, :k] @ scipy.linalg.expm(tau * small[:k, :k])[:, 0]
            errors[i, k - 1] = relative_error(approximation, reference)
    return errors


def measure_expm(problem: WaveBenchProblem, repeats: int, t: float = 1.0, substeps=(2, 4, 8),
                 max_depth: int = 120) -> list:
    """Rows 4: forward `exp(tA) y0` against `scipy.sparse.linalg.expm_multiply`.

    The reference is a deep, finely sub-stepped Arnoldi solve (sub-intervals of length
    `2 / spectral radius bound`, depth 30), checked against a second one at another
    resolution; expm_multiply's error against it is the accuracy to reach (or, if larger,
    `ROUNDING_FACTOR` times the two references' gap: the rounding floor). For one
    decomposition and for each number of `substeps`, the smallest depth whose `pk.solve`
    reaches it is found (`_smallest_depth`); these and expm_multiply are timed
    interleaved. If one decomposition cannot reach it at any depth (its error levels off
    where rounding in the long recurrence dominates), its row reports the smallest depth
    at that level instead, and says so.

    **Arguments:**

    - `problem`: the wave problem.
    - `repeats`: timed rounds (best of).
    - `t`: the time.
    - `substeps`: the numbers of sub-intervals tried besides one.
    - `max_depth`: the deepest depth searched (capped at N).

    **Returns:** two rows, each against expm_multiply: one decomposition, and the fastest
    configuration with sub-intervals.
    """
    matrix = t * problem.op.as_sparse_matrix()
    start = np.asarray(problem.y0, np.float64).ravel()
    controller = threadpoolctl.ThreadpoolController()

    def scipy_call():
        return scipy.sparse.linalg.expm_multiply(matrix, start)

    def scipy_one_thread():
        # NumPy's BLAS threads do nothing useful here (the work is single-threaded sparse
        # products), but they spin when another process holds a core: measured 4-8x
        # slower on this 2-core machine under load. SciPy gets the faster of the two.
        with controller.limit(limits=1, user_api="blas"):
            return scipy_call()

    counts = (1, *substeps)
    times = [t / count for count in counts]
    references, floor, pieces = _expm_references(problem, t, times)
    scipy_error = relative_error(scipy_call(), references[0])
    # below a few times the references' own disagreement, errors are rounding noise that
    # no method controls: there the accuracies count as equal
    target = max(scipy_error, ROUNDING_FACTOR * floor)
    max_depth = min(max_depth, problem.size)
    first_errors = nested_errors(problem, times, references, max_depth)
    solves = _ArnoldiSolves(problem, t, references[0])
    found = {}
    for count, errors in zip(counts, first_errors):
        depth = _smallest_depth(solves, count, errors, target, max_depth)
        if depth is not None:
            found[depth, count] = solves.call(depth, count)
    single = [key for key in found if key[1] == 1]
    if not single:  # one decomposition never reaches the target: report its best level
        level = 2 * float(np.min(first_errors[0]))
        single = [(int(np.flatnonzero(first_errors[0] <= level)[0]) + 1, 1)]
        found[single[0]] = solves.call(*single[0])
    seconds = best_times({"scipy": scipy_call, "scipy 1": scipy_one_thread, **found}, repeats)
    winner = "default" if seconds["scipy"] <= seconds["scipy 1"] else "one thread"
    seconds["scipy"] = min(seconds["scipy"], seconds["scipy 1"])
    n = problem.op.grid.shape[0]
    setting = (
        f"exp(tA) y0, t = {t:g}, wave {n}x{n} neumann, y0 ~ N(0, 1), float64; accuracy to reach "
        f"{target:.1e} = max(expm_multiply's error {scipy_error:.1e}, {ROUNDING_FACTOR:g} x the "
        f"rounding floor {floor:.0e}), against a depth-30 x {pieces}-substep Arnoldi reference; "
        f"SciPy timed with its default BLAS threads and with one, the faster counts ({winner})"
    )
    substepped = [key for key in found if key[1] > 1]
    rows = [_expm_row("exp(tA)v vs scipy: one Arnoldi decomposition", single, seconds, solves, target)]
    if substepped:
        rows.append(
            _expm_row("exp(tA)v vs scipy: Arnoldi with substeps", substepped, seconds, solves, target)
        )
    else:
        rows.append(_row("exp(tA)v vs scipy: Arnoldi with substeps", "", "pk.solve Arnoldi",
                         "scipy expm_multiply (CSR)", "", "", None, peer_seconds=seconds["scipy"],
                         note=f"no depth <= {max_depth} reached {target:.1e} with {substeps} substeps"))
    for row in rows:
        row["setting"] = setting
    return rows


def _expm_row(name, keys, seconds, solves, target) -> dict:
    """The row of the fastest of the configurations `keys` ((depth, substeps) pairs)."""
    depth, count = min(keys, key=lambda key: seconds[key])
    error = solves.error(depth, count)
    note = f"error {error:.1e}"
    if error > target:
        note += (f": one decomposition does not reach {target:.1e} (its error levels off, "
                 f"rounding in the long recurrence); this is the smallest depth near its best level")
    others = [
        f"{_krylov_config(d, c)}: {seconds[d, c] * 1e3:.1f} ms" for d, c in keys if (d, c) != (depth, count)
    ]
    if others:
        note += f"; also reaching it: {', '.join(others)}"
    return _row(
        name, "", f"pk.solve Arnoldi {_krylov_config(depth, count)}", "scipy expm_multiply (CSR)",
        seconds[depth, count] / seconds["scipy"], "", None, note=note,
        ours_seconds=seconds[depth, count], peer_seconds=seconds["scipy"],
    )


def _expm_references(problem: WaveBenchProblem, t: float, times):
    """Accurate `exp(tau A) y0` for every tau in `times` (whose first entry is `t`).

    **Returns:** `(references, floor, pieces)`: the states, the relative gap at `t` to a
    check at another resolution (the rounding floor), and the reference's substeps
    (sub-intervals of length about 2 / spectral radius, where depth 30 is exact).
    """
    pieces = max(1, math.ceil(spectral_radius_bound(problem.op) * t / 2))
    save_times = sorted(set(times))
    states = np.asarray(_arnoldi_forward(problem, t, 30, pieces, saveat=save_times)())
    references = [states[save_times.index(tau)] for tau in times]
    check = np.asarray(_arnoldi_forward(problem, t, 24, 2 * pieces)())[-1]
    return references, relative_error(check, references[0]), pieces


class _ArnoldiSolves:
    """`pk.solve` with `pk.Arnoldi(depth, substeps)` up to `t`, compiled once per
    configuration, with its relative error against `reference`."""

    def __init__(self, problem, t, reference):
        self.problem, self.t, self.reference = problem, t, reference
        self.calls, self.errors = {}, {}

    def call(self, depth, count):
        if (depth, count) not in self.calls:
            self.calls[depth, count] = _arnoldi_forward(self.problem, self.t, depth, count)
        return self.calls[depth, count]

    def error(self, depth, count):
        if (depth, count) not in self.errors:
            self.errors[depth, count] = relative_error(self.call(depth, count)()[-1], self.reference)
        return self.errors[depth, count]


def _smallest_depth(solves: _ArnoldiSolves, count, first_errors, target, max_depth):
    """The smallest depth whose solve with `count` sub-intervals reaches `target`.

    The first sub-interval's errors (`first_errors[k - 1]` at depth k, from
    `nested_errors`) bracket it: that sub-interval alone must reach the target (a lower
    bound), and reaching `target / count` in each is enough if the errors of the `count`
    sub-intervals add up (an estimate of an upper bound, raised a few times if a real
    solve misses). Real solves then bisect the bracket (assuming the error falls with the
    depth), so only a few configurations compile.

    **Returns:** the depth, or None if none up to `max_depth` was found.
    """

    def first_at_most(level):
        passing = np.flatnonzero(first_errors <= level)
        return int(passing[0]) + 1 if passing.size else None

    low = first_at_most(target)
    if low is None:
        return None
    high = first_at_most(target / count) or low
    for _ in range(4):  # raising the depth stops helping once rounding dominates
        if solves.error(high, count) <= target:
            break
        if high == max_depth:
            return None
        high = min(max_depth, high + max(1, high // 10))
    else:
        return None
    while low < high:
        middle = (low + high) // 2
        if solves.error(middle, count) <= target:
            high = middle
        else:
            low = middle + 1
    return high


def _krylov_config(depth, substeps):
    return f"depth {depth}" + ("" if substeps == 1 else f" x {substeps} substeps")


# ---------------------------------------------------------------- scaling


def measure_scaling(sizes, depth: int, repeats: int) -> list:
    """Rows 5: value+grad time and memory per state entry on growing grids.

    **Arguments:**

    - `sizes`: grid points per axis, increasing; the first is the baseline.
    - `depth`: the Arnoldi depth (fixed).
    - `repeats`: timed rounds (best of, interleaved across sizes).

    **Returns:** per size a time row and a memory row; `ratio` is the per-entry time (or
    bytes) over the baseline's (goal: <= `SCALING_TOLERANCE`, i.e. linear in N).
    """
    problems = {n: wave_problem(n) for n in sizes}
    compiled = {
        n: compile_for(jax.value_and_grad(_pdekrylov_objective(p, depth)), p.op) for n, p in problems.items()
    }
    seconds = best_times({n: (lambda n=n: compiled[n](problems[n].op)) for n in sizes}, repeats)
    memory = {n: memory_bytes(compiled[n]) for n in sizes}
    base = sizes[0]
    size_of = {n: problems[n].size for n in sizes}
    setting = (
        f"<w, exp(A) y0> value+grad, pk.arnoldi depth {depth}, float64; ratios per state entry "
        f"N vs {base}x{base}"
    )
    goal = f"<= {SCALING_TOLERANCE:g} (linear)"
    rows = []
    for n in sizes:
        time_ratio = (seconds[n] / size_of[n]) / (seconds[base] / size_of[base])
        memory_ratio = (memory[n] / size_of[n]) / (memory[base] / size_of[base])
        label = f"{n}x{n} (N = {size_of[n]})"
        rows.append(_row(
            f"scaling: time / N, {n}x{n}", setting, label, f"{base}x{base}", time_ratio, goal,
            time_ratio <= SCALING_TOLERANCE, ours_seconds=seconds[n], peer_seconds=seconds[base],
        ))
        rows.append(_row(
            f"scaling: memory / N, {n}x{n}", setting, label, f"{base}x{base}", memory_ratio, goal,
            memory_ratio <= SCALING_TOLERANCE, ours_bytes=memory[n], peer_bytes=memory[base],
            note=f"{memory[n] / (size_of[n] * depth * 8):.1f} N x K float64 bases",
        ))
    return rows


# ---------------------------------------------------------------- the whole table


def run_bench(*, quick: bool = False, repeats: int | None = None, progress: bool = False,
              size: int = 128, depth: int = 50, scaling_sizes=None, scaling_depth: int = 20,
              measurements=MEASUREMENTS) -> list:
    """Measure pdekrylov's performance table (float64; needs `jax_enable_x64`).

    **Arguments:**

    - `quick`: skip the largest scaling grid (512 x 512) and repeat less (3 instead of 5).
    - `repeats`: timed rounds per function (default 5, or 3 with `quick`).
    - `progress`: show a progress bar over the measurements.
    - `size`: grid points per axis of the `adjoint`, `solve` and `expm` problems.
    - `depth`: the Krylov depth of the `adjoint` rows.
    - `scaling_sizes`: grids of the `scaling` rows (default 64, 128, 256, 512; without
      512 with `quick`).
    - `scaling_depth`: the Arnoldi depth of the `scaling` rows.
    - `measurements`: which of `MEASUREMENTS` to run.

    **Returns:** a list of row dicts with the `COLUMNS` (times in seconds, memory in
    bytes; `ratio` ours / peer; `status` "met", "not met" or "info").

    **Raises:** `ValueError` for bad arguments or when float64 is not enabled.
    """
    if not jax.config.jax_enable_x64:
        raise ValueError("run_bench measures in float64: enable it first, "
                         "jax.config.update('jax_enable_x64', True)")
    repeats = (3 if quick else 5) if repeats is None else repeats
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
        raise ValueError(f"repeats: expected an int >= 1, got {repeats!r}")
    unknown = [m for m in measurements if m not in MEASUREMENTS]
    if unknown or not measurements:
        raise ValueError(f"measurements: expected some of {MEASUREMENTS}, got {tuple(measurements)!r}")
    if scaling_sizes is None:
        scaling_sizes = (64, 128, 256) if quick else (64, 128, 256, 512)
    scaling_sizes = tuple(sorted(scaling_sizes))
    steps = {
        "adjoint": lambda: measure_adjoint(wave_problem(size), depth, repeats),
        "solve": lambda: measure_solve(size, repeats),
        "expm": lambda: measure_expm(wave_problem(size), repeats),
        "scaling": lambda: measure_scaling(scaling_sizes, scaling_depth, repeats),
    }
    order = [m for m in MEASUREMENTS if m in measurements]
    if progress:
        from tqdm import tqdm

        order = tqdm(order, desc="bench", unit="measurement")
    rows = []
    for name in order:
        if progress:
            order.set_postfix_str(name)
        rows.extend(steps[name]())
    return rows


def format_bench(rows) -> str:
    """The rows as a Markdown table, then the settings and notes as lists.

    **Returns:** the text (times in ms, memory in MB = 1e6 bytes).
    """
    lines = [
        "| measurement | ours | time, memory | peer | time, memory | ratio | goal | status |",
        "|---|---|---:|---|---:|---:|---|---|",
    ]
    for row in rows:
        ratio = "" if row["ratio"] == "" else f"{row['ratio']:.2f}"
        lines.append(
            f"| {row['measurement']} | {row['ours']} | {_amount(row, 'ours')} | {row['peer']} | "
            f"{_amount(row, 'peer')} | {ratio} | {row['goal']} | {row['status']} |"
        )
    settings = dict.fromkeys(row["setting"] for row in rows)
    lines += ["", "Settings:", *(f"- {setting}" for setting in settings)]
    notes = [f"- {row['measurement']}: {row['note']}" for row in rows if row["note"]]
    if notes:
        lines += ["", "Notes:", *notes]
    return "\n".join(lines)


def _amount(row, side):
    seconds, size = row[f"{side}_seconds"], row[f"{side}_bytes"]
    parts = []
    if seconds != "":
        parts.append(f"{seconds * 1e3:.1f} ms")
    if size != "":
        parts.append(f"{size / 1e6:.1f} MB")
    return ", ".join(parts)


def save_bench(rows, out, *, force: bool = False, machine: str | None = None) -> Path:
    """Write the rows to `out/bench.csv` atomically (the `COLUMNS`, then a comment line
    with the machine information).

    **Arguments:**

    - `rows`: from `run_bench`.
    - `out`: the folder (created if missing).
    - `force`: replace an existing file.
    - `machine`: the machine line (default `machine_info()` now).

    **Returns:** the path.

    **Raises:** `FileExistsError` if the file exists and not `force`.
    """
    path = Path(out) / CSV_FILE
    machine = machine_info() if machine is None else machine
    with _io.atomic_path(path, force=force) as tmp, open(tmp, "w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
        file.write(f"# {machine}\n")
    return path
