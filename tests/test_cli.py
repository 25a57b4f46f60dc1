"""The command line, run as a user runs it: a real subprocess, real files."""

import json
import subprocess
import sys

import pytest


def run_cli(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "pdekrylov", *args],
        capture_output=True, text=True, cwd=cwd, timeout=600,
    )


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo") / "out"
    result = run_cli("demo", "--out", str(out), "--epochs", "20")
    assert result.returncode == 0, result.stderr
    assert "relative L2 error of the learned field fell from" in result.stdout and "wrote" in result.stdout
    return out


def test_demo_generates_trains_and_plots(demo_dir):
    for name in ("run/loss.png", "run/coefficient.png", "data/samples.png"):
        data = (demo_dir / name).read_bytes()
        assert data.startswith(b"\x89PNG") and len(data) > 1000
    metrics = json.loads((demo_dir / "run" / "metrics.json").read_text())
    assert metrics["solver"] == "arnoldi" and metrics["epochs"] == 20
    evaluated = [h["parameter_rmse"] for h in metrics["history"] if "parameter_rmse" in h]
    assert evaluated[-1] < evaluated[0]  # it learns
    relative = [h["parameter_relative_l2"] for h in metrics["history"] if "parameter_relative_l2" in h]
    assert relative[-1] < relative[0] and metrics["parameter_relative_l2"] == relative[-1]
    assert not list(demo_dir.rglob(".*.tmp"))  # no temporary files left behind


def test_demo_refuses_to_overwrite_without_force(demo_dir):
    before = (demo_dir / "run" / "metrics.json").stat().st_mtime_ns
    result = run_cli("demo", "--out", str(demo_dir))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and "--force" in lines[0]
    assert "Traceback" not in result.stderr
    assert (demo_dir / "run" / "metrics.json").stat().st_mtime_ns == before


@pytest.mark.slow  # a second demo run (37 s); replacing outputs with force=True is covered
# by test_data.py and test_validation.py, the refusal without it by the test above
def test_demo_force_replaces(demo_dir):
    result = run_cli("demo", "--out", str(demo_dir), "--force", "--epochs", "1")
    assert result.returncode == 0, result.stderr


def test_debug_shows_traceback(demo_dir):
    result = run_cli("--debug", "demo", "--out", str(demo_dir))
    assert result.returncode != 0 and "Traceback" in result.stderr


def test_unknown_command_exits_2():
    result = run_cli("frobnicate")
    assert result.returncode == 2


def test_a_runtime_failure_is_one_line(demo_dir, tmp_path):
    """A solver that cannot meet its tolerance fails inside jit (Equinox's runtime error,
    whose message goes on with paragraphs of advice): the CLI prints its first line."""
    result = run_cli(
        "train", "wave-small", "--data", str(demo_dir / "data"), "--out", str(tmp_path / "run"),
        "--depth", "2", "--rtol", "1e-10", "--epochs", "1",
    )
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "max_steps" in lines[0], result.stderr
