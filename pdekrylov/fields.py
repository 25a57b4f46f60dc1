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


#: the grid model's regularisers: `GridField.regularisation`
REGULARISERS = ("tikhonov", "total-variation")


class GridField(eqx.Module):
    """One value per grid node, with an optional regulariser.

    **Arguments:**

    - `values`: a floating array (the initial field).
    - `smoothness`: the regulariser's weight (0 disables it).
    - `regulariser`: one of `REGULARISERS`: `"tikhonov"`, the mean squared gradient
      (smooth fields), or `"total-variation"`, the mean gradient magnitude (blocky
      fields with sharp interfaces: layers, inclusions).
    - `epsilon`: total variation's smoothing of `|∇f|` near zero, `sqrt(|∇f|² + ε²)`,
      in the field's units per unit length (it keeps the gradient finite where the
      field is flat).
    """

    values: jax.Array
    smoothness: float = eqx.field(static=True)
    regulariser: str = eqx.field(static=True)
    epsilon: float = eqx.field(static=True)

    def __init__(self, values, smoothness: float = 0.0, regulariser: str = "tikhonov", epsilon: float = 1e-3):
        if not hasattr(values, "dtype") or not jnp.issubdtype(values.dtype, jnp.floating):
            raise TypeError(f"values: expected a floating array, got {values!r}")
        if not smoothness >= 0:
            raise ValueError(f"smoothness: expected a non-negative number, got {smoothness!r}")
        if regulariser not in REGULARISERS:
            raise ValueError(f"regulariser: expected one of {list(REGULARISERS)}, got {regulariser!r}")
        if not epsilon > 0:
            raise ValueError(f"epsilon: expected a positive number, got {epsilon!r}")
        self.values = jnp.asarray(values)
        self.smoothness = float(smoothness)
        self.regulariser = regulariser
        self.epsilon = float(epsilon)

    def __call__(self, grid: Grid):
        if self.values.shape != grid.shape:
            raise ValueError(
                f"grid: expected shape {self.values.shape} (the field's), got {grid.shape}"
            )
        return self.values

    def regularisation(self, grid: Grid):
        """`smoothness` times, with forward differences `D_i f = (f[j+1] - f[j]) / h_i`:

        - Tikhonov: `sum over axes of mean((D_i f)²)`;
        - total variation: `mean(sqrt(sum_i (D_i f)² + ε²))` over the cells (each axis's
          differences taken at the cell's lower corner: isotropic TV).
        """
        if self.smoothness == 0:
            return jnp.zeros((), self.values.dtype)
        differences = [jnp.diff(self.values, axis=axis) / h for axis, h in enumerate(grid.spacing)]
        if self.regulariser == "tikhonov":
            total = sum(jnp.mean(d**2) for d in differences)
        else:
            corner = tuple(slice(0, n - 1) for n in self.values.shape)  # the cells' lower corners
            squared = sum(d[corner] ** 2 for d in differences)
            total = jnp.mean(jnp.sqrt(squared + self.epsilon**2))
        return self.smoothness * total


class PaddedField(eqx.Module):
    """A field model of a grid's interior, extended into an outer layer of `width` nodes
    on every side by its edge values (`jnp.pad(..., mode="edge")`).

    Wave inversion learns the model inside an absorbing layer, not the layer: the layer's
    nodes see little of the data, and their updates only disturb the damping. This is
    how the layer's speed is set (the boundary model continued outwards, as Deepwave and
    Devito pad their models).

    **Arguments:**

    - `inner`: the field model of the interior (`GridField`, `MLP`, ...).
    - `width`: the layer's width in nodes.
    """

    inner: eqx.Module
    width: int = eqx.field(static=True)

    def __init__(self, inner, width: int):
        if isinstance(width, bool) or not isinstance(width, int) or width < 1:
            raise ValueError(f"width: expected a positive int, got {width!r}")
        self.inner = inner
        self.width = width

    def __call__(self, grid: Grid):
        return jnp.pad(self.inner(interior_grid(grid, self.width)), self.width, mode="edge")

    def regularisation(self, grid: Grid):
        """The inner model's regulariser on the interior (zero without one)."""
        if not hasattr(self.inner, "regularisation"):
            return jnp.zeros(())
        return self.inner.regularisation(interior_grid(grid, self.width))


def interior_grid(grid: Grid, width: int) -> Grid:
    """`grid` without its outer `width` nodes on every side (same spacing).

    **Raises:** `ValueError` when nothing is left.
    """
    if 2 * width >= min(grid.shape):
        raise ValueError(f"width: {width} nodes on each side leave no interior of a grid of shape {grid.shape}")
    cut = [width * h for h in grid.spacing]
    return Grid(
        tuple(n - 2 * width for n in grid.shape),
        tuple(lo + c for lo, c in zip(grid.lower, cut)),
        tuple(hi - c for hi, c in zip(grid.upper, cut)),
    )


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
