"""`pdekrylov demo`: the whole story on the shipped `wave-small` problem.

Generate a dataset of wave snapshots, learn the wave speed c(x) from them with the
Arnoldi solver and its adjoint, write figures and metrics.
"""

import shutil
import time
from pathlib import Path

import jax

from . import data, train
from .problems import load_problem
from .study import relative_error

DEMO_PROBLEM = "wave-small"
DEMO_SOLVER = "arnoldi"


def run_demo(out, *, force=False, epochs=None, progress=True):
    """Generate `wave-small` data, train with Arnoldi, write everything into `out`.

    **Arguments:**

    - `out`: the output folder; it gets `data/` (the dataset) and `run/` (metrics,
      checkpoint, `loss.png`, `coefficient.png`).
    - `force`: replace an existing `out`.
    - `epochs`: number of training epochs (default: the problem file's).
    - `progress`: show progress bars.

    **Returns:** a dict with the `metrics` of the run, the `initial_error` (relative L2
    of the field training starts from), the generation and training seconds, and the
    written `paths`.
    """
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        if not force:
            raise FileExistsError(f"{out} exists (use --force to replace it)")
        shutil.rmtree(out)
    problem = load_problem(DEMO_PROBLEM)
    start = time.perf_counter()
    dataset = data.generate(problem, problem.dataset.size, jax.random.PRNGKey(0), progress=progress)
    data.save(dataset, out / "data", seed=0)
    generated = time.perf_counter()
    result = train.fit(
        problem, dataset, out=out / "run", solver=DEMO_SOLVER, epochs=epochs,
        eval_every=10, progress=progress,
    )
    trained = time.perf_counter()
    return {
        "problem": problem,
        "metrics": result.metrics,
        "initial_error": _initial_error(problem, dataset),
        "seconds": {"generate": generated - start, "train": trained - generated},
        "paths": [out / "data", *(out / "run" / name for name in ("metrics.json", "loss.png", "coefficient.png"))],
    }


def _initial_error(problem, dataset) -> float:
    """The relative L2 error of the field training starts from (the model's initial one)."""
    training = train.make_training(problem, problem.training, dataset.inputs.dtype)
    return relative_error(training.field(training.initial_params), dataset.coefficient)
