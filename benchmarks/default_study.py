"""The default study, timed: 15 catalog initializers x 10 seeds on digits, MLP.

Run: python benchmarks/default_study.py [--workers N] [--epochs E] [--seeds N]

Runs ``initlab study`` with its defaults (through the Python API, the same code the
command calls) into a temporary folder, then prints the wall time, runs per
minute, the per-run training time, and the top of the ranking. The target is under
5 minutes on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

from initlab.study import Store, StudySpec, run_study


def main() -> None:
    defaults = StudySpec()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=None,
                        help="Training processes (default: as initlab study).")
    parser.add_argument("--epochs", type=int, default=defaults.epochs)
    parser.add_argument("--seeds", type=int, default=defaults.seeds)
    args = parser.parse_args()

    spec = StudySpec(epochs=args.epochs, seeds=args.seeds)
    with tempfile.TemporaryDirectory(prefix="initlab-study-") as out:
        started = time.perf_counter()
        outcome = run_study(spec, out, workers=args.workers)
        wall = time.perf_counter() - started
        with Store(os.path.join(out, "results.sqlite")) as store:
            durations = [run["duration_s"] for run in store.runs()]

    runs = outcome.trained
    print(f"default study: {len(spec.inits)} inits x {spec.seeds} seeds x "
          f"{spec.epochs} epochs = {runs} runs on {os.cpu_count()} CPU(s)")
    print(f"wall time      {wall:8.1f} s   (target: under 300 s)")
    print(f"runs / minute  {60 * runs / wall:8.1f}")
    print(f"per run        {statistics.median(durations):8.3f} s median, "
          f"{max(durations):.3f} s max (inside the worker)")
    print(f"statuses       {outcome.counts}")
    for rank, cell in enumerate(outcome.cells[:3], start=1):
        print(f"#{rank} {cell.settings['init']:<16} test acc {cell.mean:.4f} "
              f"+- {cell.std:.4f} (n={cell.n})")


if __name__ == "__main__":
    main()
