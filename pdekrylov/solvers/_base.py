"""The solver contract: how `pk.solve` talks to any time integrator."""

import abc

import equinox as eqx


class AbstractSolver(eqx.Module):
    """A method for `y' = A y`, `y(t0) = y0`, evaluated at given times.

    Subclasses implement `integrate`; `pk.solve` validates the inputs and wraps the
    result in a `Solution`. Solvers are Equinox modules: configuration is static, so two
    solvers with equal settings share compiled code.
    """

    @abc.abstractmethod
    def integrate(self, operator, y0, t0: float, t1: float, save_times, *, forcing=None, fn=None):
        """Integrate `y' = A y + b(t)` from `t0` to `t1` and return the states (or their
        observations) at `save_times`.

        **Arguments:**

        - `operator`: a `pdekrylov.AbstractOperator` (its call is the matvec).
        - `y0`: the initial state, of shape `operator.state_shape`.
        - `t0`, `t1`: Python floats, `t0 < t1`.
        - `save_times`: a sorted 1D numpy array of times in `[t0, t1]` (static).
        - `forcing`: a `pk.Forcing` or None (`b = 0`); the state's forcing at time t is
          `operator.source_term(forcing(t))`.
        - `fn`: a linear observation of the state (`pk.SaveAt`'s `fn`), or None for the
          states themselves.

        **Returns:** `(ys, stats)`: `ys` of shape `(len(save_times), *state_shape)` (or
        `*fn(y).shape`) and a dict with at least `num_matvecs` and `num_steps` (forward
        pass only).
        """

    def check_operator(self, operator):
        """Raise `ValueError` if this solver cannot handle `operator` (default: any)."""

    def check_forcing(self, forcing):
        """Raise `ValueError` if this solver cannot take `forcing` (default: any)."""
