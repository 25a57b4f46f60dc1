"""Vertex grids on axis-aligned boxes."""

import math
from collections.abc import Sequence

import equinox as eqx
import jax.numpy as jnp


class Grid(eqx.Module):
    """A vertex grid on the box `[lower_0, upper_0] x ... x [lower_{d-1}, upper_{d-1}]`.

    Axis `i` holds the points `linspace(lower[i], upper[i], shape[i])`, so both ends of
    every axis are grid points and the spacing is `(upper[i] - lower[i]) / (shape[i] - 1)`.

    **Arguments:**

    - `shape`: number of points per axis, each at least 3 (a stencil needs an interior).
    - `lower`: the lower corner, one float per axis (default all zeros).
    - `upper`: the upper corner, one float per axis (default all ones).
    """

    shape: tuple[int, ...] = eqx.field(static=True)
    lower: tuple[float, ...] = eqx.field(static=True)
    upper: tuple[float, ...] = eqx.field(static=True)

    def __init__(
        self,
        shape: Sequence[int],
        lower: Sequence[float] | None = None,
        upper: Sequence[float] | None = None,
    ):
        shape = _as_tuple("shape", shape, int)
        if len(shape) == 0:
            raise ValueError("shape: expected at least one axis, got ()")
        for axis, n in enumerate(shape):
            if n < 3:
                raise ValueError(
                    f"shape: expected at least 3 points on every axis, "
                    f"got {n} on axis {axis}"
                )
        d = len(shape)
        lower = (0.0,) * d if lower is None else _as_tuple("lower", lower, float)
        upper = (1.0,) * d if upper is None else _as_tuple("upper", upper, float)
        for name, corner in (("lower", lower), ("upper", upper)):
            if len(corner) != d:
                raise ValueError(
                    f"{name}: expected {d} values (one per axis of shape {shape}), "
                    f"got {len(corner)}"
                )
        for axis, (lo, hi) in enumerate(zip(lower, upper)):
            if not hi > lo:
                raise ValueError(
                    f"upper: expected upper > lower on every axis, "
                    f"got lower={lo}, upper={hi} on axis {axis}"
                )
        self.shape, self.lower, self.upper = shape, lower, upper

    @property
    def ndim(self) -> int:
        """The number of spatial dimensions d."""
        return len(self.shape)

    @property
    def size(self) -> int:
        """The number of grid points."""
        n = 1
        for s in self.shape:
            n *= s
        return n

    @property
    def spacing(self) -> tuple[float, ...]:
        """The grid spacing along each axis."""
        return tuple(
            (hi - lo) / (n - 1) for n, lo, hi in zip(self.shape, self.lower, self.upper)
        )

    def axes(self, dtype=None) -> tuple:
        """The 1D point coordinates of each axis.

        **Returns:** a tuple of d arrays, axis `i` of shape `(shape[i],)`.
        """
        return tuple(
            jnp.linspace(lo, hi, n, dtype=dtype)
            for n, lo, hi in zip(self.shape, self.lower, self.upper)
        )

    def coordinates(self, dtype=None):
        """The coordinates of every grid point.

        **Arguments:**

        - `dtype`: floating dtype of the result (default: JAX's default float).

        **Returns:** an array of shape `(d, *shape)`; entry `[i, j_0, ..., j_{d-1}]` is the
        i-th coordinate of point `(j_0, ..., j_{d-1})`.
        """
        return jnp.stack(jnp.meshgrid(*self.axes(dtype), indexing="ij"))


def _as_tuple(name, values, kind):
    try:
        items = tuple(values)
    except TypeError:
        raise TypeError(
            f"{name}: expected a sequence of {kind.__name__}s, got {values!r}"
        ) from None
    out = []
    for v in items:
        if isinstance(v, bool) or not isinstance(v, (int, float) if kind is float else int):
            try:  # numpy scalars and 0-d arrays
                import numpy as np

                arr = np.asarray(v)
                ok = arr.ndim == 0 and (
                    np.issubdtype(arr.dtype, np.integer)
                    or (kind is float and np.issubdtype(arr.dtype, np.floating))
                )
            except Exception:
                ok = False
            if not ok:
                raise TypeError(
                    f"{name}: expected a sequence of {kind.__name__}s, got {values!r}"
                )
            v = arr.item()
        if kind is float and not math.isfinite(v):
            raise ValueError(f"{name}: expected finite numbers, got {values!r}")
        out.append(kind(v))
    return tuple(out)
