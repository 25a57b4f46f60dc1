"""Equal Krylov steps whose number is known only at run time, with an exact adjoint.

Tolerance mode takes `steps` steps of length `tau`, both traced (they come from the
operator's spectrum, which may depend on a learned field). The forward pass is a
`lax.while_loop` that stores each step's start state in a buffer of `max_steps` states;
the backward pass walks the same steps in reverse, recomputing each step's Krylov
decomposition from its stored start state and pulling the cotangent through it (the
decomposition's own adjoint). Step lengths are constants for differentiation, as an ODE
solver's are. Only the steps taken cost anything: no masked iterations, no per-step
residual stack.
"""

from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp


def _step_cotangents(serving, i, d_saves, d_next):
    """The cotangent of one step's outputs `(P + 1, *state)`: a save served by step i gets
    its cotangent, the end state the carried one."""
    mine = (serving == i).reshape((-1,) + (1,) * d_next.ndim)
    return jnp.concatenate([jnp.where(mine, d_saves, 0), d_next[None]])


def _local_times(serving, local, tau, i):
    """Step i's local times: those of the save times it serves (else its end), then its end."""
    return jnp.concatenate([jnp.where(serving == i, local, tau), tau[None]])


@eqx.filter_custom_vjp
def march(differentiated, propagate: Callable, steps, tau, serving, local, max_steps: int):
    """`steps` steps of `propagate` from `y0`, saving at the given local times.

    **Arguments:**

    - `differentiated`: `(operator, y0)`.
    - `propagate`: `(operator, y, local_times) -> (values (P + 1, *state), estimates (P + 1,))`,
      the states at the local times (the last one the step's end) and their error
      estimates.
    - `steps`, `tau`: the number of steps (int32 scalar, `<= max_steps`) and their length.
    - `serving`, `local`: per save time, the step that serves it and its time within it.
    - `max_steps`: the size of the state buffer (static).

    **Returns:** `(ys (P, *state), errors (P,))`: the saved states and their a posteriori
    error estimates (those of earlier steps added).
    """
    ys, errors, _ = _forward(differentiated, propagate, steps, tau, serving, local, max_steps)
    return ys, errors


def _forward(differentiated, propagate, steps, tau, serving, local, max_steps):
    """`march`, and the start state of every step (entries past `steps` are zero)."""
    operator, y0 = differentiated
    count = serving.shape[0]

    def body(carry):
        i, y, ys, errors, carried, states = carry
        # an in-place update (`.at[i].set` checks bounds with a select over the whole buffer)
        states = jax.lax.dynamic_update_index_in_dim(states, y, i, 0)
        values, estimates = propagate(operator, y, _local_times(serving, local, tau, i))
        mine = serving == i
        ys = jnp.where(mine.reshape((-1,) + (1,) * y.ndim), values[:-1], ys)
        errors = jnp.where(mine, carried + estimates[:-1], errors)
        return i + 1, values[-1], ys, errors, carried + estimates[-1], states

    zeros = jnp.zeros(count, y0.dtype)
    initial = (
        jnp.zeros((), jnp.int32), y0, jnp.zeros((count, *y0.shape), y0.dtype), zeros,
        jnp.zeros((), y0.dtype), jnp.zeros((max_steps, *y0.shape), y0.dtype),
    )
    _, _, ys, errors, _, states = jax.lax.while_loop(lambda carry: carry[0] < steps, body, initial)
    return ys, errors, states


@march.def_fwd
def _march_fwd(perturbed, differentiated, propagate, steps, tau, serving, local, max_steps):
    ys, errors, states = _forward(differentiated, propagate, steps, tau, serving, local, max_steps)
    return (ys, errors), states


@march.def_bwd
def _march_bwd(states, grads, perturbed, differentiated, propagate, steps, tau, serving, local, max_steps):
    operator, y0 = differentiated
    d_ys = grads[0]
    if d_ys is None:  # only the error estimates were differentiated
        d_ys = jnp.zeros((serving.shape[0], *y0.shape), y0.dtype)
    params, static = eqx.partition(operator, eqx.is_inexact_array)

    def outputs(params, y, i):
        values, _ = propagate(eqx.combine(params, static), y, _local_times(serving, local, tau, i))
        return values

    def body(carry):
        i, d_y, d_params = carry
        i = i - 1
        start = jax.lax.dynamic_index_in_dim(states, i, 0, keepdims=False)
        _, pullback = jax.vjp(lambda p, y: outputs(p, y, i), params, start)
        d_p, d_y = pullback(_step_cotangents(serving, i, d_ys, d_y))
        return i, d_y, jax.tree.map(jnp.add, d_params, d_p)

    initial = (steps, jnp.zeros_like(y0), jax.tree.map(jnp.zeros_like, params))
    _, d_y0, d_params = jax.lax.while_loop(lambda carry: carry[0] > 0, body, initial)
    return d_params, d_y0
