"""Figures of fields and states on 2D grids."""

import numpy as np
from matplotlib.figure import Figure  # no pyplot: works with any backend, no display


def field_panels(fields, titles, grid, *, suptitle=None, cmap="viridis"):
    """Plot several 2D grid fields side by side, each with its own colour bar.

    **Arguments:**

    - `fields`: sequence of arrays of the (2D) grid's shape.
    - `titles`: one title per field.
    - `grid`: the `pdekrylov.Grid` they live on (for the axis extent).
    - `suptitle`: an optional figure title.

    **Returns:** the matplotlib figure.
    """
    if grid.ndim != 2:
        raise ValueError(f"grid: field_panels plots 2D grids, got {grid.ndim}D")
    extent = (grid.lower[1], grid.upper[1], grid.lower[0], grid.upper[0])
    fig = Figure(figsize=(3.6 * len(fields), 3.2))
    axes = fig.subplots(1, len(fields), squeeze=False)
    for ax, field, title in zip(axes[0], fields, titles):
        image = ax.imshow(np.asarray(field), origin="lower", extent=extent, cmap=cmap)
        ax.set_title(title)
        ax.set_xlabel("x₁")
        ax.set_ylabel("x₀")
        fig.colorbar(image, ax=ax, shrink=0.8)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def line_figure(values, title):
    """A single line plot of `values` (used for fields on 1D or 3D grids, flattened)."""
    fig = Figure(figsize=(5, 3))
    ax = fig.subplots()
    ax.plot(np.asarray(values).ravel())
    ax.set_title(title)
    return fig
