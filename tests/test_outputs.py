"""What a user finds on disk and in logs: plain CSV tables with their metadata beside them,
file modes that follow the umask, and no progress bars off a terminal."""

import csv
import json
import os
import stat
import subprocess
import sys

import jax
import pytest

from pdekrylov import _io, data, study, train
from pdekrylov.problems import load_problem

TINY = """
name = "tiny-outputs"
[grid]
shape = [8, 6]
upper = [1.2, 1.0]
[pde]
kind = "wave"
boundary = "neumann"
[coefficient]
kind = "grf"
kernel = "rbf"
length_scale = 0.4
variance = 0.01
transform = "abs"
offset = 0.3
[initial]
kind = "grf"
kernel = "rbf"
length_scale = 0.3
variance = 1.0
[time]
t1 = 0.5
observation_times = [0.5]
[reference]
solver = "arnoldi"
depth = 20
batch = 2
[observation]
noise_std = 0.0
[dataset]
size = 3
test_fraction = 0.34
[training]
model = "grid"
initial_value = 0.3
epochs = 1
depth = 4
checkpoint_every = 1
eval_every = 1
"""


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    path = tmp_path_factory.mktemp("outputs") / "tiny-outputs.toml"
    path.write_text(TINY)
    return load_problem(path)


@pytest.fixture
def umask_022():
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def test_table_is_plain_and_its_metadata_beside_it(tmp_path):
    rows = [{"solver": "arnoldi", "level": 2, "resolved": True}, {"solver": "arnoldi", "level": 8, "resolved": False}]
    table, metadata = _io.write_table(tmp_path / "t.csv", ["solver", "level", "resolved"], rows, {"machine": "m"})
    with open(table) as file:
        read = list(csv.DictReader(file))
    assert read == [{"solver": "arnoldi", "level": "2", "resolved": "True"},
                    {"solver": "arnoldi", "level": "8", "resolved": "False"}]
    assert metadata == tmp_path / "t.json" and json.loads(metadata.read_text()) == {"machine": "m"}
    with pytest.raises(FileExistsError):
        _io.write_table(tmp_path / "t.csv", ["solver"], [], {})
    pandas = pytest.importorskip("pandas")
    frame = pandas.read_csv(table)
    assert str(frame["level"].dtype) == "int64" and str(frame["resolved"].dtype) == "bool"


def modes(folder):
    """`{relative path: 'drwxr-xr-x' ...}` of the folder and everything in it."""
    return {str(path.relative_to(folder.parent)): stat.filemode(path.stat().st_mode)
            for path in [folder, *folder.rglob("*")]}


def test_files_and_folders_follow_the_umask(tiny, tmp_path, umask_022):
    dataset = data.generate(tiny, 3, jax.random.PRNGKey(0))
    data.save(dataset, tmp_path / "data")
    train.fit(tiny, dataset, out=tmp_path / "run")
    row = study.WorkPrecisionRow(solver="arnoldi", level=2, matvecs=3, seconds=0.1, value_error=0.1,
                                 gradient_error=0.2, resolved=True, value=1.0)
    result = study.WorkPrecision(rows=[row], reference={"message": "m"}, skipped={})
    study.save_workprecision(result, tmp_path / "wp")
    found = {**modes(tmp_path / "data"), **modes(tmp_path / "run"), **modes(tmp_path / "wp")}
    assert {"data/dataset.npz", "data/samples.png", "run/checkpoint.eqx", "run/metrics.json", "run/loss.png",
            "wp/workprecision.csv", "wp/workprecision.json", "wp/workprecision.png"} <= set(found)
    for name, mode in found.items():
        folder = name in ("data", "run", "wp")
        assert mode == ("drwxr-xr-x" if folder else "-rw-r--r--"), (name, mode)


def test_cli_writes_no_progress_bar_off_a_terminal(tiny, tmp_path):
    command = [sys.executable, "-m", "pdekrylov", "generate", str(tiny.path), "--out", str(tmp_path / "d")]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert "\r" not in result.stderr and "reference solves" not in result.stderr
    quiet = subprocess.run([*command[:-1], str(tmp_path / "q"), "--quiet"], capture_output=True, text=True, timeout=600)
    assert quiet.returncode == 0 and quiet.stderr == "", quiet.stderr


def test_progress_bar_only_on_a_terminal_and_when_asked():
    assert _io.progress_bar(range(2), enabled=False).disable
    # pytest captures stderr: not a terminal
    assert _io.progress_bar(range(2), enabled=True).disable == (not sys.stderr.isatty())


def test_a_trained_run_loads_back(tiny, tmp_path):
    dataset = data.generate(tiny, 3, jax.random.PRNGKey(1))
    trained = train.fit(tiny, dataset, out=tmp_path / "run", epochs=2)
    loaded = train.load(tmp_path / "run")
    assert loaded.out == tmp_path / "run"
    assert loaded.metrics["epochs"] == 2 and loaded.metrics == json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert jax.numpy.array_equal(loaded.model(dataset.grid), trained.model(dataset.grid))
    with pytest.raises(train.CheckpointError, match="run: .* is not a run folder"):
        train.load(tmp_path / "nothing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(train.CheckpointError, match="no checkpoint"):
        train.load(tmp_path / "empty")
