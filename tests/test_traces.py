"""Problems with sources and receivers: problem files, trace datasets, training on traces."""

import subprocess
import sys

import diffrax
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import pdekrylov as pk
from pdekrylov import data, train
from pdekrylov.problems import ProblemError, load_problem, problem_from_dict

TINY = """
name = "tiny-traces"
[grid]
shape = [16, 16]
[pde]
kind = "wave"
[coefficient]
kind = "analytic"
name = "gaussian-bump"
value = 1.0
amplitude = 0.2
width = 0.15
[time]
t1 = 0.8
samples = 16
[sources]
[sources.layout]
kind = "line"
start = [0.15, 0.2]
end = [0.15, 0.8]
count = 3
[sources.wavelet]
kind = "ricker"
frequency = 3.0
[receivers]
wavefield_times = [0.4, 0.8]
[receivers.layout]
kind = "points"
points = [[0.85, 0.2], [0.85, 0.4], [0.85, 0.6], [0.85, 0.8], [0.5, 0.9], [0.5, 0.1]]
[reference]
solver = "dopri8"
steps = 97
batch = 2
[observation]
noise_std = 0.0
[dataset]
size = 3
test_fraction = 0.34
[training]
model = "grid"
initial_value = 1.0
optimizer = "adam"
learning_rate = 1e-2
epochs = 4
solver = "arnoldi"
rtol = 1e-3
loss = "relative-l2"
checkpoint_every = 1
eval_every = 2
"""


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    folder = tmp_path_factory.mktemp("traces")
    path = folder / "tiny-traces.toml"
    path.write_text(TINY)
    problem = load_problem(path)
    dataset = data.generate(problem, 3, jax.random.PRNGKey(0))
    data.save(dataset, folder / "data", seed=0)
    return problem, data.load(folder / "data"), folder


def test_trace_problems_read_into_specs_and_round_trip(tiny):
    problem = tiny[0]
    assert isinstance(problem.sources.layout, pk.problems.LineLayout)
    assert isinstance(problem.sources.wavelet, pk.problems.RickerSpec) and problem.initial is None
    assert problem.sources.shots == 3 and problem.input_shape == (1, 2) and problem.observed_shape == (6,)
    assert np.allclose(problem.sources.layout.positions()[:, 1], [0.2, 0.5, 0.8])
    assert problem.time.observation_times == tuple(0.05 * np.arange(1, 17))
    assert problem_from_dict(problem.as_dict(), where="stored") == problem
    circle = pk.problems.CircleLayout(center=(0.5, 0.5), radius=0.25, count=4, angle=90.0)
    assert np.allclose(circle.positions(), [[0.5, 0.75], [0.25, 0.5], [0.5, 0.25], [0.75, 0.5]])
    assert load_problem("wave-traces").sources.shots == 6  # the shipped one


@pytest.mark.parametrize(
    "change, match",
    [
        (("[receivers]\n", "[elsewhere]\n"), "elsewhere: unknown key"),
        (("count = 3", "cuont = 3"), r"sources.layout.cuont: unknown key.*count"),
        (('kind = "ricker"', 'kind = "gabor"'), r"sources.wavelet.kind: expected one of \['ricker'\]"),
        (("end = [0.15, 0.8]", "end = [0.15, 1.8]"), r"sources.layout: the point \[0.15, 1.8\] lies outside"),
        (("[time]", '[initial]\nkind = "grf"\nlength_scale = 0.2\nvariance = 1.0\n[time]'), "initial: a problem with sources starts from rest"),
        (("size = 3", "size = 4"), "dataset.size: a problem with sources has one pair per shot"),
        (("samples = 16", "samples = 16\nobservation_times = [0.5]"), "time.samples: give either"),
        (("wavefield_times = [0.4, 0.8]", "wavefield_times = [0.4, 2.0]"), "receivers.wavefield_times"),
        (("noise_std = 0.0", 'noise_std = 0.0\nmask = "random"'), "observation.mask: a problem with receivers"),
        (("frequency = 3.0", "frequency = -3.0"), "sources.wavelet.frequency: expected a positive number"),
    ],
)
def test_bad_trace_problems_name_the_key(tmp_path, change, match):
    path = tmp_path / "bad.toml"
    path.write_text(TINY.replace(*change))
    with pytest.raises(ProblemError, match=match) as info:
        load_problem(path)
    assert str(path) in str(info.value)


def test_a_trace_dataset_is_the_traces_of_each_shot(tiny):
    problem, dataset, _ = tiny
    assert dataset.inputs.shape == (3, 1, 2) and dataset.targets.shape == (3, 16, 6)
    assert dataset.wavefields.shape == (3, 2, 16, 16) and dataset.mask is None
    # shot 1 by an independent solve: Diffrax on the forced system, receivers applied to the states
    grid, c = problem.grid, jnp.asarray(dataset.coefficient)
    op = pk.WaveOperator(grid, c)
    forcing = pk.Forcing(pk.PointSources(grid, dataset.inputs[1]), pk.Ricker(3.0))
    times = list(problem.time.observation_times)
    states = pk.solve(op, jnp.zeros(op.state_shape), 0.8, pk.Diffrax(diffrax.Tsit5(), steps=300), forcing=forcing,
                      saveat=times).ys
    receivers = pk.Receivers(grid, problem.receivers.layout.positions())
    assert np.allclose(dataset.targets[1], jax.vmap(receivers)(states), atol=1e-7 * np.abs(dataset.targets).max())
    assert times[7] == pytest.approx(0.4)
    assert np.allclose(dataset.wavefields[1], states[[7, -1], 0], atol=1e-7 * np.abs(states).max())


@pytest.fixture(scope="module")
def tiny_run(tiny):
    problem, dataset, _ = tiny
    return train.fit(problem, dataset)  # in memory


def test_training_on_traces_learns(tiny_run):
    losses = [h["train_loss"] for h in tiny_run.metrics["history"]]
    assert losses[-1] < 0.8 * losses[0]
    evaluated = [h["parameter_relative_l2"] for h in tiny_run.metrics["history"] if "parameter_relative_l2" in h]
    assert evaluated[-1] < evaluated[0]


@pytest.mark.slow  # two more runs (resume itself is tested in test_train.py for snapshot problems)
def test_training_on_traces_resumes_as_an_uninterrupted_run(tiny, tiny_run, tmp_path):
    problem, dataset, _ = tiny
    losses = [h["train_loss"] for h in tiny_run.metrics["history"]]

    def ctrl_c_at_epoch_2(epoch, loss):
        if epoch == 2:
            raise KeyboardInterrupt

    with pytest.raises(train.TrainingInterrupted):
        train.fit(problem, dataset, out=tmp_path / "part", callback=ctrl_c_at_epoch_2)
    resumed = train.fit(problem, dataset, out=tmp_path / "part", resume=True)
    assert [h["train_loss"] for h in resumed.metrics["history"]] == losses


def test_a_snapshot_dataset_is_refused_by_a_trace_problem(tiny):
    problem, dataset, _ = tiny
    metadata = {**dataset.metadata, "problem": load_problem("wave-small").as_dict()}
    with pytest.raises(ValueError, match="^dataset: made for problem 'wave-small'"):
        train.fit(problem, dataset._replace(metadata=metadata))
    with pytest.raises(ValueError, match="^problem: tiny-traces records traces"):
        pk.study.workprecision(problem, ["arnoldi"], [4])


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "pdekrylov", *args], capture_output=True, text=True, timeout=600)


@pytest.mark.slow  # two subprocesses that compile (about 90 s); the library path is tested above
def test_cli_generates_traces_and_trains_from_them(tiny, tmp_path):
    path = tiny[2] / "tiny-traces.toml"
    result = run_cli("generate", str(path), "--out", str(tmp_path / "ds"))
    assert result.returncode == 0, result.stderr
    assert "traces of 3 shots" in result.stdout
    result = run_cli("train", str(path), "--data", str(tmp_path / "ds"), "--out", str(tmp_path / "run"), "--epochs", "2")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "run" / "coefficient.png").is_file()
    result = run_cli("generate", str(path), "--num", "4", "--out", str(tmp_path / "more"))
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1 and "num: a problem with sources has one pair per shot" in lines[0]
