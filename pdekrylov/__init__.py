"""pdekrylov: PDE inverse problems with Krylov matrix-function solvers and exact adjoints."""

from . import krylov as krylov
from ._grid import Grid as Grid
from ._operators import (
    AbstractOperator as AbstractOperator,
    AdvectionDiffusionOperator as AdvectionDiffusionOperator,
    DiffusionOperator as DiffusionOperator,
    WaveOperator as WaveOperator,
)

from .krylov import (
    ArnoldiResult as ArnoldiResult,
    ExpmAction as ExpmAction,
    LanczosResult as LanczosResult,
    arnoldi as arnoldi,
    expm_action as expm_action,
    lanczos as lanczos,
)

__version__ = "0.1.0"
