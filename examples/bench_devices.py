"""Benchmark data-parallel training: pairs per second on 1 and on N devices.

What is measured: `pk.train.fit(problem, dataset, devices=...)` trains the problem's
model with its solver (`wave-small`: the MLP through Arnoldi) for `--epochs` epochs;
throughput is training pairs × timed epochs / their seconds (`history[i]["seconds"]`,
one optimiser step each; the compiling first epoch is excluded).

Every configuration runs in its own Python process, because the device count of a CPU
is fixed when JAX starts (`XLA_FLAGS=--xla_force_host_platform_device_count=K`):

- `1 device (plain)`: a process as JAX starts by default (one CPU device; XLA's
  intra-op threads use every core);
- `d of K host devices`: a process whose CPU is split into K host devices, training on
  the first d of them (`devices=d`);

and the sequence is repeated `--repeats` times (interleaved), best throughput kept.

On a CPU, forced host devices share the same cores: this measures the overhead and the
scheduling of XLA's SPMD partitioning, not a speed-up from new hardware. On a host with
several GPUs, run `python examples/bench_devices.py --host-devices 0 --devices 1,2,4,8`:
`--host-devices 0` forces nothing and uses the accelerators JAX finds.

Run: `python examples/bench_devices.py` (about 2 minutes on 2 CPU cores). Options:
`--problem wave-small`, `--pairs 64` (dataset size; the problem's test fraction is held
out), `--epochs 20`, `--repeats 2`, `--devices 1,2`, `--host-devices 2`.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problem", default="wave-small")
    parser.add_argument("--pairs", type=int, default=64, help="dataset size")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--devices", default="1,2", help="comma-separated device counts to train on")
    parser.add_argument("--host-devices", type=int, default=2,
                        help="split the CPU into this many host devices (0: force nothing)")
    parser.add_argument("--worker", nargs=3, metavar=("DATA", "DEVICES", "EPOCHS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args.problem, *args.worker)

    counts = [int(c) for c in args.devices.split(",")]
    configurations = [("1 device (plain)", None, None)]
    forced = args.host_devices or None
    configurations += [(f"{d} of {forced or 'all'} {'host ' if forced else ''}devices", forced, d) for d in counts]

    import pdekrylov as pk
    from _benchmarking import machine_info

    print(f"machine: {machine_info()}")
    problem = pk.problems.load_problem(args.problem)
    best = {}
    with tempfile.TemporaryDirectory() as folder:
        import jax

        dataset = pk.data.generate(problem, args.pairs, jax.random.PRNGKey(0))
        pk.data.save(dataset, Path(folder) / "data")
        for repeat in range(args.repeats):
            for label, host_devices, devices in configurations:
                result = run_worker(args.problem, Path(folder) / "data", devices, args.epochs, host_devices)
                print(f"  repeat {repeat + 1}: {label}: {result['pairs_per_second']:.1f} pairs/s", flush=True)
                if label not in best or result["pairs_per_second"] > best[label]["pairs_per_second"]:
                    best[label] = result
    baseline = best[configurations[0][0]]["pairs_per_second"]
    print(f"\n{args.problem}: {best[configurations[0][0]]['train_pairs']} training pairs, "
          f"{args.epochs} epochs, best of {args.repeats}\n")
    print("| configuration | devices | padded pairs | s/epoch | pairs/s | vs plain |")
    print("|---|---|---|---|---|---|")
    for label, _, _ in configurations:
        r = best[label]
        print(f"| {label} | {r['devices']} | {r['padded_pairs']} | {r['seconds_per_epoch']:.3f} | "
              f"{r['pairs_per_second']:.1f} | {r['pairs_per_second'] / baseline:.2f} |")


def run_worker(problem, data, devices, epochs, host_devices):
    """One configuration in a fresh process; returns its JSON result."""
    env = dict(os.environ)
    env.pop("XLA_FLAGS", None)
    if host_devices:
        env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={host_devices}"
    command = [sys.executable, __file__, "--problem", problem, "--worker", str(data), str(devices), str(epochs)]
    completed = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        raise RuntimeError(f"worker failed:\n{completed.stderr[-3000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def worker(problem, data, devices, epochs):
    """Train and print throughput as one JSON line (run in a subprocess)."""
    import pdekrylov as pk

    devices = None if devices == "None" else int(devices)
    result = pk.train.fit(problem, pk.data.load(data), epochs=int(epochs), devices=devices, eval_every=int(epochs))
    metrics = result.metrics
    timed = [h["seconds"] for h in metrics["history"] if not h["includes_compile"]]
    print(json.dumps({
        "devices": metrics["devices"],
        "padded_pairs": metrics["padded_pairs"]["train"],
        "train_pairs": metrics["train_pairs"],
        "seconds_per_epoch": sum(timed) / len(timed),
        "pairs_per_second": metrics["train_pairs"] * len(timed) / sum(timed),
    }))


if __name__ == "__main__":
    sys.exit(main())
