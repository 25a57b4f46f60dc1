"""Training: the loss goes down, resume equals an uninterrupted run, failures keep data."""

import json
import re
import signal
import subprocess
import sys
import time

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import pdekrylov as pk
from pdekrylov import data, train
from pdekrylov.problems import load_problem

TINY = """
name = "tiny-train"
[grid]
shape = [12, 12]
[pde]
kind = "{kind}"
boundary = "neumann"
[coefficient]
kind = "grf"
kernel = "rbf"
length_scale = 0.4
variance = 0.1
transform = "exp"
scale = {scale}
[initial]
kind = "grf"
kernel = "rbf"
length_scale = 0.2
variance = 1.0
[time]
t1 = 1.0
observation_times = [0.5, 1.0]
[reference]
solver = "arnoldi"
depth = 40
batch = 5
[observation]
noise_std = {noise}
mask = "{mask}"
fraction = 0.5
[dataset]
size = 10
test_fraction = 0.2
[training]
model = "{model}"
hidden = [16, 16]
initial_value = {initial}
optimizer = "adam"
learning_rate = {lr}
epochs = 8
solver = "arnoldi"
depth = 12
loss = "relative-l2"
checkpoint_every = 2
eval_every = 2
"""
WAVE = dict(kind="wave", scale=0.2, noise=0.0, mask="full", model="mlp", initial=0.1, lr=3e-2)
DIFFUSION = dict(kind="diffusion", scale=0.01, noise=0.01, mask="random", model="grid", initial=0.005, lr=1e-3)


def make_problem(folder, **settings):
    path = folder / f"{settings['kind']}-{settings['model']}.toml"
    path.write_text(TINY.format(**settings))
    return load_problem(path)


@pytest.fixture(scope="module")
def wave(tmp_path_factory):
    folder = tmp_path_factory.mktemp("wave")
    problem = make_problem(folder, **WAVE)
    dataset = data.generate(problem, 10, jax.random.PRNGKey(0))
    data.save(dataset, folder / "data", seed=0)
    return problem, data.load(folder / "data"), folder


@pytest.fixture(scope="module")
def wave_run(wave, tmp_path_factory):
    """An uninterrupted 8-epoch run with checkpoints, shared by several tests."""
    problem, dataset, _ = wave
    out = tmp_path_factory.mktemp("runs") / "full"
    return train.fit(problem, dataset, out=out)


def test_training_lowers_the_loss_and_writes_the_run(wave_run):
    metrics = wave_run.metrics
    losses = [h["train_loss"] for h in metrics["history"]]
    assert len(losses) == 8 and all(b < a for a, b in zip(losses, losses[1:]))
    assert losses[-1] < 0.97 * losses[0]
    evaluated = [h for h in metrics["history"] if "parameter_rmse" in h]
    assert [h["epoch"] for h in evaluated] == [2, 4, 6, 8]
    assert evaluated[-1]["parameter_rmse"] < evaluated[0]["parameter_rmse"]
    for key in ("test_loss", "parameter_rmse", "seconds_per_epoch", "matvecs_per_epoch", "epochs", "solver", "config"):
        assert metrics[key] is not None, key
    assert metrics["matvecs_per_solve"] == 12
    assert metrics["matvecs_per_epoch"] == 12 * 8  # 8 training pairs, one evaluation each
    written = json.loads((wave_run.out / "metrics.json").read_text())
    assert written["history"] == metrics["history"] and written["config"]["depth"] == 12
    for name in ("loss.png", "coefficient.png"):
        assert (wave_run.out / name).read_bytes().startswith(b"\x89PNG")
    assert train.read_header(wave_run.out / "checkpoint.eqx")["epoch"] == 8
    assert not list(wave_run.out.glob(".*.tmp"))


def test_resume_equals_an_uninterrupted_run(wave, wave_run, tmp_path):
    problem, dataset, _ = wave
    out = tmp_path / "run"

    def ctrl_c_at_epoch_3(epoch, loss):
        if epoch == 3:
            raise KeyboardInterrupt

    with pytest.raises(train.TrainingInterrupted, match="resume"):
        train.fit(problem, dataset, out=out, callback=ctrl_c_at_epoch_3)
    assert train.read_header(out / "checkpoint.eqx")["epoch"] == 3  # saved on interrupt
    resumed = train.fit(problem, dataset, out=out, resume=True)
    full = wave_run.metrics["history"]
    for a, b in zip(resumed.metrics["history"], full, strict=True):
        assert a["epoch"] == b["epoch"] and a["train_loss"] == b["train_loss"]
        assert a.get("test_loss") == b.get("test_loss")
    same = jax.tree.map(lambda x, y: bool(jnp.all(x == y)), resumed.model, wave_run.model)
    assert all(jax.tree.leaves(same))
    # more epochs later: --epochs is the total
    longer = train.fit(problem, dataset, out=out, resume=True, epochs=10)
    assert longer.metrics["epochs"] == 10 and longer.metrics["history"][:8] == resumed.metrics["history"]


def test_resume_refuses_changed_config_and_corrupt_checkpoint(wave, wave_run, tmp_path):
    problem, dataset, _ = wave
    with pytest.raises(ValueError, match="learning_rate"):
        train.fit(problem, dataset, out=wave_run.out, resume=True, learning_rate=0.5)
    with pytest.raises(train.CheckpointError, match="no checkpoint"):
        train.fit(problem, dataset, out=tmp_path / "empty", resume=True)
    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    original = (wave_run.out / "checkpoint.eqx").read_bytes()
    damaged = original[:-10] + bytes(10)
    (corrupt / "checkpoint.eqx").write_bytes(damaged)
    with pytest.raises(train.CheckpointError, match="corrupt"):
        train.fit(problem, dataset, out=corrupt, resume=True)
    assert (corrupt / "checkpoint.eqx").read_bytes() == damaged  # kept as it was


def test_existing_out_needs_force(wave, wave_run):
    problem, dataset, _ = wave
    before = (wave_run.out / "metrics.json").read_bytes()
    with pytest.raises(FileExistsError, match="force"):
        train.fit(problem, dataset, out=wave_run.out)
    assert (wave_run.out / "metrics.json").read_bytes() == before


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(wave, tmp_path):
    problem, dataset, _ = wave
    out = tmp_path / "blowup"
    with pytest.raises(train.TrainingError, match=r"non-finite training loss .* at epoch (\d+)") as info:
        train.fit(problem, dataset, out=out, learning_rate=1e4, checkpoint_every=1, epochs=30)
    failed_epoch = int(re.search(r"at epoch (\d+)", str(info.value)).group(1))
    header = train.read_header(out / "checkpoint.eqx")
    assert header["epoch"] == failed_epoch - 1
    assert all(np.isfinite(h["train_loss"]) for h in header["history"])


def test_dataset_for_another_problem_is_refused(wave, tmp_path):
    _, dataset, _ = wave
    other = make_problem(tmp_path, **{**WAVE, "kind": "diffusion"})
    with pytest.raises(ValueError, match="dataset: .*pde"):
        train.fit(other, dataset)


def test_training_options_are_validated(wave):
    problem, dataset, _ = wave
    for options, match in (
        (dict(solver="rk4"), "unknown solver"),
        (dict(epochs=0), "epochs"),
        (dict(optimizer="sobolev-adam"), "model='grid'"),
        (dict(learning_rate=-1.0), "learning_rate"),
        (dict(colour="red"), "colour"),
    ):
        with pytest.raises(ValueError, match=match):
            train.fit(problem, dataset, **options)


@pytest.mark.parametrize(
    "solver", ["dopri5+backsolve", pytest.param("tsit5+recursive-checkpoint", marks=pytest.mark.slow)]
)
def test_diffrax_baselines_train_through_the_same_interface(wave, solver):
    problem, dataset, _ = wave
    result = train.fit(problem, dataset, solver=solver, steps=3, epochs=3, eval_every=3)
    assert result.metrics["solver"] == solver
    assert result.metrics["matvecs_per_solve"] == 3 * 6 + 1  # FSAL: 6 new stages per step
    losses = [h["train_loss"] for h in result.metrics["history"]]
    assert losses[-1] < losses[0]


@pytest.fixture(scope="module")
def diffusion(tmp_path_factory):
    problem = make_problem(tmp_path_factory.mktemp("diffusion"), **DIFFUSION)
    dataset = data.generate(problem, 10, jax.random.PRNGKey(1))
    assert dataset.mask is not None and dataset.clean_targets is not None
    return problem, dataset


@pytest.mark.parametrize("optimizer", ["sobolev-adam", "lbfgs", pytest.param("adam", marks=pytest.mark.slow)])
def test_partial_noisy_observations_with_grid_field_and_optimizers(diffusion, optimizer):
    problem, dataset = diffusion
    lr = 1.0 if optimizer == "lbfgs" else 1e-3
    result = train.fit(problem, dataset, optimizer=optimizer, learning_rate=lr, epochs=6, eval_every=6)
    losses = [h["train_loss"] for h in result.metrics["history"]]
    assert losses[-1] < losses[0], optimizer
    assert "clean_test_loss" in result.metrics
    evaluations = sum(h["evaluations"] for h in result.metrics["history"])
    # L-BFGS's line search evaluates the loss more than once in some epochs, and says so
    assert result.metrics["matvecs_per_epoch"] == 12 * 8 * evaluations / 6
    if optimizer != "lbfgs":
        assert evaluations == 6


def test_sobolev_smoothing_inverts_the_neumann_operator():
    grid = pk.Grid((7, 5), upper=(1.0, 0.6))
    laplacian = pk.DiffusionOperator(grid, jnp.ones(grid.shape), "neumann").as_matrix()
    g = jax.random.normal(jax.random.PRNGKey(0), grid.shape)
    length = 0.2
    smoothed = train.sobolev_smooth(g, grid, length)
    back = smoothed.ravel() - length**2 * laplacian @ smoothed.ravel()
    np.testing.assert_allclose(back, g.ravel(), rtol=1e-10, atol=1e-10)
    eigenvalues = np.sort(np.linalg.eigvalsh(np.asarray(laplacian)))
    np.testing.assert_allclose(np.sort(train.neumann_laplacian_eigenvalues(grid, jnp.float64).ravel()), eigenvalues, atol=1e-9)
    # as an optax transformation: grid-shaped leaves smoothed, others untouched
    transform = optax.chain(train.sobolev_preconditioner(grid, length), optax.scale(-1.0))
    updates, _ = transform.update({"field": g, "bias": jnp.ones(3)}, transform.init(None))
    np.testing.assert_allclose(updates["field"], -smoothed)
    np.testing.assert_allclose(updates["bias"], -jnp.ones(3))
    with pytest.raises(ValueError, match="length"):
        train.sobolev_preconditioner(grid, 0.0)


def test_solver_names():
    solver = pk.solvers.solver_from_name("Dopri5+backsolve", steps=4)
    assert isinstance(solver.solver, diffrax.Dopri5) and isinstance(solver.adjoint, diffrax.BacksolveAdjoint)
    assert solver.steps == 4
    assert pk.solvers.solver_from_name("arnoldi", depth=7).depth == 7
    assert isinstance(pk.solvers.solver_from_name("heun").adjoint, diffrax.RecursiveCheckpointAdjoint)
    with pytest.raises(ValueError, match="dopri5\\+backsolve"):
        pk.solvers.solver_from_name("rk45")
    assert "tsit5+recursive-checkpoint" in pk.solvers.solver_names()


def run_cli(*args, **kwargs):
    return subprocess.run([sys.executable, "-m", "pdekrylov", *args], capture_output=True, text=True, timeout=600, **kwargs)


def test_cli_train_resume_and_refusals(wave, tmp_path):
    problem, _, folder = wave
    out = tmp_path / "run"
    common = (problem.path, "--data", str(folder / "data"), "--out", str(out))
    result = run_cli("train", *common, "--epochs", "4")
    assert result.returncode == 0, result.stderr
    assert "field error" in result.stdout and "the paper's metric" in result.stdout
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["epochs"] == 4 and len(metrics["history"]) == 4
    result = run_cli("train", *common, "--epochs", "6", "--resume")
    assert result.returncode == 0, result.stderr
    assert json.loads((out / "metrics.json").read_text())["epochs"] == 6
    for args, match in (
        (("--epochs", "0", "--force"), "--epochs"),
        (("--solver", "rk4", "--force"), "unknown solver"),
        ((), "exists"),
        (("--resume", "--lr", "0.5"), "learning_rate"),
    ):
        result = run_cli("train", *common, *args)
        lines = result.stderr.strip().splitlines()
        assert result.returncode == 2 and len(lines) == 1 and match in lines[0], result.stderr
    result = run_cli("train", *common[:-1], str(tmp_path / "new"), "--data", str(tmp_path))
    assert result.returncode == 2 and "dataset" in result.stderr


def test_cli_sigterm_checkpoints_and_resumes(wave, tmp_path):
    problem, _, folder = wave
    out = tmp_path / "run"
    process = subprocess.Popen(
        [sys.executable, "-m", "pdekrylov", "train", problem.path, "--data", str(folder / "data"),
         "--out", str(out), "--epochs", "100000"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    deadline = time.time() + 300
    while time.time() < deadline and not any(
        train.read_header(out / "checkpoint.eqx")["epoch"] >= 4 for _ in [0] if (out / "checkpoint.eqx").exists()
    ):
        time.sleep(0.5)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    assert "--resume" in stderr and "Traceback" not in stderr
    header = train.read_header(out / "checkpoint.eqx")
    assert header["epoch"] >= 4 and len(header["history"]) == header["epoch"]


def test_the_pure_step_in_a_plain_loop_is_fit(wave, wave_run):
    """`fit` is a driver: `make_training`'s step, called in a loop of one's own on the
    same pairs, gives the same losses and parameters bit for bit."""
    problem, dataset, _ = wave
    config = train.TrainConfig.from_problem(problem)
    training = train.make_training(problem, config, dataset.inputs.dtype)
    n = dataset.num_test
    pairs = train.Pairs(jnp.asarray(dataset.inputs[n:]), jnp.asarray(dataset.targets[n:]), None)
    state = training.init(training.initial_params)
    assert isinstance(state, train.TrainState)
    step = eqx.filter_jit(training.step)
    losses = []
    for _ in range(config.epochs):
        state, loss, evaluations = step(state, pairs)
        losses.append(float(loss))
        assert int(evaluations) == 1  # Adam: one evaluation per step
    assert losses == [h["train_loss"] for h in wave_run.metrics["history"]]
    final = eqx.filter(wave_run.model, eqx.is_inexact_array)
    assert all(jnp.array_equal(a, b) for a, b in zip(jax.tree.leaves(state.params), jax.tree.leaves(final)))
    evaluation = training.evaluate(state.params, dataset.coefficient, train=pairs)
    assert float(evaluation["parameter_rmse"]) == wave_run.metrics["parameter_rmse"]
    # the readable error: the relative L2 distance of the learned field from the truth
    learned, truth = np.asarray(training.field(state.params)), np.asarray(dataset.coefficient)
    expected = np.linalg.norm(learned - truth) / np.linalg.norm(truth)
    assert abs(wave_run.metrics["parameter_relative_l2"] - expected) <= 1e-6 * expected
