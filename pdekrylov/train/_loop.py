"""`pk.train.fit`: learn a coefficient field from a dataset, with checkpoints and resume."""

import json
import math
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .. import _io
from ..data import Dataset
from ..problems import Problem, load_problem, problem_from_dict
from . import _report
from ._checkpoint import CheckpointError, load_checkpoint, read_header, save_checkpoint
from ._config import TrainConfig
from ._parallel import (
    make_mesh,
    pad_pairs,
    padding,
    pair_weights,
    replicate,
    shard_pairs,
    synchronize_processes,
)
from ._step import Pairs, Training, make_training

CHECKPOINT_FILE, METRICS_FILE = "checkpoint.eqx", "metrics.json"


class TrainingError(RuntimeError):
    """Training could not go on (a non-finite loss); the last good checkpoint is kept."""


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM during training; a checkpoint of the last finished epoch was written."""


class TrainResult(NamedTuple):
    """What `fit` returns.

    - `model`: the trained field model (an Equinox module; `model(grid)` is the field).
    - `metrics`: the dict also written to `metrics.json`.
    - `out`: the run folder, or None.
    """

    model: eqx.Module
    metrics: dict
    out: Path | None


def fit(
    problem,
    dataset: Dataset,
    config: TrainConfig | None = None,
    *,
    out=None,
    resume: bool = False,
    force: bool = False,
    progress: bool = False,
    callback=None,
    devices=None,
    **overrides,
) -> TrainResult:
    """Learn the coefficient field of `problem` from `dataset` (full-batch training).

    **Arguments:**

    - `problem`: a `Problem`, or a problem name / path.
    - `dataset`: a `pk.data.Dataset` made for that problem (checked: grid, PDE, times).
    - `config`: a `TrainConfig`; default: the problem's `[training]` section with
      `overrides` (e.g. `epochs=100, solver="dopri5+backsolve", learning_rate=1e-3`).
    - `out`: a run folder for `checkpoint.eqx`, `metrics.json`, `loss.png` and
      `coefficient.png`, or None to keep everything in memory.
    - `resume`: continue the run in `out` from its checkpoint up to `config.epochs` (the
      total). The configuration is the run's own; only `epochs` may change.
    - `force`: start afresh in an existing `out`, replacing its files.
    - `progress`: show a progress bar with the current loss.
    - `callback`: called as `callback(epoch, train_loss)` after every epoch (raising
      `KeyboardInterrupt` from it stops training like Ctrl-C does).
    - `devices`: data parallelism. None trains on the default device (on all devices
      in a multi-process run); an int N uses the
      first N of `jax.devices()`; a list of devices or a `jax.sharding.Mesh` is used as
      given. The pairs are sharded along their batch axis (padded with zero-weight copies
      to a multiple of the device count; `metrics["padded_pairs"]` says how many), the
      parameters replicated, and XLA reduces the gradients: the result equals a
      one-device run up to rounding. Not part of the configuration: a run may resume on
      another number of devices. With several processes (`jax.distributed.initialize`)
      every process calls `fit` alike and process 0 writes the files.

    **Returns:** a `TrainResult`.

    **Raises:** `ValueError` for a dataset that does not fit the problem or bad options,
    `FileExistsError` for an existing `out` without `force`/`resume`,
    `CheckpointError` for a missing or corrupt checkpoint on `resume`, `TrainingError`
    for a non-finite loss, `TrainingInterrupted` on Ctrl-C / SIGTERM.
    """
    if not isinstance(problem, Problem):
        problem = load_problem(problem)
    if not isinstance(dataset, Dataset):
        raise TypeError(f"dataset: expected a pk.data.Dataset, got {type(dataset).__name__}")
    check_dataset_matches(problem, dataset)
    if config is not None and overrides:
        raise ValueError(f"{next(iter(overrides))}: give options either in config or as keywords, not both")
    out = None if out is None else Path(out)
    header = None
    if resume:
        if out is None:
            raise ValueError("resume: needs the run folder `out`")
        header = read_header(out / CHECKPOINT_FILE)
        config = _resumed_config(header, config, overrides)
    elif config is None:
        config = TrainConfig.from_problem(problem, **overrides)
    if not resume and out is not None and out.exists() and any(out.iterdir()) and not force:
        raise FileExistsError(f"{out} exists (use --force to replace it, or --resume to continue)")

    session = _start_session(problem, dataset, config, make_mesh(devices))
    # several processes: all have checked `out` before process 0 writes into it
    synchronize_processes("pdekrylov.train.fit: options checked")
    state = session.training.init(session.training.initial_params)
    history = []
    if header is not None:
        if header.get("dataset_sha256") != dataset.metadata.get("sha256"):
            raise CheckpointError(f"{out / CHECKPOINT_FILE}: was trained on a different dataset")
        state, header = load_checkpoint(out / CHECKPOINT_FILE, state)
        history = header["history"]
    elif out is not None:
        out.mkdir(parents=True, exist_ok=True)
        _save(session, out, state, history)  # epoch 0: there is always a good checkpoint to keep

    state = replicate(state, session.mesh)
    with _terminate_as_interrupt():
        state, history = _loop(session, state, history, out, progress, callback)
    metrics = _metrics(session, state, history)
    if out is not None:
        _save(session, out, state, history)
        if session.writes_files:
            field = session.training.field(state.params)
            start = session.training.field(session.training.initial_params)
            _report.write_run_report(out, metrics, problem, dataset.grid, dataset.coefficient, field, start)
    return TrainResult(eqx.combine(state.params, session.training.static), metrics, out)


def load(run) -> TrainResult:
    """Load a trained (or interrupted) run back from its folder: the model and metrics.

    Nothing is trained or solved: the model is rebuilt from the configuration and problem
    stored in the run's checkpoint, and its parameters are read into it.

    **Arguments:**

    - `run`: a run folder written by `fit(..., out=run)` or `pdekrylov train --out run`.

    **Returns:** a `TrainResult` (`model`: the field model at the checkpoint's epoch,
    `model(grid)` the field; `metrics`: the run's `metrics.json`; `out`: the folder).

    **Raises:** `CheckpointError` for a folder without a readable checkpoint or metrics,
    or a checkpoint written before runs stored their problem (use `fit(..., resume=True)`).
    """
    out = Path(run)
    if not out.is_dir():
        raise CheckpointError(f"run: {out} is not a run folder")
    header = read_header(out / CHECKPOINT_FILE)
    if "problem_spec" not in header:  # written by pdekrylov < 0.2
        raise CheckpointError(
            f"{out / CHECKPOINT_FILE}: this checkpoint does not store its problem; "
            f"resume it with pk.train.fit(..., resume=True) once to update it"
        )
    problem = problem_from_dict(header["problem_spec"], where=str(out / CHECKPOINT_FILE))
    config = TrainConfig(**header["config"])
    dtype = jnp.dtype(header["dtype"])
    if dtype == jnp.float64 and not jax.config.jax_enable_x64:
        raise ValueError(
            f"run: {out} was trained in float64 but JAX runs in float32; enable float64 first "
            "(jax.config.update('jax_enable_x64', True))"
        )
    training = make_training(problem, config, dtype)
    state, _ = load_checkpoint(out / CHECKPOINT_FILE, training.init(training.initial_params))
    try:
        metrics = json.loads((out / METRICS_FILE).read_text())
    except (FileNotFoundError, json.JSONDecodeError) as error:
        raise CheckpointError(f"{out / METRICS_FILE}: unreadable ({type(error).__name__})") from None
    return TrainResult(eqx.combine(state.params, training.static), metrics, out)


def check_dataset_matches(problem: Problem, dataset: Dataset):
    """Refuse a dataset generated for another grid, PDE or observation times."""
    stored = dataset.metadata.get("problem", {})
    made_for = problem_from_dict(stored, where="dataset metadata")
    checks = {
        "grid": (made_for.grid, problem.grid),
        "pde": (made_for.pde, problem.pde),
        "observation times": (made_for.time.observation_times, problem.time.observation_times),
        "t1": (made_for.time.t1, problem.time.t1),
        "sources": (made_for.sources, problem.sources),
        "receivers": (made_for.receivers, problem.receivers),
    }
    for what, (theirs, ours) in checks.items():
        if theirs != ours:
            raise ValueError(
                f"dataset: made for problem {made_for.name!r} with {what} {_shown(theirs)}, "
                f"but problem {problem.name!r} has {_shown(ours)}"
            )


def _shown(value):
    return value.as_dict() if hasattr(value, "as_dict") else value


class _Session(NamedTuple):
    """What the driver holds for one run: the pure functions, jitted, and the data.

    Every split is a `Pairs` sharded over `mesh` (if any) after padding; `layouts` says
    how many pairs each split has and how many padded copies.
    """

    problem: Problem
    config: TrainConfig
    training: Training
    step: Callable  # jitted `training.step`
    evaluate: Callable  # jitted `training.evaluate`
    train: Pairs
    test: Pairs | None
    clean_test: Pairs | None
    layouts: dict
    true_field: jax.Array
    mesh: object
    dtype: object
    dataset_sha256: str | None
    matvecs_per_solve: int
    writes_files: bool


def _start_session(problem, dataset, config, mesh) -> _Session:
    dtype = jnp.dtype(dataset.inputs.dtype)
    if dtype == jnp.float64 and not jax.config.jax_enable_x64:
        raise ValueError(
            "dataset: its arrays are float64 but JAX runs in float32; enable float64 first "
            "(jax.config.update('jax_enable_x64', True)) or generate the dataset in float32"
        )
    n = dataset.num_test
    if n >= len(dataset.inputs):
        raise ValueError(f"dataset: no training pairs ({len(dataset.inputs)} pairs, {n} of them test)")
    layouts = {}

    def split(name, inputs, targets):
        layout = padding(len(inputs), mesh)
        layouts[name] = layout
        mask = pair_weights(layout, dataset.mask, np.ndim(targets), targets.dtype)
        inputs, targets = (shard_pairs(pad_pairs(a, layout), mesh) for a in (inputs, targets))
        return Pairs(inputs, targets, None if mask is None else replicate(jnp.asarray(mask), mesh))

    train = split("train", dataset.inputs[n:], dataset.targets[n:])
    test = clean_test = None
    if n:
        test = split("test", dataset.inputs[:n], dataset.targets[:n])
        if dataset.clean_targets is not None:  # the test inputs and mask, other targets
            clean = shard_pairs(pad_pairs(dataset.clean_targets[:n], layouts["test"]), mesh)
            clean_test = test._replace(targets=clean)
    training = make_training(problem, config, dtype)
    return _Session(
        problem=problem, config=config, training=training,
        step=eqx.filter_jit(training.step), evaluate=eqx.filter_jit(training.evaluate),
        train=train, test=test, clean_test=clean_test, layouts=layouts,
        true_field=replicate(jnp.asarray(dataset.coefficient, dtype), mesh), mesh=mesh, dtype=dtype,
        dataset_sha256=dataset.metadata.get("sha256"),
        matvecs_per_solve=_count_matvecs(training, np.asarray(dataset.inputs[n])),
        # in a multi-process run (jax.distributed) every process trains, one writes
        writes_files=jax.process_index() == 0,
    )


def _count_matvecs(training, y0) -> int:
    """Forward matvecs of one solve at the initial parameters."""
    stats = eqx.filter_jit(lambda params: training.solve(params, y0).stats)(training.initial_params)
    return int(stats["num_matvecs"])


def _loop(session, state, history, out, progress, callback):
    """Epochs from `len(history) + 1` to `config.epochs`: step, record, evaluate, save."""
    config, start = session.config, len(history)
    bar = _io.progress_bar(
        total=config.epochs, initial=start, desc="training", unit="epoch",
        enabled=progress and session.writes_files,
    )
    elapsed = history[-1]["elapsed"] if history else 0.0
    last_saved = start
    try:
        for epoch in range(start + 1, config.epochs + 1):
            began = time.perf_counter()
            new_state, loss, evaluations = session.step(state, session.train)
            loss = float(loss)  # waits for the step
            seconds = time.perf_counter() - began
            if not math.isfinite(loss):
                saved = f"{out / CHECKPOINT_FILE} keeps epoch {last_saved}" if out else "nothing saved"
                raise TrainingError(f"non-finite training loss ({loss}) at epoch {epoch}; stopped, {saved}")
            state, elapsed = new_state, elapsed + seconds
            entry = {
                "epoch": epoch,
                "train_loss": loss,
                "seconds": seconds,
                "elapsed": elapsed,
                "evaluations": int(evaluations),
                "includes_compile": epoch == start + 1,
            }
            if epoch % config.eval_every == 0 or epoch == config.epochs:
                # the training loss is the one this epoch computed, before its update
                entry.update(_evaluate(session, state, include_train=False))
            history = [*history, entry]
            bar.update(1)
            bar.set_postfix(loss=f"{loss:.3e}")
            if out is not None and epoch % config.checkpoint_every == 0:
                _save(session, out, state, history)
                last_saved = epoch
            if callback is not None:
                callback(epoch, loss)
    except KeyboardInterrupt:
        if out is not None:
            _save(session, out, state, history)
        bar.close()
        where = f"; checkpoint in {out / CHECKPOINT_FILE}, continue with --resume" if out else ""
        raise TrainingInterrupted(f"training interrupted after epoch {len(history)}{where}") from None
    bar.close()
    return state, history


def _evaluate(session, state, include_train=True) -> dict:
    """Losses on every split and the parameter error, as floats (one jitted program; the
    pairs are its arguments: arrays spread over several processes cannot be closed over)."""
    train = session.train if include_train else None
    results = session.evaluate(state.params, session.true_field, train, session.test, session.clean_test)
    return {name: float(value) for name, value in results.items()}


def _save(session, out, state, history):
    if not session.writes_files:
        return
    header = {
        "epoch": len(history),
        "config": session.config.as_dict(),
        "problem": session.problem.name,
        "problem_spec": session.problem.as_dict(),  # `load` rebuilds the model from it
        "dtype": str(session.dtype),
        "dataset_sha256": session.dataset_sha256,
        "history": history,
    }
    save_checkpoint(out / CHECKPOINT_FILE, state, header)
    _report.write_metrics(out / METRICS_FILE, _metrics(session, state, history, evaluate=False))


def _metrics(session, state, history, evaluate=True) -> dict:
    """The `metrics.json` content for the current state."""
    timed = [h["seconds"] for h in history if not h["includes_compile"]]
    evaluations = [h["evaluations"] for h in history]
    final = {}
    if evaluate:
        final = _evaluate(session, state)
    elif history and "parameter_rmse" in history[-1]:
        kept = ("train_loss", "test_loss", "parameter_rmse", "parameter_relative_l2")
        final = {k: history[-1][k] for k in kept if k in history[-1]}
    layouts = session.layouts
    return {
        "problem": session.problem.name,
        "epochs": len(history),
        "solver": session.config.solver,
        "matvecs_per_solve": session.matvecs_per_solve,
        # padded copies are solved too: they are work done
        "matvecs_per_epoch": session.matvecs_per_solve * len(session.train.inputs)
        * float(np.mean(evaluations or [1])),
        "seconds_per_epoch": float(np.mean(timed)) if timed else None,
        "seconds_per_epoch_std": float(np.std(timed)) if timed else None,
        "train_pairs": layouts["train"].pairs,
        "test_pairs": layouts["test"].pairs if session.test is not None else 0,
        "devices": 1 if session.mesh is None else int(session.mesh.devices.size),
        "padded_pairs": {name: layout.extra for name, layout in layouts.items()},
        "dtype": str(session.dtype),
        "config": session.config.as_dict(),
        **final,
        "history": history,
    }


def _resumed_config(header, config, overrides) -> TrainConfig:
    """The checkpoint's configuration with a new total of `epochs`.

    Options given explicitly (a whole `config`, or keyword `overrides`) must agree with
    the run's; a resumed run keeps its configuration, only `epochs` may change.
    """
    saved = TrainConfig(**header["config"])  # validated again; lists become tuples
    requested = config.as_dict() if config is not None else dict(overrides)
    epochs = requested.pop("epochs", None) or saved.epochs
    for name, value in requested.items():
        if value is None:
            continue
        if name not in saved.as_dict():
            raise ValueError(f"{name}: not a training option")
        if TrainConfig(**{**saved.as_dict(), name: value}).as_dict()[name] != saved.as_dict()[name]:
            raise ValueError(
                f"{name}: the run was trained with {saved.as_dict()[name]!r}, not {value!r}; "
                f"a resumed run keeps its configuration (only epochs may change)"
            )
    if epochs < header["epoch"]:
        raise ValueError(f"epochs: the run already has {header['epoch']} epochs, asked for {epochs}")
    return saved.replace(epochs=epochs)


class _terminate_as_interrupt:
    """Within the block, SIGTERM raises KeyboardInterrupt (so it checkpoints like Ctrl-C)."""

    def __enter__(self):
        self.previous = None
        if threading.current_thread() is threading.main_thread():
            self.previous = signal.signal(signal.SIGTERM, self._handler)
        return self

    @staticmethod
    def _handler(signum, frame):
        raise KeyboardInterrupt

    def __exit__(self, *exc):
        if self.previous is not None:
            signal.signal(signal.SIGTERM, self.previous)
        return False
