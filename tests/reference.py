"""Independent dense assembly of the stencil operators, by loops over nodes (numpy only).

Nothing here imports pdekrylov: these matrices are the oracle the operators are
checked against.
"""

import itertools

import numpy as np


def _on_boundary(index, shape):
    return any(i in (0, n - 1) for i, n in zip(index, shape))


def _neighbour(index, axis, side, shape, boundary):
    """The node a stencil reads at `index + side * e_axis`, or None for a zero value
    (under dirichlet: the boundary nodes, which are held at zero)."""
    j = list(index)
    j[axis] += side
    if 0 <= j[axis] < shape[axis]:
        if boundary == "dirichlet" and _on_boundary(j, shape):
            return None
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
        if boundary == "dirichlet" and _on_boundary(index, shape):
            continue  # held: the row vanishes
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
        if boundary == "dirichlet" and _on_boundary(index, shape):
            continue
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


#: central second-difference weights w_0..w_r of orders 2-8 (Fornberg's table)
SECOND_DIFFERENCE = {
    2: [-2.0, 1.0],
    4: [-5 / 2, 4 / 3, -1 / 12],
    6: [-49 / 18, 3 / 2, -3 / 20, 1 / 90],
    8: [-205 / 72, 8 / 5, -1 / 5, 8 / 315, -1 / 560],
}


def _image(j, n, boundary):
    """Where node j (possibly outside 0..n-1) reads, and with which sign."""
    if boundary == "periodic":
        return j % n, 1.0
    if boundary == "neumann":  # even about the half-nodes -1/2 and n-1/2
        if j < 0:
            return -1 - j, 1.0
        if j > n - 1:
            return 2 * n - 1 - j, 1.0
        return j, 1.0
    # dirichlet: odd about the boundary nodes 0 and n-1
    if j < 0:
        return -j, -1.0
    if j > n - 1:
        return 2 * (n - 1) - j, -1.0
    return j, 1.0


def second_difference_1d(n, h, boundary, order):
    """The 1D central second difference of `order` on n nodes, by images."""
    weights = SECOND_DIFFERENCE[order]
    D = np.zeros((n, n))
    for i in range(n):
        for k in range(-(len(weights) - 1), len(weights)):
            j, sign = _image(i + k, n, boundary)
            D[i, j] += sign * weights[abs(k)] / h**2
    if boundary == "dirichlet":
        D[[0, -1], :] = 0
        D[:, [0, -1]] = 0
    return D


def laplacian_matrix(shape, h, boundary, order):
    """The d-dimensional Laplacian of `order`: the Kronecker sum of the 1D ones (under
    dirichlet every node on the boundary of the box held)."""
    size = int(np.prod(shape))
    L = np.zeros((size, size))
    for axis, n in enumerate(shape):
        factors = [np.eye(m) for m in shape]
        factors[axis] = second_difference_1d(n, h[axis], boundary, order)
        term = factors[0]
        for f in factors[1:]:
            term = np.kron(term, f)
        L += term
    if boundary == "dirichlet":
        held = [_on_boundary(index, shape) for index in itertools.product(*map(range, shape))]
        L[held, :] = 0
        L[:, held] = 0
    return L


#: staggered first-derivative weights a_1..a_s and midpoint weights c_1..c_s (tables)
STAGGERED = {
    2: [1.0],
    4: [9 / 8, -1 / 24],
    6: [75 / 64, -25 / 384, 3 / 640],
    8: [1225 / 1024, -245 / 3072, 49 / 5120, -5 / 7168],
}
MIDPOINT = {
    2: [0.5],
    4: [9 / 16, -1 / 16],
    6: [75 / 128, -25 / 256, 3 / 256],
    8: [1225 / 2048, -245 / 2048, 49 / 2048, -5 / 2048],
}


def _axis_operator(shape, axis, matrix_1d):
    factors = [np.eye(m) for m in shape]
    factors[axis] = matrix_1d
    out = factors[0]
    for f in factors[1:]:
        out = np.kron(out, f)
    return out


def flux_matrix(k, h, boundary, order):
    """`-sum_axis D^T K D` with the staggered derivative D onto the faces x_{j+1/2}
    between nodes (the last face only on a periodic axis), K the face diffusivities
    interpolated with `MIDPOINT` (coefficients continued evenly, or periodically)."""
    shape = k.shape
    size = k.size
    A = np.zeros((size, size))
    for axis, n in enumerate(shape):
        faces = n if boundary == "periodic" else n - 1
        D = np.zeros((n, n))  # rows: faces (the unused last one stays zero)
        interpolate = np.zeros((n, n))
        coefficient_rule = "periodic" if boundary == "periodic" else "neumann"
        for j in range(faces):
            for m, (a, c) in enumerate(zip(STAGGERED[order], MIDPOINT[order]), start=1):
                for node, s in ((j + m, 1.0), (j + 1 - m, -1.0)):
                    image, sign = _image(node, n, boundary)
                    D[j, image] += s * sign * a / h[axis]
                    image, _ = _image(node, n, coefficient_rule)
                    interpolate[j, image] += c
        Dx = _axis_operator(shape, axis, D)
        k_face = _axis_operator(shape, axis, interpolate) @ k.ravel()
        A -= Dx.T @ np.diag(k_face) @ Dx
    if boundary == "dirichlet":
        held = [_on_boundary(index, shape) for index in itertools.product(*map(range, shape))]
        A[held, :] = 0
        A[:, held] = 0
    return A
