"""Equal Krylov steps whose number is known only at run time, reverse-differentiable.

Tolerance mode takes `steps` steps of length `tau`, both traced (they come from the
operator's spectrum, which may depend on a learned field). Step lengths are constants
for differentiation, as an ODE solver's are. Only the steps taken cost anything:

- The first `stored` steps (up to `STORED_STEPS`, as many decompositions as fit in
  `STORED_BYTES`) run under plain reverse mode and keep their Krylov decompositions for
  the backward pass, as fixed mode does: the first unconditionally, the others in a scan
  whose iterations a `lax.cond` skips once the steps are done.
- Steps after those run in Equinox's checkpointed while loop, the loop Diffrax's
  `RecursiveCheckpointAdjoint` runs on: the forward pass keeps `CHECKPOINTS` step start
  states, the backward pass recomputes each step (and the steps between checkpoints
  beyond that) and pulls the cotangent through its Krylov decomposition's own adjoint.
  A `lax.cond` skips the loop when no step is left: its machinery costs time even when
  it takes no step.

The conds test a predicate reduced over a vmapped batch (`unvmap_any`): under a vmap
over fields, whose members take different step counts, they stay conds instead of
becoming selects that run every branch, and a member whose steps are done keeps its
carry.

Measured (single-threaded CPU time, value and gradient): on the demo's training
objective (32 x 32 wave, 48 pairs, one step of depth 20) 238 ms with every step in the
loop, 178 ms with the first step kept and the empty loop skipped, as fixed mode's 178
ms; on the 128 x 128 wave with Arnoldi at rtol 1e-2 (3 steps of depth 20) 563 ms with
the later steps recomputed, 384 ms with the first 4 kept (forward 168 ms: value and
gradient 2.3 times the forward instead of 4.1; a second run, on this shared machine
under load, gave 447 ms).
"""

from collections.abc import Callable

import equinox.internal as eqxi
import jax
import jax.numpy as jnp

#: the first steps, whose Krylov decompositions the forward pass keeps for the backward
#: pass (at most; see `stored_steps`); later steps are recomputed
STORED_STEPS = 4
#: the memory the kept decompositions may take together (one is always kept)
STORED_BYTES = 256 * 2**20
#: start states the checkpointed loop keeps for the steps after those by default (more are
#: recomputed); the solvers' `checkpoints=`
CHECKPOINTS = 8


def stored_steps(step_bytes: int) -> int:
    """How many first steps keep their decompositions: up to `STORED_STEPS`, as many as
    fit in `STORED_BYTES` (at least one).

    **Arguments:**

    - `step_bytes`: the size of one step's Krylov basis in bytes (static).
    """
    return int(max(1, min(STORED_STEPS, STORED_BYTES // max(step_bytes, 1))))


def march(
    operator, y0, propagate: Callable, steps, tau, serving, local, max_steps: int, stored: int = 1,
    checkpoints: int = CHECKPOINTS,
):
    """`steps` steps of `propagate` from `y0`, saving at the given local times.

    **Arguments:**

    - `operator`, `y0`: the operator and the initial state.
    - `propagate`: `(operator, y, local_times) -> (values (P + 1, *state), estimates (P + 1,))`,
      the states at the local times (the last one the step's end) and their error
      estimates.
    - `steps`, `tau`: the number of steps (int32 scalar, `<= max_steps`) and their length.
    - `serving`, `local`: per save time, the step that serves it and its time within it.
    - `max_steps`: the loop's bound (static).
    - `stored`: how many first steps keep their decompositions (static, `stored_steps`).
    - `checkpoints`: the start states the checkpointed loop keeps (static).

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

    def guarded(carry):
        # under a vmap over fields the members take different step counts: a member
        # whose steps are done keeps its carry
        stepped = body(carry)
        active = carry[0] < steps
        return jax.tree.map(lambda new, old: jnp.where(active, new, old), stepped, carry)

    def skipped(carry):
        return carry

    def stored_step(carry, _):
        # the predicate is reduced over a vmapped batch (unvmap_any), so the cond stays a
        # cond (a skipped step costs nothing) instead of becoming a select
        return jax.lax.cond(eqxi.unvmap_any(carry[0] < steps), guarded, skipped, carry), None

    zeros = jnp.zeros(count, y0.dtype)
    initial = (
        jnp.zeros((), jnp.int32), y0, jnp.zeros((count, *y0.shape), y0.dtype), zeros,
        jnp.zeros((), y0.dtype),
    )
    stored = min(stored, max_steps)
    carry = body(initial)  # every call takes at least one step
    if stored > 1:
        carry, _ = jax.lax.scan(stored_step, carry, None, length=stored - 1)
    if max_steps > stored:

        def rest(carry):
            return eqxi.while_loop(
                lambda carry: carry[0] < steps, body, carry, max_steps=max_steps - stored,
                kind="checkpointed", checkpoints=min(checkpoints, max_steps - stored),
            )

        # skipped, like a stored step, when no step is left (its machinery costs time even
        # when it takes no step)
        carry = jax.lax.cond(eqxi.unvmap_any(steps > stored), rest, skipped, carry)
    _, _, ys, errors, _ = carry
    return ys, errors
