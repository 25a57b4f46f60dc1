"""The `pdekrylov` command line. Parses arguments, calls the library, prints."""

import argparse
import sys
import time
from pathlib import Path


class UsageError(Exception):
    """Bad input from the command line (exit code 2)."""


def _demo(args):
    from ._demo import run_demo

    result = run_demo(args.out, force=args.force)
    rows, cols = result["grid"]
    print(f"wave equation u_tt = c^2 lap(u) on a {rows}x{cols} grid, t in [0, 1], float32")
    for name, numbers in result["solvers"].items():
        print(
            f"  {name:32s} {numbers['seconds'] * 1e3:8.1f} ms   "
            f"relative difference to Diffrax: {numbers['difference']:.1e}"
        )
    for name, path in result["paths"].items():
        print(f"wrote {path}")
    return 0


def _generate(args):
    import jax

    from . import data
    from .problems import load_problem

    problem = load_problem(args.problem)
    num = problem.dataset["size"] if args.num is None else args.num
    if num < 1:
        raise UsageError(f"--num: expected a positive number of samples, got {num}")
    out = Path(args.out)
    if out.exists() and not args.force:
        raise UsageError(f"--out: {out} exists (use --force to replace it)")
    start = time.perf_counter()
    dataset = data.generate(problem, num, jax.random.PRNGKey(args.seed), progress=True)
    seconds = time.perf_counter() - start
    data.save(dataset, out, seed=args.seed, force=args.force)
    print(
        f"generated {num} pairs of {problem.name} in {seconds:.1f} s "
        f"({dataset.num_test} test, {num - dataset.num_test} train)"
    )
    print(f"wrote {out}/dataset.npz, metadata.json, samples.png")
    return 0


def build_parser():
    parser = argparse.ArgumentParser(
        prog="pdekrylov",
        description="PDE inverse problems with Krylov solvers and exact adjoints.",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = commands.add_parser("demo", help="solve a small wave problem and plot it")
    demo.add_argument("--out", default="pdekrylov-demo", help="output folder")
    demo.add_argument("--force", action="store_true", help="replace existing files")
    demo.set_defaults(run=_demo)

    generate = commands.add_parser("generate", help="generate a dataset from a problem file")
    generate.add_argument("problem", help="a problem file, or the name of a shipped problem")
    generate.add_argument("--num", type=int, default=None, help="number of pairs (default: the problem's)")
    generate.add_argument("--seed", type=int, default=0, help="random seed")
    generate.add_argument("--out", required=True, help="output folder")
    generate.add_argument("--force", action="store_true", help="replace an existing folder")
    generate.set_defaults(run=_generate)
    return parser



def main(argv=None):
    """Run the CLI; returns the exit code (0 ok, 1 runtime failure, 2 bad input)."""
    parser = build_parser()
    args = parser.parse_args(argv)  # argparse itself exits 2 with one usage line
    try:
        return args.run(args)
    except (UsageError, ValueError, TypeError, FileExistsError, FileNotFoundError) as error:
        if args.debug:
            raise
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except Exception as error:  # runtime failure: one line unless --debug
        if args.debug:
            raise
        print(f"error: {type(error).__name__}: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
