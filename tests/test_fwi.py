"""Full-waveform inversion problems: absorbing layers and layered models in problem files,
total-variation regularisation, and training on them (learns, resumes bit-exactly, two
devices give one device's run)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import pdekrylov as pk
from pdekrylov import data, fields, train
from pdekrylov.problems import ProblemError, load_problem, problem_from_dict

# the shipped fwi-crosswell in miniature: PML, order 4, layers and an inclusion, TV
TINY = """
name = "tiny-fwi"
[grid]
shape = [24, 24]
[pde]
kind = "wave"
order = 4
[pde.absorbing]
kind = "pml"
width = 5
[coefficient]
kind = "layered"
interfaces = [0.45]
values = [1.0, 1.25]
smoothing = 0.03
inclusion_center = [0.5, 0.5]
inclusion_radius = 0.12
inclusion_value = 1.4
[time]
t1 = 0.9
samples = 18
[sources]
[sources.layout]
kind = "line"
start = [0.3, 0.25]
end = [0.7, 0.25]
count = 3
[sources.wavelet]
kind = "ricker"
frequency = 3.0
[receivers.layout]
kind = "line"
start = [0.25, 0.75]
end = [0.75, 0.75]
count = 8
[reference]
solver = "dopri8"
steps = 200
batch = 3
[observation]
noise_std = 0.0
[dataset]
size = 3
test_fraction = 0.34
[training]
model = "grid"
initial_value = 1.15
optimizer = "sobolev-lbfgs"
sobolev_length = 0.1
learning_rate = 1.0
smoothness = 1e-4
regulariser = "total-variation"
epochs = 4
solver = "arnoldi"
depth = 40
rtol = 1e-3
loss = "relative-l2"
checkpoint_every = 1
eval_every = 2
"""


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fwi")
    path = folder / "tiny-fwi.toml"
    path.write_text(TINY)
    problem = load_problem(path)
    dataset = data.generate(problem, 3, jax.random.PRNGKey(0))
    data.save(dataset, folder / "data", seed=0)
    return problem, data.load(folder / "data"), folder


def test_an_absorbing_layer_in_a_problem_file(tiny):
    problem = tiny[0]
    assert isinstance(problem.pde.absorbing, pk.problems.PMLSpec) and problem.pde.absorbing.width == 5
    operator = problem.operator(jnp.ones(problem.grid.shape))
    assert isinstance(operator, pk.AbsorbingWaveOperator) and isinstance(operator.layer, pk.PML)
    assert operator.order == 4 and problem.state_shape == (4, 24, 24)  # u, u_t and the PML's two
    assert problem_from_dict(problem.as_dict(), where="stored") == problem
    sponge = problem.pde.replace(absorbing=pk.problems.SpongeSpec(width=4, reflection=1e-2))
    assert isinstance(sponge.operator(problem.grid, jnp.ones(problem.grid.shape)).layer, pk.Sponge)
    lower, upper = problem.pde.interior_box(problem.grid)
    assert np.allclose(lower, 5 / 23) and np.allclose(upper, 18 / 23)


def test_layered_model_with_an_inclusion(tiny):
    problem = tiny[0]
    c = np.asarray(problem.sample_coefficient(jax.random.PRNGKey(0)))
    x = np.asarray(problem.grid.coordinates())
    far = np.hypot(x[0] - 0.5, x[1] - 0.5) > 0.25
    assert np.allclose(c[(x[0] < 0.3) & far], 1.0, atol=1e-4)  # the lower layer
    assert np.allclose(c[(x[0] > 0.6) & far], 1.25, atol=1e-4)  # the upper one
    assert c[np.unravel_index(np.argmin(np.hypot(x[0] - 0.5, x[1] - 0.5)), c.shape)] == pytest.approx(1.4, abs=1e-3)
    assert c.min() >= 1.0 - 1e-6 and c.max() <= 1.4 + 1e-6
    shipped = load_problem("fwi-crosswell")
    assert shipped.sources.shots == 5 and isinstance(shipped.pde.absorbing, pk.problems.PMLSpec)


@pytest.mark.parametrize(
    "change, match",
    [
        (("width = 5", "width = 12"), "pde.absorbing.width: 12 nodes on each side leave no interior"),
        (("width = 5", "width = 0"), "pde.absorbing.width"),
        (('kind = "pml"', 'kind = "cpml"'), r"pde.absorbing.kind: expected one of \['pml', 'sponge'\]"),
        (("order = 4", 'order = 4\nboundary = "periodic"'), "pde.absorbing: an absorbing layer needs ends"),
        (("start = [0.3, 0.25]", "start = [0.3, 0.1]"), r"sources.layout: the point \[0.3, 0.1\] lies in the absorbing layer"),
        (("values = [1.0, 1.25]", "values = [1.0]"), "coefficient.values: expected one value per layer"),
        (("interfaces = [0.45]\nvalues = [1.0, 1.25]", "interfaces = [0.45, 0.3]\nvalues = [1.0, 1.1, 1.2]"), "coefficient.interfaces: expected increasing"),
        (("inclusion_center = [0.5, 0.5]", "inclusion_center = [0.5, 0.5, 0.5]"), "coefficient.inclusion_center: expected 2 coordinates"),
        (('regulariser = "total-variation"', 'regulariser = "l1"'), "training.regulariser"),
    ],
)
def test_bad_fwi_problems_name_the_key(tmp_path, change, match):
    path = tmp_path / "bad.toml"
    path.write_text(TINY.replace(*change))
    with pytest.raises(ProblemError, match=match):
        load_problem(path)


def test_an_absorbing_layer_needs_sources(tiny):
    snapshot = load_problem("wave-small")
    with pytest.raises(ValueError, match="pde.absorbing: an absorbing layer needs a problem with"):
        snapshot.replace(pde=snapshot.pde.replace(absorbing=pk.problems.PMLSpec(width=4)))


def test_total_variation_of_a_ramp_and_a_step():
    grid = pk.Grid((9, 11))
    x = grid.coordinates()
    ramp = fields.GridField(2.0 * x[0] - 3.0 * x[1], smoothness=0.5, regulariser="total-variation", epsilon=1e-3)
    # forward differences of a linear field are exact: |∇f| = sqrt(2² + 3²) on every cell
    assert ramp.regularisation(grid) == pytest.approx(0.5 * np.sqrt(13 + 1e-6), rel=1e-12)
    step = fields.GridField(jnp.where(x[0] > 0.5, 1.0, 0.0), smoothness=1.0, regulariser="total-variation", epsilon=1e-9)
    # one jump of 1 across a row of cells: TV = (jump / h) times the fraction of cells it crosses
    h = grid.spacing[0]
    assert step.regularisation(grid) == pytest.approx((1 / h) * (1 / 8), rel=1e-6)
    flat = fields.GridField(jnp.full(grid.shape, 0.3), smoothness=1.0, regulariser="total-variation")
    gradient = jax.grad(lambda f: f.regularisation(grid))(flat).values
    assert np.all(np.isfinite(gradient)) and np.allclose(gradient, 0.0)
    with pytest.raises(ValueError, match="regulariser: expected one of"):
        fields.GridField(x[0], regulariser="l1")
    with pytest.raises(ValueError, match="epsilon"):
        fields.GridField(x[0], regulariser="total-variation", epsilon=0.0)


@pytest.fixture(scope="module")
def tiny_run(tiny):
    problem, dataset, _ = tiny
    return train.fit(problem, dataset)  # in memory


def test_fwi_training_lowers_the_misfit_and_the_field_error(tiny_run):
    """Sobolev-preconditioned L-BFGS: the traces of the training shots and of the held-out
    one move towards the data, and the field towards the true one (measured, evaluated at
    epochs 2 and 4: held-out misfit 0.52 to 0.27, field error 9.1 % to 7.8 %)."""
    history = tiny_run.metrics["history"]
    losses = [h["train_loss"] for h in history]
    assert losses[-1] < 0.1 * losses[0]
    evaluated = [h for h in history if "parameter_relative_l2" in h]
    assert evaluated[-1]["test_loss"] < 0.8 * evaluated[0]["test_loss"]
    assert evaluated[-1]["parameter_relative_l2"] < 0.9 * evaluated[0]["parameter_relative_l2"]


def test_fwi_training_resumes_bit_exactly(tiny, tiny_run, tmp_path):
    problem, dataset, _ = tiny
    losses = [h["train_loss"] for h in tiny_run.metrics["history"]]

    def ctrl_c_at_epoch_2(epoch, loss):
        if epoch == 2:
            raise KeyboardInterrupt

    with pytest.raises(train.TrainingInterrupted):
        train.fit(problem, dataset, out=tmp_path / "part", callback=ctrl_c_at_epoch_2)
    resumed = train.fit(problem, dataset, out=tmp_path / "part", resume=True)
    assert [h["train_loss"] for h in resumed.metrics["history"]] == losses
    learned = jax.tree.leaves(resumed.model)[0]
    assert np.array_equal(np.asarray(learned), np.asarray(jax.tree.leaves(tiny_run.model)[0]))
    figure = (tmp_path / "part" / "coefficient.png").read_bytes()
    assert figure.startswith(b"\x89PNG")


@pytest.mark.slow  # a subprocess with two host devices (~1 min); the snapshot problem's is the default
def test_fwi_training_on_two_devices_equals_one(tiny, tmp_path):
    _, _, folder = tiny
    script = Path(__file__).with_name("_two_devices.py")
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2", "JAX_PLATFORMS": "cpu"}
    completed = subprocess.run(
        [sys.executable, str(script), str(folder / "tiny-fwi.toml"), str(tmp_path)],
        env=env, capture_output=True, text=True, timeout=600,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    assert result["devices_seen"] == 2 and result["cli"]["devices"] == 2
    assert result["cli"]["padded_pairs"] == {"train": 0, "test": 1}
    for key in ("train_loss", "test_loss", "parameter_rmse"):
        assert result["cli"][key] == pytest.approx(result["one"][key], rel=1e-5), key
    assert result["max_relative_difference"] <= 1e-5
