"""The benchmark problems: a Neumann wave operator with a start vector and loss weights,
and the wave-paper problem in the regime where accurate gradients need real work."""

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np

from ..._grid import Grid
from ..._operators import WaveOperator
from ...problems import Problem, load_problem

#: `solve`: the wave-paper speed field plus this offset (c ~ 0.04-0.06, where the wave
#: is oscillatory enough for gradients to be hard)
SOLVE_SPEED_OFFSET = 0.05


@dataclasses.dataclass(frozen=True)
class WaveBenchProblem:
    """A Neumann wave operator with a start vector `y0` and loss weights `w`."""

    op: WaveOperator
    y0: jax.Array
    w: jax.Array

    @property
    def size(self) -> int:
        """N, the number of state entries."""
        return self.y0.size


def wave_problem(n: int, seed: int = 0) -> WaveBenchProblem:
    """The `adjoint`, `expm` and `scaling` problem on an n x n grid (float64).

    Speed `0.05 + 0.01 sin(3x) cos(2y)` (smooth, no zero), `y0 ~ N(0, 1)` (every mode
    excited: the hard case for a Krylov method), `w ~ U[0, 1)` (drawn by NumPy).

    **Arguments:**

    - `n`: grid points per axis.
    - `seed`: seed of `y0` and `w`.

    **Returns:** a `WaveBenchProblem`.
    """
    grid = Grid((n, n))
    x = grid.coordinates(jnp.float64)
    speed = 0.05 + 0.01 * jnp.sin(3 * x[0]) * jnp.cos(2 * x[1])
    op = WaveOperator(grid, speed, "neumann")
    # NumPy's generator: JAX's would compile a program per grid size (seconds each)
    rng = np.random.default_rng(seed)
    y0 = jnp.asarray(rng.standard_normal(op.state_shape))
    w = jnp.asarray(rng.uniform(size=op.state_shape))
    return WaveBenchProblem(op, y0, w)


def spectral_radius_bound(op: WaveOperator) -> float:
    """An upper bound on the spectral radius of the wave operator's matrix.

    Its eigenvalues are `±i sqrt(mu)` with `mu` the eigenvalues of `-c^2 lap`, and
    Gershgorin bounds those by `max(c^2) * 4 * sum(1 / h^2)`.
    """
    inverse_h2 = sum(1 / h**2 for h in op.grid.spacing)
    return math.sqrt(4 * inverse_h2 * float(jnp.max(op.speed**2)))


def solve_problem(n: int) -> Problem:
    """The `solve` problem: wave-paper on an n x n grid, speed shifted by 0.05.

    wave-paper's speed is a small random field (c ~ ±0.007): so slow that the solution
    barely oscillates by t = 1. Shifting it by `SOLVE_SPEED_OFFSET` gives c ~ 0.04-0.06,
    where accurate gradients need real work.
    """
    problem = load_problem("wave-paper")
    return problem.replace(
        grid=Grid((n, n), problem.grid.lower, problem.grid.upper),
        coefficient=problem.coefficient.replace(offset=problem.coefficient.offset + SOLVE_SPEED_OFFSET),
        name=f"wave-paper {n}x{n}, speed + {SOLVE_SPEED_OFFSET:g}",
    )
