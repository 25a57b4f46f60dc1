"""Bad input and failing disks: clear errors, and nothing pdekrylov wrote before is lost.

Cases of the error policy (README, "Errors and what is kept") that the per-feature test
files do not already cover: an output folder that cannot be written, a rename that fails
in every writer, incomplete or non-finite datasets, and in-jit checks.
"""

import dataclasses
import os

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import pdekrylov as pk
from pdekrylov import _io, cli, data, study, train
from pdekrylov.train import _report
from test_data import TINY_WAVE


@pytest.fixture(scope="module")
def tiny_dataset(tmp_path_factory):
    """A saved 3-pair dataset of the 12×10 wave problem, and its problem file."""
    folder = tmp_path_factory.mktemp("validation")
    problem_file = folder / "tiny-wave.toml"
    problem_file.write_text(TINY_WAVE)
    dataset = data.generate(pk.problems.load_problem(problem_file), 3, jax.random.PRNGKey(0))
    return problem_file, dataset, data.save(dataset, folder / "data")


# -- an output folder that cannot be written: refused before any work -------------------
def command_lines(problem_file, data_folder, out):
    return {
        "demo": ["demo", "--out", str(out)],
        "generate": ["generate", str(problem_file), "--out", str(out)],
        "train": ["train", str(problem_file), "--data", str(data_folder), "--out", str(out)],
        "workprecision": ["workprecision", str(problem_file), "--out", str(out)],
        "bench": ["bench", "--out", str(out)],
    }


@pytest.mark.parametrize("command", ["demo", "generate", "train", "workprecision", "bench"])
def test_output_under_a_file_is_refused_before_work(command, tiny_dataset, tmp_path, capsys):
    problem_file, _, data_folder = tiny_dataset
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    code = cli.main(command_lines(problem_file, data_folder, blocker / "out")[command])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert err[0].startswith("error: --out:") and "is a file" in err[0]
    assert blocker.read_text() == "not a folder"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders; covered by the file case")
@pytest.mark.parametrize("command", ["generate", "train"])
def test_read_only_output_folder_is_refused(command, tiny_dataset, tmp_path, capsys):
    problem_file, _, data_folder = tiny_dataset
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        code = cli.main(command_lines(problem_file, data_folder, locked / "out")[command])
    finally:
        locked.chmod(0o700)
    assert code == 2 and "cannot write in" in capsys.readouterr().err
    assert list(locked.iterdir()) == []


def test_check_writable_folder_creates_nothing(tmp_path):
    _io.check_writable_folder(tmp_path / "new" / "deeper", "out")
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="out: .* is a file"):
        _io.check_writable_folder(tmp_path / "file", "out")


# -- every writer: a failing rename keeps the previous file ------------------------------
def writers(problem, dataset, tmp_path):
    """Each of pdekrylov's writers as `(path written, write(version))`, writing in `tmp_path`."""
    import matplotlib.pyplot as plt

    def figure(version):
        fig, ax = plt.subplots()
        ax.set_title(f"version {version}")
        _io.save_figure(fig, tmp_path / "figure.png", force=True)
        plt.close(fig)

    state = {"params": jnp.arange(3.0)}
    bench_row = study.bench.BenchRow(measurement="")
    wp_row = study.WorkPrecisionRow(solver="arnoldi", level=1, matvecs=1, seconds=1.0, value_error=1.0,
                                    gradient_error=1.0, resolved=True, value=1.0)
    history = [{"epoch": 1, "train_loss": 1.0, "seconds": 1.0, "elapsed": 1.0, "evaluations": 1,
                "includes_compile": True}]
    metrics = {"solver": "arnoldi", "history": history}
    return {
        "figure": (tmp_path / "figure.png", figure),
        "metrics": (tmp_path / "metrics.json", lambda v: _report.write_metrics(tmp_path / "metrics.json", {"v": v})),
        "checkpoint": (
            tmp_path / "checkpoint.eqx",
            lambda v: train._checkpoint.save_checkpoint(tmp_path / "checkpoint.eqx", state, {"epoch": v}),
        ),
        "run report": (
            tmp_path / "run" / "metrics.json",
            lambda v: _report.write_run_report(
                tmp_path / "run", {**metrics, "v": v}, problem, dataset.grid, dataset.coefficient,
                dataset.coefficient,
            ),
        ),
        "bench": (tmp_path / "bench" / study.bench.CSV_FILE,
                  lambda v: study.bench.save_bench([dataclasses.replace(bench_row, note=v)],
                                                   tmp_path / "bench", force=True)),
        "workprecision": (
            tmp_path / "wp" / study.CSV_FILE,
            lambda v: study.save_workprecision(
                study.WorkPrecision(rows=[dataclasses.replace(wp_row, level=v)], reference={"message": "m"}, skipped={}),
                tmp_path / "wp", force=True,
            ),
        ),
        "dataset": (
            tmp_path / "dataset" / data.METADATA_FILE,  # the seed is in the metadata
            lambda v: data.save(dataset, tmp_path / "dataset", seed=v, force=True),
        ),
    }


@pytest.mark.parametrize(
    "writer", ["figure", "metrics", "checkpoint", "run report", "bench", "workprecision", "dataset"]
)
def test_failing_rename_keeps_the_previous_file(writer, tiny_dataset, tmp_path, monkeypatch):
    problem_file, dataset, _ = tiny_dataset
    path, write = writers(pk.problems.load_problem(problem_file), dataset, tmp_path)[writer]
    write(1)
    before = path.read_bytes()
    listing = sorted(tmp_path.rglob("*"))

    def failing_replace(source, target):
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError, match="simulated"):
        write(2)
    assert path.read_bytes() == before
    assert sorted(tmp_path.rglob("*")) == listing  # no partial files left
    monkeypatch.undo()
    write(3)  # and the writer still works afterwards
    assert path.read_bytes() != before


# -- datasets: incomplete or non-finite ones are refused before training -----------------
def test_incomplete_datasets_are_refused(tiny_dataset, tmp_path):
    _, dataset, _ = tiny_dataset
    folder = data.save(dataset, tmp_path / "ds")
    (folder / data.METADATA_FILE).rename(tmp_path / "moved.json")
    with pytest.raises(data.DatasetError, match="missing metadata.json"):
        data.load(folder)
    (folder / data.METADATA_FILE).write_text("{ truncated")
    with pytest.raises(data.DatasetError, match="not valid JSON"):
        data.load(folder)
    with pytest.raises(data.DatasetError, match="missing dataset.npz"):
        data.load(tmp_path / "no-such-folder")


def test_infinite_values_are_refused_by_the_cli_before_training(tiny_dataset, tmp_path, capsys):
    problem_file, dataset, _ = tiny_dataset
    inputs = dataset.inputs.copy()
    inputs[1, 0, 2, 3] = np.inf
    data.save(dataset._replace(inputs=inputs), tmp_path / "inf")
    with pytest.raises(data.DatasetError, match="inputs contains NaN or Inf"):
        data.load(tmp_path / "inf")
    code = cli.main(["train", str(problem_file), "--data", str(tmp_path / "inf"), "--out", str(tmp_path / "run")])
    assert code == 2 and "NaN or Inf" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_float64_dataset_in_a_float32_session_is_refused(tiny_dataset):
    problem_file, dataset, _ = tiny_dataset
    assert dataset.inputs.dtype == np.float64  # the test session runs in float64
    with jax.enable_x64(False):
        with pytest.raises(ValueError, match="dataset: its arrays are float64"):
            train.fit(problem_file, dataset, epochs=1)



def test_non_finite_initial_state_is_caught_eagerly_and_inside_jit():
    """Shapes are checked before tracing; values under jit only at run time (equinox.error_if)."""
    op = pk.DiffusionOperator(pk.Grid((4, 4)), jnp.ones((4, 4)))
    y0 = jnp.ones((4, 4)).at[1, 2].set(jnp.inf)
    with pytest.raises(ValueError, match="y0: contains NaN or Inf"):
        pk.solve(op, y0, 1.0, pk.Lanczos(4))
    solve = eqx.filter_jit(lambda y: pk.solve(op, y, 1.0, pk.Lanczos(4)).ys)
    assert jnp.all(jnp.isfinite(solve(jnp.ones((4, 4)))))
    with pytest.raises(eqx.EquinoxRuntimeError, match="y0: contains NaN or Inf"):
        solve(y0.at[0, 0].set(jnp.nan))
