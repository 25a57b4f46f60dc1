"""Matrix-free linear PDE operators as Equinox modules.

An operator is a callable pytree: `op(y)` is the matrix-vector product of the
semi-discrete PDE `y' = A(theta) y`, and its array fields (the coefficient fields) are
what `jax.grad` differentiates. Operators know nothing about solvers; they expose the
structure a solver may use (`state_shape`, `is_self_adjoint`).
"""

import abc

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from . import _probing, _stencil
from ._grid import Grid
from ._spectrum import SpectrumBound


class AbstractOperator(eqx.Module):
    """The solver contract: a linear operator `y -> A y` on states of shape `state_shape`.

    A matvec (`__call__`) and a state shape are all a solver needs; structure a solver
    may use is declared, never guessed (`is_self_adjoint`, `second_order_form()`).
    Subclass it for an operator of your own, or wrap a matvec or a matrix in
    `pk.LinearOperator` / `pk.MatrixOperator`.
    """

    @property
    @abc.abstractmethod
    def state_shape(self) -> tuple[int, ...]:
        """The shape of the states the operator acts on."""

    @property
    def component_ndim(self) -> int:
        """How many leading state axes are components, not space (the wave state's
        `(u, u_t)` axis: 1; default 0). Krylov solvers move them last when they flatten a
        state, so a state split along its first spatial axis stays split."""
        return 0

    #: Whether the operator's matrix is symmetric (Euclidean inner product on the
    #: flattened state). Solvers such as Lanczos require it.
    is_self_adjoint = False

    @abc.abstractmethod
    def __call__(self, y):
        """Apply the operator to `y` (an array of shape `state_shape`)."""

    def second_order_form(self) -> "SecondOrderForm | None":
        """The operator's second-order structure, if it has one (default: none).

        Operators of the form `(u, u_t)' = (u_t, W S W^{-1} u)`, with `S` symmetric and
        `W` diagonal, return it; solvers can then use a symmetric Lanczos process on `S`
        (half the state, a three-term recurrence) instead of Arnoldi on the whole system.
        """
        return None

    def spectrum_bound(self) -> "SpectrumBound | None":
        """Where the spectrum lies, for the Krylov solvers' tolerance mode (default: not
        known, None). See `pk.SpectrumBound`; the bound must hold for the numerical range,
        for every start vector, since the adjoint propagates an arbitrary cotangent."""
        return None

    def source_term(self, density):
        """The state's forcing for a source density (`pk.Forcing`): by default the
        density itself, which must have the state's shape. The wave operator enters it
        in the `u_t` equation."""
        if jnp.shape(density) != self.state_shape:
            raise ValueError(
                f"forcing: its sources give densities of shape {jnp.shape(density)}, the operator's "
                f"state has shape {self.state_shape}"
            )
        return density

    def _check_state(self, y):
        if jnp.shape(y) != self.state_shape:
            raise ValueError(
                f"y: expected an array of shape {self.state_shape} (the operator's "
                f"state shape), got {jnp.shape(y)}"
            )

    def as_matrix(self):
        """Assemble the dense matrix of the operator (small grids only).

        **Returns:** an `(N, N)` array, N the state size, acting on the state flattened in
        C order: `as_matrix() @ y.ravel() == op(y).ravel()`.
        """
        return _assemble(self)


@eqx.filter_jit
def _assemble(operator):
    size = int(np.prod(operator.state_shape))
    basis = jnp.eye(size, dtype=_probing.coefficient_dtype(operator)).reshape(size, *operator.state_shape)
    return jax.vmap(operator)(basis).reshape(size, size).T


class AbstractGridOperator(AbstractOperator):
    """An operator discretised on a `Grid` with a boundary condition (the stencil
    operators): the solver contract plus the grid's structure.

    Its stencil reaches at most `stencil_radius` nodes along each axis: every entry of
    row i couples node i to nodes in the box of side `2 r + 1` around it, in any
    component. `as_sparse_matrix` relies on that (its test checks it against `as_matrix`
    for every operator).
    """

    grid: eqx.AbstractVar[Grid]
    boundary: eqx.AbstractVar[str]

    @property
    def stencil_radius(self) -> int:
        """How many nodes along each axis a row of the matrix reaches (default 1)."""
        return 1

    @property
    def component_ndim(self) -> int:
        return len(self.state_shape) - self.grid.ndim

    def as_sparse_matrix(self):
        """Assemble the operator's matrix as a SciPy CSR matrix (any grid size).

        By probing: one matvec per colour of a colouring of the grid in which the nodes
        of every box of side `2 r + 1` (r the `stencil_radius`) have distinct colours
        (`(2 r + 1)^d` colours per component, more on a periodic axis whose length
        `2 r + 1` does not divide), so each product yields the entries of every row at once.

        **Returns:** an `(N, N)` `scipy.sparse.csr_matrix` on the state flattened in C
        order, like `as_matrix()`; exact zeros are not stored.
        """
        return _probing.assemble_sparse(self)

    def spectrum_bound(self) -> SpectrumBound:
        """A disk containing the numerical range: `‖A - mu I‖₂ <= sqrt(‖A - mu I‖₁
        ‖A - mu I‖_∞)`, the norms exact by probing (absolute row sums of A and of its
        transpose, and the diagonal). The centre `mu` is minus half the largest row sum
        when the diagonal is non-positive (a dissipative stencil: the disk then lies in
        the left half-plane), else 0. Operators with more structure (symmetric, second
        order) override it."""
        diagonal = _probing.diagonal(self)
        rows = _probing.absolute_row_sums(self)
        columns = _probing.absolute_row_sums(self, transpose=True)
        center = jnp.where(jnp.max(diagonal) <= 0, -0.5 * jnp.max(rows), 0.0)
        # shifting the diagonal changes |A_ii| to |A_ii - mu| in every row and column sum
        change = jnp.abs(diagonal - center) - jnp.abs(diagonal)
        radius = jnp.sqrt(jnp.max(rows + change) * jnp.max(columns + change))
        return SpectrumBound("disk", radius, center, 3 * _probing.probe_count(self))


def check_field(name: str, value, shape: tuple[int, ...]):
    """Validate a coefficient field: a floating array of exactly `shape`.

    **Returns:** the field as a JAX array.

    **Raises:** `TypeError` for a non-array or non-floating dtype, `ValueError` for a
    wrong shape; both name the argument.
    """
    if not hasattr(value, "shape") or not hasattr(value, "dtype"):
        raise TypeError(
            f"{name}: expected a floating array of shape {shape}, got {type(value).__name__}"
        )
    if not jnp.issubdtype(value.dtype, jnp.floating):
        raise TypeError(f"{name}: expected a floating dtype, got {value.dtype}")
    if tuple(value.shape) != tuple(shape):
        raise ValueError(
            f"{name}: expected shape {tuple(shape)} (the grid's), got {tuple(value.shape)}"
        )
    return jnp.asarray(value)


def _check_grid(grid):
    if not isinstance(grid, Grid):
        raise TypeError(f"grid: expected a pdekrylov.Grid, got {type(grid).__name__}")
    return grid


class SymmetrizedWaveStiffness(AbstractGridOperator):
    """`S z = c lap(c z)`: the wave operator's `c^2 lap` made symmetric.

    `c^2 lap = C S C^{-1}` with `C = diag(c)`, and `S` is symmetric because `lap` is (for
    all three boundary conditions and every order), so `S` is what a Lanczos process can
    work with.

    **Arguments:** as for `WaveOperator`.
    """

    grid: Grid
    speed: jax.Array
    boundary: str = eqx.field(static=True)
    order: int = eqx.field(static=True)

    is_self_adjoint = True

    def __init__(self, grid, speed, boundary="neumann", order=2):
        self.grid = _check_grid(grid)
        self.speed = check_field("speed", speed, grid.shape)
        self.boundary = _stencil.check_boundary(boundary)
        self.order = _stencil.check_order(order, grid.shape, _stencil.laplacian_radius(order))

    @property
    def stencil_radius(self):
        return _stencil.laplacian_radius(self.order)

    @property
    def state_shape(self):
        return self.grid.shape

    def __call__(self, z):
        self._check_state(z)
        return self.speed * _stencil.laplacian(self.speed * z, self.grid.spacing, self.boundary, self.order)

    def spectrum_bound(self):
        """Symmetric negative semi-definite (`lap` is): spectrum in `[-‖S‖_∞, 0]`."""
        rows = _probing.absolute_row_sums(self)
        return SpectrumBound("negative", jnp.max(rows), matvecs=_probing.probe_count(self))

    def lift(self, u):
        """`S C^{-1} u = c lap(u)`, computed without dividing by c (which may vanish)."""
        self._check_state(u)
        return self.speed * _stencil.laplacian(u, self.grid.spacing, self.boundary, self.order)


class SecondOrderForm(eqx.Module):
    """`(u, u_t)' = (u_t, W S W^{-1} u)` with `S` self-adjoint and `W = diag(scale)`.

    - `stiffness`: `S`, an operator with `is_self_adjoint` and a `lift(u)` method that
      returns `S W^{-1} u` without dividing by `W`.
    - `scale`: the diagonal of `W`, an array of `stiffness.state_shape`.
    """

    stiffness: AbstractOperator
    scale: jax.Array


class WaveOperator(AbstractGridOperator):
    """The wave equation `u_tt = c^2 lap(u)` in first-order form (the paper's).

    The state is `y = (u, u_t)`, of shape `(2, *grid.shape)`, and
    `op(y) = (u_t, speed**2 * lap(u))` with the central Laplacian of the given order
    ((2d+1)-point for order 2). Only the square of the speed enters, so its sign is
    irrelevant.

    **Arguments:**

    - `grid`: a `pdekrylov.Grid`.
    - `speed`: the wave speed c, a floating array of the grid's shape.
    - `boundary`: `"neumann"` (default), `"dirichlet"` or `"periodic"`. Under
      `"dirichlet"` the boundary nodes are held: `lap` neither reads nor changes them,
      so `u` keeps its initial boundary values there (zero for a Dirichlet problem).
    - `order`: the spatial order of accuracy, 2 (default), 4, 6 or 8; the stencil reads
      `order / 2` nodes along each axis.
    """

    grid: Grid
    speed: jax.Array
    boundary: str = eqx.field(static=True)
    order: int = eqx.field(static=True)

    def __init__(self, grid, speed, boundary="neumann", order=2):
        self.grid = _check_grid(grid)
        self.speed = check_field("speed", speed, grid.shape)
        self.boundary = _stencil.check_boundary(boundary)
        self.order = _stencil.check_order(order, grid.shape, _stencil.laplacian_radius(order))

    @property
    def state_shape(self):
        return (2, *self.grid.shape)

    @property
    def stencil_radius(self):
        return _stencil.laplacian_radius(self.order)

    def second_order_form(self):
        stiffness = SymmetrizedWaveStiffness(self.grid, self.speed, self.boundary, self.order)
        return SecondOrderForm(stiffness, self.speed)

    def spectrum_bound(self):
        """Imaginary: the eigenvalues are `±i sqrt(mu)`, mu those of `-S` (the second-order
        form), so `|lambda| <= sqrt(‖S‖_∞)`."""
        stiffness = self.second_order_form().stiffness.spectrum_bound()
        # each matvec of S is half of one of this operator's
        return SpectrumBound("imaginary", jnp.sqrt(stiffness.radius), matvecs=stiffness.matvecs)

    def source_term(self, density):
        """`(0, density)`: a source of `u_tt = c² Δu + s` enters the `u_t` equation."""
        if jnp.shape(density) != self.grid.shape:
            raise ValueError(
                f"forcing: its sources give densities of shape {jnp.shape(density)}, the wave "
                f"operator takes one of its grid's shape {self.grid.shape}"
            )
        return jnp.stack([jnp.zeros_like(density), density])

    def __call__(self, y):
        self._check_state(y)
        u, u_t = y[0], y[1]
        acceleration = self.speed**2 * _stencil.laplacian(u, self.grid.spacing, self.boundary, self.order)
        return jnp.stack([u_t.astype(acceleration.dtype), acceleration])


class DiffusionOperator(AbstractGridOperator):
    """Diffusion `u_t = div(k grad u)` in conservative (flux) form.

    At order 2 the face diffusivities are the arithmetic mean of the two adjacent nodes;
    higher orders interpolate them and differentiate onto the faces at that order
    (`-D^T K D`, see `_stencil.flux_divergence`). The matrix is symmetric for every
    boundary condition and order (`is_self_adjoint`), negative semi-definite where the
    face diffusivities are non-negative (always for `k >= 0` at order 2).

    **Arguments:**

    - `grid`: a `pdekrylov.Grid`.
    - `diffusivity`: k, a floating array of the grid's shape (non-negative for a
      well-posed problem; not checked, since it may be a traced learned field).
    - `boundary`: `"neumann"` (default), `"dirichlet"` (boundary nodes held, as for
      `WaveOperator`) or `"periodic"`.
    - `order`: the spatial order of accuracy, 2 (default), 4, 6 or 8; a row couples
      `order - 1` nodes along each axis.
    """

    grid: Grid
    diffusivity: jax.Array
    boundary: str = eqx.field(static=True)
    order: int = eqx.field(static=True)

    is_self_adjoint = True

    def __init__(self, grid, diffusivity, boundary="neumann", order=2):
        self.grid = _check_grid(grid)
        self.diffusivity = check_field("diffusivity", diffusivity, grid.shape)
        self.boundary = _stencil.check_boundary(boundary)
        self.order = _stencil.check_order(order, grid.shape, _stencil.flux_radius(order))

    @property
    def state_shape(self):
        return self.grid.shape

    @property
    def stencil_radius(self):
        return _stencil.flux_radius(self.order)

    def spectrum_bound(self):
        """Symmetric negative semi-definite for `k >= 0`: spectrum in `[-‖A‖_∞, 0]`."""
        rows = _probing.absolute_row_sums(self)
        return SpectrumBound("negative", jnp.max(rows), matvecs=_probing.probe_count(self))

    def __call__(self, y):
        self._check_state(y)
        return _stencil.flux_divergence(
            y, self.diffusivity, self.grid.spacing, self.boundary, self.order
        )


class AdvectionDiffusionOperator(AbstractGridOperator):
    """Advection-diffusion `u_t = div(k grad u) - v . grad u` (non-symmetric).

    Diffusion as in `DiffusionOperator`; advection by first-order upwind differences
    (the one-sided difference from the side the flow comes from, per axis and node),
    which keeps the discrete operator dissipative at the price of first-order accuracy.

    **Arguments:**

    - `grid`: a `pdekrylov.Grid`.
    - `diffusivity`: k, a floating array of the grid's shape.
    - `velocity`: v, a sequence of d floating arrays of the grid's shape (one per axis),
      or one array of shape `(d, *grid.shape)`.
    - `boundary`: `"neumann"` (default), `"dirichlet"` or `"periodic"`.
    """

    grid: Grid
    diffusivity: jax.Array
    velocity: jax.Array
    boundary: str = eqx.field(static=True)

    def __init__(self, grid, diffusivity, velocity, boundary="neumann"):
        self.grid = _check_grid(grid)
        self.diffusivity = check_field("diffusivity", diffusivity, grid.shape)
        if isinstance(velocity, (list, tuple)):
            if len(velocity) != grid.ndim:
                raise ValueError(
                    f"velocity: expected {grid.ndim} components (one per axis), "
                    f"got {len(velocity)}"
                )
            components = [
                check_field(f"velocity[{i}]", v, grid.shape) for i, v in enumerate(velocity)
            ]
            velocity = jnp.stack(components)
        self.velocity = check_field("velocity", velocity, (grid.ndim, *grid.shape))
        self.boundary = _stencil.check_boundary(boundary)

    @property
    def state_shape(self):
        return self.grid.shape

    def __call__(self, y):
        self._check_state(y)
        spacing = self.grid.spacing
        diffusion = _stencil.flux_divergence(y, self.diffusivity, spacing, self.boundary)
        advection = _stencil.upwind_advection(y, self.velocity, spacing, self.boundary)
        return diffusion - advection
