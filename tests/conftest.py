"""Correctness tests run in float64 (the design's rule); float32 tests opt in locally."""

import jax

jax.config.update("jax_enable_x64", True)
