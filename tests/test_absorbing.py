"""Absorbing layers: the damped wave operators' structure, stability, gradients and that
they absorb (the reflection table itself is `examples/absorbing_reflection.py`)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import pdekrylov as pk


def _operator(layer, shape=(14, 12), order=2, speed=None):
    grid = pk.Grid(shape, (0.0, 0.0), (1.3, 1.1))
    if speed is None:
        x = grid.coordinates()
        speed = 1.0 + 0.2 * jnp.sin(3 * x[0]) * jnp.cos(2 * x[1])
    return pk.AbsorbingWaveOperator(grid, speed, layer, order=order)


LAYERS = [pk.Sponge(4), pk.PML(4)]


@pytest.mark.parametrize("layer", LAYERS, ids=["sponge", "pml"])
@pytest.mark.parametrize("order", [2, 4])
def test_layer_is_dissipative_and_absorbing_operator_is_stable(layer, order):
    """No eigenvalue in the right half-plane (beyond round-off): a damped layer only
    takes energy; and some eigenvalues are damped (the layer acts)."""
    op = _operator(layer, order=order)
    A = np.asarray(op.as_matrix())
    sparse = op.as_sparse_matrix().toarray()
    np.testing.assert_allclose(sparse, A, rtol=1e-12, atol=1e-10)
    eigenvalues = np.linalg.eigvals(A)
    scale = np.abs(eigenvalues).max()
    assert eigenvalues.real.max() <= 1e-8 * scale
    assert eigenvalues.real.min() < -1e-2
    bound = op.spectrum_bound()  # the tolerance mode's disk holds the spectrum
    assert bound.kind == "disk"
    assert np.abs(eigenvalues - float(bound.center)).max() <= float(bound.radius)


@pytest.mark.parametrize("layer", LAYERS, ids=["sponge", "pml"])
def test_interior_rows_are_the_wave_operators(layer):
    """Away from the layer the damped operator is `WaveOperator`'s, and the damping
    profile vanishes there."""
    op = _operator(layer)
    wave = pk.WaveOperator(op.grid, op.speed)
    sigma = np.asarray(op.damping())
    inside = (slice(4, -4), slice(4, -4))
    assert np.all(sigma[(slice(None), *inside)] == 0) and sigma.max() > 0
    u = jax.random.normal(jax.random.PRNGKey(0), (2, *op.grid.shape))
    y = jnp.zeros(op.state_shape).at[:2].set(u)
    deep = (slice(None), slice(6, -6), slice(6, -6))  # one node further than the stencil reads
    np.testing.assert_allclose(np.asarray(op(y))[:2][deep], np.asarray(wave(u))[deep], rtol=1e-12)


def test_pml_state_and_lanczos_refuses():
    op = _operator(pk.PML(4))
    assert op.state_shape == (4, 14, 12)
    assert _operator(pk.Sponge(4)).state_shape == (2, 14, 12)
    assert op.second_order_form() is None and not op.is_self_adjoint
    with pytest.raises(ValueError, match="solver: Lanczos needs a self-adjoint"):
        pk.solve(op, jnp.zeros(op.state_shape), 0.1, pk.Lanczos(10))


@pytest.mark.parametrize(
    "build, error, match",
    [
        (lambda g, c: pk.AbsorbingWaveOperator(g, c, "pml"), TypeError, "layer: expected"),
        (lambda g, c: pk.AbsorbingWaveOperator(g, c, pk.PML(7)), ValueError, "layer: a width of 7"),
        (lambda g, c: pk.AbsorbingWaveOperator(g, c, pk.PML(2), boundary="periodic"), ValueError, "boundary"),
        (lambda g, c: pk.PML(0), ValueError, "width"),
        (lambda g, c: pk.Sponge(5, reflection=0.0), ValueError, "reflection"),
        (lambda g, c: pk.Sponge(5, strength=-1.0), ValueError, "strength"),
        (lambda g, c: pk.AbsorbingWaveOperator(pk.Grid((9, 9, 9)), jnp.ones((9, 9, 9)), pk.PML(2)),
         ValueError, "PML is implemented for 1D and 2D"),
    ],
)
def test_layers_validate(build, error, match):
    grid = pk.Grid((14, 12))
    with pytest.raises(error, match=match):
        build(grid, jnp.ones(grid.shape))


@pytest.mark.parametrize("layer", LAYERS, ids=["sponge", "pml"])
def test_arnoldi_and_diffrax_agree_and_gradient_matches_dense(layer):
    """Arnoldi and Diffrax (Tsit5) give the same state; the speed gradient of a
    quadratic of the state equals the one through the dense `expm`."""
    base = _operator(layer, shape=(11, 10))
    y0 = jnp.zeros(base.state_shape).at[0].set(jax.random.normal(jax.random.PRNGKey(1), base.grid.shape))

    def loss(speed, solver):
        op = pk.AbsorbingWaveOperator(base.grid, speed, layer)
        return jnp.sum(pk.solve(op, y0, 0.4, solver).ys[-1] ** 2)

    def dense(speed):
        A = pk.AbsorbingWaveOperator(base.grid, speed, layer).as_matrix()
        return jnp.sum((jax.scipy.linalg.expm(0.4 * A) @ y0.ravel()) ** 2)

    arnoldi = pk.Arnoldi(rtol=1e-10, max_steps=256)
    value = loss(base.speed, arnoldi)
    np.testing.assert_allclose(value, dense(base.speed), rtol=1e-8)
    np.testing.assert_allclose(loss(base.speed, pk.Diffrax(rtol=1e-10, atol=1e-12)), value, rtol=1e-6)
    np.testing.assert_allclose(
        jax.grad(loss)(base.speed, arnoldi), jax.grad(dense)(base.speed), rtol=1e-6, atol=1e-9 * float(value)
    )


def test_layers_absorb_a_pulse():
    """A Ricker pulse leaving the region of interest: against a reference on a grid large
    enough that nothing comes back in time, the rigid wall's reflection is large inside
    the region, the sponge's smaller and the PML's far smaller."""
    solver = pk.Arnoldi(rtol=1e-8, max_steps=512)
    inside = (slice(10, -10), slice(10, -10))

    def run(grid, make):
        op = make(grid, jnp.ones(grid.shape))
        ricker = pk.Ricker(jnp.asarray(3.0), jnp.asarray(0.4))
        forcing = pk.Forcing(pk.PointSources(grid, jnp.asarray([[0.013, -0.007]])), ricker)
        return pk.solve(op, jnp.zeros(op.state_shape), 2.0, solver, forcing=forcing).ys[-1][0]

    small = pk.Grid((41, 41), (-1.0, -1.0), (1.0, 1.0))
    reference = run(pk.Grid((121, 121), (-3.0, -3.0), (3.0, 3.0)), pk.WaveOperator)[40:81, 40:81][inside]

    def reflected(make):
        return float(jnp.linalg.norm(run(small, make)[inside] - reference) / jnp.linalg.norm(reference))

    rigid = reflected(pk.WaveOperator)
    sponge = reflected(lambda g, c: pk.AbsorbingWaveOperator(g, c, pk.Sponge(10)))
    pml = reflected(lambda g, c: pk.AbsorbingWaveOperator(g, c, pk.PML(10)))
    assert rigid > 0.3  # the wall's reflection is back inside
    assert sponge < 0.5 * rigid and pml < 0.05 * rigid, (rigid, sponge, pml)
