"""The `pdekrylov` command line. Parses arguments, calls the library, prints."""

import argparse
import sys
import time
from pathlib import Path

from ._io import check_writable_folder, metadata_path
from .solvers import KRYLOV_SOLVERS
from .study import DEFAULT_SOLVERS, WEIGHTS
from .fields import LOSSES
from .train import MODELS, OPTIMIZERS


class UsageError(Exception):
    """Bad input from the command line (exit code 2)."""


def _demo(args):
    from ._demo import run_demo

    if args.epochs is not None and args.epochs < 1:
        raise UsageError(f"--epochs: expected a positive integer, got {args.epochs}")
    check_writable_folder(args.out, "--out")
    result = run_demo(args.out, force=args.force, epochs=args.epochs, progress=not args.quiet)
    problem, metrics, seconds = result["problem"], result["metrics"], result["seconds"]
    rows, cols = problem.grid.shape
    print(
        f"{problem.name}: learn the wave speed c(x) of u_tt = c^2 lap(u) on a {rows}x{cols} grid "
        f"from {metrics['train_pairs']} snapshot pairs ({metrics['test_pairs']} more held out)"
    )
    print(f"generated the dataset in {seconds['generate']:.1f} s, trained in {seconds['train']:.1f} s")
    print(_training_summary(metrics))
    print(
        f"relative L2 error of the learned field fell from {100 * result['initial_error']:.1f} % "
        f"(the start) to {100 * metrics['parameter_relative_l2']:.1f} %"
    )
    for path in result["paths"]:
        print(f"wrote {path}")
    return 0


def _generate(args):
    import jax

    if args.x64:
        jax.config.update("jax_enable_x64", True)
    from . import data
    from .problems import load_problem

    problem = load_problem(args.problem)
    num = problem.dataset.size if args.num is None else args.num
    if num < 1:
        raise UsageError(f"--num: expected a positive number of samples, got {num}")
    out = Path(args.out)
    if out.exists() and not args.force:
        raise UsageError(f"--out: {out} exists (use --force to replace it)")
    check_writable_folder(out, "--out")
    start = time.perf_counter()
    dataset = data.generate(problem, num, jax.random.PRNGKey(args.seed), progress=not args.quiet)
    seconds = time.perf_counter() - start
    data.save(dataset, out, seed=args.seed, force=args.force)
    print(
        f"generated {num} pairs of {problem.name} in {seconds:.1f} s "
        f"({dataset.num_test} test, {num - dataset.num_test} train)"
    )
    if problem.sources is not None:
        _, times, receivers = dataset.targets.shape
        fields = "" if dataset.wavefields is None else f", and the wavefields at {len(dataset.wavefields[0])} times"
        print(f"traces of {num} shots at {receivers} receivers and {times} times{fields}")
    print(f"wrote {out}/dataset.npz, metadata.json, samples.png")
    return 0


def _train(args):
    import jax

    _initialize_distributed(args)  # before any computation: every process runs this command
    from . import data, train
    from .problems import load_problem

    problem = load_problem(args.problem)
    numbers = (
        ("--epochs", args.epochs), ("--depth", args.depth), ("--substeps", args.substeps),
        ("--steps", args.steps), ("--devices", args.devices),
    )
    for flag, value in numbers:
        if value is not None and value < 1:
            raise UsageError(f"{flag}: expected a positive integer, got {value}")
    out = Path(args.out)
    if args.resume and not (out / train.CHECKPOINT_FILE).is_file():
        raise UsageError(f"--resume: no checkpoint in {out} to resume from")
    if not args.resume and out.exists() and any(out.iterdir()) and not args.force:
        raise UsageError(f"--out: {out} exists (use --force to replace it, or --resume to continue)")
    check_writable_folder(out, "--out")
    try:
        dataset = data.load(args.data)
    except data.DatasetError as error:
        raise UsageError(f"--data: {error}") from None
    if args.x64:  # a float32 dataset trained in float64
        jax.config.update("jax_enable_x64", True)
        dataset = dataset.astype("float64")
    elif dataset.inputs.dtype == "float64":  # the dataset's precision is the run's
        jax.config.update("jax_enable_x64", True)
    overrides = {
        "solver": args.solver, "depth": args.depth, "substeps": args.substeps, "steps": args.steps,
        "rtol": args.rtol, "epochs": args.epochs, "seed": args.seed, "optimizer": args.optimizer,
        "learning_rate": args.lr, "model": args.model, "loss": args.loss,
    }
    result = train.fit(
        problem, dataset, out=out, resume=args.resume, force=args.force, progress=not args.quiet,
        devices=args.devices, **overrides,
    )
    if jax.process_index() == 0:  # the process that wrote the files reports them
        print(_parallel_summary(result.metrics))
        print(_training_summary(result.metrics))
        print(f"wrote {out}/metrics.json, checkpoint.eqx, loss.png, coefficient.png")
    return 0


def _initialize_distributed(args):
    """`jax.distributed.initialize` for `--distributed`: one process per host (or per GPU).

    Without `--coordinator` / `--num-processes` / `--process-id`, JAX detects them from
    the cluster (Slurm, Open MPI, Cloud TPU).
    """
    explicit = {
        "coordinator_address": args.coordinator, "num_processes": args.num_processes,
        "process_id": args.process_id,
    }
    given = [name for name, value in explicit.items() if value is not None]
    if not args.distributed:
        if given:
            raise UsageError("--coordinator, --num-processes and --process-id need --distributed")
        return
    if given and len(given) != len(explicit):
        raise UsageError("--coordinator, --num-processes and --process-id: give all three, or none")
    import jax

    jax.distributed.initialize(**{name: value for name, value in explicit.items() if value is not None})


def _parallel_summary(metrics):
    """One line on how the pairs were laid out over the devices."""
    padded = {name: count for name, count in metrics["padded_pairs"].items() if count}
    line = f"trained on {metrics['devices']} device{'s' if metrics['devices'] > 1 else ''}"
    if padded:
        copies = ", ".join(f"{name} +{count}" for name, count in padded.items())
        line += (
            f"; pairs padded to a multiple of {metrics['devices']} with zero-weight copies "
            f"({copies}): the loss and its gradient are those of the real pairs"
        )
    return line


def _training_summary(metrics):
    """Two lines: what was trained, and the paper's metrics."""
    test, seconds = metrics.get("test_loss"), metrics["seconds_per_epoch"]
    # a run of one epoch has only its compiling epoch: no steady time per epoch
    per_epoch = "n/a" if seconds is None else f"{seconds:.3f} s"
    return (
        f"trained {metrics['problem']} for {metrics['epochs']} epochs with {metrics['solver']} "
        f"({metrics['matvecs_per_solve']} matvecs per solve, {per_epoch} per epoch)\n"
        f"train loss {metrics['train_loss']:.3e}, test loss "
        f"{'n/a' if test is None else f'{test:.3e}'}; field error {100 * metrics['parameter_relative_l2']:.1f} % "
        f"(relative L2), the paper's metric (relative MSE of |c|, `parameter_rmse`) "
        f"{metrics['parameter_rmse']:.3e}"
    )


def _workprecision(args):
    import warnings

    import jax

    if args.x64:
        jax.config.update("jax_enable_x64", True)
    from . import study
    from .problems import load_problem

    problem = load_problem(args.problem)
    solvers = [name for name in args.solvers.split(",") if name]
    if args.tolerances is not None and args.levels is not None:
        raise UsageError("--tolerances: replaces --levels; give one of them")
    levels = _int_list("--levels", args.levels or "1,2,4,8,16,32")
    tolerances = None if args.tolerances is None else _float_list("--tolerances", args.tolerances)
    if args.repeats < 1:
        raise UsageError(f"--repeats: expected a positive integer, got {args.repeats}")
    out = Path(args.out)
    for name in (study.CSV_FILE, study.METADATA_FILE, study.FIGURE_FILE):
        if (out / name).exists() and not args.force:
            raise UsageError(f"--out: {out / name} exists (use --force to replace it)")
    check_writable_folder(out, "--out")
    reference, check = study.reference_solvers(args.reference, args.reference_level)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = study.workprecision(
            problem, solvers, levels, key=jax.random.PRNGKey(args.seed), repeats=args.repeats,
            reference=reference, check=check, weights=args.weights, tolerances=tolerances, progress=not args.quiet,
        )
    paths = study.save_workprecision(result, out, force=args.force)
    for label, reason in result.skipped.items():
        print(f"skipped {label}: {reason}")
    work = "rtol" if tolerances is not None else "level"
    print(f"{'solver':28s} {work:>7s} {'matvecs':>7s} {'seconds':>9s} {'value err':>9s} {'grad err':>9s}")
    for row in result.rows:
        mark = " diverged" if row.diverged else ("" if row.resolved else " *")
        print(
            f"{row.solver:28s} {row.level:7g} {row.matvecs:7d} {row.seconds:9.2e} "
            f"{row.value_error:9.1e} {row.gradient_error:9.1e}{mark}"
        )
    print(result.reference["message"])
    for warning in caught:
        if "diverged" in str(warning.message):
            print(f"warning: {warning.message}")
    if any(not row.resolved and not row.diverged for row in result.rows):
        print("* errors at the reference's accuracy floor: not confirmed by the reference check")
    for path in paths:
        print(f"wrote {path}")
    return 0


def _bench(args):
    import os

    import jax

    jax.config.update("jax_enable_x64", True)  # every row of the table is float64
    from .study import bench, machine_info

    if args.repeats is not None and args.repeats < 1:
        raise UsageError(f"--repeats: expected a positive integer, got {args.repeats}")
    out = Path(args.out)
    check_writable_folder(out, "--out")
    path = out / bench.CSV_FILE
    for existing in (path, metadata_path(path)):
        if existing.exists() and not args.force:  # checked before minutes of measuring, not after
            raise UsageError(f"--out: {existing} exists (use --force to replace it)")
    machine = machine_info()
    print(f"machine: {machine}")
    start = time.perf_counter()
    rows = bench.run_bench(quick=args.quick, repeats=args.repeats, progress=not args.quiet)
    seconds = time.perf_counter() - start
    print(bench.format_bench(rows))
    path = bench.save_bench(rows, out, force=args.force, machine=machine)
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())  # other work skews every row
    print(f"measured in {seconds:.0f} s (load average now {load}); wrote {path}")
    return 0


def _float_list(flag, text):
    try:
        values = [float(item) for item in text.split(",") if item.strip()]
    except ValueError:
        raise UsageError(f"{flag}: expected comma-separated numbers, got {text!r}") from None
    if not values:
        raise UsageError(f"{flag}: expected comma-separated numbers, got {text!r}")
    return values  # their range is checked by the library (a ValueError: one line, exit 2)


def _int_list(flag, text):
    try:
        values = [int(item) for item in text.split(",") if item.strip()]
    except ValueError:
        raise UsageError(f"{flag}: expected comma-separated integers, got {text!r}") from None
    if not values or min(values) < 1:
        raise UsageError(f"{flag}: expected positive integers, got {text!r}")
    return values


def _version() -> str:
    """The installed version, read without importing the package (and JAX) for `--version`."""
    import importlib.metadata

    try:
        return importlib.metadata.version("pdekrylov")
    except importlib.metadata.PackageNotFoundError:  # a source checkout that is not installed
        from . import __version__

        return __version__


def _add_x64(command, default="float32"):
    command.add_argument("--x64", action="store_true", help=f"run in float64 (default: {default})")


def _add_quiet(command):
    command.add_argument(
        "--quiet", action="store_true",
        help="no progress bars (they are off anyway when stderr is not a terminal)",
    )


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows an option's default in `--help` where it has a value of its own (not for
    switches, and not for None, which means "the problem's" or "see the text")."""

    def _get_help_string(self, action):
        switch_or_unset = action.default is None or action.default is False or action.default == argparse.SUPPRESS
        if switch_or_unset or "default" in (action.help or ""):  # (0 == False: compare by identity)
            return action.help
        return super()._get_help_string(action)


class _Parser(argparse.ArgumentParser):
    """argparse with usage errors as one line on stderr (exit code 2), like every other
    error of the CLI; `--help` shows the usage."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", _HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message):
        self.exit(2, f"error: {self.prog}: {message} (see {self.prog} --help)\n")


def build_parser():
    parser = _Parser(
        prog="pdekrylov",
        description="PDE inverse problems with Krylov solvers and exact adjoints.",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    parser.add_argument("--version", action="version", version=f"pdekrylov {_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = commands.add_parser(
        "demo", help="generate wave data, learn the wave speed with Arnoldi, plot (a few minutes)"
    )
    demo.add_argument("--out", default="pdekrylov-demo", help="output folder")
    demo.add_argument("--epochs", type=int, default=None, help="training epochs (default: the problem's)")
    demo.add_argument("--force", action="store_true", help="replace an existing output folder")
    _add_quiet(demo)
    demo.set_defaults(run=_demo)

    generate = commands.add_parser("generate", help="generate a dataset from a problem file")
    generate.add_argument("problem", help="a problem file, or the name of a shipped problem")
    generate.add_argument("--num", type=int, default=None, help="number of pairs (default: the problem's)")
    generate.add_argument("--seed", type=int, default=0, help="random seed")
    generate.add_argument("--out", required=True, help="output folder")
    generate.add_argument("--force", action="store_true", help="replace an existing folder")
    _add_x64(generate)
    _add_quiet(generate)
    generate.set_defaults(run=_generate)

    train = commands.add_parser("train", help="learn the coefficient field from a dataset")
    train.add_argument("problem", help="a problem file, or the name of a shipped problem")
    train.add_argument("--data", required=True, help="dataset folder (from `pdekrylov generate`)")
    train.add_argument("--out", required=True, help="run folder")
    train.add_argument("--solver", default=None,
                       help=f"{', '.join(KRYLOV_SOLVERS)}, or a Diffrax METHOD+ADJOINT such as "
                            "dopri5+backsolve, tsit5+recursive-checkpoint (default: the problem's)")
    train.add_argument("--depth", type=int, default=None,
                       help="Krylov depth (fixed depth; without it, Krylov solvers run in tolerance mode)")
    train.add_argument("--rtol", type=float, default=None,
                       help="tolerance of a Krylov solver's value and gradient (default 1e-6), or of "
                            "a Diffrax solver's PID controller")
    train.add_argument("--substeps", type=int, default=None,
                       help="with --depth: sub-intervals of [0, t1], each one Krylov decomposition")
    train.add_argument("--steps", type=int, default=None, help="fixed steps of a Diffrax solver (default: the problem's)")
    train.add_argument("--model", default=None, choices=list(MODELS),
                       help="field model: the paper's MLP, or one value per grid node (default: the problem's)")
    train.add_argument("--loss", default=None, choices=list(LOSSES), help="the loss (default: the problem's)")
    train.add_argument("--epochs", type=int, default=None, help="total number of epochs (default: the problem's)")
    train.add_argument("--seed", type=int, default=None, help="seed of the model initialisation (default: the problem's)")
    train.add_argument("--optimizer", default=None, choices=list(OPTIMIZERS),
                       help="the optimiser (default: the problem's)")
    train.add_argument("--lr", type=float, default=None, help="learning rate (default: the problem's)")
    train.add_argument("--devices", type=int, default=None,
                       help="data parallel over the first N devices (pairs sharded along the batch)")
    train.add_argument("--distributed", action="store_true",
                       help="one of several processes (hosts): call jax.distributed.initialize first")
    train.add_argument("--coordinator", default=None, help="with --distributed: HOST:PORT of process 0")
    train.add_argument("--num-processes", type=int, default=None, help="with --distributed: process count")
    train.add_argument("--process-id", type=int, default=None, help="with --distributed: this process's index")
    train.add_argument("--resume", action="store_true", help="continue the run in --out")
    train.add_argument("--force", action="store_true", help="start afresh in an existing --out")
    _add_x64(train, default="the dataset's precision")
    _add_quiet(train)
    train.set_defaults(run=_train)

    wp = commands.add_parser("workprecision", help="value and gradient error against work, per solver")
    wp.add_argument("problem", help="a problem file, or the name of a shipped problem")
    wp.add_argument("--solvers", default=",".join(DEFAULT_SOLVERS),
                    help="comma-separated solver names (Krylov, or Diffrax METHOD+ADJOINT)")
    wp.add_argument("--levels", default=None,
                    help="comma-separated work levels: Krylov depth / number of fixed steps "
                         "(default 1,2,4,8,16,32)")
    wp.add_argument("--tolerances", default=None,
                    help="instead of --levels: comma-separated rtol values for Krylov tolerance mode "
                         "and Diffrax's PID controller, side by side (e.g. 1e-2,1e-4,1e-6,1e-8)")
    wp.add_argument("--repeats", type=int, default=3, help="best-of-n wall time")
    wp.add_argument("--seed", type=int, default=0, help="seed of the data point and the loss weights")
    wp.add_argument("--weights", default=WEIGHTS[0], choices=WEIGHTS,
                    help="loss weights w of <w, y(t1)> (uniform on [0, 1) as in the paper)")
    wp.add_argument("--reference", default="dopri8", help="reference solver name (checked at 3/4 of its level)")
    wp.add_argument("--reference-level", type=int, default=256, help="steps or depth of the reference")
    wp.add_argument("--out", required=True, help="output folder")
    wp.add_argument("--force", action="store_true", help="replace existing files")
    _add_x64(wp)
    _add_quiet(wp)
    wp.set_defaults(run=_workprecision)

    bench = commands.add_parser("bench", help="pdekrylov's performance table with machine info (minutes)")
    bench.add_argument("--quick", action="store_true", help="skip the 512x512 grid, fewer repeats")
    bench.add_argument("--repeats", type=int, default=None, help="best-of-n timing (default 5, --quick 3)")
    bench.add_argument("--out", default="bench-results", help="folder of bench.csv")
    bench.add_argument("--force", action="store_true", help="replace an existing bench.csv")
    _add_quiet(bench)
    bench.set_defaults(run=_bench)
    return parser



def main(argv=None):
    """Run the CLI; returns the exit code (0 ok, 1 runtime failure, 2 bad input)."""
    parser = build_parser()
    args = parser.parse_args(argv)  # a usage error exits 2 with one line (`_Parser`)
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
        print(f"error: {type(error).__name__}: {_message_line(error)}", file=sys.stderr)
        return 1


def _message_line(error) -> str:
    """The one line that says what went wrong: an error raised inside jit by Equinox
    (`eqx.error_if`: a solver's `max_steps`, say) arrives wrapped in stack traces and
    paragraphs of debugging advice; its own message is the line naming it."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    marker = "EquinoxRuntimeError: "
    for line in lines:
        if marker in line:
            return line.split(marker, 1)[1]
    return lines[0] if lines else ""


if __name__ == "__main__":
    sys.exit(main())
