"""Coefficient-field models and losses."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import pdekrylov as pk
from pdekrylov import fields


def test_mlp_field_shape_scale_and_gradient():
    grid = pk.Grid((6, 5))
    model = fields.MLP(2, hidden=(16, 16), key=jax.random.PRNGKey(0))
    values = model(grid)
    assert values.shape == (6, 5)
    assert jnp.abs(values).max() < 0.1  # softplus(-5) output scale keeps it small
    grads = jax.grad(lambda m: jnp.sum(m(grid) ** 2))(model)
    assert any(jnp.any(g.weight != 0) for g in grads.layers)


def test_grid_field_and_smoothness():
    grid = pk.Grid((5, 4), upper=(2.0, 1.0))
    constant = fields.GridField(jnp.full(grid.shape, 0.3), smoothness=1.0)
    assert constant.regularisation(grid) == 0
    x = grid.coordinates()
    ramp = fields.GridField(2.0 * x[0] + 3.0 * x[1], smoothness=0.5)
    np.testing.assert_allclose(ramp.regularisation(grid), 0.5 * (4.0 + 9.0))
    with pytest.raises(ValueError, match="grid"):
        constant(pk.Grid((4, 4)))
    with pytest.raises(TypeError, match="values"):
        fields.GridField(jnp.ones((3, 3), int))


def test_losses_with_and_without_mask():
    target = jnp.array([[1.0, -2.0], [0.5, 4.0]])
    prediction = target + jnp.array([[1.0, 0.0], [0.0, 2.0]])
    np.testing.assert_allclose(fields.mse(prediction, target), (1 + 4) / 4)
    mask = jnp.array([[True, True], [True, False]])
    np.testing.assert_allclose(fields.mse(prediction, target, mask), 1 / 3)
    eps = jnp.finfo(target.dtype).eps
    expected = (1 / (eps + 1) + 4 / (eps + 4)) / 4
    np.testing.assert_allclose(fields.relative_mse(prediction, target), expected)


@pytest.mark.parametrize("kwargs", [dict(ndim=0), dict(ndim=2, hidden=())])
def test_mlp_validates(kwargs):
    with pytest.raises(ValueError):
        fields.MLP(**kwargs, key=jax.random.PRNGKey(0))
