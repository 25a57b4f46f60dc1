"""The `adjoint` measurement: the cost of the Arnoldi adjoint, and pdekrylov against matfree.

The objective is `<w, exp(A) y0>` from a depth-K Arnoldi decomposition of the wave
operator, its gradient taken with respect to the operator (its speed field). matfree's
`decomp.hessenberg` with its custom VJP is the reference implementation of the same
adjoint (Krämer et al. 2024); both get the same small exponential, `pk.krylov.expm`.
"""

import functools
import importlib.metadata

import jax
import jax.numpy as jnp

from ...krylov import arnoldi, expm, expm_action
from .._measure import best_times, compile_for, max_relative_difference, memory_bytes
from ._problems import WaveBenchProblem, spectral_radius_bound
from ._rows import BenchRow, comparison

GOAL_ADJOINT_RATIO = 2.5  # value+grad / forward
GOAL_VS_MATFREE = 0.5  # pdekrylov value+grad / matfree value+grad


def _matvec(y, op):
    return op(y)


def _pdekrylov_decompose(op, y0, depth):
    return arnoldi(_matvec, y0, depth, op)


def _matfree_decompose(op, y0, depth):
    from matfree import decomp

    return decomp.hessenberg(depth, reortho="full", custom_vjp=True)(_matvec, y0, op)


def arnoldi_objective(problem: WaveBenchProblem, depth: int):
    """`op -> <w, exp(A) y0>` from a depth-K `pk.arnoldi` decomposition."""

    def objective(op):
        decomposition = _pdekrylov_decompose(op, problem.y0, depth)
        return jnp.vdot(problem.w.ravel(), expm_action(decomposition, 1.0).values[0])

    return objective


def _matfree_objective(problem: WaveBenchProblem, depth: int):
    """The same objective from matfree's Hessenberg decomposition and its custom VJP."""

    def objective(op):
        # matfree returns the basis as (K, *state) and c = 1 / ||y0||
        basis, small, _, inverse_norm = _matfree_decompose(op, problem.y0, depth)
        coefficients = expm(small)[:, 0]  # the same small exponential as ours
        return jnp.vdot(problem.w, jnp.tensordot(coefficients, basis, axes=1)) / inverse_norm

    return objective


def _matfree_version():
    """matfree's version, or None when it cannot be imported."""
    try:
        import matfree.decomp  # noqa: F401
    except ImportError:
        return None
    return importlib.metadata.version("matfree")


def measure_adjoint(problem: WaveBenchProblem, depth: int, repeats: int) -> list[BenchRow]:
    """Rows 1 and 2: adjoint / forward cost, and pdekrylov against matfree.

    **Arguments:**

    - `problem`: the wave problem (`wave_problem(n)`).
    - `depth`: the Krylov depth K.
    - `repeats`: timed rounds (best of).

    **Returns:** two rows (the matfree row says so when matfree is not installed).
    """
    n = problem.op.grid.shape[0]
    setting = f"<w, exp(A) y0>, wave {n}x{n} neumann, N = {problem.size}, float64, depth {depth}"
    objective = arnoldi_objective(problem, depth)
    calls = {
        "forward": compile_for(objective, problem.op),
        "value+grad": compile_for(jax.value_and_grad(objective), problem.op),
    }
    matfree = _matfree_version()
    if matfree is not None:
        calls["matfree"] = compile_for(jax.value_and_grad(_matfree_objective(problem, depth)), problem.op)
    seconds = best_times({name: (lambda f=f: f(problem.op)) for name, f in calls.items()}, repeats)
    ratio = seconds["value+grad"] / seconds["forward"]
    ours_bytes = memory_bytes(calls["value+grad"])
    rows = [comparison(
        "adjoint / forward cost", setting, "pk.arnoldi + expm_action value+grad",
        "same, forward only", ratio, f"<= {GOAL_ADJOINT_RATIO:g}", ratio <= GOAL_ADJOINT_RATIO,
        ours_seconds=seconds["value+grad"], peer_seconds=seconds["forward"],
        ours_bytes=ours_bytes,
    )]
    if matfree is None:
        rows.append(comparison("vs matfree", setting, "pk value+grad", "matfree", None,
                               f"<= {GOAL_VS_MATFREE:g}", None, note="matfree not installed"))
        return rows
    _, ours = calls["value+grad"](problem.op)
    _, theirs = calls["matfree"](problem.op)
    difference = max_relative_difference(ours.speed, theirs.speed)
    ratio = seconds["value+grad"] / seconds["matfree"]
    rows.append(comparison(
        "vs matfree", setting, "pk value+grad", f"matfree {matfree} hessenberg value+grad",
        ratio, f"<= {GOAL_VS_MATFREE:g}", ratio <= GOAL_VS_MATFREE,
        note=f"gradients agree to {difference:.1e} (max relative difference)",
        ours_seconds=seconds["value+grad"], peer_seconds=seconds["matfree"],
        ours_bytes=ours_bytes,
        peer_bytes=memory_bytes(calls["matfree"]),
    ))
    return rows


def measure_adjoint_profile(problem: WaveBenchProblem, depth: int, repeats: int) -> list[BenchRow]:
    """Where one value+grad spends its time, per library (pdekrylov, and matfree if
    installed), all parts timed interleaved in one run.

    Parts: (a) the K matvecs alone (a `fori_loop` of `y <- s A y`, with a scalar `s`
    that keeps the iterates bounded), (b) the forward decomposition alone (outputs
    returned), (c) the backward pass alone (the jitted pullback of `jax.vjp`, called on
    saved residuals). (b) - (a) estimates the orthogonalisation; value+grad minus forward
    cross-checks (c).

    **Returns:** per library one row: (b) + (c) against value+grad, the parts in the note.
    """
    scale = 1 / (1 + spectral_radius_bound(problem.op) ** 2)  # ||s A|| <= 1

    def matvecs_only(op, y):
        return jax.lax.fori_loop(0, depth, lambda _, y: scale * op(y), y)

    libraries = {"pdekrylov": (_pdekrylov_decompose, arnoldi_objective)}
    version = _matfree_version()
    if version is not None:
        libraries[f"matfree {version}"] = (_matfree_decompose, _matfree_objective)
    call_pullback = jax.jit(lambda pullback, cotangent: pullback(cotangent))
    calls = {"matvecs": functools.partial(jax.jit(matvecs_only), problem.op, problem.y0)}
    for name, (decompose, make_objective) in libraries.items():
        objective = make_objective(problem, depth)
        _, pullback = jax.jit(functools.partial(jax.vjp, objective))(problem.op)
        decomposition = jax.jit(functools.partial(decompose, depth=depth))
        calls[name, "decomposition"] = functools.partial(decomposition, problem.op, problem.y0)
        calls[name, "backward"] = functools.partial(call_pullback, pullback, 1.0)
        calls[name, "forward"] = functools.partial(jax.jit(objective), problem.op)
        calls[name, "value+grad"] = functools.partial(jax.jit(jax.value_and_grad(objective)), problem.op)
    seconds = best_times(calls, repeats)
    n = problem.op.grid.shape[0]
    setting = (f"profile of <w, exp(A) y0> value+grad, wave {n}x{n} neumann, float64, depth {depth}; "
               f"parts timed interleaved")
    rows = []
    for name in libraries:
        part = {key: seconds[name, key] for key in ("decomposition", "backward", "forward", "value+grad")}
        total = part["decomposition"] + part["backward"]
        orthogonalisation = part["decomposition"] - seconds["matvecs"]
        note = (
            f"(a) {depth} matvecs {seconds['matvecs'] * 1e3:.1f} ms ({seconds['matvecs'] / total:.0%}), "
            f"(b) decomposition {part['decomposition'] * 1e3:.1f} ms, (b)-(a) orthogonalisation "
            f"{orthogonalisation * 1e3:.1f} ms ({orthogonalisation / total:.0%}), (c) backward "
            f"{part['backward'] * 1e3:.1f} ms ({part['backward'] / total:.0%}); value+grad - forward "
            f"{(part['value+grad'] - part['forward']) * 1e3:.1f} ms"
        )
        rows.append(comparison(
            f"profile: {name}", setting, "(b) + (c)", "value+grad", total / part["value+grad"], "", None,
            note=note, ours_seconds=total, peer_seconds=part["value+grad"],
        ))
    return rows
