"""The `pdekrylov` command line. Parses arguments, calls the library, prints."""

import argparse
import sys


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
