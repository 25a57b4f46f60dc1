"""PDE datasets: generate them from a problem, store them safely, load and validate.

A dataset is a set of pairs (initial state, observed states at the observation times)
for one fixed true coefficient field, plus everything needed to check it: the times,
the grid, the sensor mask, and, when noise is configured, the noise-free targets.
"""

import datetime
import hashlib
import json
from pathlib import Path
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from . import _io
from ._grid import Grid
from ._versions import package_versions
from .problems import PDES, Problem, SampleKeys, load_problem, problem_from_dict

DATASET_FILE, METADATA_FILE, SAMPLES_FILE = "dataset.npz", "metadata.json", "samples.png"


class Dataset(NamedTuple):
    """A loaded or generated dataset.

    - `inputs`: initial states, `(M, *state_shape)`.
    - `targets`: observed states, `(M, T, *state_shape)` (noisy if noise is configured).
    - `coefficient`: the true coefficient field on the grid.
    - `times`: the observation times `(T,)`.
    - `grid`: the `pdekrylov.Grid`.
    - `metadata`: dict (problem as resolved, seed, versions, checksum, `num_test`).
    - `mask`: boolean sensor mask of `state_shape`, or None (everything observed).
    - `clean_targets`: noise-free targets, or None when there is no noise.
    - `wavefields`: for a problem with sources and `receivers.wavefield_times`, each
      shot's wavefield u at those times `(M, W, *grid.shape)`; else None.

    A problem with sources and receivers (`problem.sources`) makes trace datasets: the
    inputs are the shots' source positions `(M, 1, d)` and the targets the traces
    `(M, T, R)` (from rest).
    """

    inputs: np.ndarray
    targets: np.ndarray
    coefficient: np.ndarray
    times: np.ndarray
    grid: Grid
    metadata: dict
    mask: np.ndarray | None = None
    clean_targets: np.ndarray | None = None
    wavefields: np.ndarray | None = None

    @property
    def num_test(self) -> int:
        """The first `num_test` pairs are the test set (as in the paper), the rest train."""
        return int(self.metadata["num_test"])

    def astype(self, dtype) -> "Dataset":
        """The dataset with its floating arrays in `dtype` (the mask stays boolean); e.g. a
        float32 dataset for a float64 run. The metadata (and checksum) are the stored ones.

        **Arguments:**

        - `dtype`: a floating dtype, e.g. `"float64"`.

        **Returns:** a new `Dataset`.
        """
        dtype = np.dtype(dtype)
        if not np.issubdtype(dtype, np.floating):
            raise TypeError(f"dtype: expected a floating dtype, got {dtype}")
        names = ("inputs", "targets", "coefficient", "times", "clean_targets", "wavefields")
        return self._replace(**{
            name: getattr(self, name).astype(dtype) for name in names if getattr(self, name) is not None
        })


def generate(problem, num: int, key, *, progress: bool = False) -> Dataset:
    """Generate a dataset: the true coefficient, initial states and their observations.

    **Arguments:**

    - `problem`: a `Problem`, or a problem name / path.
    - `num`: the number of pairs (>= 1).
    - `key`: a JAX PRNG key; everything random derives from it.
    - `progress`: show a progress bar over the batches of reference solves.

    **Returns:** a `Dataset` (numpy arrays, float64 if x64 is enabled, else float32).
    """
    if not isinstance(problem, Problem):
        problem = load_problem(problem)
    if isinstance(num, bool) or not isinstance(num, (int, np.integer)) or num < 1:
        raise ValueError(f"num: expected a positive number of samples, got {num!r}")
    keys = SampleKeys.split(key)
    coefficient = problem.sample_coefficient(keys.coefficient)
    operator = problem.operator(coefficient)
    inputs = problem.sample_inputs(keys.initial, num)
    times = list(problem.time.observation_times)
    solver = problem.reference.make_solver()
    clean = _solve_batches(problem, lambda x: problem.solve_pair(operator, x, solver).ys, inputs, progress)
    wavefields = None
    if problem.receivers is not None and problem.receivers.wavefield_times is not None:
        wavefields = _solve_batches(problem, lambda x: problem.wavefields(operator, x, solver), inputs, False)
    noise_std = problem.observation.noise_std
    targets = clean
    if noise_std > 0:
        targets = clean + noise_std * np.asarray(jax.random.normal(keys.noise, clean.shape, clean.dtype))
    mask = problem.sensor_mask(keys.mask)
    metadata = {
        "problem": problem.as_dict(),
        "num": int(num),
        "num_test": int(round(problem.dataset.test_fraction * num)),
        "dtype": str(clean.dtype),
    }
    return Dataset(
        inputs=np.asarray(inputs),
        targets=targets,
        coefficient=np.asarray(coefficient),
        times=np.asarray(times, dtype=clean.dtype),
        grid=problem.grid,
        metadata=metadata,
        mask=mask,
        clean_targets=clean if noise_std > 0 else None,
        wavefields=wavefields,
    )


def _solve_batches(problem, solve_one, inputs, progress):
    """`solve_one` of every input, in vmapped batches of `reference.batch` (the last one
    padded by repeating its first input), as one numpy array."""
    batch = problem.reference.batch
    solve_batch = jax.jit(jax.vmap(solve_one))
    chunks = []
    starts = range(0, len(inputs), batch)
    starts = _io.progress_bar(starts, enabled=progress, desc="reference solves", unit="batch")
    for start in starts:
        chunk = inputs[start : start + batch]
        filler = jnp.broadcast_to(chunk[:1], (batch - len(chunk), *chunk.shape[1:]))  # a valid input
        chunks.append(np.asarray(solve_batch(jnp.concatenate([chunk, filler])))[: len(chunk)])
    return np.concatenate(chunks)


def save(dataset: Dataset, out, *, seed=None, force: bool = False) -> Path:
    """Write `dataset.npz`, `metadata.json` and `samples.png` into the folder `out`.

    Everything is written into a temporary sibling folder first and renamed into place,
    so an interrupted run leaves no partial dataset. An existing `out` is replaced only
    with `force=True` (and only after the new dataset is complete).

    **Returns:** the path of the folder.
    """
    out = Path(out)
    with _io.atomic_folder(out, force=force) as tmp:
        arrays = {
            "inputs": dataset.inputs,
            "targets": dataset.targets,
            "coefficient": dataset.coefficient,
            "times": dataset.times,
        }
        if dataset.mask is not None:
            arrays["mask"] = dataset.mask
        if dataset.clean_targets is not None:
            arrays["clean_targets"] = dataset.clean_targets
        if dataset.wavefields is not None:
            arrays["wavefields"] = dataset.wavefields
        np.savez(tmp / DATASET_FILE, **arrays)
        metadata = {
            **dataset.metadata,
            "seed": seed,
            "versions": package_versions(),
            "created": datetime.datetime.now(datetime.timezone.utc).isoformat(),
            "sha256": _sha256(tmp / DATASET_FILE),
        }
        (tmp / METADATA_FILE).write_text(json.dumps(metadata, indent=2))
        _io.save_figure(_samples_figure(dataset), tmp / SAMPLES_FILE)
    return out


class DatasetError(ValueError):
    """A dataset folder that is missing, incomplete, corrupt or inconsistent."""


def load(folder) -> Dataset:
    """Load a dataset folder and validate it.

    Checks: both files present, the npz's sha256 against the metadata, array shapes
    against the grid, PDE and times, floating dtypes, and finiteness.

    **Arguments:**

    - `folder`: the dataset folder (from `save` or `pdekrylov generate`); its
      `dataset.npz` is understood as the folder holding it.

    **Returns:** the `Dataset`.

    **Raises:** `DatasetError` (a `ValueError`) saying what is wrong.
    """
    folder = Path(folder)
    if folder.is_file() and folder.name == DATASET_FILE:  # the npz inside the folder
        folder = folder.parent
    elif folder.is_file():
        raise DatasetError(
            f"{folder}: a file; a dataset is the folder written by `pdekrylov generate` "
            f"(holding {DATASET_FILE} and {METADATA_FILE})"
        )
    for name in (DATASET_FILE, METADATA_FILE):
        if not (folder / name).is_file():
            raise DatasetError(f"{folder}: missing {name} (not a pdekrylov dataset folder?)")
    try:
        metadata = json.loads((folder / METADATA_FILE).read_text())
    except json.JSONDecodeError as error:
        raise DatasetError(f"{folder / METADATA_FILE}: not valid JSON: {error}") from None
    if _sha256(folder / DATASET_FILE) != metadata.get("sha256"):
        raise DatasetError(f"{folder / DATASET_FILE}: checksum does not match metadata.json")
    problem = problem_from_dict(metadata["problem"], where=str(folder / METADATA_FILE))
    with np.load(folder / DATASET_FILE) as npz:
        arrays = {name: npz[name] for name in npz.files}
    shape = problem.state_shape
    num, times = metadata["num"], arrays.get("times")
    expected = {
        "inputs": (num, *problem.input_shape),
        "targets": (num, len(problem.time.observation_times), *problem.observed_shape),
        "coefficient": problem.grid.shape,
        "times": (len(problem.time.observation_times),),
    }
    if "clean_targets" in arrays:
        expected["clean_targets"] = expected["targets"]
    if "mask" in arrays:
        expected["mask"] = shape
    if "wavefields" in arrays:
        expected["wavefields"] = (num, len(problem.receivers.wavefield_times or ()), *problem.grid.shape)
    for name, want in expected.items():
        if name not in arrays:
            raise DatasetError(f"{folder / DATASET_FILE}: missing array {name!r}")
        array = arrays[name]
        if array.shape != want:
            raise DatasetError(f"{folder / DATASET_FILE}: {name} has shape {array.shape}, expected {want}")
        if name != "mask":
            if not np.issubdtype(array.dtype, np.floating):
                raise DatasetError(f"{folder / DATASET_FILE}: {name} has dtype {array.dtype}, expected floating")
            if not np.all(np.isfinite(array)):
                raise DatasetError(f"{folder / DATASET_FILE}: {name} contains NaN or Inf")
    if not np.allclose(times, problem.time.observation_times):
        raise DatasetError(f"{folder / DATASET_FILE}: times do not match the problem's observation times")
    return Dataset(
        inputs=arrays["inputs"],
        targets=arrays["targets"],
        coefficient=arrays["coefficient"],
        times=times,
        grid=problem.grid,
        metadata=metadata,
        mask=arrays.get("mask"),
        clean_targets=arrays.get("clean_targets"),
        wavefields=arrays.get("wavefields"),
    )


def _sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _samples_figure(dataset: Dataset, count: int = 3):
    """The true field, inputs and last targets (first state component) of a few pairs,
    and the sensor mask where not everything is observed."""
    from . import plot  # matplotlib only when a figure is made, not on `import pdekrylov`

    grid = dataset.grid
    if dataset.targets.ndim == 3:  # traces (shots, times, receivers)
        return plot.traces_figure(dataset, count)
    if grid.ndim != 2:
        return plot.line_figure(dataset.coefficient, "true coefficient (flattened)")
    first = (lambda y: y[0]) if dataset.inputs.ndim == 4 else (lambda y: y)
    symbol = PDES[dataset.metadata["problem"]["pde"]["kind"]].coefficient_symbol  # no need to rebuild the problem
    fields, titles = [np.asarray(dataset.coefficient)], [f"true coefficient {symbol}"]
    for i in range(min(count, len(dataset.inputs))):
        fields += [first(dataset.inputs[i]), first(dataset.targets[i, -1])]
        titles += [f"pair {i}: input", f"pair {i}: t={float(dataset.times[-1]):g}"]
    states = tuple(range(1, len(fields)))
    if dataset.mask is not None and not np.all(dataset.mask):
        mask = first(np.asarray(dataset.mask))
        fields.append(mask.astype(float))
        titles.append(f"sensor mask ({int(mask.sum())} of {mask.size} nodes)")
    return plot.field_panels(fields, titles, grid, suptitle="dataset samples", diverging=states)
