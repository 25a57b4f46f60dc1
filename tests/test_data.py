"""Problem files, dataset generation, safe storage and validated loading."""

import json
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import pdekrylov as pk
from pdekrylov import data
from pdekrylov.problems import PROBLEMS_DIR, ProblemError, load_problem

TINY_WAVE = """
name = "tiny-wave"
[grid]
shape = [12, 10]
upper = [1.0, 0.8]
[pde]
kind = "wave"
boundary = "neumann"
[coefficient]
kind = "grf"
kernel = "rbf"
length_scale = 0.3
variance = 0.01
transform = "abs"
offset = 0.2
[initial]
kind = "grf"
kernel = "rbf"
length_scale = 0.2
variance = 1.0
[time]
t1 = 1.0
observation_times = [0.5, 1.0]
[reference]
solver = "dopri8"
steps = 60
batch = 3
[observation]
noise_std = 0.05
mask = "random"
fraction = 0.5
[dataset]
size = 5
"""


@pytest.fixture
def tiny_problem(tmp_path):
    path = tmp_path / "tiny-wave.toml"
    path.write_text(TINY_WAVE)
    return load_problem(path)


def test_shipped_problems_load():
    names = sorted(p.stem for p in PROBLEMS_DIR.glob("*.toml"))
    assert {"wave-paper", "wave-small", "diffusion-small", "advection-diffusion-small"} <= set(names)
    for name in names:
        assert load_problem(name).name == name


def test_targets_match_an_independent_solver(tiny_problem):
    """Physics check: stored targets = a deep Arnoldi solve of the stored inputs."""
    dataset = data.generate(tiny_problem, 5, jax.random.PRNGKey(0))
    assert dataset.inputs.shape == (5, 2, 12, 10)
    assert dataset.targets.shape == (5, 2, 2, 12, 10)
    operator = tiny_problem.operator(jnp.asarray(dataset.coefficient))
    check = jax.jit(
        jax.vmap(lambda y0: pk.solve(operator, y0, 1.0, pk.Arnoldi(60, substeps=2), saveat=[0.5, 1.0]).ys)
    )(jnp.asarray(dataset.inputs))
    clean = dataset.clean_targets
    assert np.linalg.norm(check - clean) <= 1e-8 * np.linalg.norm(clean)


def test_noise_and_mask(tiny_problem):
    dataset = data.generate(tiny_problem, 5, jax.random.PRNGKey(1))
    noise = dataset.targets - dataset.clean_targets
    assert abs(noise.std() - 0.05) < 0.005 and abs(noise.mean()) < 0.005
    assert dataset.mask.shape == (2, 12, 10) and dataset.mask.dtype == bool
    assert 0.35 < dataset.mask.mean() < 0.65
    np.testing.assert_array_equal(dataset.mask[0], dataset.mask[1])  # sensors per node


def test_reproducible_from_key(tiny_problem):
    a = data.generate(tiny_problem, 3, jax.random.PRNGKey(7))
    b = data.generate(tiny_problem, 3, jax.random.PRNGKey(7))
    np.testing.assert_array_equal(a.targets, b.targets)
    np.testing.assert_array_equal(a.coefficient, b.coefficient)


def test_save_load_roundtrip_and_checksum(tiny_problem, tmp_path):
    dataset = data.generate(tiny_problem, 4, jax.random.PRNGKey(2))
    out = data.save(dataset, tmp_path / "ds", seed=2)
    metadata = json.loads((out / "metadata.json").read_text())
    assert metadata["seed"] == 2 and len(metadata["sha256"]) == 64
    assert set(metadata["versions"]) >= {"pdekrylov", "jax", "diffrax"}
    assert (out / "samples.png").read_bytes().startswith(b"\x89PNG")
    loaded = data.load(out)
    np.testing.assert_array_equal(loaded.targets, dataset.targets)
    np.testing.assert_array_equal(loaded.clean_targets, dataset.clean_targets)
    np.testing.assert_array_equal(loaded.mask, dataset.mask)
    assert loaded.grid.shape == (12, 10) and loaded.num_test == 1

    with open(out / "dataset.npz", "r+b") as f:  # corrupt one byte
        f.seek(100)
        byte = f.read(1)
        f.seek(100)
        f.write(bytes([byte[0] ^ 0xFF]))
    with pytest.raises(data.DatasetError, match="checksum"):
        data.load(out)


def test_load_refuses_missing_and_non_finite(tiny_problem, tmp_path):
    with pytest.raises(data.DatasetError, match="missing dataset.npz"):
        data.load(tmp_path)
    dataset = data.generate(tiny_problem, 2, jax.random.PRNGKey(3))
    bad = dataset._replace(targets=dataset.targets.copy())
    bad.targets[0, 0, 0, 0, 0] = np.nan
    data.save(bad, tmp_path / "nan")
    with pytest.raises(data.DatasetError, match="NaN"):
        data.load(tmp_path / "nan")


def test_save_never_overwrites_without_force_and_failure_keeps_old(tiny_problem, tmp_path, monkeypatch):
    dataset = data.generate(tiny_problem, 2, jax.random.PRNGKey(4))
    out = data.save(dataset, tmp_path / "ds")
    before = (out / "dataset.npz").read_bytes()
    with pytest.raises(FileExistsError):
        data.save(dataset, out)

    def failing_savez(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", failing_savez)
    with pytest.raises(OSError, match="disk full"):
        data.save(dataset, out, force=True)
    assert (out / "dataset.npz").read_bytes() == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no leftovers


@pytest.mark.parametrize(
    "text, match",
    [
        ("[grid\nshape = 3", "not valid TOML"),
        (TINY_WAVE.replace('kind = "wave"', 'kind = "heat"'), r"pde.kind: expected one of"),
        (TINY_WAVE.replace("shape = [12, 10]", 'shape = [12, "x"]'), "grid.shape: expected a sequence of ints"),
        (TINY_WAVE.replace("shape = [12, 10]", "shape = [2, 10]"), r"grid.shape: expected at least 3 points"),
        (TINY_WAVE.replace("t1 = 1.0", "t1 = -1.0"), "time.t1: expected a positive number"),
        (TINY_WAVE.replace("[dataset]", "[dataset]\ncolour = 3"), "dataset.colour: unknown key"),
        (TINY_WAVE.replace("noise_std = 0.05", "noise_std = -1.0"), "observation.noise_std"),
        (TINY_WAVE.replace('[time]', '[time]\nobservation_times = [1.0, 0.5]').replace(
            "observation_times = [0.5, 1.0]", ""), "observation_times"),
        (TINY_WAVE.replace('boundary = "neumann"', 'boundary = "neumann"\nvelocity = [1.0, 1.0]'),
         "pde.velocity"),
        (TINY_WAVE.replace('kind = "wave"', 'kind = ["wave"]'), r"pde.kind: expected one of"),
        (TINY_WAVE.replace("upper = [1.0, 0.8]", "upper = [inf, 0.8]"), "grid.upper: expected finite"),
        (TINY_WAVE.replace('solver = "dopri8"', 'solver = "dopri8+backsolve"'), "reference.solver: .*no adjoint"),
        ('path = "x.toml"\n' + TINY_WAVE, "path: unknown key"),
    ],
)
def test_problem_errors_name_file_and_key(tmp_path, text, match):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ProblemError, match=match) as info:
        load_problem(path)
    assert str(path) in str(info.value)


def test_problem_specs_build_the_objects(tiny_problem):
    problem = tiny_problem
    assert isinstance(problem.pde, pk.problems.WaveSpec) and isinstance(problem.coefficient, pk.problems.GRFSpec)
    assert isinstance(problem.training, pk.train.TrainConfig) and problem.training == pk.train.TrainConfig()
    assert problem.grid == pk.Grid((12, 10), upper=(1.0, 0.8)) and problem.state_shape == (2, 12, 10)
    operator = problem.operator(jnp.ones(problem.grid.shape))
    assert isinstance(operator, pk.WaveOperator) and operator.boundary == "neumann"
    solver = problem.reference.make_solver()
    assert isinstance(solver, pk.Diffrax) and solver.steps == 60
    assert problem.time.observation_times == (0.5, 1.0)
    field = problem.sample_coefficient(jax.random.PRNGKey(0))
    assert field.shape == (12, 10) and bool(jnp.all(field >= 0.2))  # abs(draw) + 0.2


def test_replace_validates_again(tiny_problem):
    smaller = tiny_problem.replace(grid=pk.Grid((8, 8)))
    assert smaller.state_shape == (2, 8, 8) and tiny_problem.state_shape == (2, 12, 10)
    with pytest.raises(ValueError, match="length_scale"):
        tiny_problem.coefficient.replace(length_scale=-1.0)
    with pytest.raises(ValueError, match="pde.velocity"):  # one velocity for a 2-D grid
        tiny_problem.replace(pde=pk.problems.AdvectionDiffusionSpec(velocity=(1.0,)))
    with pytest.raises(TypeError, match="grid"):
        tiny_problem.replace(grid={"shape": [8, 8]})
    with pytest.raises(ValueError, match="epochs"):
        tiny_problem.training.replace(epochs=0)
    with pytest.raises(ValueError, match="colour: not a training option"):
        tiny_problem.training.replace(colour="red")


def test_misspelt_key_gets_a_suggestion(tmp_path):
    path = tmp_path / "typo.toml"
    path.write_text(TINY_WAVE.replace("length_scale = 0.3", "lenght_scale = 0.3"))
    with pytest.raises(ProblemError, match="coefficient.lenght_scale: unknown key .did you mean 'length_scale'"):
        load_problem(path)


#: the problem of TINY_WAVE as version 0.1 stored it in metadata.json (a literal copy)
STORED_BY_0_1 = {
    "name": "tiny-wave", "path": "/somewhere/tiny-wave.toml",
    "grid": {"shape": [12, 10], "lower": [0.0, 0.0], "upper": [1.0, 0.8]},
    "pde": {"kind": "wave", "boundary": "neumann", "velocity": None},
    "coefficient": {"kind": "grf", "kernel": "rbf", "length_scale": 0.3, "variance": 0.01,
                    "transform": "abs", "scale": 1.0, "offset": 0.2},
    "initial": {"kind": "grf", "kernel": "rbf", "length_scale": 0.2, "variance": 1.0,
                "transform": "none", "scale": 1.0, "offset": 0.0},
    "time": {"t1": 1.0, "observation_times": [0.5, 1.0]},
    "reference": {"solver": "dopri8", "steps": 60, "batch": 3},
    "observation": {"noise_std": 0.05, "mask": "random", "fraction": 0.5},
    "dataset": {"size": 5, "test_fraction": 0.2},
    "training": {"model": "mlp", "hidden": [500, 500], "initial_value": 0.01, "smoothness": 0.0,
                 "optimizer": "adam", "learning_rate": 0.0002, "sobolev_length": 0.05, "epochs": 3000,
                 "solver": "arnoldi", "depth": 10, "steps": 3, "substeps": 1, "loss": "relative-mse",
                 "checkpoint_every": 50, "eval_every": 10},
}


def test_metadata_of_version_0_1_reads_back(tiny_problem):
    """0.1 stored unset fields as null, no training seed and no description: it still reads."""
    stored = pk.problems.problem_from_dict(STORED_BY_0_1, where="metadata.json")
    # 0.1's training defaults were a fixed depth 10 (now: tolerance mode)
    training = tiny_problem.training.replace(depth=10, substeps=1)
    assert stored == tiny_problem.replace(path="/somewhere/tiny-wave.toml", training=training)


def test_shipped_problems_found_from_any_folder(tmp_path):
    """Run from an unrelated folder, so an installed package finds its shipped problems."""
    code = "from pdekrylov.problems import load_problem; print(load_problem('wave-small').name)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "wave-small"


def test_missing_problem_lists_shipped():
    with pytest.raises(ProblemError, match="wave-small"):
        load_problem("no-such-problem")


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "pdekrylov", *args], capture_output=True, text=True)


def test_cli_generate_and_refusals(tmp_path):
    problem = tmp_path / "tiny.toml"
    problem.write_text(TINY_WAVE)
    out = tmp_path / "ds"
    result = run_cli("generate", str(problem), "--num", "3", "--seed", "5", "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert data.load(out).inputs.shape[0] == 3
    for args, match in [
        (("generate", str(problem), "--out", str(out)), "exists"),
        (("generate", str(problem), "--num", "0", "--out", str(tmp_path / "x")), "--num"),
        (("generate", str(tmp_path / "missing.toml"), "--out", str(tmp_path / "y")), "no such problem"),
    ]:
        result = run_cli(*args)
        lines = result.stderr.strip().splitlines()
        assert result.returncode == 2 and len(lines) == 1 and match in lines[0], result.stderr
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()


@pytest.mark.parametrize("name", ["wave-small", "diffusion-small", "advection-diffusion-small"])
def test_generate_every_small_shipped_problem(name, tmp_path):
    dataset = data.generate(name, 2, jax.random.PRNGKey(0))
    assert np.all(np.isfinite(dataset.targets))
    data.save(dataset, tmp_path / name)
    data.load(tmp_path / name)


@pytest.mark.slow
def test_generate_paper_problem(tmp_path):
    dataset = data.generate("wave-paper", 2, jax.random.PRNGKey(0))
    assert dataset.inputs.shape == (2, 2, 128, 128)
    assert np.abs(dataset.coefficient).max() < 0.05  # the paper's small speed field
