"""Time integrators for `y' = A y` behind one contract (`AbstractSolver`)."""

from ._base import AbstractSolver as AbstractSolver
from ._diffrax import Diffrax as Diffrax
from ._krylov import (
    AbstractKrylovSolver as AbstractKrylovSolver,
    Arnoldi as Arnoldi,
    Lanczos as Lanczos,
)
from ._names import (
    KRYLOV_SOLVERS as KRYLOV_SOLVERS,
    check_solver_name as check_solver_name,
    solver_from_name as solver_from_name,
    solver_names as solver_names,
    work_parameter as work_parameter,
)
