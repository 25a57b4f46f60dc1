"""The `pdekrylov` command line. Parses arguments, calls the library, prints."""

import argparse
import sys
import time
from pathlib import Path


class UsageError(Exception):
    """Bad input from the command line (exit code 2)."""


def _demo(args):
    from ._demo import run_demo

    if args.epochs is not None and args.epochs < 1:
        raise UsageError(f"--epochs: expected a positive integer, got {args.epochs}")
    result = run_demo(args.out, force=args.force, epochs=args.epochs)
    problem, metrics, seconds = result["problem"], result["metrics"], result["seconds"]
    rows, cols = problem.grid["shape"]
    print(
        f"{problem.name}: learn the wave speed c(x) of u_tt = c^2 lap(u) on a {rows}x{cols} grid "
        f"from {metrics['train_pairs']} snapshot pairs ({metrics['test_pairs']} more held out)"
    )
    print(f"generated the dataset in {seconds['generate']:.1f} s, trained in {seconds['train']:.1f} s")
    print(_training_summary(metrics))
    first = result["first_evaluation"]
    print(
        f"parameter RMSE fell from {first['parameter_rmse']:.3e} (epoch {first['epoch']}) "
        f"to {metrics['parameter_rmse']:.3e}"
    )
    for path in result["paths"]:
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


def _train(args):
    from . import data, train
    from .problems import load_problem

    problem = load_problem(args.problem)
    for flag, value in (("--epochs", args.epochs), ("--depth", args.depth), ("--steps", args.steps)):
        if value is not None and value < 1:
            raise UsageError(f"{flag}: expected a positive integer, got {value}")
    out = Path(args.out)
    if args.resume and not (out / train.CHECKPOINT_FILE).is_file():
        raise UsageError(f"--resume: no checkpoint in {out} to resume from")
    if not args.resume and out.exists() and any(out.iterdir()) and not args.force:
        raise UsageError(f"--out: {out} exists (use --force to replace it, or --resume to continue)")
    dataset = data.load(args.data)
    overrides = {
        "solver": args.solver, "depth": args.depth, "steps": args.steps, "epochs": args.epochs,
        "seed": args.seed, "optimizer": args.optimizer, "learning_rate": args.lr,
    }
    result = train.fit(
        problem, dataset, out=out, resume=args.resume, force=args.force, progress=True, **overrides
    )
    print(_training_summary(result.metrics))
    print(f"wrote {out}/metrics.json, checkpoint.eqx, loss.png, coefficient.png")
    return 0


def _training_summary(metrics):
    """Two lines: what was trained, and the paper's metrics."""
    test = metrics.get("test_loss")
    return (
        f"trained {metrics['problem']} for {metrics['epochs']} epochs with {metrics['solver']} "
        f"({metrics['matvecs_per_solve']} matvecs per solve, {metrics['seconds_per_epoch']:.3f} s per epoch)\n"
        f"train loss {metrics['train_loss']:.3e}, test loss "
        f"{'n/a' if test is None else f'{test:.3e}'}, parameter RMSE {metrics['parameter_rmse']:.3e}"
    )


def build_parser():
    parser = argparse.ArgumentParser(
        prog="pdekrylov",
        description="PDE inverse problems with Krylov solvers and exact adjoints.",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = commands.add_parser(
        "demo", help="generate wave data, learn the wave speed with Arnoldi, plot (a few minutes)"
    )
    demo.add_argument("--out", default="pdekrylov-demo", help="output folder")
    demo.add_argument("--epochs", type=int, default=None, help="training epochs (default: the problem's)")
    demo.add_argument("--force", action="store_true", help="replace an existing output folder")
    demo.set_defaults(run=_demo)

    generate = commands.add_parser("generate", help="generate a dataset from a problem file")
    generate.add_argument("problem", help="a problem file, or the name of a shipped problem")
    generate.add_argument("--num", type=int, default=None, help="number of pairs (default: the problem's)")
    generate.add_argument("--seed", type=int, default=0, help="random seed")
    generate.add_argument("--out", required=True, help="output folder")
    generate.add_argument("--force", action="store_true", help="replace an existing folder")
    generate.set_defaults(run=_generate)

    train = commands.add_parser("train", help="learn the coefficient field from a dataset")
    train.add_argument("problem", help="a problem file, or the name of a shipped problem")
    train.add_argument("--data", required=True, help="dataset folder (from `pdekrylov generate`)")
    train.add_argument("--out", required=True, help="run folder")
    train.add_argument("--solver", default=None,
                       help="arnoldi, lanczos, or a Diffrax METHOD+ADJOINT such as dopri5+backsolve, "
                            "tsit5+recursive-checkpoint (default: the problem's)")
    train.add_argument("--depth", type=int, default=None, help="Krylov depth")
    train.add_argument("--steps", type=int, default=None, help="fixed steps of a Diffrax solver")
    train.add_argument("--epochs", type=int, default=None, help="total number of epochs")
    train.add_argument("--seed", type=int, default=None, help="seed of the model initialisation")
    train.add_argument("--optimizer", default=None, help="adam, lbfgs or sobolev-adam")
    train.add_argument("--lr", type=float, default=None, help="learning rate")
    train.add_argument("--resume", action="store_true", help="continue the run in --out")
    train.add_argument("--force", action="store_true", help="start afresh in an existing --out")
    train.set_defaults(run=_train)
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
    except KeyboardInterrupt as interrupt:  # training says where its checkpoint is
        print(f"error: {interrupt or 'interrupted'}", file=sys.stderr)
        return 130
    except Exception as error:  # runtime failure: one line unless --debug
        if args.debug:
            raise
        print(f"error: {type(error).__name__}: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
