"""Absorbing layers for the wave equation: a damping (sponge) layer and a perfectly
matched layer (PML), both inside the outer `width` nodes of the grid.

In the layer a damping profile `sigma_i(x) = sigma_max (d_i / L)^power` grows along each
axis i from zero at the layer's inner edge to `sigma_max` at the grid's end (`d_i` the
distance into the layer, `L = width h_i`). The default `sigma_max` is the textbook choice
for a PML, `(power + 1) c_max log(1 / reflection) / (2 L)`, from the reflection a
continuous layer of that profile would give at normal incidence.

- `Sponge`: `u_tt + sigma u_t = c² Δu` with `sigma = sum_i sigma_i` (Cerjan-type damping,
  Devito's `damp`). Simple, two state components, but it reflects where sigma grows.
- `PML`: the second-order PML of Grote and Sim (2010), in 1D and 2D:
  `u_tt + (σ₁ + σ₂) u_t + σ₁ σ₂ u = c² (Δu + ∇·φ)`,
  `φ₁_t = -σ₁ φ₁ + (σ₂ - σ₁) ∂₁u`, `φ₂_t = -σ₂ φ₂ + (σ₁ - σ₂) ∂₂u`
  (in 1D σ₂ = 0 and φ₂ is absent), the complex coordinate stretching `∂_i -> ∂_i / (1 +
  σ_i / s)` written in the time domain: matched, so a continuous layer reflects nothing
  at any angle; the discrete one reflects little. State `(u, u_t, φ_1, ..., φ_d)`.

The damped operator is not similar to a symmetric one: Arnoldi and Diffrax solve it,
Lanczos refuses it (it has no `second_order_form`).
"""

import math
from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp

from . import _stencil
from ._check import check_int, check_number
from ._grid import Grid
from ._operators import AbstractGridOperator, SymmetrizedWaveStiffness, _check_grid, check_field
from ._spectrum import SpectrumBound


class _Layer(eqx.Module):
    """The common part of the layers: its width in nodes, its profile and strength."""

    default_reflection: ClassVar[float] = 1e-3

    width: int = eqx.field(static=True)
    power: float = eqx.field(static=True)
    reflection: float = eqx.field(static=True)
    strength: float | None = eqx.field(static=True)

    def __init__(self, width: int = 20, *, power: float = 2.0, reflection: float | None = None, strength=None):
        self.width = check_int("width", width, 1)
        self.power = check_number("power", power, positive=True)
        reflection = self.default_reflection if reflection is None else reflection
        self.reflection = check_number("reflection", reflection, positive=True, high=1.0)
        self.strength = None if strength is None else check_number("strength", strength, positive=True)

    def sigma_max(self, max_speed, h):
        """The damping at the grid's end along an axis of spacing h: `strength`, or the
        textbook `(power + 1) c_max log(1 / reflection) / (2 L)`."""
        if self.strength is not None:
            return self.strength
        return (self.power + 1) * max_speed * math.log(1 / self.reflection) / (2 * self.width * h)

    def profiles(self, grid: Grid, speed):
        """The damping `sigma_i` along each axis, `(d, *grid.shape)`: zero inside, growing
        as `(d / L)^power` over the outer `width` nodes of every side.

        `c_max` is taken from `speed` without its gradient (the layer is a numerical
        device, not a function of the learned field)."""
        max_speed = jax.lax.stop_gradient(jnp.max(jnp.abs(speed)))
        out = []
        for axis, (n, h) in enumerate(zip(grid.shape, grid.spacing)):
            index = jax.lax.broadcasted_iota(jnp.int32, grid.shape, axis).astype(speed.dtype)
            depth = jnp.maximum(self.width - index, index - (n - 1 - self.width))
            fraction = jnp.clip(depth / self.width, 0.0, 1.0)
            out.append(self.sigma_max(max_speed, h) * fraction**self.power)
        return jnp.stack(out)


class Sponge(_Layer):
    """A damping layer `u_tt + sigma u_t = c² Δu` in the outer `width` nodes.

    **Arguments:**

    - `width`: the layer's width in nodes (default 20), on every side of the grid.
    - `power`: the profile's exponent (default 2).
    - `reflection`: the target reflection that sets the default strength (default 1e-3;
      measured best among 1e-2..1e-7 within 1.5x, `examples/absorbing_reflection.py`).
    - `strength`: `sigma_max` itself, overriding `reflection`.
    """

    default_reflection: ClassVar[float] = 1e-3


class PML(_Layer):
    """The Grote–Sim perfectly matched layer (1D and 2D grids) in the outer `width` nodes.

    **Arguments:** as for `Sponge`; the default `reflection` is 1e-4 (measured: 1.6e-4
    of a rigid wall's reflection at normal incidence, 2.0e-4 at 45°, 20 nodes at 10
    points per wavelength; 1e-3 gave 8.5e-4 and 1.5e-3).
    """

    default_reflection: ClassVar[float] = 1e-4


def _central_derivative(u, axis, h, boundary):
    # second-order central first difference: the PML's auxiliary terms live only in the
    # layer, where accuracy matters less than the matched damping
    return (_stencil.shift(u, axis, 1, boundary) - _stencil.shift(u, axis, -1, boundary)) / (2 * h)


class AbsorbingWaveOperator(AbstractGridOperator):
    """The wave equation `u_tt = c² Δu` with an absorbing layer at the grid's ends.

    The layer occupies the outer `layer.width` nodes of every side of `grid`: the model
    of interest is the rest (pad the speed field, e.g. `jnp.pad(speed, width,
    mode="edge")`, to keep all of it). Outside the layer the operator is `WaveOperator`'s.

    **Arguments:**

    - `grid`, `speed`, `boundary`, `order`: as for `WaveOperator` (the boundary
      condition applies behind the layer; the default `"neumann"` is fine).
    - `layer`: a `pk.Sponge` or a `pk.PML`.

    The state is `(u, u_t)` with a sponge and `(u, u_t, φ_1, ..., φ_d)` with a PML.
    """

    grid: Grid
    speed: jax.Array
    layer: _Layer
    boundary: str = eqx.field(static=True)
    order: int = eqx.field(static=True)

    def __init__(self, grid, speed, layer, boundary="neumann", order=2):
        self.grid = _check_grid(grid)
        self.speed = check_field("speed", speed, grid.shape)
        if not isinstance(layer, (Sponge, PML)):
            raise TypeError(f"layer: expected a pdekrylov.Sponge or pdekrylov.PML, got {type(layer).__name__}")
        if isinstance(layer, PML) and grid.ndim > 2:
            raise ValueError(f"layer: the PML is implemented for 1D and 2D grids, got a {grid.ndim}D grid")
        if 2 * layer.width >= min(grid.shape):
            raise ValueError(
                f"layer: a width of {layer.width} nodes on each side leaves no interior on a grid of shape {grid.shape}"
            )
        if boundary == "periodic":
            raise ValueError("boundary: an absorbing layer needs ends; periodic has none")
        self.layer = layer
        self.boundary = _stencil.check_boundary(boundary)
        self.order = _stencil.check_order(order, grid.shape, _stencil.laplacian_radius(order))

    @property
    def state_shape(self):
        auxiliary = self.grid.ndim if isinstance(self.layer, PML) else 0
        return (2 + auxiliary, *self.grid.shape)

    @property
    def stencil_radius(self):
        return _stencil.laplacian_radius(self.order)

    def source_term(self, density):
        """`(0, density, 0, ...)`: a source enters the `u_t` equation."""
        if jnp.shape(density) != self.grid.shape:
            raise ValueError(
                f"forcing: its sources give densities of shape {jnp.shape(density)}, the wave "
                f"operator takes one of its grid's shape {self.grid.shape}"
            )
        zeros = jnp.zeros_like(density)
        return jnp.stack([zeros, density] + [zeros] * (self.state_shape[0] - 2))

    def spectrum_bound(self):
        """A disk around `-sigma_max / 2` of radius `omega + sigma_max / 2`, `omega =
        sqrt(‖S‖_∞)` the undamped wave's bound (`WaveOperator.spectrum_bound`) and
        `sigma_max` the largest total damping.

        In the wave's energy norm the undamped operator is skew and the sponge's damping
        dissipative, so the numerical range lies in `[-sigma_max, 0] x [-omega, omega]`,
        which the disk contains. The PML's auxiliary coupling is not dissipative in that
        norm: for it the disk is a heuristic that holds for the spectrum (checked on small
        grids in `tests/test_absorbing.py`), and the solvers' a posteriori estimates stay
        the check. (The Euclidean disk of `AbstractGridOperator` would be far too large:
        the first-order form `(u_t, c² Δu)` mixes rows of size 1 and `c²/h²`.)"""
        stiffness = SymmetrizedWaveStiffness(self.grid, self.speed, self.boundary, self.order).spectrum_bound()
        omega = jnp.sqrt(stiffness.radius)
        sigma = jnp.max(jnp.sum(self.damping(), axis=0))
        return SpectrumBound("disk", omega + sigma / 2, -sigma / 2, matvecs=stiffness.matvecs)

    def damping(self):
        """The damping profiles `sigma_i`, `(d, *grid.shape)` (zero outside the layer)."""
        return self.layer.profiles(self.grid, self.speed)

    def __call__(self, y):
        self._check_state(y)
        spacing, boundary = self.grid.spacing, self.boundary
        u, u_t = y[0], y[1]
        sigma = self.damping().astype(jnp.result_type(u, self.speed))
        laplacian = _stencil.laplacian(u, spacing, boundary, self.order)
        if isinstance(self.layer, Sponge):
            acceleration = self.speed**2 * laplacian - jnp.sum(sigma, axis=0) * u_t
            return jnp.stack([u_t.astype(acceleration.dtype), acceleration])
        phi = y[2:]
        divergence = sum(
            _central_derivative(phi[i], i, h, boundary) for i, h in enumerate(spacing)
        )
        total = jnp.sum(sigma, axis=0)
        product = sigma[0] * sigma[1] if self.grid.ndim == 2 else jnp.zeros_like(total)
        acceleration = self.speed**2 * (laplacian + divergence) - total * u_t - product * u
        # φ_i' = -σ_i φ_i + (Σ_{j≠i} σ_j - σ_i) ∂_i u
        auxiliary = [
            -sigma[i] * phi[i] + (total - 2 * sigma[i]) * _central_derivative(u, i, h, boundary)
            for i, h in enumerate(spacing)
        ]
        return jnp.stack([u_t.astype(acceleration.dtype), acceleration, *auxiliary])
