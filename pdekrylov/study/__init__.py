"""Studies that compare solvers: the work–precision study (`pk.study.workprecision`) and
the performance table (`pk.study.run_bench`, `pdekrylov bench`)."""

from ._workprecision import (
    COLUMNS as COLUMNS,
    CSV_FILE as CSV_FILE,
    FIGURE_FILE as FIGURE_FILE,
    DEFAULT_SOLVERS as DEFAULT_SOLVERS,
    WorkPrecision as WorkPrecision,
    data_point as data_point,
    loss_value_and_gradient as loss_value_and_gradient,
    reference_solvers as reference_solvers,
    save_workprecision as save_workprecision,
    workprecision as workprecision,
)
from ._measure import (
    best_times as best_times,
    machine_info as machine_info,
    max_relative_difference as max_relative_difference,
    relative_error as relative_error,
)
from ._bench import (
    COLUMNS as BENCH_COLUMNS,
    CSV_FILE as BENCH_CSV_FILE,
    MEASUREMENTS as BENCH_MEASUREMENTS,
    format_bench as format_bench,
    run_bench as run_bench,
    save_bench as save_bench,
)
