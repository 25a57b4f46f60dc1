"""Training: learn a coefficient field from observations (`pk.train.fit`).

Full-batch training of a field model (`pk.fields.MLP` or `pk.fields.GridField`) through
`pk.solve` with any solver, optax optimisers (Adam, L-BFGS, Sobolev-preconditioned
Adam), atomic checkpoints every few epochs and on Ctrl-C / SIGTERM, exact resume, and
data parallelism over several devices or hosts (`fit(..., devices=N)`).

The pure parts (`make_training`: a `TrainState`, the objective and one optimiser step,
built from a `TrainConfig`) are separate from the driver `fit`, which owns the files,
signals, progress bar and resume.
"""

from ._checkpoint import (
    CheckpointError as CheckpointError,
    load_checkpoint as load_checkpoint,
    read_header as read_header,
)
from ._build import (
    MODELS as MODELS,
    OPTIMIZERS as OPTIMIZERS,
    make_model as make_model,
    make_optimizer as make_optimizer,
)
from ._config import TrainConfig as TrainConfig
from ._loop import (
    CHECKPOINT_FILE as CHECKPOINT_FILE,
    METRICS_FILE as METRICS_FILE,
    TrainingError as TrainingError,
    TrainingInterrupted as TrainingInterrupted,
    TrainResult as TrainResult,
    check_dataset_matches as check_dataset_matches,
    fit as fit,
    load as load,
)
from ._parallel import make_mesh as make_mesh
from ._step import (
    Pairs as Pairs,
    Training as Training,
    TrainState as TrainState,
    make_training as make_training,
)
from ._precondition import (
    neumann_laplacian_eigenvalues as neumann_laplacian_eigenvalues,
    sobolev_preconditioner as sobolev_preconditioner,
    sobolev_smooth as sobolev_smooth,
)
