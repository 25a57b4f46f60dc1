"""Time integrators for `y' = A y` behind one contract (`AbstractSolver`)."""

from ._base import AbstractSolver as AbstractSolver
from ._diffrax import Diffrax as Diffrax
from ._krylov import (
    AbstractKrylovSolver as AbstractKrylovSolver,
    Arnoldi as Arnoldi,
    Lanczos as Lanczos,
)
