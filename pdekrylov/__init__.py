"""pdekrylov: PDE inverse problems with Krylov matrix-function solvers and exact adjoints."""

from ._grid import Grid as Grid
from ._operators import (
    AbstractOperator as AbstractOperator,
    AdvectionDiffusionOperator as AdvectionDiffusionOperator,
    DiffusionOperator as DiffusionOperator,
    WaveOperator as WaveOperator,
)

__version__ = "0.1.0"
