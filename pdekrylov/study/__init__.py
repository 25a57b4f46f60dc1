"""Studies that compare solvers.

- `pk.study.workprecision`: forward and gradient error of every solver against its work.
- `pk.study.green_convergence`: point-source traces against the analytic 2D solution on
  refined grids (`_traces.py`, the analytic traces in `_green.py`), beside leapfrog.
- `pk.study.bench`: the performance table (`pdekrylov bench`), one module per
  measurement, imported on first use (it needs SciPy's sparse module).
- the measurement helpers every study and benchmark script uses (`_measure.py`).
"""

from ._measure import (
    best_times as best_times,
    compile_for as compile_for,
    machine_info as machine_info,
    max_relative_difference as max_relative_difference,
    memory_bytes as memory_bytes,
    relative_error as relative_error,
)
from ._green import (
    analytic_traces_2d as analytic_traces_2d,
    analytic_traces_3d as analytic_traces_3d,
    ricker as ricker,
)
from ._traces import (
    ConvergenceRow as ConvergenceRow,
    GreenSetup as GreenSetup,
    green_convergence as green_convergence,
    leapfrog_traces as leapfrog_traces,
    relative_trace_error as relative_trace_error,
)
from ._workprecision import (
    COLUMNS as COLUMNS,
    CSV_FILE as CSV_FILE,
    DEFAULT_SOLVERS as DEFAULT_SOLVERS,
    FIGURE_FILE as FIGURE_FILE,
    METADATA_FILE as METADATA_FILE,
    WEIGHTS as WEIGHTS,
    WorkPrecision as WorkPrecision,
    WorkPrecisionRow as WorkPrecisionRow,
    data_point as data_point,
    loss_value_and_gradient as loss_value_and_gradient,
    reference_solvers as reference_solvers,
    save_workprecision as save_workprecision,
    workprecision as workprecision,
)


def __getattr__(name: str):
    """`pk.study.bench` is imported on first use."""
    if name == "bench":
        import importlib

        return importlib.import_module(".bench", __name__)
    raise AttributeError(f"module 'pdekrylov.study' has no attribute {name!r}")
