"""The `expm` measurement: forward `exp(tA) v` by `pk.solve` with Arnoldi against
`scipy.sparse.linalg.expm_multiply` on the assembled sparse matrix, at equal accuracy."""

import dataclasses
import math

import jax
import numpy as np
import scipy.linalg
import scipy.sparse.linalg
import threadpoolctl

from ..._solve import solve
from ...krylov import arnoldi
from ...solvers import Arnoldi
from .._measure import best_times, relative_error
from ._problems import WaveBenchProblem, spectral_radius_bound
from ._rows import BenchRow, comparison

#: errors below this many times the gap between two accurate references (the rounding
#: floor) count as equal
ROUNDING_FACTOR = 2.0


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
                 max_depth: int = 120) -> list[BenchRow]:
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
        rows.append(comparison("exp(tA)v vs scipy: Arnoldi with substeps", "", "pk.solve Arnoldi",
                         "scipy expm_multiply (CSR)", None, "", None, peer_seconds=seconds["scipy"],
                         note=f"no depth <= {max_depth} reached {target:.1e} with {substeps} substeps"))
    return [dataclasses.replace(row, setting=setting) for row in rows]


def _expm_row(name, keys, seconds, solves, target) -> BenchRow:
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
    return comparison(
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
