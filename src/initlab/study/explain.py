"""Deterministic versus non-deterministic training, shown by running it (issue 4.5).

Three tiny trainings on scikit-learn's digits (512 training examples, the study's
split with split seed 0; an MLP 64-16-10 with tanh), about a second in all:

1. **Full-batch gradient descent from one start repeats exactly.** The same initial
   weights (``glorot_uniform``, seed 0) trained three times with full-batch GD give
   the same fingerprint after training every time: nothing random is left.
2. **Stochastic training from one start is a distribution.** The same initial
   weights trained with mini-batch SGD, each time visiting the data in the order of
   another data-order seed, end at different weights and different test accuracies:
   the data order alone makes a spread.
3. **From Zeros no seed breaks the symmetry.** Every hidden unit starts identical
   and gets the same update, whatever the seed (which here also sets the data
   order), so after training the hidden layer still has one distinct unit.

:func:`explain` runs them and returns the numbers; the study report shows them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional as F

__all__ = ["Explanation", "explain"]

#: The tiny problem.
N_TRAIN = 512
WIDTH = 16
ACTIVATION = "tanh"
GD_STEPS = 40
GD_LR = 0.5
GD_REPEATS = 3
SGD_LR = 0.1
SGD_BATCH = 16
SGD_EPOCHS = 2
ORDER_SEEDS = tuple(range(6))
ZERO_SEEDS = tuple(range(4))


@dataclass(frozen=True)
class Explanation:
    """What the three tiny trainings gave.

    Attributes:
        setup: One sentence describing the problem and the model.
        gd_start: Fingerprint of the common start of parts 1 and 2.
        gd_fingerprints: Fingerprints after full-batch GD, one per repeat.
        gd_acc: Test accuracy after full-batch GD, one per repeat.
        sgd_seeds: The data-order seeds of part 2.
        sgd_fingerprints: Fingerprints after SGD, one per data-order seed.
        sgd_acc: Test accuracy after SGD, one per data-order seed.
        zero_seeds: The seeds of part 3.
        zero_distinct_units: Distinct hidden units after training, per seed.
        zero_acc: Test accuracy after training from Zeros, per seed.
        width: Hidden units of the model.
    """

    setup: str
    gd_start: str
    gd_fingerprints: tuple[str, ...]
    gd_acc: tuple[float, ...]
    sgd_seeds: tuple[int, ...]
    sgd_fingerprints: tuple[str, ...]
    sgd_acc: tuple[float, ...]
    zero_seeds: tuple[int, ...]
    zero_distinct_units: tuple[int, ...]
    zero_acc: tuple[float, ...]
    width: int = WIDTH

    @property
    def gd_identical(self) -> bool:
        """Every full-batch GD repeat ended at the same weights, bit for bit."""
        return len(set(self.gd_fingerprints)) == 1

    @property
    def sgd_distinct(self) -> int:
        """How many different end points the data orders gave."""
        return len(set(self.sgd_fingerprints))

    @property
    def zero_symmetric(self) -> bool:
        """No seed left more than one distinct hidden unit."""
        return all(units == 1 for units in self.zero_distinct_units)

    def rows(self) -> list[tuple[str, str, str]]:
        """``(experiment, what varied, what came out)`` for a three-row table."""
        acc = np.asarray(self.sgd_acc)
        gd_acc = (f"{self.gd_acc[0]:.4f} every time" if len(set(self.gd_acc)) == 1
                  else ", ".join(f"{a:.4f}" for a in self.gd_acc))
        return [
            ("1. full-batch gradient descent, same start",
             f"{len(self.gd_fingerprints)} repeats",
             f"{len(set(self.gd_fingerprints))} distinct model(s) after "
             f"{GD_STEPS} steps (fingerprint {self.gd_fingerprints[0]}); test "
             f"accuracy {gd_acc}"),
            ("2. mini-batch SGD, same start, other data orders",
             f"data-order seeds {_seeds(self.sgd_seeds)}",
             f"{self.sgd_distinct} distinct models after {SGD_EPOCHS} epochs; test "
             f"accuracy from {acc.min():.4f} to {acc.max():.4f} "
             f"(std {acc.std(ddof=1):.4f} over {len(acc)} orders)"),
            ("3. Zeros, mini-batch SGD",
             f"seeds {_seeds(self.zero_seeds)}",
             f"distinct hidden units after training: "
             f"{', '.join(map(str, self.zero_distinct_units))} of {self.width}; "
             f"test accuracy at most {max(self.zero_acc):.4f}"),
        ]

    def conclusions(self) -> list[str]:
        """One sentence per part, stating what the numbers show."""
        return [
            ("Same start + full-batch GD: " + (
                "the same model every time (one fingerprint); deterministic."
                if self.gd_identical else
                "different models: something non-deterministic ran.")),
            (f"Same start + shuffled mini-batches: {self.sgd_distinct} different "
             f"models from {len(self.sgd_seeds)} data orders; the data order alone "
             "spreads the final accuracy, so a study needs several seeds."),
            ("Zeros: " + (
                "every hidden unit stays identical for every seed; no seed breaks "
                "the symmetry, so the network never uses more than one hidden unit."
                if self.zero_symmetric else "some seed separated the hidden units.")),
        ]

    def markdown(self) -> list[str]:
        """The section as Markdown lines (without its heading)."""
        lines = [self.setup, "", "| experiment | what varied | result |",
                 "|---|---|---|"]
        lines += [f"| {a} | {b} | {c} |" for a, b, c in self.rows()]
        lines += [""] + [f"- {line}" for line in self.conclusions()]
        return lines


def _seeds(seeds: tuple[int, ...]) -> str:
    return f"{seeds[0]}..{seeds[-1]}" if len(seeds) > 2 else ", ".join(map(str, seeds))


def _distinct_units(model: torch.nn.Module) -> int:
    """Distinct hidden units: rows of (incoming weights, bias), outgoing columns."""
    hidden, output = model.hidden1, model.output
    units = torch.cat([hidden.weight, hidden.bias[:, None], output.weight.T], dim=1)
    return len({row.numpy().tobytes() for row in units.detach()})


def explain() -> Explanation:
    """Run the three tiny trainings (about a second on one CPU thread)."""
    from initlab.study.datasets import epoch_order, load_dataset
    from initlab.study.models import build_model
    from initlab.study.train import pinned_threads
    from initlab.torch import fingerprint, initialize

    data = load_dataset("digits", 0)
    x = torch.from_numpy(data.x_train[:N_TRAIN].copy())
    y = torch.from_numpy(data.y_train[:N_TRAIN].copy())
    x_test = torch.from_numpy(data.x_test.copy())
    y_test = torch.from_numpy(data.y_test.copy())

    def start(policy: str, seed: int) -> torch.nn.Module:
        model = build_model("mlp", data.n_features, data.n_classes, depth=1,
                            width=WIDTH, activation=ACTIVATION)
        initialize(model, policy=policy, seed=seed)
        return model

    def accuracy(model: torch.nn.Module) -> float:
        with torch.no_grad():
            return float((model(x_test).argmax(1) == y_test).double().mean())

    def sgd(model: torch.nn.Module, order_seed: int) -> torch.nn.Module:
        optimizer = torch.optim.SGD(model.parameters(), lr=SGD_LR)
        for epoch in range(1, SGD_EPOCHS + 1):
            order = torch.from_numpy(epoch_order(order_seed, epoch, N_TRAIN))
            for begin in range(0, N_TRAIN, SGD_BATCH):
                index = order[begin : begin + SGD_BATCH]
                optimizer.zero_grad(set_to_none=True)
                F.cross_entropy(model(x[index]), y[index]).backward()
                optimizer.step()
        return model

    with pinned_threads():
        gd_start = fingerprint(start("glorot_uniform", 0))
        gd_prints, gd_acc = [], []
        for _ in range(GD_REPEATS):
            model = start("glorot_uniform", 0)
            optimizer = torch.optim.SGD(model.parameters(), lr=GD_LR)
            for _ in range(GD_STEPS):
                optimizer.zero_grad(set_to_none=True)
                F.cross_entropy(model(x), y).backward()
                optimizer.step()
            gd_prints.append(fingerprint(model))
            gd_acc.append(accuracy(model))

        sgd_prints, sgd_acc = [], []
        for seed in ORDER_SEEDS:
            model = sgd(start("glorot_uniform", 0), seed)
            sgd_prints.append(fingerprint(model))
            sgd_acc.append(accuracy(model))

        zero_units, zero_acc = [], []
        for seed in ZERO_SEEDS:
            model = sgd(start("zeros", seed), seed)
            zero_units.append(_distinct_units(model))
            zero_acc.append(accuracy(model))

    setup = (f"Tiny trainings run while this report was written: digits "
             f"({N_TRAIN} training examples, the 360 test examples of split seed 0), "
             f"an MLP 64-{WIDTH}-10 with {ACTIVATION}, one CPU thread. Parts 1 and 2 "
             f"start from the same glorot_uniform weights (seed 0, fingerprint "
             f"{gd_start}); part 1 takes {GD_STEPS} full-batch steps (lr {GD_LR}), "
             f"parts 2 and 3 take {SGD_EPOCHS} epochs of mini-batch SGD (batch "
             f"{SGD_BATCH}, lr {SGD_LR}) in the order drawn from the seed's "
             "data streams.")
    return Explanation(
        setup=setup, gd_start=gd_start, gd_fingerprints=tuple(gd_prints),
        gd_acc=tuple(gd_acc), sgd_seeds=ORDER_SEEDS,
        sgd_fingerprints=tuple(sgd_prints), sgd_acc=tuple(sgd_acc),
        zero_seeds=ZERO_SEEDS, zero_distinct_units=tuple(zero_units),
        zero_acc=tuple(zero_acc),
    )
