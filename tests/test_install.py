"""The installed JAX computes correctly: known-bad releases fail this suite loudly.

`pyproject.toml` excludes jax/jaxlib 0.10.2; these tests catch an environment that got
it anyway, and pin the miscompilation pattern itself (jax-ml/jax#39103) at the sizes
that trigger it, so a future wheel with the same defect cannot pass unnoticed.
"""

import os
import subprocess
import sys

import jaxlib
import pytest

from pdekrylov import _versions


def test_installed_jaxlib_is_not_known_to_be_wrong():
    assert jaxlib.__version__ not in _versions.KNOWN_BAD_JAXLIB, _versions.KNOWN_BAD_JAXLIB[
        jaxlib.__version__
    ]
    assert _versions.check_jaxlib() is None


def test_known_bad_jaxlib_is_warned_about():
    with pytest.warns(RuntimeWarning, match=r"jaxlib 0\.10\.2 .*jax-ml/jax#39103"):
        assert _versions.check_jaxlib("0.10.2") is not None


PATTERN = """
import jax
jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp, numpy as np
for dtype, rows in ((jnp.float64, 16_385), (jnp.float32, 32_769)):
    i = jnp.arange(rows, dtype=dtype)
    x = jnp.stack((i, jnp.zeros_like(i), jnp.zeros_like(i)), axis=1)
    matrix = jnp.eye(3, dtype=dtype)
    squared_norms = lambda x: jax.vmap(lambda row: jnp.sum((matrix @ row) ** 2))(x)
    exact = np.arange(rows, dtype=np.float64) ** 2
    np.testing.assert_allclose(np.asarray(jax.jit(squared_norms)(x)), exact, rtol=1e-7)
    np.testing.assert_array_equal(jax.jit(squared_norms)(x), squared_norms(x))
print("ok")
"""


def test_vmapped_matvec_then_reduction_compiles_correctly():
    """jax-ml/jax#39103: `jit(vmap(row -> sum((M @ row)^2)))` over 16385 float64 (32769
    float32) rows; jaxlib 0.10.2 returned 266342400 for 268435456 in the last row. Run in
    a fresh process at XLA's default optimisation level (the suite compiles at level 0,
    see conftest.py), as a user's program is compiled."""
    flags = [f for f in os.environ.get("XLA_FLAGS", "").split() if "optimization_level" not in f]
    env = {**os.environ, "XLA_FLAGS": " ".join(flags)}
    completed = subprocess.run(
        [sys.executable, "-c", PATTERN], env=env, capture_output=True, text=True, timeout=300
    )
    assert completed.returncode == 0 and completed.stdout.strip() == "ok", completed.stderr[-3000:]
