"""Gaussian random fields: the empirical covariance matches the kernel."""

import jax
import numpy as np
import pytest

import pdekrylov as pk
from pdekrylov.grf import GaussianRandomField, kernel_values


@pytest.mark.parametrize(
    "shape, kernel, length_scale",
    [((24,), "matern32", 0.1), ((12, 10), "rbf", 0.15), ((10, 12), "matern12", 0.3)],
)
def test_empirical_covariance_matches_kernel(shape, kernel, length_scale):
    grid = pk.Grid(shape, upper=(1.0,) * len(shape))
    variance = 2.0
    field = GaussianRandomField(grid, kernel, length_scale, variance)
    samples = np.asarray(field.sample(jax.random.PRNGKey(0), 6000)).reshape(6000, -1)
    empirical = samples.T @ samples / len(samples)  # zero mean is known
    points = np.asarray(grid.coordinates()).reshape(grid.ndim, -1).T
    distance = np.linalg.norm(points[:, None] - points[None, :], axis=-1)
    expected = kernel_values(kernel, distance, length_scale, variance)
    # Each entry is a mean of 6000 products; its standard error is at most
    # variance * sqrt(2 / 6000) ~ 0.018 * variance. Allow 6 standard errors.
    tolerance = 6 * variance * np.sqrt(2 / len(samples))
    assert np.max(np.abs(empirical - expected)) <= tolerance
    assert np.abs(samples.mean()) <= tolerance


def test_reproducible_and_independent_of_batching():
    grid = pk.Grid((9, 8))
    field = GaussianRandomField(grid, "rbf", 0.2)
    a = field.sample(jax.random.PRNGKey(3), 4)
    b = field.sample(jax.random.PRNGKey(3), 4)
    np.testing.assert_array_equal(a, b)
    assert a.shape == (4, 9, 8)
    assert field.sample(jax.random.PRNGKey(3)).shape == (9, 8)
    assert not np.allclose(a[0], a[1])


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(kernel="cauchy"), "kernel"),
        (dict(length_scale=-1.0), "length_scale"),
        (dict(variance=0.0), "variance"),
    ],
)
def test_bad_parameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        GaussianRandomField(pk.Grid((8, 8)), **kwargs)
