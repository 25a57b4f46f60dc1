"""Stencil operators' matrices by probing: one matvec per colour of a grid colouring.

In a colouring where the nodes of every box of side `2 r + 1` (r the operator's
`stencil_radius`) have distinct colours, the product of the
operator with the indicator of one colour (on one component) holds, in every row, at most
one entry of that row. So a few matvecs give every entry: the sparse matrix
(`assemble_sparse`) and the absolute row sums (`absolute_row_sums`, Gershgorin's bound),
the latter inside `jit`.
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np


def _colouring_modulus(n: int, periodic: bool, radius: int = 1) -> int:
    """Colours along an axis of n nodes: nodes i-r..i+r must differ (mod m), also
    across a periodic wrap, where m must divide n."""
    width = 2 * radius + 1
    if n <= width:
        return n
    if not periodic:
        return width
    return next(m for m in range(width, n + 1) if n % m == 0)


class _Colouring:
    """The colouring of an operator's grid and its probe vectors (all numpy, static).

    - `colour`: per grid node, its colour; `colours`: how many there are.
    - `nodes`: the node indices `(d, nodes)`; `components`: state components per node.
    - `probes`: `(components * colours, *state_shape)`; probe `c * colours + k` is one on
      component c at the nodes of colour k.
    """

    def __init__(self, operator):
        grid_shape = operator.grid.shape
        self.components = int(np.prod(operator.state_shape[: operator.component_ndim], dtype=int))
        self.periodic = operator.boundary == "periodic"
        self.radius = operator.stencil_radius
        moduli = [_colouring_modulus(n, self.periodic, self.radius) for n in grid_shape]
        self.nodes = np.indices(grid_shape).reshape(len(grid_shape), -1)
        self.colour = np.ravel_multi_index(tuple(i % m for i, m in zip(self.nodes, moduli)), moduli)
        self.colours = int(np.prod(moduli))
        count = self.nodes.shape[1]
        probes = np.zeros((self.components, self.colours, self.components, count))
        for c in range(self.components):
            probes[c, self.colour, c, np.arange(count)] = 1.0
        self.probes = probes.reshape(self.components * self.colours, *operator.state_shape)


def probe_count(operator) -> int:
    """The matvecs of one probing sweep (`absolute_row_sums`, `diagonal`)."""
    return int(_Colouring(operator).probes.shape[0])


def coefficient_dtype(operator):
    """The dtype of the operator's arrays (the dtype its matrix is assembled in)."""
    return jnp.result_type(*jax.tree_util.tree_leaves(eqx.filter(operator, eqx.is_array)))


def absolute_row_sums(operator, transpose: bool = False):
    """`sum_j |A_ij|` for every row i (of `A^T` with `transpose`), shaped like the state.

    Its maximum is `‖A‖_∞` (`‖A‖₁` with `transpose`). Jit-friendly and differentiable:
    `components * (2 r + 1)^d` matvecs, r the stencil radius (more on a periodic axis
    whose length `2 r + 1` does not divide).
    """
    probes = jnp.asarray(_Colouring(operator).probes, coefficient_dtype(operator))
    apply = operator
    if transpose:
        transposed = jax.linear_transpose(operator, jax.ShapeDtypeStruct(operator.state_shape, probes.dtype))
        apply = lambda p: transposed(p)[0]  # noqa: E731
    return jnp.sum(jnp.abs(jax.vmap(apply)(probes)), axis=0)


def diagonal(operator):
    """The diagonal of the operator's matrix, shaped like the state (by the same probes:
    in row i, the probe of i's own colour and component holds exactly `A_ii`)."""
    probes = jnp.asarray(_Colouring(operator).probes, coefficient_dtype(operator))
    return jnp.sum(probes * jax.vmap(operator)(probes), axis=0)


def assemble_sparse(operator):
    """The operator's matrix as a SciPy CSR matrix (see `AbstractGridOperator.as_sparse_matrix`)."""
    import scipy.sparse  # only here: SciPy is not needed to solve

    colouring = _Colouring(operator)
    grid_shape = operator.grid.shape
    nodes, colour, colours, components = (
        colouring.nodes, colouring.colour, colouring.colours, colouring.components
    )
    probes = jnp.asarray(colouring.probes, coefficient_dtype(operator))
    products = np.asarray(_apply_batch(operator, probes)).reshape(components * colours, -1)

    rows, cols = [], []
    width = 2 * colouring.radius + 1
    for offset in np.ndindex(*([width] * len(grid_shape))):
        neighbour = nodes + (np.array(offset) - colouring.radius)[:, None]
        if colouring.periodic:
            neighbour = neighbour % np.array(grid_shape)[:, None]
            inside = np.ones(nodes.shape[1], bool)
        else:
            inside = np.all((neighbour >= 0) & (neighbour < np.array(grid_shape)[:, None]), axis=0)
        node = np.arange(nodes.shape[1])[inside]
        other = np.ravel_multi_index(tuple(neighbour[:, inside]), grid_shape)
        for a in range(components):
            for b in range(components):
                rows.append(a * nodes.shape[1] + node)
                cols.append(b * nodes.shape[1] + other)
    size = components * nodes.shape[1]
    # each (row, column) once, sorted
    linear = np.unique(np.concatenate(rows) * size + np.concatenate(cols))
    row, col = np.divmod(linear, size)
    probe = (col // nodes.shape[1]) * colours + colour[col % nodes.shape[1]]
    values = products[probe, row]
    keep = values != 0
    return scipy.sparse.csr_matrix((values[keep], (row[keep], col[keep])), shape=(size, size))


@eqx.filter_jit
def _apply_batch(operator, probes):
    return jax.vmap(operator)(probes)
