"""The pure parts of training: a state, a loss and a step built from the configuration.

In the spirit of optax's `init`/`update`: `make_training(problem, config, dtype)` returns
a `Training` whose functions are pure: the pairs and parameters are arguments, and what
they close over holds no arrays (the problem, solver, optimiser, loss and the model's
static part), so they can be jitted, vmapped or called from a user's own loop.
`pk.train.fit` is the driver around them.
"""

from collections.abc import Callable
from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import optax
import optax.tree_utils as otu
from jaxtyping import Array, PyTree

from .. import fields
from ._build import LINE_SEARCH_OPTIMIZERS, make_model, make_optimizer


class Pairs(NamedTuple):
    """Training or test pairs: initial states, observed states, and the loss mask.

    - `inputs`: `(M, *state_shape)`.
    - `targets`: `(M, T, *state_shape)`, at the observation times.
    - `mask`: weights broadcastable to `targets` (the sensor mask, zero for padded
      pairs), or None (every entry counts).
    """

    inputs: Array
    targets: Array
    mask: Array | None


class TrainState(eqx.Module):
    """What training updates and checkpoints hold: the optimiser state and the parameters.

    `opt_state` comes first so the checkpoint leaves keep the order of the earlier
    checkpoints' `{"params", "opt_state"}` dict (flattened in sorted key order): those
    checkpoints still resume.
    """

    opt_state: PyTree
    params: PyTree


class Training(NamedTuple):
    """A training run's pure functions (from `make_training`).

    - `initial_params`: the model's parameters at the start (its arrays).
    - `static`: the rest of the model; `eqx.combine(params, static)` is the model.
    - `init(params) -> TrainState`.
    - `step(state, pairs) -> (state, loss, evaluations)`: one full-batch optimiser step;
      `loss` is the objective at the parameters before the step, `evaluations` the
      objective's evaluations it took (more than one with a line search).
    - `objective(params, pairs)`: the data loss plus the model's regulariser.
    - `data_loss(params, pairs)`: the loss between predictions and targets alone.
    - `field(params)`: the coefficient field on the grid.
    - `solve(params, pair_input)`: the `pk.Solution` of one pair (its initial state, or
      its shot's source position: `problem.solve_pair`) at the observation times with the
      learned field.
    - `evaluate(params, true_field, train, test, clean_test)`: a dict of the objective on
      `train`, the data loss on `test` and `clean_test` (each left out when None) and
      `parameter_rmse`, the paper's parameter metric (despite the name, no root: the
      relative MSE `mean((|c'| - |c|)^2 / (eps + |c|))`), and `parameter_relative_l2`,
      `‖c' - c‖₂ / ‖c‖₂`, the error a person reads.
    """

    initial_params: PyTree
    static: PyTree
    init: Callable
    step: Callable
    objective: Callable
    data_loss: Callable
    field: Callable
    solve: Callable
    evaluate: Callable


def make_training(problem, config, dtype) -> Training:
    """The pure training functions of `config` for `problem`.

    **Arguments:**

    - `problem`: a `pk.problems.Problem` (its grid, PDE and observation times).
    - `config`: a `TrainConfig`.
    - `dtype`: the floating dtype of the parameters (the dataset's).

    **Returns:** a `Training`.
    """
    grid = problem.grid
    solver = config.make_solver()
    loss_fn = fields.LOSSES[config.loss]
    # with an absorbing layer the model is the interior, continued into the layer
    width = problem.pde.absorbing.width if getattr(problem.pde, "absorbing", None) else 0
    model_grid = fields.interior_grid(grid, width) if width else grid
    optimizer = make_optimizer(config, model_grid)
    model = make_model(config, model_grid, dtype, jax.random.PRNGKey(config.seed))
    if width:
        model = fields.PaddedField(model, width)
    initial_params, static = eqx.partition(model, eqx.is_inexact_array)

    def field(params):
        return eqx.combine(params, static)(grid)

    def solve_one(params, pair_input):  # an initial state, or a shot's source position
        return problem.solve_pair(problem.operator(field(params)), pair_input, solver)

    def predict(params, inputs):
        return jax.vmap(lambda y0: solve_one(params, y0).ys)(inputs)

    def data_loss(params, pairs):
        return loss_fn(predict(params, pairs.inputs), pairs.targets, pairs.mask)

    def objective(params, pairs):
        value = data_loss(params, pairs)
        model = eqx.combine(params, static)
        if hasattr(model, "regularisation"):  # the grid model's (also inside a PaddedField)
            value = value + model.regularisation(grid)
        return value

    def init(params):
        # strongly typed from the start: optax's line-search counters begin weakly typed
        # and would otherwise make the second epoch compile the step again
        opt_state = jax.tree.map(
            lambda x: jnp.asarray(x, dtype=x.dtype) if eqx.is_array(x) else x, optimizer.init(params)
        )
        return TrainState(opt_state=opt_state, params=params)

    def gradient_step(state, pairs):
        value, grads = jax.value_and_grad(objective)(state.params, pairs)
        updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
        return _updated(state, updates, opt_state), value, jnp.ones((), int)

    def line_search_step(state, pairs):
        evaluate_at = lambda p: objective(p, pairs)  # noqa: E731
        # reuses the value and gradient the previous line search already computed
        value, grads = optax.value_and_grad_from_state(evaluate_at)(state.params, state=state.opt_state)
        updates, opt_state = optimizer.update(
            grads, state.opt_state, state.params, value=value, grad=grads, value_fn=evaluate_at
        )
        evaluations = 1 + otu.tree_get(opt_state, "num_linesearch_steps")
        return _updated(state, updates, opt_state), value, evaluations

    def evaluate(params, true_field, train=None, test=None, clean_test=None):
        results = {} if train is None else {"train_loss": objective(params, train)}
        for name, pairs in (("test_loss", test), ("clean_test_loss", clean_test)):
            if pairs is not None:
                results[name] = data_loss(params, pairs)
        learned = field(params)
        results["parameter_rmse"] = fields.relative_mse(jnp.abs(learned), jnp.abs(true_field))
        results["parameter_relative_l2"] = jnp.linalg.norm(learned - true_field) / jnp.linalg.norm(true_field)
        return results

    step = line_search_step if config.optimizer in LINE_SEARCH_OPTIMIZERS else gradient_step
    return Training(initial_params, static, init, step, objective, data_loss, field, solve_one, evaluate)


def _updated(state, updates, opt_state):
    return TrainState(opt_state=opt_state, params=optax.apply_updates(state.params, updates))
