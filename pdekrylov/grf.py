"""Gaussian random fields on vertex grids, exact for stationary kernels.

Method: circulant embedding. The grid (shape n per axis, spacing h) is embedded in a
periodic grid of m >= 2 (n - 1) points per axis; a stationary kernel evaluated at the
periodic distances gives a block-circulant covariance, which the FFT diagonalises. If
all its eigenvalues are non-negative the embedding is a valid covariance, and the
restriction of a periodic sample to the original grid has *exactly* the kernel's
covariance (no truncation, unlike a rank-32 Lanczos approximation as in the paper's
code). Cost: one FFT of the embedding per two samples (real and imaginary parts are
independent). Smooth kernels with long length scales can need a larger embedding; it is
grown until the negative eigenvalues are negligible (relative 1e-10), else an error
says so.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np

from ._grid import Grid

KERNELS = ("rbf", "matern12", "matern32", "matern52")


def kernel_values(kernel: str, distance, length_scale: float, variance: float):
    """A stationary kernel `k(d)` at distances `distance` (numpy, float64).

    **Arguments:**

    - `kernel`: one of `KERNELS`: `"rbf"` = `variance * exp(-d^2 / (2 l^2))`,
      `"matern12"/"matern32"/"matern52"` the Matérn kernels of smoothness 1/2, 3/2, 5/2.
    - `distance`: array of non-negative distances.
    - `length_scale`, `variance`: positive numbers.
    """
    r = np.asarray(distance, dtype=np.float64) / length_scale
    if kernel == "rbf":
        return variance * np.exp(-0.5 * r**2)
    if kernel == "matern12":
        return variance * np.exp(-r)
    if kernel == "matern32":
        s = math.sqrt(3.0) * r
        return variance * (1 + s) * np.exp(-s)
    if kernel == "matern52":
        s = math.sqrt(5.0) * r
        return variance * (1 + s + s**2 / 3) * np.exp(-s)
    raise ValueError(f"kernel: expected one of {list(KERNELS)}, got {kernel!r}")


class GaussianRandomField:
    """Sampler of a zero-mean stationary Gaussian random field on a grid.

    **Arguments:**

    - `grid`: a `pdekrylov.Grid`.
    - `kernel`: one of `KERNELS`.
    - `length_scale`, `variance`: positive kernel parameters (in the grid's units).
    - `max_embedding_factor`: the largest embedding tried, as a multiple of the minimal
      one per axis.
    """

    def __init__(self, grid, kernel="rbf", length_scale=0.2, variance=1.0, *,
                 max_embedding_factor=8):
        if not isinstance(grid, Grid):
            raise TypeError(f"grid: expected a pdekrylov.Grid, got {type(grid).__name__}")
        for name, value in (("length_scale", length_scale), ("variance", variance)):
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ValueError(f"{name}: expected a positive number, got {value!r}")
        kernel_values(kernel, 0.0, 1.0, 1.0)  # validates the name
        self.grid, self.kernel = grid, kernel
        self.length_scale, self.variance = float(length_scale), float(variance)
        self._sqrt_eigenvalues = self._embed(max_embedding_factor)

    def _embed(self, max_factor):
        minimal = [2 * (n - 1) for n in self.grid.shape]
        for factor in range(1, max_factor + 1):
            shape = [factor * m for m in minimal]
            axes = [
                h * np.minimum(np.arange(m), m - np.arange(m))
                for h, m in zip(self.grid.spacing, shape)
            ]
            distance = np.sqrt(sum(a**2 for a in np.meshgrid(*axes, indexing="ij", sparse=True)))
            first_row = kernel_values(self.kernel, distance, self.length_scale, self.variance)
            eigenvalues = np.fft.fftn(first_row).real
            if eigenvalues.min() >= -1e-10 * eigenvalues.max():
                return np.sqrt(np.clip(eigenvalues, 0, None))
        raise ValueError(
            f"length_scale: the circulant embedding of the {self.kernel} kernel with "
            f"length scale {self.length_scale} is not positive semi-definite up to "
            f"{max_factor}x the minimal size; use a shorter length scale or a rougher kernel"
        )

    def sample(self, key, num=None, dtype=None):
        """Draw samples.

        **Arguments:**

        - `key`: a JAX PRNG key (the only source of randomness).
        - `num`: number of samples (None: one sample without a batch axis).
        - `dtype`: floating dtype of the result (default: JAX's default float).

        **Returns:** an array of shape `grid.shape` or `(num, *grid.shape)`.
        """
        count = 1 if num is None else int(num)
        if count < 1:
            raise ValueError(f"num: expected a positive number of samples, got {num}")
        sqrt_eigenvalues = jnp.asarray(self._sqrt_eigenvalues)
        size = sqrt_eigenvalues.size
        pairs = (count + 1) // 2  # real and imaginary parts are two independent samples
        window = tuple(slice(0, n) for n in self.grid.shape)

        def pair(key):
            real, imag = jax.random.normal(key, (2, *sqrt_eigenvalues.shape))
            spectrum = sqrt_eigenvalues * (real + 1j * imag) / np.sqrt(size)
            periodic = jnp.fft.fftn(spectrum)[window]
            return jnp.stack([periodic.real, periodic.imag])

        # one embedding-sized FFT at a time: memory stays O(embedding), not O(num x embedding)
        both = jax.lax.map(pair, jax.random.split(key, pairs), batch_size=4)
        samples = jnp.concatenate([both[:, 0], both[:, 1]])[:count]
        if dtype is not None:
            samples = samples.astype(dtype)
        return samples[0] if num is None else samples
