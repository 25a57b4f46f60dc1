"""`pk.solve`: the one entry point for solving `y' = A(theta) y` with any solver."""

from collections.abc import Callable, Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float
import numpy as np

from ._forcing import Forcing
from ._operators import AbstractOperator
from .solvers import AbstractSolver


class Solution(eqx.Module):
    """The result of `pk.solve`.

    - `ts`: the save times, shape `(T,)`.
    - `ys`: the states at `ts`, shape `(T, *state_shape)` (always a leading time axis),
      or their observations `(T, *fn(y).shape)` with `pk.SaveAt(ts, fn)`.
    - `stats`: a dict: `num_matvecs` (operator applications in the forward pass),
      `num_steps`, and for Krylov solvers `error_estimate` (per save time).
    """

    ts: Float[Array, " times"]
    ys: Float[Array, "times *state"]
    stats: dict


class SaveAt(eqx.Module):
    """What `pk.solve` returns: the state, or a linear observation of it, at given times
    (Diffrax's `SaveAt(ts=..., fn=...)`, with `fn` taking the state alone).

    **Arguments:**

    - `ts`: the save times, a sorted 1D sequence in `[t0, t1]` (static: concrete numbers).
    - `fn`: None (the states), or a **linear** map of the state: `pk.Receivers` (traces at
      points), or any callable (an Equinox module's arrays are differentiable and may be
      `vmap`ped). Arnoldi applies it to the basis of each step's Krylov space once and
      serves every time from that projection (no state of `ts` is ever formed), which is
      only right for a linear `fn`; other solvers apply it to the states.
    """

    ts: tuple[float, ...] = eqx.field(static=True)
    fn: Callable | None = None

    def __init__(self, ts, fn=None):
        if fn is not None and not callable(fn):
            raise TypeError(f"fn: expected a callable (a linear observation of the state), got {fn!r}")
        times = _as_times(ts)
        self.ts = tuple(float(t) for t in times)
        self.fn = fn


def solve(
    operator: AbstractOperator,
    y0: Float[Array, "*state"],
    t1: float,
    solver: AbstractSolver,
    *,
    t0: float = 0.0,
    saveat: Sequence[float] | SaveAt | None = None,
    forcing: Forcing | None = None,
) -> Solution:
    """Solve `y' = A y + b(t)`, `y(t0) = y0`, where `A y = operator(y)`, up to `t1`.

    Differentiable (`jax.grad` / `equinox.filter_grad`) with respect to the operator's
    coefficient fields, `y0` and the forcing's arrays (its signal, its sources);
    `jax.vmap`-able over batches of `y0` and of forcings (shots).

    **Arguments:**

    - `operator`: a `pdekrylov.AbstractOperator`: a grid operator (`pk.WaveOperator`, …),
      `pk.LinearOperator(matvec, state_shape)`, `pk.MatrixOperator(matrix)` (dense or
      `jax.experimental.sparse`), or a subclass of your own.
    - `y0`: the initial state, a floating array of `operator.state_shape`.
    - `t1`: the final time (a Python or numpy number, `t1 > t0`).
    - `solver`: a solver object: `pk.Arnoldi(...)`, `pk.Lanczos(...)`, `pk.Diffrax(...)`.
    - `t0`: the initial time (default 0).
    - `saveat`: times at which to return the state: a sorted 1D sequence in `[t0, t1]`
      (default: just `t1`), or a `pk.SaveAt(ts, fn)` for a linear observation of the
      state at those times (receivers' traces).
    - `forcing`: a `pk.Forcing` (sources and their signals) or None: the state's forcing
      is `b(t) = operator.source_term(forcing(t))`. Arnoldi integrates it exactly for
      polynomial signals (`_forced.py`); Lanczos does not take one.

    **Returns:** a `Solution`.

    **Raises:** `ValueError` / `TypeError` naming the offending argument. A `y0` with
    NaN or Inf raises `ValueError` when called eagerly, and `equinox.EquinoxRuntimeError`
    (a `RuntimeError`) at run time under `jit` / `vmap`.
    """
    if not isinstance(operator, AbstractOperator):
        raise TypeError(
            f"operator: expected a pdekrylov operator (wrap a matvec in "
            f"pk.LinearOperator(matvec, state_shape) or a matrix in pk.MatrixOperator), "
            f"got {type(operator).__name__}"
        )
    if not isinstance(solver, AbstractSolver):
        raise TypeError(
            f"solver: expected a solver object such as pk.Arnoldi(depth=20) or "
            f"pk.Diffrax(diffrax.Tsit5(), steps=50), got {solver!r}"
        )
    t0 = _concrete_time("t0", t0)
    t1 = _concrete_time("t1", t1)
    if not t1 > t0:
        raise ValueError(f"t1: expected t1 > t0, got t0={t0}, t1={t1}")
    fn = saveat.fn if isinstance(saveat, SaveAt) else None
    save_times = _check_saveat(saveat.ts if isinstance(saveat, SaveAt) else saveat, t0, t1)
    if jnp.shape(y0) != operator.state_shape:
        raise ValueError(
            f"y0: expected shape {operator.state_shape} (the operator's state shape), "
            f"got {jnp.shape(y0)}; vmap over batches"
        )
    if not jnp.issubdtype(jnp.result_type(y0), jnp.floating):
        raise TypeError(f"y0: expected a floating dtype, got {jnp.result_type(y0)}")
    solver.check_operator(operator)
    _check_forcing(forcing, operator, y0)
    solver.check_forcing(forcing)
    if fn is not None:
        _check_observation(fn, y0)
    y0 = jnp.asarray(y0)
    if isinstance(y0, jax.core.Tracer):
        # under jit / vmap the values are only known at run time: checked there. The
        # check is attached to a scalar, not to y0: XLA runs the error callback on one
        # device, and a y0 sharded over several would be gathered there whole
        finite = eqx.error_if(jnp.ones((), y0.dtype), ~jnp.all(jnp.isfinite(y0)), "y0: contains NaN or Inf")
        y0 = y0 * finite
    elif not np.all(np.isfinite(np.asarray(y0))):  # a concrete array: checked here
        raise ValueError("y0: contains NaN or Inf")
    ys, stats = solver.integrate(operator, y0, t0, t1, save_times, forcing=forcing, fn=fn)
    return Solution(ts=jnp.asarray(save_times, y0.dtype), ys=ys, stats=stats)


def _check_forcing(forcing, operator, y0):
    if forcing is None:
        return
    if not isinstance(forcing, Forcing):
        raise TypeError(f"forcing: expected a pk.Forcing(sources, signal), got {type(forcing).__name__}")
    density = jax.ShapeDtypeStruct(forcing.sources.shape, jnp.result_type(y0))
    term = jax.eval_shape(operator.source_term, density)  # raises naming `forcing` on a mismatch
    if term.shape != operator.state_shape:
        raise ValueError(f"forcing: its source term has shape {term.shape}, the state {operator.state_shape}")


def _check_observation(fn, y0):
    try:
        out = jax.eval_shape(fn, jax.ShapeDtypeStruct(jnp.shape(y0), jnp.result_type(y0)))
    except (TypeError, ValueError) as error:
        raise ValueError(f"saveat: its fn does not take a state of shape {jnp.shape(y0)}: {error}") from None
    if not isinstance(out, jax.ShapeDtypeStruct) or not jnp.issubdtype(out.dtype, jnp.floating):
        raise TypeError(f"saveat: its fn must return one floating array, got {out}")


def _concrete_time(name, value):
    try:
        value = float(value)
    except (TypeError, jax.errors.ConcretizationTypeError):
        raise TypeError(
            f"{name}: expected a concrete number (times are static in pk.solve), got {value!r}"
        ) from None
    if not np.isfinite(value):
        raise ValueError(f"{name}: expected a finite number, got {value}")
    return value


def _as_times(saveat):
    """The save times as a sorted, finite, non-empty 1D numpy array (or a named error)."""
    try:
        times = np.asarray(saveat, dtype=float)
    except (TypeError, ValueError, jax.errors.ConcretizationTypeError):
        raise TypeError(f"saveat: expected a 1D sequence of numbers, got {saveat!r}") from None
    if times.ndim == 0:
        times = times[None]
    if times.ndim != 1 or times.size == 0:
        raise ValueError(f"saveat: expected a non-empty 1D sequence, got shape {times.shape}")
    if not np.all(np.isfinite(times)):
        raise ValueError("saveat: expected finite times")
    if np.any(np.diff(times) < 0):
        raise ValueError(f"saveat: expected sorted times, got {times.tolist()}")
    return times


def _check_saveat(saveat, t0, t1):
    if saveat is None:
        return np.array([t1])
    times = _as_times(saveat)
    if times[0] < t0 or times[-1] > t1:
        raise ValueError(
            f"saveat: expected times in [t0, t1] = [{t0}, {t1}], got "
            f"[{times[0]}, {times[-1]}]"
        )
    return times
