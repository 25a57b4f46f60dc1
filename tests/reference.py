"""Independent dense assembly of the stencil operators, by loops over nodes (numpy only).

Nothing here imports pdekrylov: these matrices are the oracle the operators are
checked against.
"""

import itertools

import numpy as np


def _neighbour(index, axis, side, shape, boundary):
    """The node a stencil reads at `index + side * e_axis`, or None for a zero ghost."""
    j = list(index)
    j[axis] += side
    if 0 <= j[axis] < shape[axis]:
        return tuple(j)
    if boundary == "neumann":
        return tuple(index)  # the ghost copies its boundary neighbour: the node itself
    if boundary == "periodic":
        j[axis] %= shape[axis]
        return tuple(j)
    return None  # dirichlet


def _coefficient_neighbour(index, axis, side, shape, boundary):
    j = list(index)
    j[axis] += side
    if 0 <= j[axis] < shape[axis]:
        return tuple(j)
    if boundary == "periodic":
        j[axis] %= shape[axis]
        return tuple(j)
    return tuple(index)


def spacing(shape, lower, upper):
    return [(hi - lo) / (n - 1) for n, lo, hi in zip(shape, lower, upper)]


def diffusion_matrix(k, h, boundary):
    """Matrix of conservative div(k grad u); k = ones gives the Laplacian."""
    shape = k.shape
    n = k.size
    A = np.zeros((n, n))
    flat = lambda idx: np.ravel_multi_index(idx, shape)
    for index in itertools.product(*map(range, shape)):
        row = flat(index)
        for axis in range(len(shape)):
            for side in (-1, 1):
                nb = _neighbour(index, axis, side, shape, boundary)
                knb = _coefficient_neighbour(index, axis, side, shape, boundary)
                face = 0.5 * (k[index] + k[knb]) / h[axis] ** 2
                A[row, row] -= face
                if nb is not None:
                    A[row, flat(nb)] += face
    return A


def upwind_matrix(velocity, h, boundary):
    """Matrix of first-order upwind v . grad u."""
    shape = velocity.shape[1:]
    n = int(np.prod(shape))
    A = np.zeros((n, n))
    flat = lambda idx: np.ravel_multi_index(idx, shape)
    for index in itertools.product(*map(range, shape)):
        row = flat(index)
        for axis in range(len(shape)):
            v = velocity[(axis, *index)]
            side = -1 if v > 0 else 1  # read from where the flow comes from
            sign = 1.0 if v > 0 else -1.0
            # v>0: v (u_j - u_{j-1}) / h ; v<0: v (u_{j+1} - u_j) / h
            A[row, row] += sign * v / h[axis]
            nb = _neighbour(index, axis, side, shape, boundary)
            if nb is not None:
                A[row, flat(nb)] -= sign * v / h[axis]
    return A


def wave_matrix(speed, h, boundary):
    """Block matrix [[0, I], [diag(c^2) L, 0]] of the first-order wave system."""
    n = speed.size
    L = diffusion_matrix(np.ones_like(speed), h, boundary)
    top = np.hstack([np.zeros((n, n)), np.eye(n)])
    bottom = np.hstack([np.diag(speed.ravel() ** 2) @ L, np.zeros((n, n))])
    return np.vstack([top, bottom])
