"""Helpers shared by the benchmark scripts in this folder: machine info, timing, errors.

The scripts import it as a sibling module (`python examples/bench_*.py` puts this folder
on `sys.path`).
"""

import jax.numpy as jnp

# one implementation of both, in the package (`pdekrylov bench` uses them too)
from pdekrylov.study import best_times as best_times, machine_info as machine_info


def max_relative_difference(a, b):
    """`max|a - b| / max|b|`."""
    return float(jnp.max(jnp.abs(a - b)) / jnp.max(jnp.abs(b)))
