"""Grid and stencil operators against independently assembled matrices."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import pdekrylov as pk
import reference

BOUNDARIES = ["neumann", "dirichlet", "periodic"]
# 1D, 2D (non-square, non-unit extent) and 3D grids
GRIDS = [
    ((7,), (0.0,), (1.0,)),
    ((5, 4), (-1.0, 0.5), (2.0, 1.5)),
    ((3, 4, 3), (0.0, 0.0, 0.0), (1.0, 2.0, 0.5)),
]


def _field(key, shape, low=0.5, high=1.5):
    return jax.random.uniform(key, shape, minval=low, maxval=high)


def _grid(spec):
    shape, lower, upper = spec
    return pk.Grid(shape, lower, upper), reference.spacing(shape, lower, upper)


def assert_matrices_match(op, expected):
    """`as_matrix()` (dense, by matvecs of unit vectors) and `as_sparse_matrix()` (by
    colour probing) both equal the independent loop assembly, and store no zeros."""
    np.testing.assert_allclose(op.as_matrix(), expected, rtol=1e-12, atol=1e-10)
    sparse = op.as_sparse_matrix()
    np.testing.assert_allclose(sparse.toarray(), expected, rtol=1e-12, atol=1e-10)
    assert sparse.nnz == np.count_nonzero(sparse.toarray())


def test_grid_points_and_spacing():
    grid = pk.Grid((3, 5), lower=(0.0, -1.0), upper=(1.0, 3.0))
    assert grid.spacing == (0.5, 1.0)
    x = grid.coordinates()
    assert x.shape == (2, 3, 5)
    np.testing.assert_allclose(x[0, :, 0], [0.0, 0.5, 1.0])
    np.testing.assert_allclose(x[1, 0, :], [-1.0, 0.0, 1.0, 2.0, 3.0])
    assert grid.coordinates(jnp.float32).dtype == jnp.float32


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(shape=(2, 5)), "at least 3 points"),
        (dict(shape=()), "at least one axis"),
        (dict(shape=(4, 4), lower=(0.0,)), "lower: expected 2 values"),
        (dict(shape=(4,), lower=(1.0,), upper=(1.0,)), "upper > lower"),
    ],
)
def test_grid_rejects_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        pk.Grid(**kwargs)


def test_grid_rejects_non_integer_shape():
    with pytest.raises(TypeError, match="shape"):
        pk.Grid((4.5, 4))


@pytest.mark.parametrize("spec", GRIDS)
@pytest.mark.parametrize("boundary", BOUNDARIES)
def test_diffusion_matches_reference(spec, boundary):
    grid, h = _grid(spec)
    k = _field(jax.random.PRNGKey(0), grid.shape)
    op = pk.DiffusionOperator(grid, k, boundary)
    expected = reference.diffusion_matrix(np.asarray(k), h, boundary)
    assert_matrices_match(op, expected)


@pytest.mark.parametrize("spec", GRIDS)
@pytest.mark.parametrize("boundary", BOUNDARIES)
def test_wave_matches_reference(spec, boundary):
    grid, h = _grid(spec)
    c = _field(jax.random.PRNGKey(1), grid.shape)
    op = pk.WaveOperator(grid, c, boundary)
    expected = reference.wave_matrix(np.asarray(c), h, boundary)
    assert_matrices_match(op, expected)


@pytest.mark.parametrize("spec", GRIDS)
@pytest.mark.parametrize("boundary", BOUNDARIES)
def test_advection_diffusion_matches_reference(spec, boundary):
    grid, h = _grid(spec)
    k1, k2 = jax.random.split(jax.random.PRNGKey(2))
    k = _field(k1, grid.shape)
    v = jax.random.normal(k2, (grid.ndim, *grid.shape))  # both signs
    op = pk.AdvectionDiffusionOperator(grid, k, v, boundary)
    expected = reference.diffusion_matrix(np.asarray(k), h, boundary) - reference.upwind_matrix(
        np.asarray(v), h, boundary
    )
    assert_matrices_match(op, expected)
    assert not np.allclose(expected, expected.T)  # really non-symmetric


def test_velocity_as_sequence_equals_stacked_array():
    grid = pk.Grid((4, 5))
    v = jax.random.normal(jax.random.PRNGKey(3), (2, 4, 5))
    k = jnp.ones(grid.shape)
    a = pk.AdvectionDiffusionOperator(grid, k, [v[0], v[1]])
    b = pk.AdvectionDiffusionOperator(grid, k, v)
    np.testing.assert_array_equal(a.as_matrix(), b.as_matrix())


@pytest.mark.parametrize("spec", GRIDS)
@pytest.mark.parametrize("boundary", ["neumann", "dirichlet"])
def test_diffusion_symmetric_negative_semidefinite(spec, boundary):
    grid, _ = _grid(spec)
    k = _field(jax.random.PRNGKey(4), grid.shape)
    A = np.asarray(pk.DiffusionOperator(grid, k, boundary).as_matrix())
    np.testing.assert_allclose(A, A.T, atol=1e-12)
    eigenvalues = np.linalg.eigvalsh(A)
    assert eigenvalues.max() <= 1e-10 * np.abs(eigenvalues).max()
    if boundary == "dirichlet":  # definite on the free (interior) nodes: no null space
        free = np.asarray(pk._stencil.interior_mask(grid.shape)).ravel()
        assert np.linalg.eigvalsh(A[np.ix_(free, free)]).max() < 0


@pytest.mark.parametrize("spec", GRIDS)
@pytest.mark.parametrize("boundary", ["neumann", "dirichlet"])
def test_laplacian_symmetric_negative_semidefinite(spec, boundary):
    """The wave operator's Laplacian block (constant unit speed) is symmetric NSD."""
    grid, _ = _grid(spec)
    n = grid.size
    A = np.asarray(pk.WaveOperator(grid, jnp.ones(grid.shape), boundary).as_matrix())
    lap = A[n:, :n]
    np.testing.assert_allclose(lap, lap.T, atol=1e-12)
    assert np.linalg.eigvalsh(lap).max() <= 1e-10 * np.abs(lap).max()


@pytest.mark.parametrize("spec", GRIDS)
def test_constants_in_neumann_null_space(spec):
    grid, _ = _grid(spec)
    ones = jnp.ones(grid.shape)
    k = _field(jax.random.PRNGKey(5), grid.shape)
    v = jax.random.normal(jax.random.PRNGKey(6), (grid.ndim, *grid.shape))
    np.testing.assert_allclose(pk.DiffusionOperator(grid, k)(ones), 0.0, atol=1e-12)
    np.testing.assert_allclose(
        pk.AdvectionDiffusionOperator(grid, k, v)(ones), 0.0, atol=1e-12
    )
    y = jnp.stack([ones, jnp.zeros_like(ones)])
    np.testing.assert_allclose(pk.WaveOperator(grid, k)(y), 0.0, atol=1e-12)


def _operators(grid, key, dtype=jnp.float64):
    k1, k2, k3 = jax.random.split(key, 3)
    k = _field(k1, grid.shape).astype(dtype)
    v = jax.random.normal(k2, (grid.ndim, *grid.shape), dtype)
    return [
        (pk.WaveOperator(grid, k), "speed"),
        (pk.DiffusionOperator(grid, k), "diffusivity"),
        (pk.AdvectionDiffusionOperator(grid, k, v), "velocity"),
    ]


@pytest.mark.parametrize("index", [0, 1, 2])
def test_coefficient_gradient_matches_finite_differences(index):
    grid = pk.Grid((6, 5), upper=(1.0, 2.0))
    op, name = _operators(grid, jax.random.PRNGKey(7))[index]
    keys = jax.random.split(jax.random.PRNGKey(8), 3)
    y = jax.random.normal(keys[0], op.state_shape)
    w = jax.random.normal(keys[1], op.state_shape)
    field = getattr(op, name)
    direction = jax.random.normal(keys[2], field.shape)

    def loss(f):
        return jnp.vdot(w, type(op)(**_with(op, name, f))(y))

    loss = jax.jit(loss)
    grad = jax.jit(jax.grad(loss))(field)
    eps = 1e-6
    fd = (loss(field + eps * direction) - loss(field - eps * direction)) / (2 * eps)
    np.testing.assert_allclose(jnp.vdot(grad, direction), fd, rtol=1e-6)


def _with(op, name, value):
    fields = {"grid": op.grid, "boundary": op.boundary}
    for field in ("speed", "diffusivity", "velocity"):
        if hasattr(op, field):
            fields[field] = getattr(op, field)
    fields[name] = value
    return fields


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_jit_vmap_and_dtypes(dtype):
    grid = pk.Grid((8, 9))
    for op, _ in _operators(grid, jax.random.PRNGKey(9), dtype):
        ys = jax.random.normal(jax.random.PRNGKey(10), (3, *op.state_shape), dtype)
        out = jax.jit(jax.vmap(lambda op, y: op(y), in_axes=(None, 0)))(op, ys)
        assert out.shape == ys.shape and out.dtype == dtype
        np.testing.assert_allclose(out[1].ravel(), op.as_matrix() @ ys[1].ravel(),
            rtol=0, atol=(1e-5 if dtype == jnp.float32 else 1e-12) * jnp.abs(out).max(),
        )


def test_linearity():
    grid = pk.Grid((5, 6))
    for op, _ in _operators(grid, jax.random.PRNGKey(11)):
        a, b = jax.random.normal(jax.random.PRNGKey(12), (2, *op.state_shape))
        apply = jax.jit(op.__call__)
        np.testing.assert_allclose(apply(2.0 * a - 3.0 * b), 2.0 * apply(a) - 3.0 * apply(b), atol=1e-10)


def test_operators_differentiable_with_filter_grad():
    import equinox as eqx

    grid = pk.Grid((5, 5))
    op = pk.WaveOperator(grid, jnp.ones(grid.shape))
    y = jnp.ones(op.state_shape).at[0, 2, 2].set(2.0)
    grads = eqx.filter_grad(lambda op: jnp.sum(op(y) ** 2))(op)
    assert grads.speed.shape == grid.shape and jnp.any(grads.speed != 0)


@pytest.mark.parametrize(
    "build, error, match",
    [
        (lambda g: pk.WaveOperator(g, jnp.ones((4, 4))), ValueError, "speed: expected shape"),
        (lambda g: pk.WaveOperator(g, jnp.ones((5, 5), int)), TypeError, "speed: expected a floating"),
        (lambda g: pk.WaveOperator(g, [1.0] * 25), TypeError, "speed"),
        (lambda g: pk.WaveOperator(g, jnp.ones((5, 5)), "robin"), ValueError, "boundary"),
        (lambda g: pk.DiffusionOperator(g, jnp.ones(5)), ValueError, "diffusivity"),
        (lambda g: pk.DiffusionOperator((5, 5), jnp.ones((5, 5))), TypeError, "grid"),
        (
            lambda g: pk.AdvectionDiffusionOperator(g, jnp.ones((5, 5)), [jnp.ones((5, 5))]),
            ValueError,
            "velocity: expected 2 components",
        ),
        (
            lambda g: pk.AdvectionDiffusionOperator(g, jnp.ones((5, 5)), jnp.ones((5, 5))),
            ValueError,
            "velocity: expected shape",
        ),
    ],
)
def test_operator_constructors_validate(build, error, match):
    with pytest.raises(error, match=match):
        build(pk.Grid((5, 5)))


def test_operator_rejects_wrong_state_shape():
    grid = pk.Grid((5, 5))
    with pytest.raises(ValueError, match=r"y: expected an array of shape \(2, 5, 5\)"):
        pk.WaveOperator(grid, jnp.ones(grid.shape))(jnp.ones((5, 5)))


def test_structure_flags():
    grid = pk.Grid((4, 4))
    ones = jnp.ones(grid.shape)
    assert pk.DiffusionOperator(grid, ones).is_self_adjoint
    assert not pk.WaveOperator(grid, ones).is_self_adjoint
    assert not pk.AdvectionDiffusionOperator(grid, ones, [ones, ones]).is_self_adjoint
    assert pk.WaveOperator(grid, ones).state_shape == (2, 4, 4)


# grids long enough for the widest stencil (diffusion of order 8 couples 7 nodes)
WIDE_GRIDS = [((12,), (0.0,), (1.0,)), ((9, 10), (-1.0, 0.5), (2.0, 1.5))]


@pytest.mark.parametrize("spec", WIDE_GRIDS)
@pytest.mark.parametrize("boundary", BOUNDARIES)
@pytest.mark.parametrize("order", [2, 4, 6, 8])
def test_higher_order_wave_matches_reference(spec, boundary, order):
    """The wave operator of every order against the Kronecker sum of 1D second
    differences assembled by images (even / odd reflections, periodic wrap)."""
    grid, h = _grid(spec)
    c = _field(jax.random.PRNGKey(11), grid.shape)
    op = pk.WaveOperator(grid, c, boundary, order=order)
    n = grid.size
    L = reference.laplacian_matrix(grid.shape, h, boundary, order)
    expected = np.block([[np.zeros((n, n)), np.eye(n)], [np.diag(np.asarray(c).ravel() ** 2) @ L, np.zeros((n, n))]])
    assert_matrices_match(op, expected)
    S = np.asarray(op.second_order_form().stiffness.as_matrix())
    np.testing.assert_allclose(S, S.T, atol=1e-9 * np.abs(S).max())
    assert np.linalg.eigvalsh(S).max() <= 1e-10 * np.abs(S).max()


@pytest.mark.parametrize("spec", WIDE_GRIDS)
@pytest.mark.parametrize("boundary", BOUNDARIES)
@pytest.mark.parametrize("order", [2, 4, 8])
def test_higher_order_diffusion_matches_reference(spec, boundary, order):
    """Flux-form diffusion of every order against `-D^T K D` assembled from tables, and
    order 2 against the node-loop assembly: symmetric, and NSD for a smooth positive k."""
    grid, h = _grid(spec)
    x = np.asarray(grid.coordinates())
    k = jnp.asarray(1.0 + 0.3 * np.sin(x.sum(axis=0)))  # smooth: positive face values
    op = pk.DiffusionOperator(grid, k, boundary, order=order)
    expected = reference.flux_matrix(np.asarray(k), h, boundary, order)
    assert_matrices_match(op, expected)
    if order == 2:
        np.testing.assert_allclose(expected, reference.diffusion_matrix(np.asarray(k), h, boundary), atol=1e-10)
    A = np.asarray(op.as_matrix())
    np.testing.assert_allclose(A, A.T, atol=1e-9 * np.abs(A).max())
    assert np.linalg.eigvalsh(A).max() <= 1e-10 * np.abs(A).max()


def _smooth_mode(x, lower, length, boundary, mode=3):
    """A smooth function that satisfies the boundary condition's reflection exactly, and
    its Laplacian's factor: cos about the half-nodes (neumann), sin vanishing at the
    boundary nodes (dirichlet), whole periods (periodic); `mode` half-waves (whole
    waves when periodic) keep the order-8 error above round-off."""
    if boundary == "neumann":
        h = length / (x.shape[0] - 1)
        wave = mode * np.pi / (length + h)
        return np.cos(wave * (x - lower + h / 2)), wave
    if boundary == "dirichlet":
        wave = mode * np.pi / length
        return np.sin(wave * (x - lower)), wave
    h = length / (x.shape[0] - 1)
    wave = mode * 2 * np.pi / (length + h)  # the periodic grid closes one spacing past the end
    return np.sin(wave * (x - lower)), wave


@pytest.mark.parametrize("boundary", BOUNDARIES)
@pytest.mark.parametrize("order", [2, 4, 6, 8])
def test_stencil_convergence_order(boundary, order):
    """The Laplacian (wave) and flux form (diffusion, k = 1) of a smooth function that
    satisfies the boundary condition converge at the stencil's order, boundary included."""
    errors = {"laplacian": [], "flux": []}
    sizes = [24, 48]
    for n in sizes:
        grid = pk.Grid((n,), (0.0,), (2.0,))
        x = np.asarray(grid.coordinates()[0])
        u, wave = _smooth_mode(x, 0.0, 2.0, boundary)
        exact = -wave**2 * u
        for name, value in (
            ("laplacian", pk._stencil.laplacian(jnp.asarray(u), grid.spacing, boundary, order)),
            ("flux", pk._stencil.flux_divergence(jnp.asarray(u), jnp.ones(n), grid.spacing, boundary, order)),
        ):
            errors[name].append(np.max(np.abs(np.asarray(value) - exact)) / np.max(np.abs(exact)))
    for name, (coarse, fine) in errors.items():
        rate = np.log2(coarse / fine)
        assert rate > order - 0.5, (name, errors[name], rate)


def test_dirichlet_holds_the_boundary_nodes():
    """Boundary nodes are neither read nor changed: a wave started with zero boundary
    values keeps them at zero, and boundary values never reach the interior."""
    grid = pk.Grid((9, 9))
    op = pk.WaveOperator(grid, jnp.ones(grid.shape), "dirichlet", order=4)
    inside = np.asarray(pk._stencil.interior_mask(grid.shape))
    u = jnp.where(inside, jax.random.normal(jax.random.PRNGKey(0), grid.shape), 0.0)
    y0 = jnp.stack([u, jnp.zeros_like(u)])
    y1 = pk.solve(op, y0, 0.3, pk.Arnoldi(depth=40)).ys[-1]
    assert np.max(np.abs(np.asarray(y1)[:, ~inside])) == 0.0
    assert np.max(np.abs(np.asarray(y1)[0, inside])) > 0.1
    noise = jnp.where(inside, 0.0, 1.0)
    kicked = op(jnp.stack([u + noise, jnp.zeros_like(u)]))
    np.testing.assert_array_equal(np.asarray(kicked), np.asarray(op(y0)))


@pytest.mark.parametrize(
    "build, match",
    [
        (lambda g, c: pk.WaveOperator(g, c, order=3), "order: expected one of"),
        (lambda g, c: pk.WaveOperator(g, c, order=True), "order: expected one of"),
        (lambda g, c: pk.DiffusionOperator(g, c, order=8), "order: a stencil of order 8 reaches 7"),
    ],
)
def test_order_validated(build, match):
    grid = pk.Grid((6, 6))
    with pytest.raises(ValueError, match=match):
        build(grid, jnp.ones(grid.shape))
