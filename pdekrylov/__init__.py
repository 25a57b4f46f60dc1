"""pdekrylov: PDE inverse problems with Krylov matrix-function solvers and exact adjoints."""

from . import krylov as krylov
from ._grid import Grid as Grid
from ._solve import Solution as Solution, solve as solve
from ._operators import (
    AbstractOperator as AbstractOperator,
    SecondOrderForm as SecondOrderForm,
    SymmetrizedWaveStiffness as SymmetrizedWaveStiffness,
    AdvectionDiffusionOperator as AdvectionDiffusionOperator,
    DiffusionOperator as DiffusionOperator,
    WaveOperator as WaveOperator,
)

from .solvers import (
    AbstractSolver as AbstractSolver,
    Arnoldi as Arnoldi,
    Diffrax as Diffrax,
    Lanczos as Lanczos,
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
