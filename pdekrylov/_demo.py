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

    **Returns:** a dict with the `metrics` of the run, the initial parameter error, the
    generation and training seconds, and the written `paths`.
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
    first = next(h for h in result.metrics["history"] if "parameter_rmse" in h)
    return {
        "problem": problem,
        "metrics": result.metrics,
        "first_evaluation": first,
        "seconds": {"generate": generated - start, "train": trained - generated},
        "paths": [out / "data", *(out / "run" / name for name in ("metrics.json", "loss.png", "coefficient.png"))],
    }
