"""`pk.train.fit`: learn a coefficient field from a dataset, with checkpoints and resume."""

import math
import signal
import threading
import time
from pathlib import Path
from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import optax.tree_utils as otu

from .. import fields
from .._solve import solve
from ..data import Dataset, make_operator
from ..problems import Problem, load_problem
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
from ._precondition import sobolev_preconditioner

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

    run = _Run(problem, dataset, config, make_mesh(devices))
    # several processes: all have checked `out` before process 0 writes into it
    synchronize_processes("pdekrylov.train.fit: options checked")
    state = run.initial_state()
    history = []
    if header is not None:
        if header.get("dataset_sha256") != dataset.metadata.get("sha256"):
            raise CheckpointError(f"{out / CHECKPOINT_FILE}: was trained on a different dataset")
        state, header = load_checkpoint(out / CHECKPOINT_FILE, state)
        history = header["history"]
    elif out is not None:
        out.mkdir(parents=True, exist_ok=True)
        run.save(out, state, history)  # epoch 0: there is always a good checkpoint to keep

    state = replicate(state, run.mesh)
    with _terminate_as_interrupt():
        state, history = run.loop(state, history, out, progress, callback)
    metrics = run.metrics(state, history)
    if out is not None:
        run.save(out, state, history)
        if run.writes_files:
            _report.write_run_report(out, metrics, problem, dataset.grid, dataset.coefficient, run.field(state))
    return TrainResult(run.model(state), metrics, out)


def check_dataset_matches(problem: Problem, dataset: Dataset):
    """Refuse a dataset generated for another grid, PDE or observation times."""
    made_for = dataset.metadata.get("problem", {})
    checks = {
        "grid": (made_for.get("grid"), problem.grid),
        "pde": (made_for.get("pde"), problem.pde),
        "observation times": (
            made_for.get("time", {}).get("observation_times"),
            problem.time["observation_times"],
        ),
        "t1": (made_for.get("time", {}).get("t1"), problem.time["t1"]),
    }
    for what, (theirs, ours) in checks.items():
        if theirs != ours:
            raise ValueError(
                f"dataset: made for problem {made_for.get('name')!r} with {what} {theirs}, "
                f"but problem {problem.name!r} has {ours}"
            )


def make_model(config: TrainConfig, grid, dtype, key):
    """The field model a configuration names, with parameters of `dtype`."""
    if config.model == "mlp":
        model = fields.MLP(grid.ndim, config.hidden, key=key)
    else:
        model = fields.GridField(jnp.full(grid.shape, config.initial_value), config.smoothness)
    return jax.tree.map(lambda x: x.astype(dtype) if eqx.is_inexact_array(x) else x, model)


def make_optimizer(config: TrainConfig, grid):
    """The optax optimiser a configuration names (Adam, L-BFGS, or Sobolev-preconditioned Adam)."""
    if config.optimizer == "adam":
        return optax.adam(config.learning_rate)
    if config.optimizer == "lbfgs":
        # learning rate scales the first (unscaled) step; the zoom line search does the rest
        return optax.lbfgs(learning_rate=None if config.learning_rate >= 1 else config.learning_rate)
    return optax.chain(sobolev_preconditioner(grid, config.sobolev_length), optax.adam(config.learning_rate))


class _Run:
    """One training run's fixed parts: data on device(s), solver, jitted step and evaluation.

    Every split is a tuple `(inputs, targets, mask)`: the pairs (sharded over `mesh`, if
    any, after padding) and the loss mask (the sensor mask, times zero for padded pairs).
    """

    def __init__(self, problem, dataset, config, mesh=None):
        self.problem, self.config, self.grid, self.mesh = problem, config, dataset.grid, mesh
        dtype = jnp.dtype(dataset.inputs.dtype)
        if dtype == jnp.float64 and not jax.config.jax_enable_x64:
            raise ValueError(
                "dataset: its arrays are float64 but JAX runs in float32; enable float64 first "
                "(jax.config.update('jax_enable_x64', True)) or generate the dataset in float32"
            )
        self.dtype = dtype
        n = dataset.num_test
        if n >= len(dataset.inputs):
            raise ValueError(f"dataset: no training pairs ({len(dataset.inputs)} pairs, {n} of them test)")
        self.layouts = {}
        self.first_input = np.asarray(dataset.inputs[n])  # local: counting matvecs needs no mesh
        self.train = self._split("train", dataset.inputs[n:], dataset.targets[n:], dataset.mask)
        self.test = self.clean_test = None
        if n:
            self.test = self._split("test", dataset.inputs[:n], dataset.targets[:n], dataset.mask)
            if dataset.clean_targets is not None:  # the test inputs and mask, other targets
                clean = pad_pairs(dataset.clean_targets[:n], self.layouts["test"])
                self.clean_test = (self.test[0], shard_pairs(clean, self.mesh), self.test[2])
        # in a multi-process run (jax.distributed) every process trains, one writes
        self.writes_files = jax.process_index() == 0
        self.true_field = jnp.asarray(dataset.coefficient, dtype)
        self.dataset_sha256 = dataset.metadata.get("sha256")
        self.solver = config.make_solver()
        self.loss_fn = fields.LOSSES[config.loss]
        self.optimizer = make_optimizer(config, self.grid)
        model = make_model(config, self.grid, dtype, jax.random.PRNGKey(config.seed))
        self.initial_params, self.static = eqx.partition(model, eqx.is_inexact_array)
        self.matvecs_per_solve = self._count_matvecs(model)
        self._step = eqx.filter_jit(self._step_impl)
        self._evaluate_jit = eqx.filter_jit(self._evaluate_all)

    def _split(self, name, inputs, targets, sensor_mask):
        layout = padding(len(inputs), self.mesh)
        self.layouts[name] = layout
        mask = pair_weights(layout, sensor_mask, np.ndim(targets), targets.dtype)
        inputs, targets = (shard_pairs(pad_pairs(a, layout), self.mesh) for a in (inputs, targets))
        return inputs, targets, None if mask is None else replicate(jnp.asarray(mask), self.mesh)

    # -- state: {"params", "opt_state"} is what checkpoints hold -------------------------
    def initial_state(self):
        params = self.initial_params
        # strongly typed from the start: optax's line-search counters begin weakly typed
        # and would otherwise make the second epoch compile the step again
        opt_state = jax.tree.map(
            lambda x: jnp.asarray(x, dtype=x.dtype) if eqx.is_array(x) else x, self.optimizer.init(params)
        )
        return {"params": params, "opt_state": opt_state}

    def model(self, state):
        return eqx.combine(state["params"], self.static)

    def field(self, state):
        return self.model(state)(self.grid)

    # -- numerics -------------------------------------------------------------------------
    def _predict(self, field, inputs):
        operator = make_operator(self.problem, field)
        t1, times = self.problem.time["t1"], self.problem.time["observation_times"]
        return jax.vmap(lambda y0: solve(operator, y0, t1, self.solver, saveat=times).ys)(inputs)

    def _objective(self, params, inputs, targets, mask):
        model = eqx.combine(params, self.static)
        field = model(self.grid)
        value = self.loss_fn(self._predict(field, inputs), targets, mask)
        if isinstance(model, fields.GridField) and model.smoothness > 0:
            value = value + model.regularisation(self.grid)
        return value

    def _step_impl(self, state, inputs, targets, mask):
        params, opt_state = state["params"], state["opt_state"]
        objective = lambda p: self._objective(p, inputs, targets, mask)  # noqa: E731
        if self.config.optimizer == "lbfgs":
            # reuses the value and gradient the line search already computed
            value, grads = optax.value_and_grad_from_state(objective)(params, state=opt_state)
            updates, opt_state = self.optimizer.update(
                grads, opt_state, params, value=value, grad=grads, value_fn=objective
            )
            evaluations = 1 + otu.tree_get(opt_state, "num_linesearch_steps")
        else:
            value, grads = jax.value_and_grad(objective)(params)
            updates, opt_state = self.optimizer.update(grads, opt_state, params)
            evaluations = jnp.ones((), int)
        params = optax.apply_updates(params, updates)
        return {"params": params, "opt_state": opt_state}, value, evaluations

    def _evaluate(self, params, include_train=True):
        """Losses on every split and the parameter error, at `params`.

        `include_train=False` leaves out the training loss (the history records the one
        each epoch computes anyway, at the parameters before its update). One jitted
        program evaluates every split; the pairs are its arguments, not constants it
        closes over (arrays spread over several processes cannot be closed over).
        """
        train = self.train if include_train else None
        return self._evaluate_jit(params, train, self.test, self.clean_test)

    def _evaluate_all(self, params, train, test, clean_test):
        results = {"train_loss": self._objective(params, *train)} if train is not None else {}
        for name, pairs in (("test_loss", test), ("clean_test_loss", clean_test)):
            if pairs is not None:
                results[name] = self._data_loss(params, *pairs)
        results["parameter_rmse"] = self._parameter_error(params)
        return results

    def _data_loss(self, params, inputs, targets, mask):
        field = eqx.combine(params, self.static)(self.grid)
        return self.loss_fn(self._predict(field, inputs), targets, mask)

    def _parameter_error(self, params):
        """The paper's parameter metric: relative MSE between |c_learned| and |c_true|."""
        field = eqx.combine(params, self.static)(self.grid)
        return fields.relative_mse(jnp.abs(field), jnp.abs(self.true_field))

    def _count_matvecs(self, model):
        """Forward matvecs of one solve (the same for every pair: fixed depth / steps)."""
        return int(eqx.filter_jit(self._solve_stats)(model)["num_matvecs"])

    def _solve_stats(self, model):
        operator = make_operator(self.problem, model(self.grid))
        t1, times = self.problem.time["t1"], self.problem.time["observation_times"]
        return solve(operator, self.first_input, t1, self.solver, saveat=times).stats

    # -- the loop -------------------------------------------------------------------------
    def loop(self, state, history, out, progress, callback):
        config, start = self.config, len(history)
        bar = _progress_bar(start, config.epochs, progress and self.writes_files)
        elapsed = history[-1]["elapsed"] if history else 0.0
        last_saved = start
        try:
            for epoch in range(start + 1, config.epochs + 1):
                began = time.perf_counter()
                new_state, loss, evaluations = self._step(state, *self.train)
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
                    evaluation = self._evaluate(state["params"], include_train=False)
                    entry.update({k: float(v) for k, v in evaluation.items()})
                history = [*history, entry]
                bar.update(1)
                bar.set_postfix(loss=f"{loss:.3e}")
                if out is not None and epoch % config.checkpoint_every == 0:
                    self.save(out, state, history)
                    last_saved = epoch
                if callback is not None:
                    callback(epoch, loss)
        except KeyboardInterrupt:
            if out is not None:
                self.save(out, state, history)
            bar.close()
            where = f"; checkpoint in {out / CHECKPOINT_FILE}, continue with --resume" if out else ""
            raise TrainingInterrupted(f"training interrupted after epoch {len(history)}{where}") from None
        bar.close()
        return state, history

    def save(self, out, state, history):
        if not self.writes_files:
            return
        header = {
            "epoch": len(history),
            "config": self.config.as_dict(),
            "problem": self.problem.name,
            "dataset_sha256": self.dataset_sha256,
            "history": history,
        }
        save_checkpoint(out / CHECKPOINT_FILE, state, header)
        _report.write_metrics(out / METRICS_FILE, self.metrics(state, history, evaluate=False))

    def metrics(self, state, history, evaluate=True):
        """The `metrics.json` content for the current state."""
        timed = [h["seconds"] for h in history if not h["includes_compile"]]
        evaluations = [h["evaluations"] for h in history]
        final = {}
        if evaluate:
            final = {k: float(v) for k, v in self._evaluate(state["params"]).items()}
        elif history and "parameter_rmse" in history[-1]:
            final = {k: history[-1][k] for k in ("train_loss", "test_loss", "parameter_rmse") if k in history[-1]}
        return {
            "problem": self.problem.name,
            "epochs": len(history),
            "solver": self.config.solver,
            "matvecs_per_solve": self.matvecs_per_solve,
            # padded copies are solved too: they are work done
            "matvecs_per_epoch": self.matvecs_per_solve * len(self.train[0]) * float(np.mean(evaluations or [1])),
            "seconds_per_epoch": float(np.mean(timed)) if timed else None,
            "seconds_per_epoch_std": float(np.std(timed)) if timed else None,
            "train_pairs": self.layouts["train"].pairs,
            "test_pairs": self.layouts["test"].pairs if self.test is not None else 0,
            "devices": 1 if self.mesh is None else int(self.mesh.devices.size),
            "padded_pairs": {name: layout.extra for name, layout in self.layouts.items()},
            "dtype": str(self.dtype),
            "config": self.config.as_dict(),
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


def _progress_bar(start, total, enabled):
    from tqdm import tqdm

    return tqdm(total=total, initial=start, desc="training", unit="epoch", disable=not enabled)


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
