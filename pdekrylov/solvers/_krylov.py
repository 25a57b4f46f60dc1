"""Krylov matrix-function time steppers: Arnoldi for any operator, Lanczos for
self-adjoint or second-order (wave-type) operators.

Both split `[t0, t1]` into `substeps` equal sub-intervals; each starts a fresh Krylov
decomposition from the current state and serves every save time inside it from that
one Krylov space (no extra matvecs). Reverse mode goes through the Krylov adjoints; with
`checkpoint=True` only the sub-interval start states are stored and each sub-interval's
decomposition is recomputed in the backward pass.
"""

import abc

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .. import krylov
from ._base import AbstractSolver


class AbstractKrylovSolver(AbstractSolver):
    """Shared sub-stepping of Krylov steppers; subclasses define one sub-interval."""

    depth: int = eqx.field(static=True)
    substeps: int = eqx.field(static=True)
    checkpoint: bool = eqx.field(static=True)

    def __init__(self, depth: int, substeps: int = 1, *, checkpoint: bool = True):
        for name, value in (("depth", depth), ("substeps", substeps)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise TypeError(f"{name}: expected an int, got {type(value).__name__}")
            if value < 1:
                raise ValueError(f"{name}: expected an int >= 1, got {value}")
        self.depth = int(depth)
        self.substeps = int(substeps)
        self.checkpoint = bool(checkpoint)

    @abc.abstractmethod
    def propagate(self, operator, y, local_times):
        """States `exp(tau A) y` at each `tau` in `local_times` (P,), and error estimates.

        **Returns:** `(values (P, *state_shape), error_estimate (P,))`.
        """

    @abc.abstractmethod
    def matvecs_per_substep(self, operator) -> int:
        """The number of operator applications one sub-interval costs."""

    def integrate(self, operator, y0, t0, t1, save_times):
        plan = _SubstepPlan(t0, t1, self.substeps, save_times)

        def substep(y, local_times):
            values, estimates = self.propagate(operator, y, local_times)
            # the last local time of every sub-interval is its end: the next start state
            return values[-1], (values[:-1], estimates)

        if self.checkpoint and self.substeps > 1:
            substep = jax.checkpoint(substep)
        local_times = jnp.asarray(plan.local_times, dtype=y0.dtype)
        _, (values, estimates) = jax.lax.scan(substep, y0, local_times)
        ys = values[plan.save_substep, plan.save_slot]
        # Errors committed in earlier sub-intervals carry over (to first order).
        ends = jnp.cumsum(estimates[:, -1])
        carried = jnp.concatenate([jnp.zeros((1,), ends.dtype), ends[:-1]])
        error = carried[plan.save_substep] + estimates[plan.save_substep, plan.save_slot]
        stats = {
            "num_matvecs": self.substeps * self.matvecs_per_substep(operator),
            "num_steps": self.substeps,
            "error_estimate": error,
        }
        return ys, stats


class _SubstepPlan:
    """Which sub-interval serves each save time, at which local time (all static).

    `local_times` has shape `(substeps, slots + 1)`: per sub-interval the local times of
    the save times it serves (padded by repeating its end time), then its end time.
    """

    def __init__(self, t0, t1, substeps, save_times):
        dt = (t1 - t0) / substeps
        # a save time on a boundary belongs to the sub-interval that ends there
        index = np.clip(np.ceil((save_times - t0) / dt) - 1, 0, substeps - 1).astype(int)
        counts = np.bincount(index, minlength=substeps)
        slots = max(1, counts.max())
        local = np.full((substeps, slots + 1), dt)
        slot = np.zeros_like(index)
        for i, (j, t) in enumerate(zip(index, save_times)):
            slot[i] = np.sum(index[:i] == j)
            local[j, slot[i]] = t - (t0 + j * dt)
        self.local_times = local
        self.save_substep = index
        self.save_slot = slot


class Arnoldi(AbstractKrylovSolver):
    """Matrix-exponential stepper by the Arnoldi iteration (any linear operator).

    Per sub-interval: one Arnoldi decomposition of depth K from the current state
    (K matvecs), then `exp(tau A) y ≈ ||y|| Q exp(tau H) e_1` at every requested time.

    **Arguments:**

    - `depth`: Krylov depth K per sub-interval.
    - `substeps`: number of equal sub-intervals of `[t0, t1]` (default 1).
    - `checkpoint`: recompute each sub-interval's decomposition in the backward pass
      instead of storing it (memory O(N K) instead of O(N K substeps)).
    """

    def matvecs_per_substep(self, operator):
        return self.depth

    def propagate(self, operator, y, local_times):
        return _expm_propagate(krylov.arnoldi, self.depth, operator, y, local_times)


class Lanczos(AbstractKrylovSolver):
    """Matrix-function stepper by the Lanczos iteration (three-term recurrence).

    Needs operator structure, declared by the operator (never guessed):

    - `operator.is_self_adjoint` (e.g. `DiffusionOperator`): `exp(tau A) y` from one
      Lanczos decomposition, as `Arnoldi` does, at O(N K) instead of O(N K^2).
    - `operator.second_order_form()` (e.g. `WaveOperator`): `(u, u_t)' = (u_t, W S W^-1 u)`
      with S symmetric. Two Lanczos runs on S (half the state), started from
      `S W^-1 u` and `S W^-1 u_t` (no division by W), give
      `u(tau) = u + tau u_t + W [G_c(S) a + G_s(S) b]` and
      `u_t(tau) = u_t + W [F_s(S) a + G_c(S) b]` with the functions of
      `krylov.second_order_functions`. Cost: 2 K + 2 matvecs of S per sub-interval.

    **Arguments:** as for `Arnoldi`; `depth` is per Lanczos run.
    """

    def check_operator(self, operator):
        if not operator.is_self_adjoint and operator.second_order_form() is None:
            raise ValueError(
                f"solver: Lanczos needs a self-adjoint operator or one with a second-order "
                f"form; {type(operator).__name__} declares neither (use Arnoldi)"
            )

    def matvecs_per_substep(self, operator):
        return self.depth if operator.is_self_adjoint else 2 * self.depth + 2

    def propagate(self, operator, y, local_times):
        if not operator.is_self_adjoint:
            return _second_order_propagate(self.depth, operator, y, local_times)
        return _expm_propagate(krylov.lanczos, self.depth, operator, y, local_times)


def _expm_propagate(decompose, depth, operator, y, local_times):
    """`exp(tau A) y` at every local time from one decomposition (`krylov.arnoldi` or
    `krylov.lanczos`), shaped like the state.

    The Krylov vectors are the state flattened grid-major: the component axes before the
    spatial ones (`operator.component_ndim`: the wave state's (u, u_t)) are moved after
    them. A state split across devices along its first grid axis is then split into
    contiguous blocks of the flat vector too, so XLA keeps the iteration sharded instead
    of gathering the state at every step. Inner products do not depend on the order of
    the entries.
    """
    leading = tuple(range(operator.component_ndim))  # () unless the state has components
    trailing = tuple(range(-len(leading), 0))
    z = jnp.moveaxis(y, leading, trailing)
    decomposition = decompose(_apply_grid_major, z, depth, operator, leading, trailing)
    values, error = krylov.expm_action(decomposition, local_times)
    values = values.reshape(-1, *z.shape)
    return jnp.moveaxis(values, trailing, tuple(a + 1 for a in leading)), error


def _second_order_propagate(depth, operator, y, local_times):
    """`Lanczos.propagate` on an operator's second-order form (see `Lanczos`)."""
    form = operator.second_order_form()
    stiffness, scale = form.stiffness, form.scale
    u, u_t = y[0], y[1]
    # Both runs in lockstep: one loop whose matvec acts on a batch of two vectors (one
    # pass over the coefficient field per step instead of two loops' two passes).
    # Run 0 starts from a = S W^-1 u, run 1 from b = S W^-1 u_t.
    starts = jax.vmap(stiffness.lift)(y)
    runs = jax.vmap(lambda start: krylov.lanczos(_apply, start, depth, stiffness))(starts)
    g_s, g_c, f_s = jax.vmap(krylov.second_order_functions, in_axes=(0, None))(
        jax.vmap(krylov.tridiagonal_matrix)(runs.diagonal, runs.offdiagonal), local_times
    )

    def combine(coefficients):  # sum over runs of ||x|| Q c, per time: (2, P, *u.shape)
        vectors = jnp.einsum("rpk,rnk->rpn", coefficients, runs.basis)
        return (runs.norm[:, None, None] * vectors).reshape(2, -1, *u.shape)

    taus = local_times.reshape(-1, *([1] * u.ndim))
    from_g_c, from_g_s, from_f_s = combine(g_c), combine(g_s), combine(f_s)
    u_new = u + taus * u_t + scale * (from_g_c[0] + from_g_s[1])
    u_t_new = u_t + scale * (from_f_s[0] + from_g_c[1])
    values = jnp.stack([u_new, u_t_new], axis=1)

    residuals = runs.norm * jnp.sqrt(jnp.sum(runs.residual**2, axis=-1))  # (2,)
    # the coefficients each run contributes, last Krylov entry: (2, P)
    last = jnp.stack(
        [
            jnp.abs(g_c[0, :, -1]) + jnp.abs(f_s[0, :, -1]),
            jnp.abs(g_s[1, :, -1]) + jnp.abs(g_c[1, :, -1]),
        ]
    )
    error = jnp.max(jnp.abs(scale)) * jnp.sum(residuals[:, None] * last, axis=0)
    return values, error


def _apply(y, operator):
    return operator(y)


def _apply_grid_major(z, operator, leading, trailing):
    """The operator on a grid-major state (see `_expm_propagate`)."""
    return jnp.moveaxis(operator(jnp.moveaxis(z, trailing, leading)), leading, trailing)
