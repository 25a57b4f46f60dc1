"""Krylov decompositions with adjoint gradients, and matrix functions on top.

Knows matvecs, vectors and parameter pytrees; nothing about grids or PDEs.
"""

from ._arnoldi import ArnoldiResult as ArnoldiResult, arnoldi as arnoldi
from ._funm import ExpmAction as ExpmAction, expm_action as expm_action
from ._lanczos import LanczosResult as LanczosResult, lanczos as lanczos
