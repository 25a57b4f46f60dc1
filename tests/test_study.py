"""The work-precision study: errors shrink with work, the reference is checked, files are written."""

import csv
import json
import subprocess
import sys

import jax
import numpy as np
import pytest

import pdekrylov as pk
from pdekrylov import study
from pdekrylov.problems import load_problem

TINY = """
name = "tiny-study"
[grid]
shape = [10, 10]
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
length_scale = 0.3
variance = 1.0
[time]
t1 = 1.0
[reference]
solver = "dopri8"
steps = 40
[dataset]
size = 4
[observation]
"""
#: the default suite checks a Krylov and a Diffrax family; the slow test checks every solver
SOLVERS = ("arnoldi", "lanczos", "dopri5+backsolve")
ALL_SOLVERS = study.DEFAULT_SOLVERS


@pytest.fixture(scope="module")
def tiny_wave(tmp_path_factory):
    path = tmp_path_factory.mktemp("study") / "tiny-wave.toml"
    path.write_text(TINY.format(kind="wave", scale=0.1))
    return load_problem(path)


def run_study(problem, solvers, levels):
    # exact references at low compile cost: full-depth Arnoldi (N = 200), checked at depth 150
    reference, check = study.reference_solvers("arnoldi", 200)
    return study.workprecision(problem, solvers, levels, repeats=1, reference=reference, check=check)


@pytest.fixture(scope="module")
def wave_study(tiny_wave):
    return run_study(tiny_wave, SOLVERS, (2, 24))


def check_errors_shrink(result, solvers, levels):
    assert not result.skipped
    for solver in solvers:
        rows = [row for row in result.rows if row.solver == solver]
        assert [row.level for row in rows] == list(levels), solver
        for error in ("value_error", "gradient_error"):
            errors = [getattr(row, error) for row in rows]
            assert errors[-1] < errors[0], (solver, error, errors)
        assert all(row.seconds > 0 and row.matvecs >= row.level for row in rows)


def test_errors_shrink_as_the_level_grows(wave_study):
    check_errors_shrink(wave_study, SOLVERS, (2, 24))
    deep = [row for row in wave_study.rows if row.solver == "arnoldi" and row.level == 24][0]
    assert deep.gradient_error < 1e-8  # the Krylov adjoint converges to the exact gradient


@pytest.mark.slow
def test_errors_shrink_as_the_level_grows_for_every_solver(tiny_wave):
    levels = (2, 8, 24)
    result = run_study(tiny_wave, ALL_SOLVERS, levels)
    check_errors_shrink(result, ALL_SOLVERS, levels)


def test_reference_agrees_with_its_check(wave_study):
    assert wave_study.reference["value_gap"] < 1e-12 and wave_study.reference["gradient_gap"] < 1e-10


def test_a_coarse_reference_is_caught(tiny_wave):
    coarse, coarser = pk.Arnoldi(4), pk.Arnoldi(3)
    with pytest.warns(UserWarning, match="cannot confirm"):
        result = study.workprecision(tiny_wave, ["arnoldi"], (24,), repeats=1, reference=coarse, check=coarser)
    deep = [row for row in result.rows if row.level == 24][0]
    assert not deep.resolved  # its error only measures the reference's own error


def test_lanczos_is_skipped_where_it_does_not_apply(tmp_path):
    path = tmp_path / "adv.toml"
    path.write_text(TINY.format(kind="advection-diffusion", scale=0.01).replace('boundary = "neumann"', 'boundary = "periodic"\nvelocity = [0.2, 0.1]'))
    with pytest.warns(UserWarning):
        result = study.workprecision(
            load_problem(path), ["lanczos", "arnoldi"], (30,), repeats=1, reference=pk.Arnoldi(100), check=pk.Arnoldi(90)
        )
    assert "lanczos" in result.skipped and [row.solver for row in result.rows] == ["arnoldi"]


def test_bad_arguments(tiny_wave):
    with pytest.raises(ValueError, match="unknown solver"):
        study.workprecision(tiny_wave, ["rk4"], (2,))
    with pytest.raises(ValueError, match="levels"):
        study.workprecision(tiny_wave, ["arnoldi"], (0, 2))
    with pytest.raises(ValueError, match="repeats"):
        study.workprecision(tiny_wave, ["arnoldi"], (2,), repeats=0)


def test_the_data_point_shares_the_datasets_true_field(tiny_wave):
    key = jax.random.PRNGKey(3)
    coefficient, y0, w = study.data_point(tiny_wave, key)
    dataset = pk.data.generate(tiny_wave, 2, key)
    np.testing.assert_array_equal(coefficient, dataset.coefficient)
    assert y0.shape == w.shape == (2, 10, 10) and 0 <= w.min() and w.max() < 1
    assert bool((study.data_point(tiny_wave, key, "ones")[2] == 1).all())
    with pytest.raises(ValueError, match="weights"):
        study.data_point(tiny_wave, key, "sobol")


def test_cli_writes_csv_and_figure(tiny_wave, tmp_path):
    out = tmp_path / "wp"
    command = [sys.executable, "-m", "pdekrylov", "workprecision", tiny_wave.path, "--solvers",
               "arnoldi", "--levels", "2,8", "--x64", "--repeats", "1",
               "--reference", "arnoldi", "--reference-level", "200", "--out", str(out)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    with open(out / "workprecision.csv") as file:
        rows = list(csv.DictReader(file))  # a plain table: no comment line, no row of Nones
    assert [(r["solver"], r["level"]) for r in rows] == [("arnoldi", "2"), ("arnoldi", "8")]
    assert set(study.COLUMNS) <= set(rows[0]) and float(rows[1]["gradient_error"]) < float(rows[0]["gradient_error"])
    metadata = json.loads((out / "workprecision.json").read_text())
    assert metadata["reference"]["message"].startswith("reference ") and "cores" in metadata["machine"]
    assert "\r" not in result.stderr  # no progress bar off a terminal
    assert (out / "workprecision.png").read_bytes().startswith(b"\x89PNG")
    again = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert again.returncode == 2 and "--force" in again.stderr and len(again.stderr.strip().splitlines()) == 1
    bad = subprocess.run(command[:-2] + ["--levels", "x", "--out", str(tmp_path / "b")], capture_output=True, text=True, timeout=600)
    assert bad.returncode == 2 and "--levels" in bad.stderr
