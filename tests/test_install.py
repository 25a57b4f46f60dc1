"""The installed JAX computes correctly: known-bad releases fail this suite loudly.

`pyproject.toml` excludes jax/jaxlib 0.10.2; these tests catch an environment that got
it anyway, and pin the miscompilation pattern itself (jax-ml/jax#39103) at the sizes
that trigger it, so a future wheel with the same defect cannot pass unnoticed.
"""

import jax
import jax.numpy as jnp
import jaxlib
import numpy as np
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


@pytest.mark.parametrize("dtype, rows", [(jnp.float64, 16_385), (jnp.float32, 32_769)])
def test_vmapped_matvec_then_reduction_compiles_correctly(dtype, rows):
    """jax-ml/jax#39103: `jit(vmap(row -> sum((M @ row)^2)))` over 16385 float64 (32769
    float32) rows; jaxlib 0.10.2 returned 266342400 for 268435456 in the last row."""
    i = jnp.arange(rows, dtype=dtype)
    x = jnp.stack((i, jnp.zeros_like(i), jnp.zeros_like(i)), axis=1)
    matrix = jnp.eye(3, dtype=dtype)

    def squared_norms(x):
        return jax.vmap(lambda row: jnp.sum((matrix @ row) ** 2))(x)

    exact = np.arange(rows, dtype=np.float64) ** 2  # integers below 2^53 (2^24: float32 rounds)
    np.testing.assert_allclose(np.asarray(jax.jit(squared_norms)(x)), exact, rtol=1e-7)
    np.testing.assert_array_equal(jax.jit(squared_norms)(x), squared_norms(x))
