"""`run_bench`: every measurement of the performance table, in one run."""

import jax

from ... import _io
from ._adjoint import measure_adjoint
from ._expm import measure_expm
from ._problems import wave_problem
from ._rows import BenchRow
from ._scaling import measure_scaling
from ._solve import measure_solve

#: the measurement groups, in the order they run and print
MEASUREMENTS = ("adjoint", "solve", "expm", "scaling")


def run_bench(*, quick: bool = False, repeats: int | None = None, progress: bool = False,
              size: int = 128, depth: int = 50, scaling_sizes=None, scaling_depth: int = 20,
              measurements=MEASUREMENTS) -> list[BenchRow]:
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

    **Returns:** the `BenchRow`s (times in seconds, memory in bytes; `ratio` ours / peer;
    `status` "met", "not met" or "info").

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
    order = _io.progress_bar(order, enabled=progress, desc="bench", unit="measurement")
    rows = []
    for name in order:
        order.set_postfix_str(name)
        rows.extend(steps[name]())
    return rows
