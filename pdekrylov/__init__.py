"""pdekrylov: PDE inverse problems with Krylov matrix-function solvers and exact adjoints."""

__version__ = "0.1.0"

from ._versions import check_jaxlib as _check_jaxlib  # noqa: E402

_check_jaxlib()  # warns about a jaxlib known to compute wrongly (_versions.py)

from . import krylov as krylov  # noqa: E402
from ._grid import Grid as Grid  # noqa: E402
from ._absorbing import (  # noqa: E402
    PML as PML,
    AbsorbingWaveOperator as AbsorbingWaveOperator,
    Sponge as Sponge,
)
from ._operators import (  # noqa: E402
    AbstractGridOperator as AbstractGridOperator,
    AbstractOperator as AbstractOperator,
    AdvectionDiffusionOperator as AdvectionDiffusionOperator,
    DiffusionOperator as DiffusionOperator,
    SecondOrderForm as SecondOrderForm,
    SymmetrizedWaveStiffness as SymmetrizedWaveStiffness,
    WaveOperator as WaveOperator,
)
from ._forcing import (  # noqa: E402
    AbstractSignal as AbstractSignal,
    AbstractSources as AbstractSources,
    DenseSources as DenseSources,
    Forcing as Forcing,
    Ricker as Ricker,
    SampledSignal as SampledSignal,
)
from ._solve import SaveAt as SaveAt, Solution as Solution, solve as solve  # noqa: E402
from ._sources import PointSources as PointSources, Receivers as Receivers  # noqa: E402
from ._spectrum import SpectrumBound as SpectrumBound  # noqa: E402
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

# layer 4: problems, datasets, field models, training and studies (they use the layers
# above only through pk.solve); pk.study.bench, the performance table, loads on first use
from . import data as data, fields as fields, grf as grf, problems as problems  # noqa: E402
from . import study as study, train as train  # noqa: E402
