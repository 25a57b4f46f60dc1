"""pdekrylov: PDE inverse problems with Krylov matrix-function solvers and exact adjoints."""

__version__ = "0.1.0"

from ._versions import check_jaxlib as _check_jaxlib  # noqa: E402

_check_jaxlib()  # warns about a jaxlib known to compute wrongly (_versions.py)

from . import krylov as krylov  # noqa: E402
from ._grid import Grid as Grid  # noqa: E402
from ._operators import (  # noqa: E402
    AbstractGridOperator as AbstractGridOperator,
    AbstractOperator as AbstractOperator,
    AdvectionDiffusionOperator as AdvectionDiffusionOperator,
    DiffusionOperator as DiffusionOperator,
    SecondOrderForm as SecondOrderForm,
    SymmetrizedWaveStiffness as SymmetrizedWaveStiffness,
    WaveOperator as WaveOperator,
)
from ._solve import Solution as Solution, solve as solve  # noqa: E402
from ._user_operators import (  # noqa: E402
    LinearOperator as LinearOperator,
    MatrixOperator as MatrixOperator,
)
from .krylov import (  # noqa: E402
    ArnoldiResult as ArnoldiResult,
    ExpmAction as ExpmAction,
    LanczosResult as LanczosResult,
    arnoldi as arnoldi,
    expm_action as expm_action,
    lanczos as lanczos,
)
from .solvers import (  # noqa: E402
    AbstractSolver as AbstractSolver,
    Arnoldi as Arnoldi,
    Diffrax as Diffrax,
    Lanczos as Lanczos,
)

# layer 4: datasets and field models (they use the layers above only through pk.solve)
from . import data as data, fields as fields, grf as grf, problems as problems  # noqa: E402
from . import train as train  # noqa: E402


def __getattr__(name: str):
    """`pk.study` is imported on first use: the studies and benchmarks (SciPy's sparse
    module, the timing harness) are not needed to solve or train."""
    if name == "study":
        import importlib

        return importlib.import_module(".study", __name__)
    raise AttributeError(f"module 'pdekrylov' has no attribute {name!r}")
