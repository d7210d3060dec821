"""Runs per minute: 16 seeds of the default MLP trained one by one, then batched.

Run: python benchmarks/study_throughput.py [--seeds 16] [--epochs 20] [--repeat 3]

Trains the runs of one grid cell of the default study (digits, the default MLP,
glorot_uniform, Adam at lr 1e-3, batches of 32, 20 epochs) once per seed with
``train_run`` (what ``initlab study`` does) and once as one batched model with
``train_group`` (what ``initlab study --batched`` does), both in this process on the
one pinned thread a run uses, and prints runs per minute for each and their ratio.
The modes take turns ``--repeat`` times and each keeps its best wall time; the
ratio of the best CPU times (this process's, which other processes on shared
CPUs disturb less) is printed next to the wall-time ratio. It also
prints how far the batched results are from the sequential ones. The target is a
ratio of at least 4 on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import torch

from initlab.study import StudySpec
from initlab.study.train import RUN_THREADS, train_group, train_run


def _timed(call):
    wall, cpu = time.perf_counter(), time.process_time()
    value = call()
    return time.perf_counter() - wall, time.process_time() - cpu, value


def main() -> None:
    defaults = StudySpec()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=16)
    parser.add_argument("--epochs", type=int, default=defaults.epochs)
    parser.add_argument("--init", default="glorot_uniform")
    parser.add_argument("--repeat", type=int, default=3,
                        help="Timings per mode; the fastest is kept.")
    args = parser.parse_args()

    runs = StudySpec(inits=(args.init,), seeds=args.seeds, epochs=args.epochs).runs()
    train_group(runs[:2])  # warm up: import and build everything once
    walls: dict[str, list[float]] = {"sequential": [], "batched": []}
    cpus: dict[str, list[float]] = {"sequential": [], "batched": []}
    for _ in range(args.repeat):  # interleaved, so a busy spell hits both modes
        wall, cpu, solo = _timed(lambda: [train_run(run) for run in runs])
        walls["sequential"].append(wall)
        cpus["sequential"].append(cpu)
        wall, cpu, group = _timed(lambda: train_group(runs))
        walls["batched"].append(wall)
        cpus["batched"].append(cpu)
    sequential, batched = min(walls["sequential"]), min(walls["batched"])
    cpu_ratio = min(cpus["sequential"]) / min(cpus["batched"])

    statuses = {result.status for result in [*solo, *group]}
    worst_loss = max(abs(a.final.test_loss - b.final.test_loss)
                     for a, b in zip(solo, group, strict=True))
    worst_acc = max(abs(a.final.test_acc - b.final.test_acc)
                    for a, b in zip(solo, group, strict=True))
    n = len(runs)
    print(f"{n} seeds of the default MLP ({args.init}), {args.epochs} epochs, "
          f"{RUN_THREADS} torch thread; torch {torch.__version__}, "
          f"{platform.machine()}, {os.cpu_count()} CPU(s); best of {args.repeat}")
    print(f"sequential  {60 * n / sequential:8.1f} runs/min  ({sequential:.2f} s)")
    print(f"batched     {60 * n / batched:8.1f} runs/min  ({batched:.2f} s)")
    print(f"ratio       {sequential / batched:8.2f} x   (target: >= 4); by CPU time "
          f"{cpu_ratio:.2f} x")
    print(f"batched vs sequential, final epoch: |test loss| <= {worst_loss:.2e}, "
          f"|test acc| <= {worst_acc:.4f}; statuses {sorted(statuses)}")


if __name__ == "__main__":
    main()
