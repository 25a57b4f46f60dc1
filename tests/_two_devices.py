"""Run by `test_parallel.py` in a subprocess that has two forced CPU host devices.

Trains one tiny problem on one device (library) and on two (CLI `--devices 2`), and
prints what the test compares as one JSON line: metrics, loss histories, and the largest
relative difference of the learned parameters.
"""

import json
import sys
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)

import equinox as eqx  # noqa: E402
import numpy as np  # noqa: E402

from pdekrylov import cli, data, train  # noqa: E402
from pdekrylov.problems import load_problem  # noqa: E402


def main(problem_file, folder):
    folder = Path(folder)
    problem = load_problem(problem_file)
    dataset = data.generate(problem, problem.dataset.size, jax.random.PRNGKey(0))
    data.save(dataset, folder / "data")
    dataset = data.load(folder / "data")
    one = train.fit(problem, dataset)
    code = cli.main(["train", str(problem_file), "--data", str(folder / "data"), "--out", str(folder / "run"),
                     "--devices", "2"])
    metrics = json.loads((folder / "run" / train.METRICS_FILE).read_text())
    # the two-device parameters, from the run's checkpoint (a tree shaped like this run's state)
    params = eqx.filter(one.model, eqx.is_inexact_array)
    optimizer = train.make_optimizer(train.TrainConfig.from_problem(problem), dataset.grid)
    like = {"params": params, "opt_state": optimizer.init(params)}
    two, _ = train.load_checkpoint(folder / "run" / train.CHECKPOINT_FILE, like)
    pairs = zip(jax.tree.leaves(params), jax.tree.leaves(two["params"]))
    difference = max(float(np.max(np.abs(a - b)) / np.max(np.abs(a))) for a, b in pairs)
    keys = ("devices", "padded_pairs", "train_loss", "test_loss", "parameter_rmse")
    print(json.dumps({
        "devices_seen": jax.device_count(),
        "exit_code": code,
        "one": {k: one.metrics[k] for k in keys},
        "cli": {k: metrics[k] for k in keys},
        "history_one": [h["train_loss"] for h in one.metrics["history"]],
        "history_cli": [h["train_loss"] for h in metrics["history"]],
        "max_relative_difference": difference,
    }))


if __name__ == "__main__":
    main(*sys.argv[1:])
