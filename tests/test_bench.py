"""`pdekrylov bench`: the sparse matrix it compares SciPy on, its machinery at tiny sizes,
and the command line's refusal to overwrite a result."""

import csv
import json
import math
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg

import pdekrylov as pk
from pdekrylov.study import bench

#: tiny sizes: the machinery runs, compiles dominate (the numbers mean nothing)
TINY = {"size": 12, "depth": 8, "scaling_sizes": (8, 12), "scaling_depth": 4, "repeats": 1}


@pytest.mark.parametrize("boundary", ["neumann", "dirichlet", "periodic"])
@pytest.mark.parametrize("shape", [(5, 7), (4, 3, 5)])
def test_sparse_matrix_scipy_is_timed_on_is_the_operator(boundary, shape):
    """`op.as_sparse_matrix()`, what expm_multiply gets, applied to a vector is `op(y)`."""
    grid = pk.Grid(shape)
    rng = np.random.default_rng(0)  # not jax.random: it compiles per shape (seconds)
    op = pk.WaveOperator(grid, jnp.asarray(0.5 + rng.uniform(size=shape)), boundary)
    y = jnp.asarray(rng.standard_normal(op.state_shape))
    matrix = op.as_sparse_matrix()
    expected = np.asarray(jax.jit(lambda op, y: op(y))(op, y)).ravel()  # jit: 1 compile, not 20
    assert matrix.shape == (y.size, y.size)
    assert np.max(np.abs(matrix @ np.asarray(y).ravel() - expected)) <= 1e-12 * np.max(np.abs(expected))


def test_nested_errors_match_separate_decompositions():
    problem = bench.wave_problem(6)
    dense = np.asarray(problem.op.as_matrix())
    reference = scipy.linalg.expm(0.5 * dense) @ np.asarray(problem.y0).ravel()
    errors = bench.nested_errors(problem, [0.5], [reference], 10)
    # a separate depth-3 decomposition, its small exponential taken by SciPy
    decomposition = pk.arnoldi(lambda y, op: op(y), problem.y0, 3, problem.op)
    small = scipy.linalg.expm(0.5 * np.asarray(decomposition.hessenberg))[:, 0]
    separate = float(decomposition.norm) * np.asarray(decomposition.basis) @ small
    assert math.isclose(errors[0, 2], pk.study.relative_error(separate, reference), rel_tol=1e-6)
    assert errors[0, -1] < 1e-10 < errors[0, 2]


@pytest.fixture(scope="module")
def tiny_rows():
    return bench.run_bench(measurements=("adjoint", "expm", "scaling"), **TINY)


def test_tiny_run_gives_rows_with_positive_times(tiny_rows):
    measurements = [row.measurement for row in tiny_rows]
    assert measurements[:2] == ["adjoint / forward cost", "vs matfree"]
    assert sum(m.startswith("exp(tA)v vs scipy") for m in measurements) == 2
    assert sum(m.startswith("scaling") for m in measurements) == 4  # time and memory, 2 grids
    for row in tiny_rows:
        assert isinstance(row, bench.BenchRow) and tuple(row.as_csv()) == bench.COLUMNS
        assert row.status in ("met", "not met", "info")
        for column in ("ours_seconds", "peer_seconds", "ours_bytes", "peer_bytes", "ratio"):
            value = getattr(row, column)
            if value is not None:
                assert math.isfinite(value) and value > 0, (row.measurement, column)
    assert tiny_rows[0].ours_seconds > 0 and tiny_rows[0].peer_seconds > 0
    scaling = [row for row in tiny_rows if row.measurement.startswith("scaling")]
    assert scaling[0].ratio == 1.0  # the smallest grid is the baseline


def test_table_and_csv(tiny_rows, tmp_path):
    text = bench.format_bench(tiny_rows)
    assert "| adjoint / forward cost |" in text and "Settings:" in text
    path = bench.save_bench(tiny_rows, tmp_path, machine="test machine")
    with open(path) as file:
        rows = list(csv.DictReader(file))  # a plain table: no comment line, no row of Nones
    assert [row["measurement"] for row in rows] == [row.measurement for row in tiny_rows]
    metadata = json.loads(path.with_suffix(".json").read_text())
    assert metadata["machine"] == "test machine" and "jax" in metadata["versions"]
    with pytest.raises(FileExistsError):
        bench.save_bench(tiny_rows, tmp_path)
    bench.save_bench(tiny_rows[:1], tmp_path, force=True)
    assert not list(tmp_path.glob(".*.tmp"))


@pytest.mark.parametrize(
    "arguments, match",
    [({"repeats": 0}, "repeats"), ({"measurements": ("nope",)}, "measurements")],
)
def test_run_bench_rejects_bad_arguments(arguments, match):
    with pytest.raises(ValueError, match=match):
        bench.run_bench(**arguments)


def test_machine_info_names_the_machine():
    info = pk.study.machine_info()
    assert "jax " in info and "cores" in info and "backend " in info


def run_cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "pdekrylov", *args], check=False, capture_output=True, text=True, timeout=600,
    )


def test_cli_refuses_an_existing_csv(tmp_path):
    csv_path = tmp_path / "bench.csv"
    csv_path.write_text("keep me\n")
    result = run_cli("bench", "--out", str(tmp_path))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and "--force" in lines[0]
    assert csv_path.read_text() == "keep me\n"


def test_cli_rejects_bad_repeats(tmp_path):
    result = run_cli("bench", "--out", str(tmp_path), "--repeats", "0")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and "--repeats" in lines[0]


@pytest.mark.slow
def test_solve_rows_at_a_tiny_size():
    rows = bench.run_bench(measurements=("solve",), **TINY)
    assert len(rows) == 4
    for row in rows:
        assert row.ours_seconds > 0, row
    krylov = [row for row in rows if row.peer]
    assert len(krylov) == 2 and all(row.ratio > 0 for row in krylov)


def test_solve_row_compares_krylov_with_the_best_diffrax():
    """The `solve` rows from hand-made work-precision rows (the measurement itself is slow)."""
    families = {family.label: family for family in bench.solve_families()}
    lanczos, dopri5 = families["Lanczos"], families["Diffrax Dopri5 + backsolve"]

    def row(label, level, seconds):
        return pk.study.WorkPrecisionRow(
            solver=label, level=level, matvecs=10 * level, seconds=seconds, value_error=1e-9,
            gradient_error=1e-7, resolved=True, value=1.0,
        )

    ours, theirs = row("Lanczos", 2, 0.01), row(dopri5.label, 1, 0.04)
    result = bench._solve._solve_row(lanczos, ours, (dopri5, theirs), [ours, theirs], "setting")
    assert result.ratio == 0.25 and result.status == "met"
    assert result.ours == f"Lanczos {lanczos.describe(lanczos.sizes[1])}" and "20 forward matvecs" in result.note
    missed = bench._solve._solve_row(lanczos, None, (dopri5, theirs), [theirs], "setting")
    assert missed.ratio is None and missed.status == "info" and "no size reached it" in missed.note
