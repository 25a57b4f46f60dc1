"""Finite-difference stencils on vertex grids, with ghost-node boundary conditions.

Every stencil reads, per axis, the two neighbours of each node: `neighbour(u, axis, ±1)`
is `u` shifted by one node, with the boundary condition's ghost value at the end it
shifts in from. Each shift is a `lax.pad` with negative padding (a pure index shift)
followed by a `where` on the boundary slab, so every shifted array has a single
consumer and XLA fuses the whole stencil into one pass over memory. (Padding once with
`jnp.pad(mode="edge")` and slicing four neighbours out of it materialises the padded
copies instead: 3-6x slower at 512^2; see `examples/bench_matvec.py`.)
"""

import jax
import jax.numpy as jnp

#: neumann: the ghost copies its boundary neighbour (zero normal derivative; the paper's
#: edge padding); dirichlet: the ghost is zero; periodic: the ghost is the opposite end.
BOUNDARIES = ("neumann", "dirichlet", "periodic")


def check_boundary(boundary) -> str:
    """Return `boundary` if it names a known boundary condition, else raise `ValueError`."""
    if not isinstance(boundary, str) or boundary not in BOUNDARIES:
        raise ValueError(f"boundary: expected one of {sorted(BOUNDARIES)}, got {boundary!r}")
    return boundary


def neighbour(u, axis: int, side: int, boundary: str):
    """The array of each node's neighbour at `index + side * e_axis` (side = ±1).

    Nodes whose neighbour lies outside the grid read the ghost value of `boundary`.
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


def coefficient_neighbour(k, axis: int, side: int, boundary: str):
    """Neighbour of a coefficient field: continued by its boundary value outside the
    domain (coefficients have no boundary condition of their own), or periodically."""
    return neighbour(k, axis, side, "periodic" if boundary == "periodic" else "neumann")


def laplacian(u, spacing, boundary: str):
    """The standard (2d+1)-point Laplacian of `u`.

    **Arguments:**

    - `u`: array of the grid's shape.
    - `spacing`: the grid spacing per axis.
    - `boundary`: one of `BOUNDARIES`.

    **Returns:** an array like `u`: `sum_i (u[j+e_i] - 2 u[j] + u[j-e_i]) / h_i^2`.
    """
    out = jnp.zeros_like(u)
    for axis, h in enumerate(spacing):
        forward = neighbour(u, axis, 1, boundary)
        backward = neighbour(u, axis, -1, boundary)
        out = out + (forward - 2 * u + backward) / (h * h)
    return out


def flux_divergence(u, k, spacing, boundary: str):
    """Conservative `div(k grad u)`: flux differences over cell faces.

    The face between nodes j and j+1 carries `k_face (u[j+1] - u[j]) / h` with
    `k_face = (k[j] + k[j+1]) / 2`. The node's value is the difference of its two face
    fluxes over h. Because every face flux enters its two nodes with opposite signs, the
    assembled matrix is symmetric for all three boundary conditions.

    **Arguments:**

    - `u`, `k`: arrays of the grid's shape (state and diffusivity).
    - `spacing`, `boundary`: as for `laplacian`.

    **Returns:** an array like `u`.
    """
    out = jnp.zeros_like(u * k)
    for axis, h in enumerate(spacing):
        flux = []
        for side in (1, -1):
            k_face = 0.5 * (k + coefficient_neighbour(k, axis, side, boundary))
            flux.append(k_face * (neighbour(u, axis, side, boundary) - u))
        out = out + (flux[0] + flux[1]) / (h * h)
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

    **Returns:** an array like `u`.
    """
    out = jnp.zeros_like(u * velocity[0])
    for axis, h in enumerate(spacing):
        forward = (neighbour(u, axis, 1, boundary) - u) / h
        backward = (u - neighbour(u, axis, -1, boundary)) / h
        v = velocity[axis]
        out = out + jnp.maximum(v, 0) * backward + jnp.minimum(v, 0) * forward
    return out
