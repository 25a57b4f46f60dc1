"""Measurement helpers shared by the studies and the benchmark scripts: interleaved
best-of timing, compiled memory, the machine line, and relative errors."""

import importlib.metadata
import math
import os
import platform
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

#: packages whose versions the machine line lists (when installed)
PACKAGES = ("pdekrylov", "jax", "jaxlib", "equinox", "diffrax", "scipy", "numpy", "matfree")


def best_times(calls: dict, repeats: int, *, warm_up: bool = True) -> dict:
    """Best-of-`repeats` wall time of zero-argument calls, timed in interleaved rounds.

    Interleaving makes background load on a shared machine hit all calls alike.

    **Arguments:**

    - `calls`: a dict name -> zero-argument callable (JAX results are waited for).
    - `repeats`: the number of timed rounds.
    - `warm_up`: run each call once first, untimed (compilation); `False` when the
      calls are compiled already.

    **Returns:** a dict name -> best seconds.
    """
    for call in calls.values() if warm_up else ():
        jax.block_until_ready(call())
    best = {name: math.inf for name in calls}
    for _ in range(repeats):
        for name, call in calls.items():
            start = time.perf_counter()
            jax.block_until_ready(call())
            best[name] = min(best[name], time.perf_counter() - start)
    return best


def compile_for(function, *args):
    """`jax.jit(function)` compiled ahead of time for `args`: one compilation serves both
    the timing and `memory_bytes` (lowering a jitted function again would recompile)."""
    return jax.jit(function).lower(*args).compile()


def memory_bytes(compiled) -> int:
    """Argument + output + temp bytes of a compiled executable (XLA's memory analysis).

    Temp is XLA's scratch space, including what the forward pass keeps for the backward
    pass. (`peak_memory_in_bytes` is not used: on CPU it reports about 1 MB whatever the
    size.)
    """
    stats = compiled.memory_analysis()
    return stats.argument_size_in_bytes + stats.output_size_in_bytes + stats.temp_size_in_bytes


def machine_info(packages=PACKAGES) -> str:
    """One line on what the numbers were measured with.

    **Arguments:**

    - `packages`: distribution names whose versions to list (missing ones are left out).

    **Returns:** package versions, JAX backend and device, CPU model and count, the load
    average now (other work on a shared machine slows every row), platform and Python.
    """
    versions = []
    for name in packages:
        try:
            versions.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            continue
    device = jax.devices()[0]
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"
    return (
        f"{', '.join(versions)}; backend {jax.default_backend()} ({device.device_kind}); "
        f"CPU {_cpu_model()} x {os.cpu_count()} cores; load average {load}; "
        f"{platform.system()} {platform.machine()}; Python {platform.python_version()}"
    )


def _cpu_model() -> str:
    try:  # Linux: platform.processor() is often empty there
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def relative_error(value, reference) -> float:
    """`||value - reference|| / ||reference||` (2-norm over all entries; shapes may differ,
    sizes not)."""
    value = np.asarray(value, np.float64).ravel()
    reference = np.asarray(reference, np.float64).ravel()
    return float(np.linalg.norm(value - reference) / max(np.linalg.norm(reference), np.finfo(np.float64).tiny))


def max_relative_difference(a, b) -> float:
    """`max|a - b| / max|b|`."""
    return float(jnp.max(jnp.abs(a - b)) / jnp.max(jnp.abs(b)))
