"""Test-session setup: float64, a compilation cache, and fast compilation.

- Correctness tests run in float64 (the design's rule); float32 tests opt in locally.
- Most of the suite's time is XLA compilation, so: compiled programs are cached on disk
  for the session (JAX's persistent compilation cache, in `.jax-cache/` of the checkout,
  ignored by git; the CLI tests run the same training and generation programs in several
  subprocesses, and the xdist workers compile the same solvers), and XLA's CPU backend
  compiles at LLVM optimisation level 0 (`--xla_backend_optimization_level=0`; XLA's own
  HLO passes are unchanged; measured: a quarter less time). `tests/test_install.py`
  checks the known miscompilation at the default level, in a subprocess.
  `PDEKRYLOV_TEST_OPTIMIZED=1` runs everything at the default level.
- All of it is set in the environment before JAX starts, so subprocesses inherit it;
  settings the user made already are kept.
"""

import os
from pathlib import Path

os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", str(Path(__file__).resolve().parents[1] / ".jax-cache"))
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.2")
FAST_COMPILE_FLAG = "--xla_backend_optimization_level=0"
if os.environ.get("PDEKRYLOV_TEST_OPTIMIZED", "0") in ("", "0"):
    flags = os.environ.get("XLA_FLAGS", "")
    if "xla_backend_optimization_level" not in flags:
        os.environ["XLA_FLAGS"] = f"{flags} {FAST_COMPILE_FLAG}".strip()

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)
