"""Equal Krylov steps whose number is known only at run time, reverse-differentiable.

Tolerance mode takes `steps` steps of length `tau`, both traced (they come from the
operator's spectrum, which may depend on a learned field). They run in Equinox's
checkpointed while loop, the loop Diffrax's `RecursiveCheckpointAdjoint` runs on: the
forward pass keeps `CHECKPOINTS` step start states, the backward pass recomputes the
steps between them (none while the steps fit) and pulls the cotangent through each
step's Krylov decomposition (its own adjoint). Step lengths are constants for
differentiation, as an ODE solver's are. Only the steps taken cost anything.

The first step runs before the loop, under plain reverse mode: its Krylov decomposition
is stored (O(N K), as in fixed mode) instead of recomputed. The loop takes the remaining
`steps - 1`, behind a `lax.cond` that skips it when there are none (its machinery costs
time even when it takes no step). So a solve that needs one step costs what a
fixed-depth solve does: measured on the demo's training objective (32 x 32 wave, 48
pairs, one step of depth 20, value and gradient, single-threaded CPU time), 238 ms
with every step in the loop, 209 ms with the first step before it, 178 ms with the
empty loop skipped, the same as fixed mode's 178 ms.

Measured against a preallocated buffer of `max_steps` start states with a hand-written
reverse sweep (128 x 128 wave, Lanczos, 3 steps, value and gradient): 34 ms against
42 ms at `max_steps` 32, and 28 ms for the same work in fixed mode.
"""

from collections.abc import Callable

import equinox.internal as eqxi
import jax
import jax.numpy as jnp

#: start states kept by the forward pass (more steps are recomputed in the backward)
CHECKPOINTS = 8


def march(operator, y0, propagate: Callable, steps, tau, serving, local, max_steps: int):
    """`steps` steps of `propagate` from `y0`, saving at the given local times.

    **Arguments:**

    - `operator`, `y0`: the operator and the initial state.
    - `propagate`: `(operator, y, local_times) -> (values (P + 1, *state), estimates (P + 1,))`,
      the states at the local times (the last one the step's end) and their error
      estimates.
    - `steps`, `tau`: the number of steps (int32 scalar, `<= max_steps`) and their length.
    - `serving`, `local`: per save time, the step that serves it and its time within it.
    - `max_steps`: the loop's bound (static).

    **Returns:** `(ys (P, *state), errors (P,))`: the saved states and their a posteriori
    error estimates (those of earlier steps added).
    """
    count = serving.shape[0]

    def body(carry):
        i, y, ys, errors, carried = carry
        # step i's local times: those of the save times it serves (else its end), then its end
        mine = serving == i
        local_times = jnp.concatenate([jnp.where(mine, local, tau), tau[None]])
        values, estimates = propagate(operator, y, local_times)
        ys = jnp.where(mine.reshape((-1,) + (1,) * y.ndim), values[:-1], ys)
        errors = jnp.where(mine, carried + estimates[:-1], errors)
        return i + 1, values[-1], ys, errors, carried + estimates[-1]

    zeros = jnp.zeros(count, y0.dtype)
    initial = (
        jnp.zeros((), jnp.int32), y0, jnp.zeros((count, *y0.shape), y0.dtype), zeros,
        jnp.zeros((), y0.dtype),
    )
    # every call takes at least one step: the first outside the loop (see the module's
    # docstring); the loop's bound is what is left of the budget
    after_first = body(initial)
    if max_steps == 1:
        _, _, ys, errors, _ = after_first
        return ys, errors

    def rest(carry):
        return eqxi.while_loop(
            lambda carry: carry[0] < steps, body, carry, max_steps=max_steps - 1,
            kind="checkpointed", checkpoints=min(CHECKPOINTS, max_steps - 1),
        )

    # the loop's machinery costs time even when it takes no step: skipped then. Under a
    # vmap whose members take different step counts (a batch of fields) the predicate is
    # reduced over the batch (unvmap_any), so the cond stays a cond instead of becoming
    # a select that runs the loop anyway (and the loop then handles each member's count)
    more = eqxi.unvmap_any(steps > 1)
    _, _, ys, errors, _ = jax.lax.cond(more, rest, lambda carry: carry, after_first)
    return ys, errors
