"""Krylov matrix-function time steppers: Arnoldi for any operator, Lanczos for
self-adjoint or second-order (wave-type) operators.

Both split `[t0, t1]` into `substeps` equal sub-intervals; each starts a fresh Krylov
decomposition from the current state and serves every save time inside it from that
one Krylov space (no extra matvecs). Reverse mode goes through the Krylov adjoints; with
`checkpoint=True` only the sub-interval start states are stored and each sub-interval's
decomposition is recomputed in the backward pass.
"""

import abc
from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .. import krylov
from .._check import check_tolerance
from . import _forced
from ._base import AbstractSolver
from ._march import CHECKPOINTS, march, stored_steps

#: the tolerance when neither a depth nor sub-intervals are given
DEFAULT_RTOL = 1e-6


class AbstractKrylovSolver(AbstractSolver):
    """Shared stepping of Krylov steppers; subclasses define one sub-interval.

    Two modes:

    - **tolerance** (`rtol`; the default when neither `depth` nor `substeps` is given):
      equal steps whose length comes from the operator's `spectrum_bound()` and the a
      priori error bound of the Krylov approximation (`pk.krylov.step_length`), chosen
      inside `jit` (the coefficient field may be traced). The bound holds for every start
      vector, so it controls the backward pass (which propagates the cotangent) as well
      as the state. The first steps keep their decompositions for the backward pass,
      later ones run in Equinox's checkpointed while loop (`_march.py`); the step count depends on the operator only, not on the state, so
      it stays one count under a `vmap` over initial states.
    - **fixed** (`depth`, and optionally `substeps`): `substeps` equal sub-intervals, for
      matched-work studies.
    """

    depth: int | None = eqx.field(static=True)
    substeps: int | None = eqx.field(static=True)
    rtol: float | None = eqx.field(static=True)
    max_steps: int = eqx.field(static=True)
    checkpoint: bool = eqx.field(static=True)
    checkpoints: int = eqx.field(static=True)
    throw: bool = eqx.field(static=True)

    def __init__(
        self, depth: int | None = None, substeps: int | None = None, *, rtol: float | None = None,
        max_steps: int = 64, checkpoint: bool = True, checkpoints: int = CHECKPOINTS, throw: bool = True,
    ):
        for name, value in (
            ("depth", depth), ("substeps", substeps), ("max_steps", max_steps), ("checkpoints", checkpoints),
        ):
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise TypeError(f"{name}: expected an int, got {type(value).__name__}")
            if value < 1:
                raise ValueError(f"{name}: expected an int >= 1, got {value}")
        if rtol is not None and substeps is not None:
            raise ValueError("rtol: give a tolerance or a number of substeps, not both")
        if depth is None and substeps is not None:
            raise ValueError("depth: a fixed number of substeps needs a depth")
        if rtol is None and depth is None:
            rtol = DEFAULT_RTOL
        if rtol is not None:
            rtol = check_tolerance("rtol", rtol)
        elif substeps is None:
            substeps = 1
        self.depth = None if depth is None else int(depth)
        self.substeps = None if substeps is None else int(substeps)
        self.rtol = rtol
        self.max_steps = int(max_steps)
        self.checkpoint = bool(checkpoint)
        self.checkpoints = int(checkpoints)
        self.throw = bool(throw)

    #: tolerance mode's Krylov depth when none is given, by the operator's spectrum: a
    #: symmetric negative spectrum allows steps growing like the depth squared (deep
    #: pays), an imaginary one only linearly (and Arnoldi's orthogonalisation grows
    #: with the square of the depth)
    default_depths: ClassVar[dict] = {"imaginary": 20, "negative": 40, "disk": 30}

    def depth_for(self, operator) -> int:
        """The Krylov depth used on `operator`: the given one, else the default for its
        spectrum (`default_depths`)."""
        if self.depth is not None:
            return self.depth
        size = int(np.prod(operator.state_shape))
        return min(self.default_depths[self.spectrum(operator).kind], size)

    @property
    def adaptive(self) -> bool:
        """Whether this is tolerance mode (the step length chosen from `rtol`)."""
        return self.rtol is not None

    @abc.abstractmethod
    def propagate(self, operator, y, local_times):
        """States `exp(tau A) y` at each `tau` in `local_times` (P,), and error estimates.

        **Returns:** `(values (P, *state_shape), error_estimate (P,))`.
        """

    @abc.abstractmethod
    def matvecs_per_substep(self, operator) -> int:
        """The number of operator applications one sub-interval costs."""

    def bound_depth(self, operator) -> int:
        """The polynomial degree in `A` that one sub-interval's approximation has (the
        depth for the a priori bound)."""
        return self.depth_for(operator)

    def spectrum(self, operator):
        """The operator's `SpectrumBound`, or None where it declares none."""
        return operator.spectrum_bound()

    def check_operator(self, operator):
        if self.adaptive and self.spectrum(operator) is None:
            raise ValueError(
                f"solver: tolerance mode chooses its steps from the operator's spectrum_bound(), "
                f"which {type(operator).__name__} does not give; give the operator one, or a "
                f"fixed depth and substeps (e.g. {type(self).__name__}(30, substeps=2))"
            )

    #: whether this solver takes a forcing and projects observations on its Krylov
    #: spaces (`_forced.py`: Arnoldi of the augmented operator)
    augmentable: ClassVar[bool] = False

    def check_forcing(self, forcing):
        if forcing is not None and not self.augmentable:
            raise ValueError(
                f"forcing: {type(self).__name__} does not take a forcing (its Krylov space would "
                f"need the augmented, non-symmetric operator); use pk.Arnoldi or pk.Diffrax"
            )

    def integrate(self, operator, y0, t0, t1, save_times, *, forcing=None, fn=None):
        if self.augmentable and (forcing is not None or fn is not None):
            return _forced.integrate(self, operator, y0, t0, t1, save_times, forcing, fn)
        if self.adaptive:
            ys, stats = self._integrate_adaptive(operator, y0, t0, t1, save_times)
        else:
            ys, stats = self._integrate_fixed(operator, y0, t0, t1, save_times)
        return (ys if fn is None else jax.vmap(fn)(ys)), stats

    def _substep(self, operator):
        def substep(y, local_times):
            values, estimates = self.propagate(operator, y, local_times)
            # the last local time of every sub-interval is its end: the next start state
            return values[-1], (values[:-1], estimates)

        return substep

    def _integrate_fixed(self, operator, y0, t0, t1, save_times):
        plan = _SubstepPlan(t0, t1, self.substeps, save_times)
        substep = self._substep(operator)
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
        spectrum = self.spectrum(operator)
        if spectrum is not None:  # unused stats cost nothing: XLA drops them
            tau = (t1 - t0) / self.substeps
            x = jax.lax.stop_gradient(spectrum.radius) * tau
            shift = jax.lax.stop_gradient(spectrum.center) * tau
            depth = self.bound_depth(operator)
            stats["num_bound_matvecs"] = spectrum.matvecs
            stats["error_bound"] = self.substeps * krylov.error_bound(spectrum.kind, x, depth, shift)
            stats["gradient_error_bound"] = self.substeps * krylov.gradient_error_bound(
                spectrum.kind, x, depth, shift
            )
        return ys, stats

    def _integrate_adaptive(self, operator, y0, t0, t1, save_times):
        spectrum = self.spectrum(operator)
        # step lengths are constants for differentiation, as an ODE solver's are
        radius = jax.lax.stop_gradient(spectrum.radius).astype(y0.dtype)
        center = jax.lax.stop_gradient(spectrum.center)
        length = t1 - t0
        depth = self.bound_depth(operator)
        longest = krylov.step_length(spectrum.kind, radius, depth, self.rtol, length, center)
        needed = jnp.maximum(1, jnp.ceil(length / longest)).astype(jnp.int32)
        steps = jnp.minimum(needed, self.max_steps)
        tau = length / steps
        save = jnp.asarray(save_times - t0, y0.dtype)
        # the step that serves each save time (one on a step boundary: the step ending there)
        serving = jnp.clip(jnp.ceil(save / tau).astype(jnp.int32) - 1, 0, steps - 1)
        local = save - serving * tau
        # a step's basis: about one state-sized vector per matvec
        step_bytes = self.matvecs_per_substep(operator) * y0.size * y0.dtype.itemsize
        ys, errors = march(
            operator, y0, self.propagate, steps, tau, serving, local, self.max_steps,
            stored=stored_steps(step_bytes), checkpoints=self.checkpoints,
        )
        if self.throw:
            ys = eqx.error_if(
                ys, needed > self.max_steps,
                f"max_steps: the tolerance needs more than max_steps={self.max_steps} steps; "
                f"raise max_steps, the depth or rtol",
            )
        stats = {
            "num_matvecs": steps * self.matvecs_per_substep(operator),
            "num_bound_matvecs": spectrum.matvecs,
            "num_steps": steps,
            "num_rejected_steps": jnp.zeros((), jnp.int32),  # a priori steps: none rejected
            "max_steps_reached": needed > self.max_steps,
            "step_size": tau,
            "spectral_radius": radius,
            "error_estimate": errors,
            "error_bound": steps * krylov.error_bound(spectrum.kind, tau * radius, depth, tau * center),
            "gradient_error_bound": steps * krylov.gradient_error_bound(
                spectrum.kind, tau * radius, depth, tau * center
            ),
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

    - `depth`: Krylov depth K per sub-interval (default in tolerance mode: 20, or 40 on
      a symmetric negative semi-definite operator; `default_depths`).
    - `substeps`: number of equal sub-intervals of `[t0, t1]` (fixed mode; default 1
      when a depth is given).
    - `rtol`: tolerance mode: the relative error of the solution and of its gradient
      (default 1e-6 when neither `depth` nor `substeps` is given); the operator must give
      a `spectrum_bound()` (the stencil operators and `pk.MatrixOperator` do).
    - `max_steps`: tolerance mode's most steps (default 64); more raise an error (or,
      `throw=False`, return the result of `max_steps` steps with
      `stats["max_steps_reached"]` set). The first 4 steps keep their decompositions
      for the backward pass (fewer where they would take more than 256 MB); later ones
      are recomputed from the checkpointed loop's start states (`checkpoints`).
    - `checkpoint`: fixed mode: recompute each sub-interval's decomposition in the
      backward pass instead of storing it (memory O(N K) instead of O(N K substeps));
      tolerance mode stores its first steps and recomputes the rest (see `max_steps`).
    - `checkpoints`: tolerance mode: the step start states the checkpointed loop keeps
      for the backward pass (default 8; Equinox's online treeverse, revolve-style): fewer
      keep less memory and recompute more steps. `examples/bench_adjoint_memory.py`
      measures the trade.
    - `throw`: see `max_steps`.

    `stats` (from `pk.solve`): `num_matvecs` (of the propagation), `num_steps`, the a
    posteriori `error_estimate` of the state; where the operator gives a
    `spectrum_bound()`, the a priori `error_bound` of the state (for every start vector),
    the `gradient_error_bound` (the flag for an untrustworthy fixed-depth gradient) and
    `num_bound_matvecs`, the matvecs of the operator's spectrum bound (once per operator:
    shared by a `vmap` over initial states; in fixed mode only computed where the
    bounds are used); in tolerance mode also `step_size`, `spectral_radius`,
    `num_rejected_steps` (0) and `max_steps_reached`.
    """

    augmentable = True

    def matvecs_per_substep(self, operator):
        return self.depth_for(operator)

    def propagate(self, operator, y, local_times):
        return _expm_propagate(krylov.arnoldi, self.depth_for(operator), operator, y, local_times)


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

    **Arguments:** as for `Arnoldi`; `depth` is per Lanczos run (default in tolerance
    mode: 10 on a second-order form, whose approximation has degree 2 depth in `A`; 40
    on a self-adjoint operator).
    """

    # deeper than 40 on a stiff symmetric spectrum, the long steps that the bound allows
    # lose orthogonality (no reorthogonalisation): measured, depth 50 on the 64x64
    # diffusion operator at rtol 1e-3 gave a gradient 29 % wrong, depth 40 4e-5
    default_depths: ClassVar[dict] = {"imaginary": 10, "negative": 40}

    def check_operator(self, operator):
        if not operator.is_self_adjoint and operator.second_order_form() is None:
            raise ValueError(
                f"solver: Lanczos needs a self-adjoint operator or one with a second-order "
                f"form; {type(operator).__name__} declares neither (use Arnoldi)"
            )
        super().check_operator(operator)

    def bound_depth(self, operator):
        # on a second-order form the functions of tau^2 S of degree K are polynomials of
        # degree 2K in the first-order operator
        depth = self.depth_for(operator)
        return depth if operator.is_self_adjoint else 2 * depth

    def matvecs_per_substep(self, operator):
        depth = self.depth_for(operator)
        return depth if operator.is_self_adjoint else 2 * depth + 2

    def propagate(self, operator, y, local_times):
        depth = self.depth_for(operator)
        if not operator.is_self_adjoint:
            return _second_order_propagate(depth, operator, y, local_times)
        return _expm_propagate(krylov.lanczos, depth, operator, y, local_times)


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

    # not differentiated (as in `krylov.expm_action`: a zero residual's sqrt would give NaN)
    residuals = runs.norm * jnp.sqrt(jnp.sum(jax.lax.stop_gradient(runs.residual) ** 2, axis=-1))  # (2,)
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
