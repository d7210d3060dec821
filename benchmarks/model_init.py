"""Whole-model initialization: a GPT-2-small-sized stack (about 124 M parameters).

Run: python benchmarks/model_init.py [--repeats N] [--device cuda]

Compares PyTorch's default constructor (which runs every module's
reset_parameters) against building the same model on the meta device and
materializing it with ``initlab.torch.initialize(policy="keras", seed=0)``. Prints
the median times, their ratio (>1 means initlab is faster), and checks that the
fingerprint is the same with 1 and 2 drawing threads.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time

import torch
from torch import nn

import initlab
import initlab.torch


class Block(nn.Module):
    def __init__(self, width: int = 768):
        super().__init__()
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)
        self.up = nn.Linear(width, 4 * width)
        self.down = nn.Linear(4 * width, width)


class Stack(nn.Module):
    """12 blocks of 768 -> 2304, 768 -> 768, 768 -> 3072, 3072 -> 768, and a
    50257 x 768 embedding."""

    def __init__(self, blocks: int = 12, width: int = 768, vocab: int = 50257):
        super().__init__()
        self.embedding = nn.Embedding(vocab, width)
        self.blocks = nn.ModuleList(Block(width) for _ in range(blocks))


def timed(call, repeats: int) -> float:
    call()
    times = []
    for _ in range(repeats):
        gc.collect()
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    device = torch.device(args.device)

    def default_ctor():
        model = Stack().to(device)
        if device.type == "cuda":
            torch.cuda.synchronize()
        return model

    def initlab_ctor():
        with torch.device("meta"):
            model = Stack()
        initlab.torch.initialize(model, policy="keras", seed=0, device=device)
        if device.type == "cuda":
            torch.cuda.synchronize()
        return model

    params = sum(p.numel() for p in Stack(blocks=1, vocab=1).parameters())
    total = sum(p.numel() for p in initlab_ctor().parameters())
    print(
        f"model: {total / 1e6:.1f} M parameters (one block: {params / 1e6:.1f} M); "
        f"torch threads {torch.get_num_threads()}, initlab threads "
        f"{initlab.get_num_threads()}, device {device}"
    )
    t_default = timed(default_ctor, args.repeats)
    t_initlab = timed(initlab_ctor, args.repeats)
    print(f"PyTorch default constructor          {t_default * 1000:8.1f} ms")
    print(f"meta + initlab.torch.initialize      {t_initlab * 1000:8.1f} ms")
    ratio = t_default / t_initlab
    print(
        f"ratio (default / initlab)            {ratio:8.2f}  target >= 1.0: "
        f"{'met' if ratio >= 1.0 else 'NOT met'}"
    )

    before = initlab.get_num_threads()
    prints = []
    for threads in (1, 2):
        initlab.set_num_threads(threads)
        prints.append(initlab.torch.fingerprint(initlab_ctor()))
    initlab.set_num_threads(before)
    same = prints[0] == prints[1]
    print(
        f"fingerprint at 1 and 2 threads       {prints[0]} {prints[1]} "
        f"{'identical' if same else 'DIFFERENT'}"
    )


if __name__ == "__main__":
    main()
