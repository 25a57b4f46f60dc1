"""What the names of a `TrainConfig` build: the field model and the optax optimiser.

The registries here are the lists of names that problem files, `TrainConfig` and the CLI
accept (`model = "grid"`, `optimizer = "sobolev-adam"`).
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import optax

from .. import fields
from ._precondition import sobolev_preconditioner


def _mlp(config, grid, key):
    return fields.MLP(grid.ndim, config.hidden, key=key)


def _grid_field(config, grid, key):
    return fields.GridField(jnp.full(grid.shape, config.initial_value), config.smoothness, config.regulariser)


#: the field models by name: `builder(config, grid, key)`; `grid` models live on the nodes
MODELS = {"mlp": _mlp, "grid": _grid_field}


def _adam(config, grid):
    return optax.adam(config.learning_rate)


def _lbfgs(config, grid):
    # the learning rate scales the first (unscaled) step; the zoom line search does the rest
    return optax.lbfgs(learning_rate=None if config.learning_rate >= 1 else config.learning_rate)


def _sobolev_adam(config, grid):
    return optax.chain(sobolev_preconditioner(grid, config.sobolev_length), optax.adam(config.learning_rate))


def _sobolev_lbfgs(config, grid):
    # L-BFGS on the Sobolev gradient: the preconditioner's smoothing survives (Adam's
    # per-node scaling nearly undoes it), and the line search sets the step's size
    return optax.chain(sobolev_preconditioner(grid, config.sobolev_length), _lbfgs(config, grid))


#: the optimisers by name: `builder(config, grid)`
OPTIMIZERS = {"adam": _adam, "lbfgs": _lbfgs, "sobolev-adam": _sobolev_adam, "sobolev-lbfgs": _sobolev_lbfgs}
#: optimisers that precondition a field on the grid nodes (they need `model = "grid"`)
GRID_OPTIMIZERS = ("sobolev-adam", "sobolev-lbfgs")
#: optimisers whose update takes the objective (a line search)
LINE_SEARCH_OPTIMIZERS = ("lbfgs", "sobolev-lbfgs")


def make_model(config, grid, dtype, key) -> eqx.Module:
    """The field model `config.model` names, with parameters of `dtype`.

    **Arguments:**

    - `config`: a `TrainConfig`.
    - `grid`: the problem's `Grid`.
    - `dtype`: the floating dtype of the parameters (the dataset's).
    - `key`: a JAX PRNG key for the initial parameters.

    **Returns:** a `pk.fields.MLP` or `pk.fields.GridField`.
    """
    model = MODELS[config.model](config, grid, key)
    return jax.tree.map(lambda x: x.astype(dtype) if eqx.is_inexact_array(x) else x, model)


def make_optimizer(config, grid) -> optax.GradientTransformation:
    """The optax optimiser `config.optimizer` names (Adam, L-BFGS, Sobolev-preconditioned Adam)."""
    return OPTIMIZERS[config.optimizer](config, grid)
