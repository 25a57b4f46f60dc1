"""Data parallelism for training: a device mesh, pairs sharded along the batch axis.

JAX's sharding does the work: the training pairs are global arrays sharded along their
first axis with a `NamedSharding`, the parameters are replicated, and XLA's SPMD
partitioner splits the vmapped solves over the devices and inserts the all-reduce of
the loss and gradient. The same code runs on one host (several GPUs, or forced CPU host
devices) and on several hosts after `jax.distributed.initialize()`: arrays are built
with `jax.make_array_from_callback`, so each process only places its own shards.
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec


def make_mesh(devices) -> Mesh | None:
    """The mesh that training shards its pairs over.

    **Arguments:**

    - `devices`: None (all devices of a multi-process run, else no sharding: the default
      device), an int N (the first N of `jax.devices()`, across all hosts), a sequence of
      `jax.Device`, or a `jax.sharding.Mesh` (pairs are sharded over all of its axes).

    **Returns:** a `Mesh`, or None for `devices=None`.

    **Raises:** `ValueError` / `TypeError` naming `devices`.
    """
    if devices is None and jax.process_count() > 1:
        devices = jax.device_count()  # every process's devices: one global mesh
    if devices is None or isinstance(devices, Mesh):
        return devices
    if isinstance(devices, bool):
        raise TypeError(f"devices: expected an int, a list of devices or a Mesh, got {devices!r}")
    available = jax.devices()
    if isinstance(devices, int):
        if devices < 1:
            raise ValueError(f"devices: expected a positive number of devices, got {devices}")
        if devices > len(available):
            hint = ""
            if available[0].platform == "cpu":
                hint = (
                    f"; on a CPU, set XLA_FLAGS=--xla_force_host_platform_device_count={devices} "
                    "before starting Python to split it into host devices"
                )
            raise ValueError(
                f"devices: asked for {devices}, but only {len(available)} "
                f"{available[0].platform} device(s) are available{hint}"
            )
        devices = available[:devices]
    try:
        devices = list(devices)
    except TypeError:
        raise TypeError(f"devices: expected an int, a list of devices or a Mesh, got {devices!r}") from None
    if not devices or not all(isinstance(d, jax.Device) for d in devices):
        raise TypeError(f"devices: expected a non-empty list of jax.Device, got {devices!r}")
    return Mesh(np.array(devices), ("batch",))


class Padding(NamedTuple):
    """How a split's pairs are laid out over the devices.

    - `pairs`: the real number of pairs.
    - `padded`: the number after padding to a multiple of the device count.
    """

    pairs: int
    padded: int

    @property
    def extra(self) -> int:
        return self.padded - self.pairs


def padding(pairs: int, mesh: Mesh | None) -> Padding:
    """Pad `pairs` up to a multiple of the mesh's device count (no padding without a mesh)."""
    count = 1 if mesh is None else mesh.devices.size
    return Padding(pairs, -(-pairs // count) * count)


def pad_pairs(array, layout: Padding):
    """`array` (pairs first) with `layout.extra` copies of its first pairs appended.

    Copies of real pairs rather than zeros keep every padded solve well-conditioned;
    their weight in the loss is zero (`pair_weights`), so the loss and its gradient are
    those of the real pairs.
    """
    if layout.extra == 0:
        return array
    return np.concatenate([array, array[np.arange(layout.extra) % layout.pairs]])


def pair_weights(layout: Padding, sensor_mask, target_ndim: int, dtype):
    """The loss mask of a padded split: the sensor mask times 1 for real pairs, 0 for copies.

    **Returns:** the sensor mask itself when nothing is padded, else an array that
    broadcasts against targets of `target_ndim` dimensions (pairs first).
    """
    if layout.extra == 0:
        return sensor_mask
    valid = (np.arange(layout.padded) < layout.pairs).astype(dtype)
    weights = valid.reshape((layout.padded,) + (1,) * (target_ndim - 1))
    if sensor_mask is not None:
        weights = weights * np.asarray(sensor_mask, dtype)
    return weights


def shard_pairs(array, mesh: Mesh | None):
    """Place `array` with its first axis sharded over all of the mesh's axes."""
    if mesh is None:
        return jnp.asarray(array)
    spec = PartitionSpec(tuple(mesh.axis_names), *([None] * (np.ndim(array) - 1)))
    return _global_array(array, NamedSharding(mesh, spec))


def replicate(tree, mesh: Mesh | None):
    """Place every array leaf of `tree` on all devices of the mesh (unchanged without a mesh)."""
    if mesh is None:
        return tree
    replicated = NamedSharding(mesh, PartitionSpec())
    return jax.tree.map(lambda x: _global_array(x, replicated) if isinstance(x, (jax.Array, np.ndarray)) else x, tree)


def synchronize_processes(name: str):
    """Wait until every process reaches this point (nothing to do in a single process)."""
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices(name)


def _global_array(array, sharding):
    # each process fills only the shards it holds: the multi-host path is the same call
    array = np.asarray(array)
    return jax.make_array_from_callback(array.shape, sharding, lambda index: array[index])
