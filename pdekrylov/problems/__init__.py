"""Problems: typed, frozen specs of a PDE inverse problem, and the problem-file reader.

A problem file (`problems/*.toml`, schema in `problems/README.md`) is read once by
`load_problem` into a `Problem` whose sections are specs (`WaveSpec`, `GRFSpec`,
`TimeSpec`, ..., `SourcesSpec` / `ReceiversSpec` for traces, and the training defaults
as a `pk.train.TrainConfig`). The specs
validate themselves and build the library's objects: `problem.operator(field)`,
`problem.sample_coefficient(key)`, `problem.reference.make_solver()`. Strings end here.
"""

from ._problem import Problem as Problem, SampleKeys as SampleKeys
from ._reader import (
    PROBLEMS_DIR as PROBLEMS_DIR,
    ProblemError as ProblemError,
    load_problem as load_problem,
    problem_from_dict as problem_from_dict,
    resolve_path as resolve_path,
)
from ._specs import (
    ANALYTIC_FIELDS as ANALYTIC_FIELDS,
    FIELDS as FIELDS,
    LAYERS as LAYERS,
    LAYOUTS as LAYOUTS,
    MASKS as MASKS,
    PDES as PDES,
    TRANSFORMS as TRANSFORMS,
    WAVELETS as WAVELETS,
    CircleLayout as CircleLayout,
    LayoutSpec as LayoutSpec,
    LineLayout as LineLayout,
    PointsLayout as PointsLayout,
    ReceiversSpec as ReceiversSpec,
    RickerSpec as RickerSpec,
    SourcesSpec as SourcesSpec,
    AbsorbingSpec as AbsorbingSpec,
    AdvectionDiffusionSpec as AdvectionDiffusionSpec,
    AnalyticSpec as AnalyticSpec,
    DatasetSpec as DatasetSpec,
    DiffusionSpec as DiffusionSpec,
    FieldSpec as FieldSpec,
    GRFSpec as GRFSpec,
    LayeredSpec as LayeredSpec,
    ObservationSpec as ObservationSpec,
    PMLSpec as PMLSpec,
    PDESpec as PDESpec,
    ReferenceSpec as ReferenceSpec,
    Spec as Spec,
    SpongeSpec as SpongeSpec,
    TimeSpec as TimeSpec,
    WaveSpec as WaveSpec,
)
