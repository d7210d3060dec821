"""Throughput of single-tensor initialization: initlab against torch.nn.init and Keras.

Run: python benchmarks/generation.py [--quick] [--repeats N] [--device cuda]

For each shape and initializer it prints million values per second, the ratio of
initlab's throughput to PyTorch's equivalent call (>1 means initlab is faster), the
same ratio against Keras 3 on its torch backend (when Keras is installed), and the
peak host memory initlab allocates beyond the output, as a fraction of the output.
Medians over repeated calls after a warm-up, all in one process. Targets (float32,
2 CPU cores) are checked at the end.
"""

from __future__ import annotations

import argparse
import gc
import math
import os
import statistics
import time
import tracemalloc

os.environ.setdefault("KERAS_BACKEND", "torch")

import numpy as np  # noqa: E402
import torch  # noqa: E402

import initlab  # noqa: E402

SHAPES = {
    "1024x1024": ((1024, 1024), (1024, 1024)),
    "4096x4096": ((4096, 4096), (4096, 4096)),
    "conv3x3 256->256": ((3, 3, 256, 256), (256, 256, 3, 3)),
    "50000x512": ((50000, 512), (512, 50000)),
}


def _keras():
    try:
        import keras

        return keras if keras.backend.backend() == "torch" else None
    except Exception:  # Keras is optional here
        return None


def _torch_fans(torch_shape):
    return torch.nn.init._calculate_fan_in_and_fan_out(
        torch.empty(torch_shape, device="meta")
    )


def cases(keras):
    """(family, initlab initializer, torch reference(tensor), keras initializer)."""

    def he_std(t):
        fan_in, _ = _torch_fans(t.shape)
        return math.sqrt(2.0 / fan_in)

    def trunc_ref(std_of):
        def ref(t):
            std = std_of(t)
            # Keras semantics: std before truncation, bounds at +-2 std.
            return torch.nn.init.trunc_normal_(t, std=std, a=-2 * std, b=2 * std)

        return ref

    k = keras.initializers if keras else None
    return [
        (
            "uniform",
            "glorot_uniform",
            initlab.GlorotUniform(seed=0),
            torch.nn.init.xavier_uniform_,
            k and k.GlorotUniform(seed=0),
        ),
        (
            "truncated",
            "he_normal",
            initlab.HeNormal(seed=0),
            trunc_ref(lambda t: he_std(t) / initlab.TRUNCATED_STD),
            k and k.HeNormal(seed=0),
        ),
        (
            "truncated",
            "truncated_normal",
            initlab.TruncatedNormal(seed=0),
            trunc_ref(lambda t: 0.05),
            k and k.TruncatedNormal(seed=0),
        ),
        (
            "normal",
            "random_normal",
            initlab.RandomNormal(seed=0),
            lambda t: torch.nn.init.normal_(t, std=0.05),
            k and k.RandomNormal(seed=0),
        ),
        (
            "orthogonal",
            "orthogonal",
            initlab.Orthogonal(seed=0),
            torch.nn.init.orthogonal_,
            k and k.Orthogonal(seed=0),
        ),
    ]


def timed(call, repeats):
    call()  # warm-up
    times = []
    for _ in range(repeats):
        gc.collect()
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def extra_memory(call, output_bytes):
    """Peak bytes NumPy allocates during ``call`` beyond its output, / output."""
    gc.collect()
    tracemalloc.start()
    call()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return max(0, peak - output_bytes) / output_bytes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small shapes, 3 repeats")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cpu", help="cpu or cuda (torch side)")
    args = parser.parse_args()
    device = torch.device(args.device)
    keras = _keras()
    shapes = {"1024x1024": SHAPES["1024x1024"]} if args.quick else SHAPES
    repeats = 3 if args.quick else args.repeats

    print(
        f"initlab {initlab.__version__}, torch {torch.__version__}, numpy "
        f"{np.__version__}, keras {keras.__version__ if keras else 'absent'}; "
        f"{os.cpu_count()} CPUs, initlab threads {initlab.get_num_threads()}, "
        f"torch threads {torch.get_num_threads()}, device {device}"
    )
    header = (
        f"{'shape':<18} {'initializer':<17} {'initlab M/s':>11} {'torch M/s':>10} "
        f"{'x torch':>8} {'x keras':>8} {'mem/out':>8}"
    )
    print(header)
    print("-" * len(header))
    results = []
    for label, (keras_shape, torch_shape) in shapes.items():
        numel = math.prod(keras_shape)
        for family, name, init, torch_ref, keras_init in cases(keras):
            if family == "orthogonal" and label == "50000x512" and args.quick:
                continue
            repeats_here = (
                1 if (family == "orthogonal" and numel > 4_000_000) else repeats
            )

            def ours(init=init, shape=keras_shape):
                return init(shape, "float32", name="bench")

            def theirs(reference=torch_ref, shape=torch_shape):
                tensor = torch.empty(shape, device=device)
                reference(tensor)
                if device.type == "cuda":
                    torch.cuda.synchronize()

            def keras_call(init=keras_init, shape=keras_shape):
                return init(shape, "float32")

            t_ours = timed(ours, repeats_here)
            t_torch = timed(theirs, repeats_here)
            t_keras = (
                timed(keras_call, repeats_here)
                if keras_init is not None
                else None
            )
            memory = extra_memory(ours, numel * 4)
            row = {
                "shape": label,
                "init": name,
                "family": family,
                "ours": numel / t_ours / 1e6,
                "torch": numel / t_torch / 1e6,
                "x_torch": t_torch / t_ours,
                "x_keras": (t_keras / t_ours) if t_keras else None,
                "memory": memory,
            }
            results.append(row)
            keras_text = f"{row['x_keras']:8.2f}" if row["x_keras"] else f"{'-':>8}"
            print(
                f"{label:<18} {name:<17} {row['ours']:11.1f} {row['torch']:10.1f} "
                f"{row['x_torch']:8.2f} {keras_text} {memory:8.2f}",
                flush=True,
            )

    targets = {
        "uniform": ("x_torch", 1.2),
        "truncated": ("x_torch", 3.0),
        "normal": ("x_torch", 0.8),
        "orthogonal": ("x_torch", 0.7),
    }
    print("\ntargets (ratio = torch time / initlab time; higher is better):")
    for family, (key, target) in targets.items():
        rows = [
            r
            for r in results
            if r["family"] == family
            and not (
                family == "orthogonal" and r["shape"] not in ("1024x1024", "4096x4096")
            )
        ]
        worst = min(r[key] for r in rows)
        print(
            f"  {family:<11} worst x torch {worst:6.2f}  target >= {target}: "
            f"{'met' if worst >= target else 'NOT met'}"
        )
    truncated = [r for r in results if r["family"] == "truncated" and r["x_keras"]]
    if truncated:
        worst = min(r["x_keras"] for r in truncated)
        print(
            f"  {'truncated':<11} worst x keras {worst:6.2f}  target >= 3.0: "
            f"{'met' if worst >= 3.0 else 'NOT met'}"
        )
    worst_memory = max(r["memory"] for r in results if r["family"] != "orthogonal")
    print(
        f"  memory      worst extra/output {worst_memory:5.2f}  target <= 0.25: "
        f"{'met' if worst_memory <= 0.25 else 'NOT met'} (orthogonal excluded: its "
        "QR needs a working matrix)"
    )


if __name__ == "__main__":
    main()
