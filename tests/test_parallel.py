"""Data-parallel training: two devices, or two processes, give the one-device result."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from pdekrylov import cli, train
from test_train import DIFFUSION, make_problem

TWO_DEVICES = Path(__file__).with_name("_two_devices.py")
COMPARED = ("train_loss", "test_loss", "parameter_rmse")


@pytest.fixture(scope="module")
def two_devices(tmp_path_factory):
    """One subprocess with two forced CPU host devices (the rest of the suite keeps one).

    It trains a tiny problem on one device (library) and on two (CLI `--devices 2`).
    """
    folder = tmp_path_factory.mktemp("parallel")
    problem = make_problem(folder, **DIFFUSION)  # noisy, random sensor mask, grid field
    # 10 pairs, 3 test and 7 train: each split needs one zero-weight copy on two devices
    path = Path(problem.path)
    path.write_text(path.read_text().replace("test_fraction = 0.2", "test_fraction = 0.3"))
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2", "JAX_PLATFORMS": "cpu"}
    completed = subprocess.run(
        [sys.executable, str(TWO_DEVICES), str(path), str(folder)],
        env=env, capture_output=True, text=True, timeout=300,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    return path, folder, json.loads(completed.stdout.strip().splitlines()[-1])


def test_two_devices_equal_one(two_devices):
    """Pairs sharded over two devices, both splits padded: the run equals one device's."""
    _, _, result = two_devices
    assert result["devices_seen"] == 2 and result["exit_code"] == 0
    assert result["one"]["devices"] == 1 and result["one"]["padded_pairs"] == {"train": 0, "test": 0}
    assert result["cli"]["devices"] == 2
    assert result["cli"]["padded_pairs"] == {"train": 1, "test": 1}
    for key in COMPARED:
        assert result["cli"][key] == pytest.approx(result["one"][key], rel=1e-5), key
    assert result["max_relative_difference"] <= 1e-5
    assert result["history_cli"] == pytest.approx(result["history_one"], rel=1e-5)


@pytest.mark.slow  # two more JAX start-ups and compilations (~30 s); the two-device test is the default
def test_two_processes_equal_one(two_devices):
    """The README's multi-host recipe on one machine: two processes, one CPU device each."""
    problem, folder, result = two_devices
    with socket.socket() as probe:  # a free port for the coordinator
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    env["JAX_PLATFORMS"] = "cpu"
    out = folder / "two-processes"
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "pdekrylov", "train", str(problem), "--data", str(folder / "data"),
             "--out", str(out), "--distributed", "--coordinator", f"127.0.0.1:{port}",
             "--num-processes", "2", "--process-id", str(index)],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for index in range(2)
    ]
    outputs = [process.communicate(timeout=300) for process in processes]
    for process, (stdout, stderr) in zip(processes, outputs):
        assert process.returncode == 0, stderr[-3000:]
    # process 0 reports (gloo, the CPU collectives, prints its own connection line)
    assert "trained on 2 devices" in outputs[0][0] and "trained" not in outputs[1][0]
    metrics = json.loads((out / train.METRICS_FILE).read_text())
    assert metrics["devices"] == 2 and metrics["padded_pairs"] == {"train": 1, "test": 1}
    for key in COMPARED:
        assert metrics[key] == pytest.approx(result["one"][key], rel=1e-5), key
    history = [entry["train_loss"] for entry in metrics["history"]]
    assert history == pytest.approx(result["history_one"], rel=1e-5)


def test_device_errors(tmp_path, capsys):
    """Bad device counts are bad input; asking for too many gives the CPU hint."""
    with pytest.raises(ValueError, match="devices: asked for 64.*xla_force_host_platform_device_count"):
        train.make_mesh(64)
    with pytest.raises(ValueError, match="devices: expected a positive"):
        train.make_mesh(0)
    with pytest.raises(TypeError, match="devices"):
        train.make_mesh("two")
    base = ["train", "wave-small", "--data", str(tmp_path / "none"), "--out", str(tmp_path / "run")]
    assert cli.main([*base, "--devices", "0"]) == 2
    assert capsys.readouterr().err.strip() == "error: --devices: expected a positive integer, got 0"
    assert cli.main([*base, "--process-id", "1"]) == 2
    assert "need --distributed" in capsys.readouterr().err
    assert cli.main([*base, "--distributed", "--process-id", "1"]) == 2
    assert "give all three, or none" in capsys.readouterr().err
