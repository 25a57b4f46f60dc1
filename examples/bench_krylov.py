"""Benchmark pdekrylov's Arnoldi iteration and its adjoint against matfree 0.6.3.

What is measured: the scalar `f(op) = <w, exp(A) y0>` for the Neumann `WaveOperator`
`A` on a 128 x 128 grid (state `(u, u_t)`, N = 32768 values), float64, CPU, computed as
`||y0|| Q exp(H) e_1` from a depth-K Arnoldi decomposition (full reorthogonalisation) by

- `pdekrylov`: `pk.arnoldi` (adjoint as `jax.custom_vjp`) and `pk.expm_action`;
- `matfree`: `matfree.decomp.hessenberg(K, reortho="full", custom_vjp=True)`, the
  reference implementation of the same adjoint (Kraemer et al. 2024), then the same
  small exponential, `pk.krylov.expm`.

Both use the same matvec `y -> op(y)` and the same start vector y0 and weight w.
Gradients are with respect to the operator, i.e. its speed field (16384 values).

For every depth K (`--depths`, default 10 20 50 100) and library the table reports

- `forward`: the jitted `f(op)` (value only);
- `value+grad`: the jitted `jax.value_and_grad(f)(op)`;
- `adjoint ratio`: value+grad / forward (goal for pdekrylov: <= 2.5 at depth 50);
- `vs matfree`: value+grad / matfree's value+grad (goal for pdekrylov: <= 0.5 at
  depth 50);
- `memory`: the buffers of the compiled value+grad executable from XLA's
  `compiled.memory_analysis()`: argument + output + temp bytes (temp is XLA's scratch
  space, including everything the forward pass saves for the backward pass), in MB
  (1e6 bytes), and that size in units of one N x K float64 basis (N K 8 bytes).
  (`memory_analysis().peak_memory_in_bytes` exists too, but on CPU it reports about
  1 MB whatever K is, so it is not used.)

The gradients of the two libraries are compared (max |g_pk - g_mf| / max |g_mf|; they
compute the same derivative, so this should be of order 1e-12), as are the values.

`--profile` adds a breakdown of one value+grad at depth `--profile-depth` (default 50)
per library: (a) K matvecs alone (a `fori_loop` of `y <- s op(y)`, with a fixed
scalar s that keeps the iterates bounded and fuses into the matvec), (b) the forward
decomposition alone (jitted Arnoldi, outputs returned), (c) the backward pass alone
(the pullback of `jax.vjp(f, op)`, jitted on its own and called on the saved residuals),
and, as a cross-check of (c), value+grad minus forward timed in the same run.
(b) - (a) estimates the orthogonalisation cost of the forward pass.

How it is timed: every function is jitted, called once to compile and warm up, then
called `--repeats` times (default 5) with `block_until_ready`; the best (minimum)
wall-clock time by `time.perf_counter` is reported. The repeats of the functions being
compared are interleaved, so that background load on the machine affects them alike.

Run it with `python examples/bench_krylov.py` (options: `--depths 10 20 50 100`,
`--repeats 5`, `--size 128`, `--profile`, `--profile-depth 50`).
"""

import argparse
import functools
import importlib.metadata
from dataclasses import dataclass
from typing import Callable

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
from matfree import decomp  # noqa: E402

import pdekrylov as pk  # noqa: E402
from _benchmarking import best_times, machine_info, max_relative_difference  # noqa: E402

#: packages whose versions the report header lists
PACKAGES = ("jax", "matfree", "pdekrylov")

GOAL_DEPTH = 50
GOAL_ADJOINT_RATIO = 2.5  # pdekrylov value+grad / forward
GOAL_VS_MATFREE = 0.5  # pdekrylov value+grad / matfree value+grad
MB = 1e6
MATFREE_VERSION = importlib.metadata.version("matfree")


# ---------------------------------------------------------------- problem


@dataclass(frozen=True)
class Problem:
    op: pk.WaveOperator
    y0: jax.Array
    w: jax.Array

    @property
    def size(self):
        return self.y0.size


def make_problem(n, seed=0):
    """Neumann wave operator on an n x n grid with a smooth speed ~0.05, random y0 and w."""
    grid = pk.Grid((n, n))
    x = grid.coordinates()
    speed = 0.05 + 0.01 * jnp.sin(3 * x[0]) * jnp.cos(2 * x[1])
    op = pk.WaveOperator(grid, speed, "neumann")
    key_y, key_w = jax.random.split(jax.random.PRNGKey(seed))
    y0 = jax.random.normal(key_y, op.state_shape, jnp.float64)
    w = jax.random.uniform(key_w, op.state_shape, jnp.float64)
    return Problem(op, y0, w)


def matvec(y, op):
    return op(y)


# ---------------------------------------------------------------- the two libraries


def pdekrylov_decompose(op, y0, depth):
    return pk.arnoldi(matvec, y0, depth, op)


def pdekrylov_value(decomposition, w):
    return jnp.vdot(w.ravel(), pk.expm_action(decomposition, 1.0).values[0])


def matfree_decompose(op, y0, depth):
    return decomp.hessenberg(depth, reortho="full", custom_vjp=True)(matvec, y0, op)


def matfree_value(decomposition, w):
    Q, H, _, c = decomposition  # Q is (K, *state), c = 1 / ||y0||
    return jnp.vdot(w, jnp.tensordot(pk.krylov.expm(H)[:, 0], Q, axes=1)) / c


@dataclass(frozen=True)
class Library:
    name: str
    decompose: Callable  # (op, y0, depth) -> decomposition
    value_from: Callable  # (decomposition, w) -> <w, exp(A) y0>

    def objective(self, problem, depth):
        """`f(op) = <w, exp(A) y0>` at the given depth, with y0 and w fixed."""

        def f(op):
            return self.value_from(self.decompose(op, problem.y0, depth), problem.w)

        return f


PDEKRYLOV = Library("pdekrylov", pdekrylov_decompose, pdekrylov_value)
MATFREE = Library(f"matfree {MATFREE_VERSION}", matfree_decompose, matfree_value)
LIBRARIES = (PDEKRYLOV, MATFREE)


# ---------------------------------------------------------------- measurement


def memory_bytes(jitted, *args):
    """Argument + output + temp bytes of the compiled executable of `jitted(*args)`."""
    stats = jitted.lower(*args).compile().memory_analysis()
    return stats.argument_size_in_bytes + stats.output_size_in_bytes + stats.temp_size_in_bytes


@dataclass(frozen=True)
class DepthResult:
    forward: float  # seconds
    value_and_grad: float  # seconds
    memory: int  # bytes of the compiled value_and_grad
    value: float
    gradient: jax.Array  # d f / d speed

    @property
    def adjoint_ratio(self):
        return self.value_and_grad / self.forward


def objective_functions(library, problem, depth):
    """The jitted forward `f(op)` and `jax.value_and_grad(f)(op)` of a library at a depth."""
    f = library.objective(problem, depth)
    return {"forward": jax.jit(f), "value+grad": jax.jit(jax.value_and_grad(f))}


def benchmark_depth(problem, depth, repeats):
    """Time forward and value_and_grad of every library at one depth; a dict name -> result."""
    jitted = {
        (library.name, kind): function
        for library in LIBRARIES
        for kind, function in objective_functions(library, problem, depth).items()
    }
    seconds = best_times(
        {key: functools.partial(function, problem.op) for key, function in jitted.items()},
        repeats,
    )
    results = {}
    for library in LIBRARIES:
        value_and_grad = jitted[library.name, "value+grad"]
        value, grad = value_and_grad(problem.op)
        results[library.name] = DepthResult(
            forward=seconds[library.name, "forward"],
            value_and_grad=seconds[library.name, "value+grad"],
            memory=memory_bytes(value_and_grad, problem.op),
            value=float(value),
            gradient=grad.speed,
        )
    return results


def profile(problem, depth, repeats):
    """Time the parts of one value_and_grad at one depth, per library.

    **Returns:** a dict library name -> dict part -> seconds, parts "matvecs" (K matvecs
    alone, the same for both), "decomposition" (forward Arnoldi alone), "backward" (the
    pullback alone), "forward" and "value+grad" (of the objective, as in the table).
    """
    scale = _bounded_scale(problem.op)

    def matvecs_only(op, y):
        return jax.lax.fori_loop(0, depth, lambda _, y: scale * op(y), y)

    call_pullback = jax.jit(lambda pullback, cotangent: pullback(cotangent))
    calls = {("matvecs", None): functools.partial(jax.jit(matvecs_only), problem.op, problem.y0)}
    for library in LIBRARIES:
        decompose = jax.jit(functools.partial(library.decompose, depth=depth))
        objective = library.objective(problem, depth)
        _, pullback = jax.jit(functools.partial(jax.vjp, objective))(problem.op)
        calls[library.name, "decomposition"] = functools.partial(
            decompose, problem.op, problem.y0
        )
        calls[library.name, "backward"] = functools.partial(call_pullback, pullback, 1.0)
        for kind, function in objective_functions(library, problem, depth).items():
            calls[library.name, kind] = functools.partial(function, problem.op)
    seconds = best_times(calls, repeats)
    parts = ("decomposition", "backward", "forward", "value+grad")
    return {
        library.name: {
            "matvecs": seconds["matvecs", None],
            **{part: seconds[library.name, part] for part in parts},
        }
        for library in LIBRARIES
    }


def _bounded_scale(op):
    """A scalar s with ||s A||_inf <= 1, so that repeated `y <- s A y` stays bounded."""
    inverse_h2 = sum(1 / h**2 for h in op.grid.spacing)
    return 1 / (1 + 4 * inverse_h2 * float(jnp.max(op.speed)) ** 2)


# ---------------------------------------------------------------- report


def table_rows(depth, size, results):
    reference = results[MATFREE.name]
    basis_bytes = size * depth * 8
    for library in LIBRARIES:
        r = results[library.name]
        yield (
            f"| {depth} | {library.name} | {r.forward * 1e3:.1f} | "
            f"{r.value_and_grad * 1e3:.1f} | {r.adjoint_ratio:.2f} | "
            f"{r.value_and_grad / reference.value_and_grad:.2f} | {r.memory / MB:.1f} | "
            f"{r.memory / basis_bytes:.1f} |"
        )


def agreement_line(depth, results):
    ours, reference = results[PDEKRYLOV.name], results[MATFREE.name]
    value_difference = abs(ours.value - reference.value) / abs(reference.value)
    gradient_difference = max_relative_difference(ours.gradient, reference.gradient)
    return (
        f"depth {depth}: value {ours.value:.12e}, rel. diff. of values {value_difference:.1e}, "
        f"rel. diff. of gradients (max|g_pk - g_mf| / max|g_mf|) {gradient_difference:.1e}"
    )


def goal_lines(results):
    if GOAL_DEPTH not in results:
        return [f"goals: not evaluated (depth {GOAL_DEPTH} not in --depths)"]
    ours, reference = results[GOAL_DEPTH][PDEKRYLOV.name], results[GOAL_DEPTH][MATFREE.name]
    vs_matfree = ours.value_and_grad / reference.value_and_grad
    return [
        _goal(f"pdekrylov value+grad / forward <= {GOAL_ADJOINT_RATIO:g} at depth "
              f"{GOAL_DEPTH}", ours.adjoint_ratio, GOAL_ADJOINT_RATIO),
        _goal(f"pdekrylov value+grad / matfree value+grad <= {GOAL_VS_MATFREE:g} at depth "
              f"{GOAL_DEPTH}", vs_matfree, GOAL_VS_MATFREE),
    ]


def _goal(description, ratio, limit):
    return f"goal: {description}: {'met' if ratio <= limit else 'not met'} ({ratio:.2f})"


def print_profile(depth, parts):
    print(f"\n## Profile at depth {depth} (ms, best of repeats, interleaved)\n")
    print(
        "(a) K matvecs alone; (b) the decomposition alone (forward Arnoldi, outputs "
        "returned); (b) - (a) ~ orthogonalisation; (c) the jitted pullback of jax.vjp(f) "
        "alone; 'vg - fwd' = value+grad minus forward of f, timed in the same run, a "
        "cross-check of (c); shares are of (b) + (c)\n"
    )
    print("| library | (a) K matvecs | (b) decomposition | (b)-(a) orthog. | (c) backward "
          "| vg - fwd | matvec share | orthog. share | backward share |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, p in parts.items():
        total = p["decomposition"] + p["backward"]
        orthogonalisation = p["decomposition"] - p["matvecs"]
        print(
            f"| {name} | {p['matvecs'] * 1e3:.1f} | {p['decomposition'] * 1e3:.1f} | "
            f"{orthogonalisation * 1e3:.1f} | {p['backward'] * 1e3:.1f} | "
            f"{(p['value+grad'] - p['forward']) * 1e3:.1f} | {p['matvecs'] / total:.0%} | "
            f"{orthogonalisation / total:.0%} | {p['backward'] / total:.0%} |"
        )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--depths", type=int, nargs="+", default=[10, 20, 50, 100],
                        help="Krylov depths K; default 10 20 50 100")
    parser.add_argument("--repeats", type=int, default=5,
                        help="timed calls per function; the best is reported (default 5)")
    parser.add_argument("--size", type=int, default=128,
                        help="grid points per axis (n x n grid); default 128")
    parser.add_argument("--profile", action="store_true",
                        help="also profile matvecs / forward / backward at --profile-depth")
    parser.add_argument("--profile-depth", type=int, default=GOAL_DEPTH,
                        help=f"depth of the profile (default {GOAL_DEPTH})")
    args = parser.parse_args(argv)

    problem = make_problem(args.size)
    print(f"# Arnoldi + adjoint benchmark: pdekrylov vs matfree\n\n{machine_info(PACKAGES)}\n")
    print(
        f"f(op) = <w, exp(A) y0>, WaveOperator {args.size}x{args.size} neumann, "
        f"N = {problem.size}, float64; times in ms, best of {args.repeats} (interleaved); "
        "memory = argument + output + temp bytes of the compiled value+grad "
        "(XLA memory_analysis), MB = 1e6 bytes; 'bases' = memory / (N K 8 bytes)\n"
    )
    print("| K | library | forward ms | value+grad ms | adjoint ratio | vs matfree "
          "| memory MB | bases |")
    print("|---:|---|---:|---:|---:|---:|---:|---:|")
    results = {}
    for depth in args.depths:
        results[depth] = benchmark_depth(problem, depth, args.repeats)
        for row in table_rows(depth, problem.size, results[depth]):
            print(row, flush=True)
    print()
    for depth in args.depths:
        print(agreement_line(depth, results[depth]))
    print()
    print("\n".join(goal_lines(results)))
    if args.profile:
        print_profile(args.profile_depth, profile(problem, args.profile_depth, args.repeats))


if __name__ == "__main__":
    main()
