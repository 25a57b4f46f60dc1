"""Helpers shared by the benchmark scripts in this folder: machine info, timing, errors.

The scripts import it as a sibling module (`python examples/bench_*.py` puts this folder
on `sys.path`).
"""

import importlib.metadata
import os
import platform
import time

import jax
import jax.numpy as jnp


def machine_info(packages=("jax",)):
    """One line: package versions, JAX backend and device, CPU count, platform, Python."""
    versions = ", ".join(f"{name} {importlib.metadata.version(name)}" for name in packages)
    device = jax.devices()[0]
    return (
        f"{versions}; backend {jax.default_backend()} ({device.device_kind}), "
        f"{os.cpu_count()} CPU cores, {platform.machine()} {platform.system()}, "
        f"Python {platform.python_version()}"
    )


def best_times(calls, repeats, *, warm_up=True):
    """Time zero-argument calls interleaved (so background load hits all alike).

    **Arguments:**

    - `calls`: a dict name -> zero-argument callable returning JAX arrays.
    - `repeats`: timed rounds; the best (minimum) of each call is kept.
    - `warm_up`: call each once first (compilation) before timing.

    **Returns:** a dict name -> best seconds per call.
    """
    if warm_up:
        for call in calls.values():
            jax.block_until_ready(call())
    best = {name: float("inf") for name in calls}
    for _ in range(repeats):
        for name, call in calls.items():
            start = time.perf_counter()
            jax.block_until_ready(call())
            best[name] = min(best[name], time.perf_counter() - start)
    return best


def max_relative_difference(a, b):
    """`max|a - b| / max|b|`."""
    return float(jnp.max(jnp.abs(a - b)) / jnp.max(jnp.abs(b)))
