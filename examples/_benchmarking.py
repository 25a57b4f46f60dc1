"""Helpers shared by the benchmark scripts in this folder: machine info, timing, errors.

The scripts import it as a sibling module (`python examples/bench_*.py` puts this folder
on `sys.path`); the implementations are the package's (`pdekrylov bench` uses them too).
"""

from pdekrylov.study import (  # noqa: F401  (re-exported for the scripts)
    best_times as best_times,
    machine_info as machine_info,
    max_relative_difference as max_relative_difference,
    relative_error as relative_error,
)
