"""Diffrax's Runge-Kutta solvers and adjoints as `pk.solve` solvers (the baselines)."""

import diffrax
import equinox as eqx
import jax.numpy as jnp

from ._base import AbstractSolver


class Diffrax(AbstractSolver):
    """Any Diffrax solver and adjoint behind the `pk.solve` interface.

    Either fixed steps (`steps=N`: constant step size `(t1 - t0) / N`, for matched-work
    comparisons) or adaptive steps (`rtol`/`atol` with Diffrax's PID controller).

    **Arguments:**

    - `solver`: a Diffrax solver object (default `diffrax.Tsit5()`).
    - `steps`: number of fixed steps; exclusive with `rtol`/`atol`.
    - `rtol`, `atol`: tolerances of the adaptive controller.
    - `adjoint`: a Diffrax adjoint (default `diffrax.RecursiveCheckpointAdjoint()`).
    - `max_steps`: the step budget of an adaptive solve (default 4096).
    """

    solver: diffrax.AbstractSolver
    adjoint: diffrax.AbstractAdjoint
    steps: int | None = eqx.field(static=True)
    rtol: float | None = eqx.field(static=True)
    atol: float | None = eqx.field(static=True)
    max_steps: int = eqx.field(static=True)

    def __init__(
        self,
        solver=None,
        *,
        steps=None,
        rtol=None,
        atol=None,
        adjoint=None,
        max_steps=4096,
    ):
        solver = diffrax.Tsit5() if solver is None else solver
        adjoint = diffrax.RecursiveCheckpointAdjoint() if adjoint is None else adjoint
        if not isinstance(solver, diffrax.AbstractSolver):
            raise TypeError(
                f"solver: expected a Diffrax solver object such as diffrax.Tsit5(), "
                f"got {solver!r}"
            )
        if not isinstance(adjoint, diffrax.AbstractAdjoint):
            raise TypeError(f"adjoint: expected a Diffrax adjoint object, got {adjoint!r}")
        adaptive = rtol is not None or atol is not None
        if steps is None and not adaptive:
            raise ValueError("steps: give either steps=N (fixed steps) or rtol/atol")
        if steps is not None and adaptive:
            raise ValueError("steps: fixed steps and rtol/atol are exclusive; give one")
        if steps is not None and (isinstance(steps, bool) or not isinstance(steps, int) or steps < 1):
            raise ValueError(f"steps: expected an int >= 1, got {steps!r}")
        if adaptive:
            rtol = 1e-6 if rtol is None else float(rtol)
            atol = 1e-6 if atol is None else float(atol)
            if rtol <= 0 or atol <= 0:
                raise ValueError(f"rtol: expected positive tolerances, got rtol={rtol}, atol={atol}")
        self.solver, self.adjoint = solver, adjoint
        self.steps, self.rtol, self.atol = steps, rtol, atol
        self.max_steps = steps if steps is not None else int(max_steps)

    def num_matvecs(self, steps):
        """Vector-field evaluations of `steps` attempted steps.

        The tableau's stages per step, less one for FSAL methods, which instead evaluate
        once more at the initial point; one per step for methods without a tableau (Euler).
        """
        tableau = getattr(self.solver, "tableau", None)
        if tableau is None:
            return steps
        stages = len(tableau.c) + 1
        return steps * (stages - 1) + 1 if tableau.fsal else steps * stages

    def integrate(self, operator, y0, t0, t1, save_times, *, forcing=None, fn=None):
        term = diffrax.ODETerm(_vector_field if forcing is None else _forced_vector_field)
        args = operator if forcing is None else (operator, forcing)
        save = {} if fn is None else {"fn": lambda t, y, args: fn(y)}
        if self.steps is not None:
            dt0 = (t1 - t0) / self.steps
            controller = diffrax.ConstantStepSize()
        else:
            dt0 = None
            controller = diffrax.PIDController(rtol=self.rtol, atol=self.atol)
        solution = diffrax.diffeqsolve(
            term,
            self.solver,
            t0,
            t1,
            dt0,
            y0,
            args=args,
            saveat=diffrax.SaveAt(ts=jnp.asarray(save_times, y0.dtype), **save),
            stepsize_controller=controller,
            adjoint=self.adjoint,
            max_steps=self.max_steps,
        )
        steps = solution.stats["num_steps"]
        stats = {
            "num_matvecs": self.num_matvecs(steps),
            "num_steps": steps,
            "num_accepted_steps": solution.stats["num_accepted_steps"],
        }
        return solution.ys, stats


def _vector_field(t, y, operator):
    return operator(y)


def _forced_vector_field(t, y, args):
    operator, forcing = args
    return operator(y) + operator.source_term(forcing(t)).astype(y.dtype)
