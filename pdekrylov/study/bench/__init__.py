"""`pdekrylov bench`: pdekrylov's performance table, every row measured in one run.

Absolute times on a shared machine are noisy, so every row compares two things timed in
the same run (interleaved where the row's own functions are timed here) and the ratio is
what the row reports. One module per measurement, each returning `BenchRow`s; all
float64 on the 128 x 128 Neumann wave operator unless said otherwise:

- `adjoint` (`_adjoint.py`): value-and-gradient time of `pk.arnoldi` + `pk.expm_action`
  over the forward time, depth 50 (goal <= 2.5); and, when matfree is installed,
  pdekrylov's value-and-gradient time over matfree's (`decomp.hessenberg` with its
  custom VJP, the reference implementation of the same adjoint; goal <= 0.5).
  `measure_adjoint_profile` breaks one value+grad into matvecs, orthogonalisation and
  backward pass (not part of the table; `examples/bench_krylov.py --profile`).
- `solve` (`_solve.py`): the fastest configuration whose relative gradient error is
  <= 1e-6, per solver family (Lanczos, Arnoldi, Diffrax Dopri5 + backsolve, Diffrax
  Tsit5 + recursive checkpoint), from `pk.study.workprecision`; Krylov time over the best
  Diffrax time (goal <= 0.5).
- `expm` (`_expm.py`): forward `exp(tA) v` at t = 1 against
  `scipy.sparse.linalg.expm_multiply` on the assembled sparse matrix, at the accuracy
  expm_multiply reaches: the smallest Arnoldi depth that reaches it with one
  decomposition, and with sub-intervals.
- `scaling` (`_scaling.py`): value-and-gradient time and compiled memory at a fixed depth
  on growing grids, per state entry, relative to the smallest grid (goal: linear in N).

`run_bench` returns the rows, `format_bench` prints them, `save_bench` writes the CSV.
This package imports SciPy's sparse module and the timing harness: `import pdekrylov`
does not import it.
"""

from ._adjoint import (
    GOAL_ADJOINT_RATIO as GOAL_ADJOINT_RATIO,
    GOAL_VS_MATFREE as GOAL_VS_MATFREE,
    measure_adjoint as measure_adjoint,
    measure_adjoint_profile as measure_adjoint_profile,
)
from ._expm import measure_expm as measure_expm, nested_errors as nested_errors
from ._problems import (
    SOLVE_SPEED_OFFSET as SOLVE_SPEED_OFFSET,
    WaveBenchProblem as WaveBenchProblem,
    solve_problem as solve_problem,
    spectral_radius_bound as spectral_radius_bound,
    wave_problem as wave_problem,
)
from ._rows import (
    COLUMNS as COLUMNS,
    CSV_FILE as CSV_FILE,
    BenchRow as BenchRow,
    format_bench as format_bench,
    save_bench as save_bench,
)
from ._run import MEASUREMENTS as MEASUREMENTS, run_bench as run_bench
from ._scaling import SCALING_TOLERANCE as SCALING_TOLERANCE, measure_scaling as measure_scaling
from ._solve import (
    GOAL_VS_DIFFRAX as GOAL_VS_DIFFRAX,
    GRADIENT_TOLERANCE as GRADIENT_TOLERANCE,
    SolveFamily as SolveFamily,
    measure_solve as measure_solve,
    solve_families as solve_families,
)
