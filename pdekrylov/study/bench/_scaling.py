"""The `scaling` measurement: value+grad time and compiled memory per state entry on
growing grids (the adjoint's cost should be linear in the state size N)."""

import jax

from .._measure import best_times, compile_for, memory_bytes
from ._adjoint import arnoldi_objective
from ._problems import wave_problem
from ._rows import BenchRow, comparison

#: per-entry time and memory count as linear in N while within this factor of the
#: smallest grid's (the goal "ratios ~ 1" made checkable)
SCALING_TOLERANCE = 1.5


def measure_scaling(sizes, depth: int, repeats: int) -> list[BenchRow]:
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
        n: compile_for(jax.value_and_grad(arnoldi_objective(p, depth)), p.op) for n, p in problems.items()
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
        rows.append(comparison(
            f"scaling: time / N, {n}x{n}", setting, label, f"{base}x{base}", time_ratio, goal,
            time_ratio <= SCALING_TOLERANCE, ours_seconds=seconds[n], peer_seconds=seconds[base],
        ))
        rows.append(comparison(
            f"scaling: memory / N, {n}x{n}", setting, label, f"{base}x{base}", memory_ratio, goal,
            memory_ratio <= SCALING_TOLERANCE, ours_bytes=memory[n], peer_bytes=memory[base],
            note=f"{memory[n] / (size_of[n] * depth * 8):.1f} N x K float64 bases",
        ))
    return rows
