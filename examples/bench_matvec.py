"""Benchmark the 2D wave-operator matvec against alternative stencils and a streaming copy.

What is measured: the jitted matvec `y -> op(y)` of `pdekrylov.WaveOperator` with Neumann
boundaries, `op(y) = (y[1], speed**2 * lap(y[0]))` on an n x n grid, for

- `library (shift, fused)`: `pk.WaveOperator` as the library implements it: every
  neighbour is its own `lax.pad` with negative padding (a shift with a zero ghost), fixed
  up at the edge by `jnp.where`; no padded copy is shared between the four neighbours,
  so XLA fuses the whole matvec into one loop;
- `pad/slice`: the first implementation, edge padding once by `jnp.pad`, then four
  shifted slices of the padded array (XLA materialises the padded copies);
- `roll`: neighbours by `jnp.roll`, with the wrapped-around edge values replaced by the
  node itself (the Neumann ghost of edge padding);
- `conv2d`: `jax.scipy.signal.convolve2d` of the edge-padded field with the 5-point kernel;
- `stream baseline`: `y * 2.0`, a jitted function that reads the state and writes an
  array of the same size with minimal arithmetic (a "y.copy()" XLA cannot elide).

The "XLA ops" column counts the top-level operations of the compiled program (fusions,
unfused concatenates, convolutions; parameters, constants and bitcasts left out): each is
one pass over memory, so 1 means the whole matvec is a single fused loop.

Every alternative is checked against the library (max relative difference at most 1e-12
in float64, 1e-5 in float32) before it is timed.

How it is timed: each function is jitted, called once to compile and warm up, then run
in a loop of `calls` back-to-back calls with one `block_until_ready` at the end, `calls`
doubled until a loop takes at least `--min-time` seconds (default 0.05). The reported
time per call is the best (minimum) over `--repeats` such loops, by `time.perf_counter`;
the loops of the implementations are interleaved, so that background load on the
machine affects all of them alike.
Per-call times include JAX's dispatch overhead (of order 10 us on CPU), which dominates
on small grids.

Bandwidth convention: GB/s = (bytes read + bytes written) / time per call, counting each
array once. A matvec reads y (2 n^2 values) and the speed field (n^2 values) and writes
2 n^2 values: 5 n^2 values. The streaming baseline reads y and writes 2 n^2 values:
4 n^2 values. "vs baseline" is time per call / baseline time per call for the same grid
and dtype. The goal line reports whether the library matvec is within 2x of the baseline.

Run it with `python examples/bench_matvec.py` (options: `--sizes 128 512`,
`--repeats 7`, `--min-time 0.05`).
"""

import argparse
import re
import time
from dataclasses import dataclass
from typing import Callable

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import jax.scipy.signal  # noqa: E402
import numpy as np  # noqa: E402
from jax import lax  # noqa: E402

import pdekrylov as pk  # noqa: E402
from pdekrylov.study import machine_info, max_relative_difference  # noqa: E402

#: packages whose versions the report header lists
PACKAGES = ("jax", "pdekrylov")

DTYPES = (jnp.float32, jnp.float64)
#: Largest allowed max|alt - library| / max|library| per dtype.
TOLERANCES = {jnp.float32: 1e-5, jnp.float64: 1e-12}
GOAL_RATIO = 2.0


# ---------------------------------------------------------------- Laplacian variants


def _is_edge(u, axis, index):
    """Boolean mask of the nodes at position `index` along `axis`."""
    return lax.broadcasted_iota(jnp.int32, u.shape, axis) == index


def laplacian_roll(u, spacing):
    """5-point Neumann Laplacian with `jnp.roll` neighbours, edges fixed up by `where`."""
    out = jnp.zeros_like(u)
    for axis, h in enumerate(spacing):
        n = u.shape[axis]
        forward = jnp.where(_is_edge(u, axis, n - 1), u, jnp.roll(u, -1, axis))
        backward = jnp.where(_is_edge(u, axis, 0), u, jnp.roll(u, 1, axis))
        out = out + (forward - 2 * u + backward) / (h * h)
    return out


def laplacian_conv2d(u, spacing):
    """5-point Neumann Laplacian as a 'valid' convolution of the edge-padded field."""
    w0, w1 = (1 / (h * h) for h in spacing)
    kernel = jnp.array(
        [[0.0, w0, 0.0], [w1, -2 * (w0 + w1), w1], [0.0, w0, 0.0]], dtype=u.dtype
    )
    return jax.scipy.signal.convolve2d(jnp.pad(u, 1, mode="edge"), kernel, mode="valid")


def laplacian_pad_slice(u, spacing):
    """5-point Neumann Laplacian: one edge-padded copy, four shifted slices of it."""
    padded = jnp.pad(u, 1, mode="edge")
    n0, n1 = u.shape
    centre = (slice(1, n0 + 1), slice(1, n1 + 1))
    out = jnp.zeros_like(u)
    for axis, h in enumerate(spacing):
        forward, backward = list(centre), list(centre)
        forward[axis] = slice(2, u.shape[axis] + 2)
        backward[axis] = slice(0, u.shape[axis])
        out = out + (padded[tuple(forward)] - 2 * u + padded[tuple(backward)]) / (h * h)
    return out


# ---------------------------------------------------------------- matvecs


def wave_matvec(laplacian):
    """`(op, y) -> op(y)` for a `WaveOperator`, with `laplacian` in place of the library's."""

    def matvec(op, y):
        return jnp.stack([y[1], op.speed**2 * laplacian(y[0], op.grid.spacing)])

    return matvec


def library_matvec(op, y):
    return op(y)


def streaming_baseline(op, y):
    return y * 2.0


@dataclass(frozen=True)
class Implementation:
    name: str
    function: Callable  # (op, y) -> array like y; every one takes the same pytrees
    values_per_point: int  # array values read + written per grid point
    is_matvec: bool = True


LIBRARY = Implementation("library (shift, fused)", library_matvec, 5)
BASELINE = Implementation("stream baseline (y*2)", streaming_baseline, 4, is_matvec=False)
IMPLEMENTATIONS = (
    LIBRARY,
    Implementation("roll", wave_matvec(laplacian_roll), 5),
    Implementation("conv2d", wave_matvec(laplacian_conv2d), 5),
    Implementation("pad/slice", wave_matvec(laplacian_pad_slice), 5),
    BASELINE,
)


# ---------------------------------------------------------------- measurement


def make_problem(n, dtype, seed=0):
    """A Neumann `WaveOperator` on an n x n grid with a random speed, and a random state."""
    rng = np.random.default_rng(seed)
    speed = jnp.asarray(rng.uniform(0.5, 1.5, (n, n)), dtype=dtype)
    y = jnp.asarray(rng.standard_normal((2, n, n)), dtype=dtype)
    return pk.WaveOperator(pk.Grid((n, n)), speed, boundary="neumann"), y


def _loop_seconds(fn, args, calls):
    start = time.perf_counter()
    for _ in range(calls):
        out = fn(*args)
    out.block_until_ready()
    return time.perf_counter() - start


def calls_per_loop(fn, args, min_time):
    """Compile and warm up `fn`, then double the calls until a loop lasts `min_time` s."""
    fn(*args).block_until_ready()
    calls = 1
    while _loop_seconds(fn, args, calls) < min_time:
        calls *= 2
    return calls


_FREE_OPS = {"parameter", "constant", "bitcast", "tuple", "get-tuple-element"}


def xla_op_count(jitted, args):
    """The number of top-level operations (kernels) XLA compiles `jitted(*args)` into."""
    text = jitted.lower(*args).compile().as_text()
    entry = text[text.index("\nENTRY"):]
    ops = re.findall(r" = .*?\s([a-z][\w-]*)\(", entry)
    return sum(op not in _FREE_OPS for op in ops)


def benchmark_case(n, dtype, repeats, min_time):
    """Check and time every implementation on one grid and dtype.

    The timed loops are interleaved (each repeat runs every implementation once, in
    turn), so that background load on the machine affects all of them alike.

    **Returns:** a dict name -> (seconds per call, relative difference to the library or
    None for the baseline, XLA op count).
    """
    op, y = make_problem(n, dtype)
    args = (op, y)
    reference = jax.jit(library_matvec)(*args)
    jitted = {impl.name: jax.jit(impl.function) for impl in IMPLEMENTATIONS}
    differences = {}
    for impl in IMPLEMENTATIONS:
        differences[impl.name] = None
        if impl.is_matvec:
            out = jitted[impl.name](*args)
            assert out.dtype == y.dtype and out.shape == y.shape, impl.name
            difference = max_relative_difference(out, reference)
            assert difference <= TOLERANCES[dtype], (impl.name, n, dtype, difference)
            differences[impl.name] = difference
    calls = {name: calls_per_loop(fn, args, min_time) for name, fn in jitted.items()}
    best = {name: float("inf") for name in jitted}
    for _ in range(repeats):
        for name, fn in jitted.items():
            seconds = _loop_seconds(fn, args, calls[name]) / calls[name]
            best[name] = min(best[name], seconds)
    return {
        name: (best[name], differences[name], xla_op_count(fn, args))
        for name, fn in jitted.items()
    }


# ---------------------------------------------------------------- report


def table_rows(n, dtype, results):
    dtype_name = jnp.dtype(dtype).name
    itemsize = jnp.dtype(dtype).itemsize
    baseline_seconds = results[BASELINE.name][0]
    for impl in IMPLEMENTATIONS:
        seconds, difference, op_count = results[impl.name]
        gigabytes = impl.values_per_point * n * n * itemsize / 1e9
        diff = "-" if difference is None else f"{difference:.1e}"
        yield (
            f"| {n}x{n} | {dtype_name} | {impl.name} | {seconds * 1e6:.1f} | "
            f"{gigabytes / seconds:.1f} | {seconds / baseline_seconds:.2f} | {diff} | "
            f"{op_count} |"
        )


def goal_line(n, dtype, results):
    ratio = results[LIBRARY.name][0] / results[BASELINE.name][0]
    verdict = "met" if ratio <= GOAL_RATIO else "not met"
    return (
        f"{n}x{n} {jnp.dtype(dtype).name}: goal: matvec within {GOAL_RATIO:g}x of "
        f"streaming baseline: {verdict} (library = {ratio:.2f}x baseline)"
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 512],
                        help="grid sizes n (n x n grids); default 128 512")
    parser.add_argument("--repeats", type=int, default=7,
                        help="timed loops per case; the best is reported (default 7)")
    parser.add_argument("--min-time", type=float, default=0.05,
                        help="minimum seconds per timed loop (default 0.05)")
    args = parser.parse_args(argv)

    print(f"# Wave-operator matvec benchmark\n\n{machine_info(PACKAGES)}\n")
    print(
        f"best of {args.repeats} loops of >= {args.min_time * 1e3:g} ms each; "
        "GB/s = (bytes read + bytes written) / time, matvec = 5 n^2 values "
        "(read y: 2 n^2, speed: n^2; write 2 n^2), baseline = 4 n^2 values "
        "(read y, write 2 n^2); 'rel diff' = max|alt - library| / max|library|\n"
    )
    print(
        "| grid | dtype | implementation | us/call | GB/s | vs baseline | rel diff "
        "| XLA ops |"
    )
    print("|---|---|---|---:|---:|---:|---:|---:|")
    goals = []
    for n in args.sizes:
        for dtype in DTYPES:
            results = benchmark_case(n, dtype, args.repeats, args.min_time)
            for row in table_rows(n, dtype, results):
                print(row, flush=True)
            goals.append(goal_line(n, dtype, results))
    print()
    print("\n".join(goals))


if __name__ == "__main__":
    main()
