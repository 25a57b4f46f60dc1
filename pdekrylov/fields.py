"""Coefficient-field models evaluated on a grid, and the losses that compare solutions.

Groundwork for training (issue 6): the models map a `Grid` to a field of its shape; the
operator applies its own transform (the wave operator squares the speed).
"""

import equinox as eqx
import jax
import jax.numpy as jnp

from ._grid import Grid


class MLP(eqx.Module):
    """The paper's field model: an MLP of the coordinates, output scaled down.

    `field(x) = output_scale * mlp(x)`, with ReLU hidden layers and a linear output. The
    small default scale `softplus(-5) ≈ 0.0067` keeps the initial field small so that
    early solves do not blow up (as in the paper).

    **Arguments:**

    - `ndim`: the number of spatial dimensions.
    - `hidden`: widths of the hidden layers (default `(500, 500)`, the paper's).
    - `output_scale`: factor on the network output.
    - `key`: a JAX PRNG key for the initial weights.
    """

    layers: list
    output_scale: float = eqx.field(static=True)

    def __init__(self, ndim: int, hidden=(500, 500), output_scale=None, *, key):
        if isinstance(ndim, bool) or not isinstance(ndim, int) or ndim < 1:
            raise ValueError(f"ndim: expected a positive int, got {ndim!r}")
        hidden = tuple(hidden)
        if not hidden or any(not isinstance(h, int) or h < 1 for h in hidden):
            raise ValueError(f"hidden: expected positive layer widths, got {hidden!r}")
        sizes = (ndim, *hidden, 1)
        keys = jax.random.split(key, len(sizes) - 1)
        self.layers = [eqx.nn.Linear(a, b, key=k) for a, b, k in zip(sizes[:-1], sizes[1:], keys)]
        scale = jax.nn.softplus(-5.0) if output_scale is None else output_scale
        self.output_scale = float(scale)

    def __call__(self, grid: Grid):
        """The field on `grid`: an array of `grid.shape`."""
        points = grid.coordinates(dtype=self.layers[0].weight.dtype)
        flat = points.reshape(grid.ndim, -1).T

        def evaluate(x):
            for layer in self.layers[:-1]:
                x = jax.nn.relu(layer(x))
            return self.layers[-1](x)[0]

        return self.output_scale * jax.vmap(evaluate)(flat).reshape(grid.shape)


class GridField(eqx.Module):
    """One value per grid node, with an optional smoothness regulariser.

    **Arguments:**

    - `values`: a floating array (the initial field).
    - `smoothness`: weight of `regularisation()`, `smoothness * sum_i mean(|D_i f|^2)`
      with forward differences `D_i` along each axis (0 disables it).
    """

    values: jax.Array
    smoothness: float = eqx.field(static=True)

    def __init__(self, values, smoothness: float = 0.0):
        if not hasattr(values, "dtype") or not jnp.issubdtype(values.dtype, jnp.floating):
            raise TypeError(f"values: expected a floating array, got {values!r}")
        if not smoothness >= 0:
            raise ValueError(f"smoothness: expected a non-negative number, got {smoothness!r}")
        self.values = jnp.asarray(values)
        self.smoothness = float(smoothness)

    def __call__(self, grid: Grid):
        if self.values.shape != grid.shape:
            raise ValueError(
                f"grid: expected shape {self.values.shape} (the field's), got {grid.shape}"
            )
        return self.values

    def regularisation(self, grid: Grid):
        """`smoothness * sum over axes of mean(((f[j+1] - f[j]) / h)^2)`."""
        total = jnp.zeros((), self.values.dtype)
        for axis, h in enumerate(grid.spacing):
            total = total + jnp.mean((jnp.diff(self.values, axis=axis) / h) ** 2)
        return self.smoothness * total


def relative_mse(prediction, target, mask=None):
    """The paper's loss: `mean((prediction - target)^2 / (eps + |target|))`.

    `eps` is the machine epsilon of the target's dtype. With a boolean `mask` (broadcast
    against the arrays), only observed entries count.
    """
    eps = jnp.finfo(jnp.result_type(target)).eps
    return _masked_mean((prediction - target) ** 2 / (eps + jnp.abs(target)), mask)


def relative_l2(prediction, target, mask=None):
    """Squared relative L2 error over the observed entries: `||e||^2 / ||target||^2`.

    Unlike `relative_mse` it is not dominated by the entries where the target happens
    to be near zero (there the paper's weight `1 / (eps + |target|)` reaches `1 / eps`).
    """
    weights = 1 if mask is None else jnp.broadcast_to(mask, target.shape).astype(target.dtype)
    tiny = jnp.finfo(jnp.result_type(target)).tiny
    return jnp.sum(weights * (prediction - target) ** 2) / jnp.maximum(jnp.sum(weights * target**2), tiny)


def mse(prediction, target, mask=None):
    """Mean squared error over the observed entries (all, without a mask)."""
    return _masked_mean((prediction - target) ** 2, mask)


def _masked_mean(values, mask):
    if mask is None:
        return jnp.mean(values)
    weights = jnp.broadcast_to(mask, values.shape).astype(values.dtype)
    return jnp.sum(weights * values) / jnp.maximum(jnp.sum(weights), 1)


#: the losses by the names problem files and the CLI use
LOSSES = {"relative-mse": relative_mse, "relative-l2": relative_l2, "mse": mse}
