"""Finite-difference stencils on vertex grids, with ghost-node boundary conditions.

Every stencil pads its input by one ghost node per side and axis, then reads shifted
slices of the padded array. XLA fuses the pad and the slices into one pass over the
data, which is what makes the matvec memory-bound rather than op-bound (see
`examples/bench_matvec.py` for the alternatives that were measured).
"""

import jax.numpy as jnp

#: Boundary name -> `jnp.pad` mode that realises its ghost nodes.
#: neumann: the ghost copies its boundary neighbour (zero normal derivative; the paper's
#: edge padding); dirichlet: the ghost is zero; periodic: the ghost is the opposite end.
BOUNDARY_PAD_MODES = {"neumann": "edge", "dirichlet": "constant", "periodic": "wrap"}


def check_boundary(boundary) -> str:
    """Return `boundary` if it names a known boundary condition, else raise `ValueError`."""
    if not isinstance(boundary, str) or boundary not in BOUNDARY_PAD_MODES:
        raise ValueError(
            f"boundary: expected one of {sorted(BOUNDARY_PAD_MODES)}, got {boundary!r}"
        )
    return boundary


def pad(u, boundary: str):
    """Pad every axis of `u` with one ghost node per side, as `boundary` prescribes."""
    return jnp.pad(u, 1, mode=BOUNDARY_PAD_MODES[boundary])


def pad_coefficient(k, boundary: str):
    """Pad a coefficient field so that every cell face has two neighbours to average.

    Coefficients have no boundary condition of their own: outside the domain they are
    continued by their boundary value (or periodically for periodic boundaries).
    """
    return jnp.pad(k, 1, mode="wrap" if boundary == "periodic" else "edge")


def along(padded, axis: int, start: int, stop_from_end: int):
    """Slice a padded array: `start : len - stop_from_end` on `axis`, interior elsewhere."""
    index = []
    for i, n in enumerate(padded.shape):
        if i == axis:
            index.append(slice(start, n - stop_from_end))
        else:
            index.append(slice(1, n - 1))
    return padded[tuple(index)]


def laplacian(u, spacing, boundary: str):
    """The standard (2d+1)-point Laplacian of `u`.

    **Arguments:**

    - `u`: array of the grid's shape.
    - `spacing`: the grid spacing per axis.
    - `boundary`: a key of `BOUNDARY_PAD_MODES`.

    **Returns:** an array like `u`: `sum_i (u[j+e_i] - 2 u[j] + u[j-e_i]) / h_i^2`.
    """
    up = pad(u, boundary)
    out = jnp.zeros_like(u)
    for axis, h in enumerate(spacing):
        forward = along(up, axis, 2, 0)
        backward = along(up, axis, 0, 2)
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
    up = pad(u, boundary)
    kp = pad_coefficient(k, boundary)
    out = jnp.zeros_like(u * k)
    for axis, h in enumerate(spacing):
        u_line = along(up, axis, 0, 0)  # length n+2 along `axis`
        k_line = along(kp, axis, 0, 0)
        u_lo, u_hi = _neighbours(u_line, axis)
        k_lo, k_hi = _neighbours(k_line, axis)
        flux = 0.5 * (k_lo + k_hi) * (u_hi - u_lo) / h  # n+1 faces
        flux_lo, flux_hi = _neighbours(flux, axis)
        out = out + (flux_hi - flux_lo) / h
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
    up = pad(u, boundary)
    out = jnp.zeros_like(u * velocity[0])
    for axis, h in enumerate(spacing):
        forward = (along(up, axis, 2, 0) - u) / h
        backward = (u - along(up, axis, 0, 2)) / h
        v = velocity[axis]
        out = out + jnp.maximum(v, 0) * backward + jnp.minimum(v, 0) * forward
    return out


def _neighbours(x, axis):
    """`(x[:-1], x[1:])` along `axis`."""
    n = x.shape[axis]
    lo = [slice(None)] * x.ndim
    hi = [slice(None)] * x.ndim
    lo[axis] = slice(0, n - 1)
    hi[axis] = slice(1, n)
    return x[tuple(lo)], x[tuple(hi)]
