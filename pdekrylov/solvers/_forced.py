"""Arnoldi steps with a forcing and with observations: `y' = A y + b(t)` through the
augmented operator, and linear observations of the state at many times.

**Forcing** (Saad 1992; Al-Mohy & Higham 2011; the phipm/KIOPS construction). On a step
`[a, a + tau]` the signals are replaced by their polynomial interpolants at `p =
forcing.order` Chebyshev points, written in the monomials `w_k(s) = sigma^k` of
`sigma = 2 s / tau - 1`: `b(a + s) ≈ B w(s)`, `B = [b_0 … b_{p-1}]`. Then `w' = N w` with
the nilpotent `N[k, k-1] = 2k / tau`, and the pair `(y, w)` solves the linear system
`(y, w)' = Ã (y, w)`, `Ã = [[A, B], [0, N]]`, started at `(y(a), w(0))`,
`w(0) = ((-1)^k)`. So `y(a + s) = exp(s A) y + Σ_j s^{j+1} φ_{j+1}(s A) b_j` (with the
Taylor coefficients b_j of the polynomial) is the first block of `exp(s Ã) (y, w(0))`,
which one Arnoldi decomposition of Ã (one operator matvec per step, plus the cheap
`B w` and `N w`) gives for every `s` in the step: exact for polynomial forcing. `w(0)`
is scaled by `zeta` (and B by `1 / zeta`) so that both blocks of the start vector have
the size of their effect on the step (the result does not depend on it). The
augmented matvec is a matvec like any other: reverse mode is the Arnoldi adjoint, with
the gradient reaching the operator, the sources and (through B) the signal.

**Observations**: for `pk.SaveAt(ts, fn)` with a linear `fn` (e.g. `pk.Receivers`), each
step projects `fn` on its basis once (`fn(q_k)` for the K basis vectors, a few gathers for
point receivers) and stores that `(*obs, K)` array, the K x K Hessenberg matrix and two
error numbers; after the steps, every save time is `||v|| (fn Q) exp(s H) e_1`: no matvec
and no full state. Equally spaced save times (traces) cost two K x K exponentials per
step and one K x K product per sample (`_first_columns`).

**Error estimates** (`stats["error_estimate"]`): the Krylov a posteriori estimate of each
step (of the augmented vector) plus the signal's share, a bound on `||b - b_step||` times
the time elapsed (`_signal_error_rate`), carried from step to step.

**Steps**: the fixed mode's `substeps`, or tolerance mode's equal steps: the Krylov bound
of the operator's `spectrum_bound()` at the depth without the polynomial block (the
Krylov space spends `p` of its dimensions on the polynomial; a model, checked by
measurement in `tests/test_forcing.py`), and the signal's bound (`Forcing.signal_step`),
the shorter of the two.
"""

import functools
from typing import NamedTuple

import equinox as eqx
import equinox.internal as eqxi
import jax
import jax.numpy as jnp
import numpy as np

from .. import krylov


class _Plan(NamedTuple):
    """The steps: their number (static int in fixed mode, traced in tolerance mode) and
    length, whether the budget ran out, and the stats they give."""

    steps: object
    tau: object
    needed: object
    stats: dict


class _Dense(NamedTuple):
    """What a step keeps for the save times it serves (observations only): `fn` of the
    basis times the start norm `(*obs, K)`, the Hessenberg matrix, the residual size
    `||v|| ||r||`, and the error estimate at its end (what it adds to later steps)."""

    projection: jax.Array
    hessenberg: jax.Array
    residual: jax.Array
    added: jax.Array


def integrate(solver, operator, y0, t0, t1, save_times, forcing, fn):
    """`AbstractKrylovSolver.integrate` with a forcing and/or an observation `fn` (Arnoldi).

    **Returns:** `(ys, stats)`; `ys` is `(T, *state)` without `fn`, else `(T, *fn(y).shape)`.
    """
    order = 0 if forcing is None else forcing.order
    depth = solver.depth_for(operator) + order if solver.adaptive else solver.depth
    if depth <= order:
        raise ValueError(
            f"depth: with a forcing of order {order} the Krylov depth must exceed {order} "
            f"(the polynomial block takes {order} dimensions), got {depth}"
        )
    plan = _plan(solver, operator, forcing, t0, t1, depth - order, y0.dtype)
    save = jnp.asarray(save_times - t0, y0.dtype)
    # the step that serves each save time (one on a step boundary: the step ending there)
    serving = jnp.clip(jnp.ceil(save / plan.tau).astype(jnp.int32) - 1, 0, plan.steps - 1)
    local = save - serving * plan.tau
    rate = _signal_error_rate(operator, forcing, plan, y0.dtype)
    advance = functools.partial(
        _advance, depth, operator, forcing, fn, t0, plan.tau, serving, local, rate
    )
    count = len(save_times)
    full = fn is None
    ys = jnp.zeros((count, *y0.shape) if full else (0,), y0.dtype)
    errors = jnp.zeros(count if full else 0, y0.dtype)
    if solver.adaptive:
        outputs = _loop(advance, y0, ys, errors, plan.steps, solver.max_steps, solver.checkpoints)
    else:
        outputs = _scan(advance, y0, ys, errors, plan.steps, solver.checkpoint)
    ys, errors, dense = outputs
    if not full:
        spacing = np.diff(save_times)
        equal = len(spacing) > 0 and spacing[0] > 0 and np.allclose(spacing, spacing[0], rtol=1e-12, atol=0)
        ys, errors = _observe(dense, serving, local, float(spacing[0]) if equal else None)
        errors = errors + local * rate
    if solver.adaptive and solver.throw:
        ys = eqx.error_if(
            ys, plan.needed > solver.max_steps,
            f"max_steps: the tolerance needs more than max_steps={solver.max_steps} steps; "
            f"raise max_steps, the depth or rtol",
        )
    stats = {"num_matvecs": plan.steps * depth, "error_estimate": errors, **plan.stats}
    return ys, stats


def _plan(solver, operator, forcing, t0, t1, bound_depth, dtype) -> _Plan:
    spectrum = solver.spectrum(operator)
    length = t1 - t0
    stats = {}
    if solver.adaptive:
        # step lengths are constants for differentiation, as an ODE solver's are
        radius = jax.lax.stop_gradient(spectrum.radius).astype(dtype)
        center = jax.lax.stop_gradient(spectrum.center)
        longest = krylov.step_length(spectrum.kind, radius, bound_depth, solver.rtol, length, center)
        if forcing is not None:
            longest = jnp.minimum(longest, jax.lax.stop_gradient(forcing.signal_step(solver.rtol)))
        needed = jnp.maximum(1, jnp.ceil(length / longest)).astype(jnp.int32)
        steps = jnp.minimum(needed, solver.max_steps)
        stats = {
            "num_rejected_steps": jnp.zeros((), jnp.int32),  # a priori steps: none rejected
            "max_steps_reached": needed > solver.max_steps,
            "spectral_radius": radius,
        }
    else:
        steps = needed = solver.substeps
    tau = jnp.asarray(length, dtype) / steps
    stats.update(num_steps=steps, step_size=tau)
    if spectrum is not None:
        x = jax.lax.stop_gradient(spectrum.radius) * tau
        shift = jax.lax.stop_gradient(spectrum.center) * tau
        stats["num_bound_matvecs"] = spectrum.matvecs
        stats["error_bound"] = steps * krylov.error_bound(spectrum.kind, x, bound_depth, shift)
        stats["gradient_error_bound"] = steps * krylov.gradient_error_bound(spectrum.kind, x, bound_depth, shift)
    if forcing is not None:
        stats["signal_error_bound"] = jax.lax.stop_gradient(forcing.signal_error_bound(tau))
    return _Plan(steps, tau, needed, stats)


def _scan(advance, y0, ys, errors, steps, checkpoint):
    """Fixed mode: `steps` (static) steps in a scan; the dense data stacked."""

    def body(carry, i):
        y, ys, errors, carried = carry
        y, ys, errors, dense = advance(i, y, ys, errors, carried)
        return (y, ys, errors, carried + dense.added), dense

    if checkpoint and steps > 1:
        body = jax.checkpoint(body)
    init = (y0, ys, errors, jnp.zeros((), y0.dtype))
    (_, ys, errors, _), dense = jax.lax.scan(body, init, jnp.arange(steps))
    return ys, errors, dense


def _loop(advance, y0, ys, errors, steps, max_steps, checkpoints):
    """Tolerance mode: `steps` (traced) steps in Equinox's checkpointed while loop (as
    `_march.march`), the dense data written into buffers of `max_steps`."""
    shapes = jax.eval_shape(lambda y: advance(0, y, ys, errors, jnp.zeros((), y0.dtype))[3], y0)
    buffers = _Dense(*(jnp.zeros((max_steps, *s.shape), s.dtype) for s in shapes))

    def body(carry):
        i, y, ys, errors, carried, buffers = carry
        y, ys, errors, dense = advance(i, y, ys, errors, carried)
        buffers = _Dense(*(buffer.at[i].set(value) for buffer, value in zip(buffers, dense)))
        return i + 1, y, ys, errors, carried + dense.added, buffers

    init = (jnp.zeros((), jnp.int32), y0, ys, errors, jnp.zeros((), y0.dtype), buffers)
    _, _, ys, errors, _, dense = eqxi.while_loop(
        lambda carry: carry[0] < steps, body, init, max_steps=max_steps, buffers=lambda carry: carry[5],
        kind="checkpointed", checkpoints=min(checkpoints, max_steps),
    )
    return ys, errors, dense


def _signal_error_rate(operator, forcing, plan, dtype):
    """How fast the signal's representation adds to the state's error: a bound on
    `||b(t) - b_step(t)||`, the signal error bound (relative to `max|f|`) times `max|f|`
    times `Σ_s ||g_s||` (zero without a forcing). The error estimates add it times the
    time elapsed, so they account for the Krylov and the signal approximation alike."""
    if forcing is None:
        return jnp.zeros((), dtype)
    sources = jnp.eye(forcing.sources.num_sources, dtype=dtype)
    norms = jax.vmap(lambda e: jnp.linalg.norm(operator.source_term(forcing.sources.inject(e))))(sources)
    rate = plan.stats["signal_error_bound"] * forcing.signal.scale() * jnp.sum(norms)
    return jax.lax.stop_gradient(rate).astype(dtype)


def _advance(depth, operator, forcing, fn, t0, tau, serving, local, rate, i, y, ys, errors, carried):
    """Step `i` from `y`: the next state, the saved states it serves (without `fn`), and
    its `_Dense` data (with `fn`; without, only the error it adds, `added`). `rate`: the
    signal's error per unit time (`_signal_error_rate`)."""
    decomposition, unflatten = _decompose(depth, operator, forcing, y, t0 + i * tau, tau)
    mine = serving == i
    if fn is None:  # the states at this step's save times (else its end), then its end
        times = jnp.concatenate([jnp.where(mine, local, tau), tau[None]])
    else:
        times = tau[None]
    action = krylov.expm_action(decomposition, times)
    values = jax.vmap(unflatten)(action.values)
    estimates = action.error_estimate + rate * times
    if fn is None:
        ys = jnp.where(mine.reshape((-1,) + (1,) * y.ndim), values[:-1], ys)
        errors = jnp.where(mine, carried + estimates[:-1], errors)
        dense = _Dense(*(jnp.zeros((0,), y.dtype),) * 3, estimates[-1])
    else:
        basis = jax.vmap(unflatten, in_axes=1)(decomposition.basis)  # (K, *state)
        projection = decomposition.norm * jnp.moveaxis(jax.vmap(fn)(basis), 0, -1)
        residual = decomposition.norm * jnp.sqrt(jnp.vdot(decomposition.residual, decomposition.residual))
        dense = _Dense(projection, decomposition.hessenberg, residual, estimates[-1])
    return values[-1], ys, errors, dense


def _observe(dense, serving, local, spacing):
    """Every save time from its step's dense data: `(||v|| fn(Q)) exp(s H) e_1`, and the
    error estimate `||v|| ||r|| |e_K^T exp(s H) e_1|` plus the error carried in."""
    first_columns = _first_columns(dense.hessenberg, serving, local, spacing)
    values = jnp.einsum("p...k,pk->p...", dense.projection[serving], first_columns)
    carried = jnp.cumsum(dense.added) - dense.added  # the errors of the earlier steps
    errors = dense.residual[serving] * jnp.abs(first_columns[:, -1]) + carried[serving]
    return values, errors


def _first_columns(hessenberg, serving, local, spacing):
    """`exp(local_j H_{serving_j}) e_1` for every save time j, `(P, K)`.

    With equally spaced save times (`spacing`, static; None otherwise) and fewer steps
    that serve them than half the save times, each such step needs two small
    exponentials, `exp(r H) e_1` at its first save time r and `E = exp(spacing H)`, and
    its later save times follow by `v <- E v`, a K x K product each (the samples of a
    trace cost next to nothing). Otherwise: one exponential per save time.
    """
    count = len(serving)
    slots = min(count, hessenberg.shape[0])  # at most this many steps serve a save time
    if spacing is None or 2 * slots >= count:
        return krylov.expm(local[:, None, None] * hessenberg[serving])[:, :, 0]
    opens = jnp.concatenate([jnp.ones(1, bool), serving[1:] != serving[:-1]])  # a step's first
    slot = jnp.cumsum(opens) - 1  # the serving steps numbered 0, 1, ...
    step = jnp.zeros(slots, serving.dtype).at[slot].max(serving)
    # each slot's first local time; unused slots get a finite one (no NaN in the gradient)
    first = jnp.full(slots, jnp.max(local), local.dtype).at[slot].min(local)
    starts = krylov.expm(first[:, None, None] * hessenberg[step])[:, :, 0]
    powers = krylov.expm(spacing * hessenberg[step])

    def chain(previous, xs):
        opens_j, slot_j = xs
        column = jnp.where(opens_j, starts[slot_j], powers[slot_j] @ previous)
        return column, column

    _, columns = jax.lax.scan(chain, starts[0], (opens, slot))
    return columns


def _decompose(depth, operator, forcing, y, start, tau):
    """The Arnoldi decomposition of one step (of the augmented operator when forced).

    **Returns:** `(decomposition, unflatten)`: `unflatten` maps a flat Krylov vector (its
    state block) back to a state.

    The Krylov vectors are the state flattened grid-major, as in `_krylov._expm_propagate`.
    """
    from ._krylov import _apply_grid_major  # the solvers' module imports this one

    leading = tuple(range(operator.component_ndim))
    trailing = tuple(range(-len(leading), 0))
    z = jnp.moveaxis(y, leading, trailing)

    def unflatten(flat):
        return jnp.moveaxis(flat[: z.size].reshape(z.shape), trailing, leading)

    if forcing is None:
        return krylov.arnoldi(_apply_grid_major, z, depth, operator, leading, trailing), unflatten
    coefficients = signal_coefficients(forcing.signal, start, tau, forcing.order)  # (S, p)
    columns = jax.vmap(lambda c: operator.source_term(forcing.sources.inject(c)), in_axes=1)(coefficients)
    # zeta: the size of the forcing's effect on the step, or of y (|w(s)| <= 1 on the step)
    effect = tau * jnp.sum(jnp.sqrt(jnp.sum(columns.reshape(forcing.order, -1) ** 2, axis=1)))
    zeta = jax.lax.stop_gradient(jnp.maximum(jnp.sqrt(jnp.vdot(z, z)), effect))
    zeta = jnp.where(zeta > 0, zeta, 1).astype(z.dtype)
    k = np.arange(forcing.order)
    w0 = (zeta * (-1.0) ** k).astype(z.dtype)
    nilpotent = jnp.diag(jnp.asarray(2 * k[1:], z.dtype) / tau, -1)
    matvec_args = (operator, forcing.sources, (coefficients / zeta).astype(z.dtype), nilpotent, leading, trailing)
    return krylov.arnoldi(_augmented, (z, w0), depth, *matvec_args), unflatten


def _augmented(v, operator, sources, coefficients, nilpotent, leading, trailing):
    """`Ã (z, w) = (A z + B w, N w)` on a grid-major state block `z` (see the module)."""
    z, w = v
    y = jnp.moveaxis(z, trailing, leading)
    out = operator(y) + operator.source_term(sources.inject(coefficients @ w))
    return jnp.moveaxis(out, leading, trailing).astype(z.dtype), nilpotent @ w


@functools.cache
def _chebyshev_to_monomials(order: int) -> tuple[np.ndarray, np.ndarray]:
    """The Chebyshev points of `[-1, 1]` and the matrix mapping values there to the
    coefficients of the interpolating polynomial in monomials (float64, static)."""
    nodes = np.cos(np.pi * (np.arange(order) + 0.5) / order)
    return nodes, np.linalg.inv(np.vander(nodes, order, increasing=True))


def signal_coefficients(signal, start, tau, order: int):
    """The monomial coefficients `(S, order)` of the signals' interpolants on
    `[start, start + tau]` at `order` Chebyshev points: `f(start + s) ≈ Σ_k c_k sigma^k`,
    `sigma = 2 s / tau - 1`."""
    nodes, to_monomials = _chebyshev_to_monomials(order)
    times = start + tau * (jnp.asarray(nodes) + 1) / 2
    values = jax.vmap(signal)(times)  # (order, S)
    return (jnp.asarray(to_monomials, values.dtype) @ values).T
