"""Benchmark optimisers for learning a coefficient field: Adam, L-BFGS, Sobolev-Adam.

What is measured: for each shipped problem `wave-small` and `diffusion-small`, how many
epochs, training seconds and loss evaluations `pk.train.fit` needs until the parameter
error (the paper's metric, `parameter_rmse`: relative MSE of |c_learned| vs |c_true|)
first falls to a target, and where each run ends after a fixed number of epochs.

- Data: one dataset per problem, `pk.data.generate(problem, size, PRNGKey(0))` with the
  problem's default size; its test split gives the test loss.
- Models and optimisers: all on the grid field (`model="grid"`, one value per node,
  started at the constant `initial_value` of the problem's training defaults), so that
  the three optimisers train the same parameters and the H¹ preconditioner applies:
  `adam`, `lbfgs` (optax L-BFGS with its zoom line search; `learning_rate=1.0`, so the
  line search alone sets the step and there is no learning rate to tune) and
  `sobolev-adam` (the gradient mapped by `(I - ℓ² Δ)^{-1}`, `ℓ = sobolev_length`, then
  Adam). A problem whose default model is not the grid field (wave-small: the paper's
  MLP with Adam) gets that default as a reference row. Everything else (solver, depth,
  loss) is the problem's `[training]` section.
- Epochs: `--epochs` (default 100, fewer than the problems' 300 / 200, to keep the
  sweep short) for every run, so "final" means after the same number of epochs.
- Learning rates: tuned by a small sweep (three values per optimiser and problem, in
  `LEARNING_RATES`, bracketing the best value of a wider exploratory sweep); the table
  shows the best one, chosen by the fewest epochs to the target, then by the lowest
  final parameter error. The selection uses the true coefficient (an oracle), which
  gives every optimiser its best case. Every run of the sweep is printed too, and a run
  whose loss turned non-finite is reported as diverged.
- Target: `--target-fraction` (default 0.01) times the parameter error of the constant
  start field, i.e. the error must drop 100-fold. It is checked every `--eval-every`
  epochs (default 1), which is the resolution of "epochs to target".
- Seconds: the training seconds of the epochs up to the target (`history[i]["seconds"]`,
  optimiser steps only; evaluations are not timed), compilation excluded: the compiling
  first epoch (flagged `includes_compile`) is counted at the median time per loss
  evaluation of the others.
  "Loss evaluations" counts value-and-gradient evaluations (one per epoch for Adam; one
  plus the line-search steps for L-BFGS).

Run it with `python examples/bench_optimizers.py` (6-8 minutes on 2 CPU cores);
`--quick` trains 20 epochs with only the middle learning rate of each sweep (about 1.5
minutes; a smoke test: the default target is not reached that soon). Options:
`--epochs 100`, `--problems wave-small diffusion-small`, `--target-fraction 0.01`,
`--eval-every 1`, `--csv PATH` (default `examples/results/bench_optimizers.csv`: every
run of the sweeps, the table's rows marked `selected`). The table is printed as
markdown.
"""

import argparse
import csv
import statistics
import time
from pathlib import Path

import jax
import jax.numpy as jnp

import pdekrylov as pk
from pdekrylov.study import machine_info

#: packages whose versions the report header lists
PACKAGES = ("jax", "optax", "equinox", "pdekrylov")
PROBLEMS = ("wave-small", "diffusion-small")
OPTIMIZERS_COMPARED = tuple(pk.train.OPTIMIZERS)  # every optimiser works on a grid model
DEFAULT_CSV = Path(__file__).parent / "results" / "bench_optimizers.csv"

#: the learning-rate sweeps, per problem and (model, optimizer); L-BFGS uses its line search
LEARNING_RATES = {
    "wave-small": {
        ("grid", "adam"): (3e-3, 1e-2, 3e-2),
        ("grid", "lbfgs"): (1.0,),
        ("grid", "sobolev-adam"): (3e-3, 1e-2, 3e-2),
        ("mlp", "adam"): (1e-2, 3e-2, 1e-1),
    },
    "diffusion-small": {
        ("grid", "adam"): (1e-4, 3e-4, 1e-3),
        ("grid", "lbfgs"): (1.0,),
        ("grid", "sobolev-adam"): (3e-4, 1e-3, 3e-3),
    },
}

COLUMNS = (
    ("problem", "problem"),
    ("method", "model+optimizer"),
    ("learning_rate", "learning rate"),
    ("epochs_to_target", "epochs to target"),
    ("seconds_to_target", "seconds to target"),
    ("evaluations_to_target", "loss evaluations to target"),
    ("final_parameter_rmse", "final parameter RMSE"),
    ("final_test_loss", "final test loss"),
)


def parse_args():
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--problems", nargs="+", default=list(PROBLEMS), choices=PROBLEMS)
    parser.add_argument("--epochs", type=int, default=None, help="default 100 (20 with --quick)")
    parser.add_argument("--target-fraction", type=float, default=0.01)
    parser.add_argument("--eval-every", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="20 epochs, middle learning rates only")
    parser.add_argument("--csv", type=Path, default=DEFAULT_CSV)
    return parser.parse_args()


def methods_of(problem):
    """The (model, optimizer) pairs to compare: the grid optimisers, then the default."""
    methods = [("grid", optimizer) for optimizer in OPTIMIZERS_COMPARED]
    default = (problem.training.model, problem.training.optimizer)
    if default not in methods:
        methods.append(default)
    return methods


def learning_rates(problem_name, method, quick):
    """The sweep of one method (its middle value only with `quick`)."""
    rates = LEARNING_RATES[problem_name][method]
    return (rates[len(rates) // 2],) if quick else rates


def start_parameter_rmse(problem, dataset):
    """The parameter error of the constant start field of the grid model."""
    start = pk.train.TrainConfig.from_problem(problem, model="grid").initial_value
    true = jnp.abs(jnp.asarray(dataset.coefficient))
    return float(pk.fields.relative_mse(jnp.abs(jnp.full_like(true, start)), true))


def training_seconds(history):
    """Per-epoch step seconds, compiling epochs counted at the median time per evaluation.

    **Returns:** `(seconds, compiled)`: a list with one entry per epoch, and the number
    of epochs treated as compiling.
    """
    per_evaluation = [entry["seconds"] / entry["evaluations"] for entry in history]
    steady = [t for entry, t in zip(history, per_evaluation) if not entry["includes_compile"]]
    median = statistics.median(steady) if steady else 0.0
    seconds, compiled = [], 0
    for entry, t in zip(history, per_evaluation):
        if entry["includes_compile"]:
            seconds.append(median * entry["evaluations"])
            compiled += 1
        else:
            seconds.append(entry["seconds"])
    return seconds, compiled


def to_target(history, seconds, target):
    """Epochs, seconds and loss evaluations until the parameter error is first <= target.

    **Returns:** a tuple of three numbers, or `(None, None, None)` if it never is.
    """
    total_seconds, evaluations = 0.0, 0
    for entry, s in zip(history, seconds):
        total_seconds += s
        evaluations += entry["evaluations"]
        if entry.get("parameter_rmse", float("inf")) <= target:
            return entry["epoch"], total_seconds, evaluations
    return None, None, None


def train_one(problem, dataset, method, learning_rate, epochs, eval_every, target):
    """One training run, summarised (a `diverged` run reports only that).

    **Returns:** a dict with the table's columns and a few more (wall seconds of the run,
    epochs treated as compiling, seconds per epoch).
    """
    model, optimizer = method
    row = {"problem": problem.name, "method": f"{model}+{optimizer}", "learning_rate": learning_rate}
    began = time.perf_counter()
    try:
        result = pk.train.fit(
            problem, dataset, model=model, optimizer=optimizer, learning_rate=learning_rate,
            epochs=epochs, eval_every=eval_every,
        )
    except pk.train.TrainingError as error:
        return {**row, "diverged": str(error), "wall_seconds": time.perf_counter() - began}
    history = result.metrics["history"]
    seconds, compiled = training_seconds(history)
    epoch, seconds_to, evaluations_to = to_target(history, seconds, target)
    return {
        **row,
        "epochs_to_target": epoch,
        "seconds_to_target": seconds_to,
        "evaluations_to_target": evaluations_to,
        "final_parameter_rmse": result.metrics["parameter_rmse"],
        "final_test_loss": result.metrics["test_loss"],
        "epochs": len(history),
        "seconds_per_epoch": sum(seconds) / len(seconds),
        "evaluations": sum(entry["evaluations"] for entry in history),
        "compile_epochs": compiled,
        "wall_seconds": time.perf_counter() - began,
    }


def best_run(runs):
    """The run that reaches the target in the fewest epochs, else the lowest final error."""
    finished = [run for run in runs if "diverged" not in run]
    if not finished:
        return runs[0]
    return min(
        finished,
        key=lambda run: (
            run["epochs_to_target"] is None,
            run["epochs_to_target"] or 0,
            run["final_parameter_rmse"],
        ),
    )


def format_value(name, value):
    """One table cell."""
    if value is None:
        return "not reached"
    if name == "learning_rate":
        return "line search" if value >= 1 else f"{value:.0e}"
    if name == "seconds_to_target":
        return f"{value:.2f}"
    if isinstance(value, float):
        return f"{value:.3e}"
    return str(value)


def markdown_table(rows, columns=COLUMNS):
    """A markdown table of `rows` (dicts), with `columns` as (key, header) pairs."""
    lines = ["| " + " | ".join(header for _, header in columns) + " |"]
    lines.append("|" + "|".join("---" for _ in columns) + "|")
    for row in rows:
        if "diverged" in row:
            cells = [format_value(k, row[k]) if k in row else "diverged" for k, _ in columns]
        else:
            cells = [format_value(k, row.get(k)) for k, _ in columns]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_csv(rows, path):
    """Write the rows as CSV (all their fields; empty where a run has none)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    names = list(dict.fromkeys(name for row in rows for name in row))
    with open(path, "w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=names)
        writer.writeheader()
        writer.writerows(rows)


def benchmark_problem(name, args):
    """Generate the dataset, run every method's sweep; returns (best rows, all runs)."""
    problem = pk.problems.load_problem(name)
    dataset = pk.data.generate(problem, problem.dataset.size, jax.random.PRNGKey(0))
    epochs = args.epochs or (20 if args.quick else 100)
    start = start_parameter_rmse(problem, dataset)
    target = args.target_fraction * start
    training = problem.training
    print(
        f"\n{name}: {len(dataset.inputs)} pairs ({dataset.num_test} test), dtype {dataset.inputs.dtype}, "
        f"solver {training.solver} depth {training.depth}, loss {training.loss}, "
        f"{epochs} epochs, grid start value "
        f"{training.initial_value}, sobolev_length "
        f"{training.sobolev_length}; start parameter RMSE {start:.3e}, target "
        f"{args.target_fraction:g} x that = {target:.3e} (the MLP starts from its random "
        "initialisation instead)",
        flush=True,
    )
    best, everything = [], []
    for method in methods_of(problem):
        runs = []
        for rate in learning_rates(name, method, args.quick):
            run = train_one(problem, dataset, method, rate, epochs, args.eval_every, target)
            run["target"] = target
            runs.append(run)
            outcome = run.get("diverged") or (
                f"epochs to target {format_value('', run['epochs_to_target'])}, final parameter "
                f"RMSE {run['final_parameter_rmse']:.3e}, {run['evaluations']} loss evaluations, "
                f"{run['seconds_per_epoch']:.3f} s/epoch ({run['compile_epochs']} compiling)"
            )
            print(f"  {run['method']:18s} lr {format_value('learning_rate', rate):>11s}: {outcome} "
                  f"({run['wall_seconds']:.0f} s wall)", flush=True)
        chosen = best_run(runs)
        for run in runs:
            run["selected"] = run is chosen
        everything.extend(runs)
        best.append(chosen)
    return best, everything


def main():
    args = parse_args()
    began = time.perf_counter()
    print(machine_info(PACKAGES))
    best, everything = [], []
    for name in args.problems:
        rows, runs = benchmark_problem(name, args)
        best.extend(rows)
        everything.extend(runs)
    print(
        "\nBest learning rate per method (tuned: "
        + ("middle value only, --quick" if args.quick else "best of the sweep above")
        + f"); target = {args.target_fraction:g} x the start field's parameter RMSE; seconds = "
        "training steps only, compile excluded.\n"
    )
    print(markdown_table(best))
    write_csv(everything, args.csv)
    print(f"\nAll {len(everything)} runs written to {args.csv}; total {time.perf_counter() - began:.0f} s.")


if __name__ == "__main__":
    main()
