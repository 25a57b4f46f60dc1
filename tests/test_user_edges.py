"""The edges a new user touches first: `--version`, defaults in `--help`, `--x64`, the
training options of the problem file as flags, misspelt names, `--data` given the npz,
optional sections, and a work-precision run with nothing to run."""

import json
import subprocess
import sys

import jax
import numpy as np
import pytest
from test_outputs import TINY

from pdekrylov import data
from pdekrylov.problems import ProblemError, load_problem


def run_cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "pdekrylov", *args], capture_output=True, text=True, cwd=cwd, timeout=600)


def one_error_line(result):
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1 and lines[0].startswith("error:"), result.stderr
    return lines[0]


@pytest.fixture(scope="module")
def tiny_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("edges") / "tiny-edges.toml"
    path.write_text(TINY)
    return path


@pytest.fixture(scope="module")
def float32_data(tiny_file):
    out = tiny_file.parent / "data32"
    result = run_cli("generate", str(tiny_file), "--out", str(out))
    assert result.returncode == 0, result.stderr
    return out


def test_version():
    from pdekrylov import __version__

    result = run_cli("--version")
    assert result.returncode == 0 and result.stdout.strip() == f"pdekrylov {__version__}"


def test_help_shows_defaults():
    workprecision = run_cli("workprecision", "--help").stdout
    assert "(default: 3)" in workprecision and "(default: dopri8)" in workprecision
    assert "(default: 256)" in workprecision
    assert "random seed (default: 0)" in " ".join(run_cli("generate", "--help").stdout.split())
    assert "(default: None)" not in workprecision + run_cli("train", "--help").stdout


def test_x64_generates_a_float64_dataset(tiny_file, float32_data, tmp_path):
    assert data.load(float32_data).inputs.dtype == np.float32
    result = run_cli("generate", str(tiny_file), "--out", str(tmp_path / "d64"), "--x64")
    assert result.returncode == 0, result.stderr
    dataset = np.load(tmp_path / "d64" / "dataset.npz")
    assert dataset["inputs"].dtype == np.float64 and dataset["targets"].dtype == np.float64


def test_train_takes_the_problem_files_options_and_x64(tiny_file, float32_data, tmp_path):
    run = tmp_path / "run"
    result = run_cli(
        "train", str(tiny_file), "--data", str(float32_data / "dataset.npz"), "--out", str(run),  # the npz: understood
        "--model", "mlp", "--loss", "mse", "--depth", "6", "--substeps", "2", "--epochs", "1", "--x64",
    )
    assert result.returncode == 0, result.stderr
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["dtype"] == "float64"
    assert {k: metrics["config"][k] for k in ("model", "loss", "depth", "substeps")} == {
        "model": "mlp", "loss": "mse", "depth": 6, "substeps": 2
    }
    for bad, message in (("--substeps", "--substeps: expected a positive integer"), ("--model", "invalid choice")):
        value = "0" if bad == "--substeps" else "cnn"
        line = one_error_line(run_cli("train", str(tiny_file), "--data", str(float32_data), "--out", str(tmp_path / "x"), bad, value))
        assert message in line


def test_data_pointing_at_another_file_is_explained(tiny_file, float32_data, tmp_path):
    line = one_error_line(run_cli(
        "train", str(tiny_file), "--data", str(float32_data / "metadata.json"), "--out", str(tmp_path / "run")
    ))
    assert line.startswith("error: --data:") and "the folder written by `pdekrylov generate`" in line


def test_misspelt_shipped_problem_is_suggested():
    with pytest.raises(ProblemError, match="did you mean 'wave-small'"):
        load_problem("wave-smal")
    line = one_error_line(run_cli("generate", "wvae-small", "--out", "unused"))
    assert "did you mean 'wave-small'" in line


def test_misspelt_key_is_named_unknown_with_the_close_match(tmp_path):
    path = tmp_path / "typo.toml"
    path.write_text(TINY.replace("length_scale = 0.4", "lenght_scale = 0.4"))
    line = one_error_line(run_cli("generate", str(path), "--out", str(tmp_path / "d")))
    assert "coefficient.lenght_scale: unknown key (did you mean 'length_scale'?)" in line
    assert not (tmp_path / "d").exists()


def test_sections_whose_keys_all_have_defaults_are_optional(tmp_path):
    without = TINY.replace("[observation]\nnoise_std = 0.0\n", "")
    without = without[: without.index("[training]")]  # training too: all its keys have defaults
    path = tmp_path / "short.toml"
    path.write_text(without)
    problem = load_problem(path)
    assert problem.observation == type(load_problem(_write(tmp_path / "full.toml", TINY)).observation)()  # defaults
    assert problem.training.solver == "arnoldi"
    missing = tmp_path / "no-time.toml"
    missing.write_text(TINY.replace("[time]\nt1 = 0.5\nobservation_times = [0.5]\n", ""))
    with pytest.raises(ProblemError, match="time: missing section"):
        load_problem(missing)


def _write(path, text):
    path.write_text(text)
    return path


def test_workprecision_with_no_runnable_solver_exits_nonzero(tmp_path):
    path = _write(tmp_path / "adv.toml", TINY.replace('kind = "wave"', 'kind = "advection-diffusion"\nvelocity = [0.1, 0.0]'))
    out = tmp_path / "wp"
    line = one_error_line(run_cli("workprecision", str(path), "--solvers", "lanczos", "--levels", "2", "--out", str(out)))
    assert "solvers: none of them could run" in line and "lanczos" in line
    assert not out.exists() or not any(out.iterdir())
