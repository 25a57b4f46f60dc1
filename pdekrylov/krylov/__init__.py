"""Krylov decompositions with adjoint gradients, and matrix functions on top.

Knows matvecs, vectors and parameter pytrees; nothing about grids or PDEs.
"""

from ._arnoldi import ArnoldiResult as ArnoldiResult, arnoldi as arnoldi
from ._bounds import (
    error_bound as error_bound,
    gradient_error_bound as gradient_error_bound,
    log_error_bound as log_error_bound,
    step_length as step_length,
)
from ._expm import expm as expm
from ._funm import (
    ExpmAction as ExpmAction,
    expm_action as expm_action,
    second_order_functions as second_order_functions,
)
from ._lanczos import (
    LanczosResult as LanczosResult,
    lanczos as lanczos,
    tridiagonal_matrix as tridiagonal_matrix,
)
