"""Finite-difference stencils on vertex grids: orders 2, 4, 6 and 8, three boundary conditions.

Every stencil reads, per axis, the nodes up to its radius away from each node:
`shift(u, axis, offset, boundary)` is `u` shifted by `offset` nodes, its values beyond
the grid's end given by the boundary condition's reflection. A shift by one node is a
`lax.pad` with negative padding (a pure index shift) followed by a `where` on the boundary
slab, so every shifted array has a single consumer and XLA fuses the whole stencil into
one pass over memory. (Padding once with `jnp.pad(mode="edge")` and slicing four
neighbours out of it materialises the padded copies instead: 3-6x slower at 512^2; see
`examples/bench_matvec.py`.) Wider shifts concatenate the shifted body with its reflected
ghost block.

Boundary conditions (the same reflection for every order, so every operator's matrix
stays symmetric where the PDE's is):

- `neumann`: even reflection about the half-node outside each end, `u[-1-j] = u[j]` (for
  order 2 the paper's edge padding: the ghost copies its boundary neighbour);
- `dirichlet`: the boundary nodes are held at zero. Operators neither read nor change
  them (their rows and columns vanish), and a wider stencil reads beyond them the odd
  reflection about the boundary node, `u[-j] = -u[j]`, which vanishes there;
- `periodic`: the opposite end.
"""

import fractions
import functools

import jax
import jax.numpy as jnp

#: the boundary conditions (see the module's docstring)
BOUNDARIES = ("neumann", "dirichlet", "periodic")
#: the spatial orders of accuracy of the stencils
ORDERS = (2, 4, 6, 8)


def check_boundary(boundary) -> str:
    """Return `boundary` if it names a known boundary condition, else raise `ValueError`."""
    if not isinstance(boundary, str) or boundary not in BOUNDARIES:
        raise ValueError(f"boundary: expected one of {sorted(BOUNDARIES)}, got {boundary!r}")
    return boundary


def check_order(order, grid_shape=None, radius=None) -> int:
    """Return `order` if it is one of `ORDERS` and, given the grid's shape and the
    stencil's radius at that order, every axis is long enough for the reflections
    (`radius + 1` nodes: a ghost block is one reflection of the grid), else raise
    `ValueError` naming `order`."""
    if isinstance(order, bool) or not isinstance(order, int) or order not in ORDERS:
        raise ValueError(f"order: expected one of {list(ORDERS)}, got {order!r}")
    if grid_shape is not None and min(grid_shape) < radius + 1:
        raise ValueError(
            f"order: a stencil of order {order} reaches {radius} nodes along each axis and "
            f"needs at least {radius + 1} nodes per axis; the grid has shape {tuple(grid_shape)}"
        )
    return order


def _solve_exactly(matrix, rhs):
    """Gauss-Jordan elimination in rational arithmetic (the small Vandermonde systems of
    the weights, which are exact in fractions and ill-conditioned in floats)."""
    n = len(rhs)
    rows = [list(map(fractions.Fraction, row)) + [fractions.Fraction(b)] for row, b in zip(matrix, rhs)]
    for col in range(n):
        pivot = next(r for r in range(col, n) if rows[r][col] != 0)
        rows[col], rows[pivot] = rows[pivot], rows[col]
        rows[col] = [x / rows[col][col] for x in rows[col]]
        for r in range(n):
            if r != col and rows[r][col] != 0:
                rows[r] = [a - rows[r][col] * b for a, b in zip(rows[r], rows[col])]
    return [row[-1] for row in rows]


@functools.cache
def second_derivative_weights(order: int) -> tuple[fractions.Fraction, ...]:
    """The central second-difference weights `(w_0, ..., w_r)`, `r = order / 2`:
    `u''(x_j) ≈ (w_0 u_j + sum_k w_k (u_{j+k} + u_{j-k})) / h²` to `O(h^order)`
    (order 2: `(-2, 1)`; 4: `(-5/2, 4/3, -1/12)`). Exact fractions: they match the
    Taylor expansion, `sum_k w_k k^(2q) = [q = 1]` for `q = 1..r`."""
    r = order // 2
    w = _solve_exactly([[k ** (2 * q) for k in range(1, r + 1)] for q in range(1, r + 1)],
                       [int(q == 1) for q in range(1, r + 1)])
    return (-2 * sum(w), *w)


@functools.cache
def staggered_derivative_weights(order: int) -> tuple[fractions.Fraction, ...]:
    """`(a_1, ..., a_s)`, `s = order / 2`: the derivative at the face `x_{j+1/2}` is
    `sum_m a_m (u_{j+m} - u_{j+1-m}) / h` to `O(h^order)` (order 4: `(9/8, -1/24)`)."""
    s = order // 2
    half = [fractions.Fraction(2 * m - 1, 2) for m in range(1, s + 1)]
    return tuple(_solve_exactly([[2 * x ** (2 * q + 1) for x in half] for q in range(s)],
                                [int(q == 0) for q in range(s)]))


@functools.cache
def midpoint_weights(order: int) -> tuple[fractions.Fraction, ...]:
    """`(c_1, ..., c_s)`: the value at the face `x_{j+1/2}` is
    `sum_m c_m (k_{j+m} + k_{j+1-m})` to `O(h^order)` (order 2: the mean; 4: `(9/16, -1/16)`)."""
    s = order // 2
    half = [fractions.Fraction(2 * m - 1, 2) for m in range(1, s + 1)]
    return tuple(_solve_exactly([[2 * x ** (2 * q) for x in half] for q in range(s)],
                                [int(q == 0) for q in range(s)]))


def laplacian_radius(order: int) -> int:
    """How many nodes along each axis the order's Laplacian reads (`order / 2`)."""
    return order // 2


def flux_radius(order: int) -> int:
    """How many nodes along each axis the order's flux-form `div(k grad u)` couples: a
    staggered derivative (`order / 2` nodes from a face) and its transpose, `order - 1`."""
    return order - 1


def interior_mask(shape, axes=None):
    """Boolean array of `shape`: False on the first and last node of each of `axes`
    (the grid's axes: by default all), the Dirichlet boundary nodes."""
    axes = range(len(shape)) if axes is None else axes
    inside = jnp.ones(shape, bool)
    for axis in axes:
        index = jax.lax.broadcasted_iota(jnp.int32, shape, axis)
        inside = inside & (index > 0) & (index < shape[axis] - 1)
    return inside


def _hold_boundary(u, boundary: str):
    """Zero the Dirichlet boundary nodes (a no-op for the other conditions)."""
    if boundary != "dirichlet":
        return u
    return jnp.where(interior_mask(u.shape), u, jnp.zeros((), u.dtype))


def neighbour(u, axis: int, side: int, boundary: str):
    """The array of each node's neighbour at `index + side * e_axis` (side = ±1).

    Nodes whose neighbour lies outside the grid read the ghost value of `boundary`
    (for `dirichlet` zero: only the boundary nodes themselves read a ghost, and their
    rows are zeroed by every operator, so any value would do).
    """
    if boundary == "periodic":
        return jnp.roll(u, -side, axis=axis)
    config = [(0, 0, 0)] * u.ndim
    config[axis] = (-1, 1, 0) if side > 0 else (1, -1, 0)
    shifted = jax.lax.pad(u, jnp.zeros((), u.dtype), config)  # ghost = 0 (dirichlet)
    if boundary == "dirichlet":
        return shifted
    edge = u.shape[axis] - 1 if side > 0 else 0
    at_edge = jax.lax.broadcasted_iota(jnp.int32, u.shape, axis) == edge
    return jnp.where(at_edge, u, shifted)  # neumann: the ghost copies the boundary node


def shift(u, axis: int, offset: int, boundary: str):
    """`u` at `index + offset * e_axis` for every node, beyond the grid's ends its
    reflection by `boundary` (see the module's docstring); `|offset| < u.shape[axis]`.

    One node under `neumann` is `neighbour`; otherwise the shifted body is concatenated
    with the reflected block of ghosts (under `dirichlet` even for one node: a staggered
    derivative at the face beside a held node reads the odd reflection, `neighbour`'s
    zero would break its transpose's symmetry)."""
    if offset == 0:
        return u
    if abs(offset) == 1 and boundary == "neumann":
        return neighbour(u, axis, offset, boundary)
    if boundary == "periodic":
        return jnp.roll(u, -offset, axis=axis)
    n, m = u.shape[axis], abs(offset)
    take = lambda start, stop: jax.lax.slice_in_dim(u, start, stop, axis=axis)  # noqa: E731
    if boundary == "neumann":  # even about the half-node: u[n-1+j] = u[n-j], u[-j] = u[j-1]
        ghost = take(n - m, n) if offset > 0 else take(0, m)
        ghost = jnp.flip(ghost, axis)
    else:  # dirichlet, odd about the boundary node: u[n-1+j] = -u[n-1-j], u[-j] = -u[j]
        ghost = take(n - 1 - m, n - 1) if offset > 0 else take(1, m + 1)
        ghost = -jnp.flip(ghost, axis)
    if offset > 0:
        return jnp.concatenate([take(m, n), ghost], axis=axis)
    return jnp.concatenate([ghost, take(0, n - m)], axis=axis)


def coefficient_neighbour(k, axis: int, side: int, boundary: str):
    """Neighbour of a coefficient field: continued by its boundary value outside the
    domain (coefficients have no boundary condition of their own), or periodically."""
    return neighbour(k, axis, side, _coefficient_boundary(boundary))


def _coefficient_boundary(boundary: str) -> str:
    # coefficients have no boundary condition of their own: continued evenly
    return "periodic" if boundary == "periodic" else "neumann"


def laplacian(u, spacing, boundary: str, order: int = 2):
    """The central Laplacian of `u` of the given order ((2d+1)-point for order 2).

    **Arguments:**

    - `u`: array of the grid's shape.
    - `spacing`: the grid spacing per axis.
    - `boundary`: one of `BOUNDARIES`.
    - `order`: one of `ORDERS`.

    **Returns:** an array like `u`: `sum_i (w_0 u + sum_k w_k (u[j+k e_i] + u[j-k e_i])) / h_i^2`
    with the weights of `second_derivative_weights(order)`, zero on Dirichlet boundary nodes.
    """
    u = _hold_boundary(u, boundary)
    weights = [float(w) for w in second_derivative_weights(order)]
    out = jnp.zeros_like(u)
    for axis, h in enumerate(spacing):
        if order == 2:  # the paper's (2d+1)-point stencil, in its original arithmetic order
            forward, backward = shift(u, axis, 1, boundary), shift(u, axis, -1, boundary)
            out = out + (forward - 2 * u + backward) / (h * h)
            continue
        term = weights[0] * u
        for k, w in enumerate(weights[1:], start=1):
            term = term + w * (shift(u, axis, k, boundary) + shift(u, axis, -k, boundary))
        out = out + term / (h * h)
    return _hold_boundary(out, boundary)


def flux_divergence(u, k, spacing, boundary: str, order: int = 2):
    """Conservative `div(k grad u)`: flux differences over cell faces.

    Order 2: the face between nodes j and j+1 carries `k_face (u[j+1] - u[j]) / h` with
    `k_face = (k[j] + k[j+1]) / 2`, and the node's value is the difference of its two face
    fluxes over h. Higher orders: `-D^T K D u` with `D` the staggered derivative of the
    order (`staggered_derivative_weights`) onto the faces between nodes, `K` the face
    diffusivities interpolated at the order (`midpoint_weights`). Either way every face
    flux enters the nodes with opposite signs, so the assembled matrix is symmetric for
    all three boundary conditions (negative semi-definite where the face diffusivities
    are non-negative).

    **Arguments:**

    - `u`, `k`: arrays of the grid's shape (state and diffusivity).
    - `spacing`, `boundary`, `order`: as for `laplacian`.

    **Returns:** an array like `u`, zero on Dirichlet boundary nodes.
    """
    u = _hold_boundary(u, boundary)
    if order == 2:
        out = jnp.zeros_like(u * k)
        for axis, h in enumerate(spacing):
            flux = []
            for side in (1, -1):
                k_face = 0.5 * (k + coefficient_neighbour(k, axis, side, boundary))
                flux.append(k_face * (neighbour(u, axis, side, boundary) - u))
            out = out + (flux[0] + flux[1]) / (h * h)
        return _hold_boundary(out, boundary)
    dtype = jnp.result_type(u, k)
    out = jnp.zeros(u.shape, dtype)
    for axis, h in enumerate(spacing):
        gradient = functools.partial(_face_derivative, axis=axis, h=h, boundary=boundary, order=order)
        (transposed,) = jax.linear_transpose(gradient, jax.ShapeDtypeStruct(u.shape, dtype))(
            _face_value(k, axis, boundary, order) * gradient(u.astype(dtype))
        )
        out = out - transposed
    return _hold_boundary(out, boundary)


def _faces(u, axis: int, boundary: str):
    """Keep the faces between nodes: face j is `x_{j+1/2}`; the last one lies beyond the
    grid unless the axis is periodic (there it is the face of the wrap)."""
    if boundary == "periodic":
        return u
    index = jax.lax.broadcasted_iota(jnp.int32, u.shape, axis)
    return jnp.where(index < u.shape[axis] - 1, u, jnp.zeros((), u.dtype))


def _face_derivative(u, *, axis, h, boundary, order):
    """The staggered derivative of `u` at the faces `x_{j+1/2}` (see `_faces`)."""
    out = 0
    for m, a in enumerate(staggered_derivative_weights(order), start=1):
        out = out + float(a) * (shift(u, axis, m, boundary) - shift(u, axis, 1 - m, boundary))
    return _faces(out / h, axis, boundary)


def _face_value(k, axis, boundary, order):
    """The coefficient interpolated to the faces `x_{j+1/2}`."""
    boundary = _coefficient_boundary(boundary)
    out = 0
    for m, c in enumerate(midpoint_weights(order), start=1):
        out = out + float(c) * (shift(k, axis, m, boundary) + shift(k, axis, 1 - m, boundary))
    return out


def upwind_advection(u, velocity, spacing, boundary: str):
    """First-order upwind approximation of `velocity . grad u`.

    Along each axis the one-sided difference is taken from the side the flow comes from:
    backward `(u[j] - u[j-1]) / h` where the velocity component is positive, forward
    `(u[j+1] - u[j]) / h` where it is negative. This keeps the semi-discrete advection
    dissipative (no spurious oscillations), at first-order accuracy.

    **Arguments:**

    - `u`: array of the grid's shape.
    - `velocity`: array of shape `(d, *grid.shape)`, one component per axis.
    - `spacing`, `boundary`: as for `laplacian`.

    **Returns:** an array like `u`, zero on Dirichlet boundary nodes.
    """
    u = _hold_boundary(u, boundary)
    out = jnp.zeros_like(u * velocity[0])
    for axis, h in enumerate(spacing):
        forward = (neighbour(u, axis, 1, boundary) - u) / h
        backward = (u - neighbour(u, axis, -1, boundary)) / h
        v = velocity[axis]
        out = out + jnp.maximum(v, 0) * backward + jnp.minimum(v, 0) * forward
    return _hold_boundary(out, boundary)
