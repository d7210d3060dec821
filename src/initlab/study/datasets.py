"""Datasets of a study, split once into train and test sets.

Only ``digits`` for now: scikit-learn's 1,797 handwritten 8 x 8 digits, pixels scaled
from 0..16 to [0, 1]. The split is stratified, 80/20, drawn with the study's split
seed, and the same for every run; what differs between runs is the order in which
each epoch visits the training set (see :func:`epoch_order`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from initlab import seeds
from initlab.study.spec import DATASETS

__all__ = ["TEST_FRACTION", "Dataset", "epoch_order", "load_dataset", "preload"]

#: Share of the examples held out for testing.
TEST_FRACTION = 0.2


@dataclass(frozen=True)
class Dataset:
    """A dataset split into train and test arrays.

    Attributes:
        name: The dataset name.
        x_train: float32 features of shape ``(n_train, n_features)``.
        y_train: int64 labels of shape ``(n_train,)``.
        x_test: float32 features of shape ``(n_test, n_features)``.
        y_test: int64 labels of shape ``(n_test,)``.
        n_classes: The number of classes.
        split_seed: The seed the split was drawn with.
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    n_classes: int
    split_seed: int

    @property
    def n_features(self) -> int:
        return self.x_train.shape[1]


_CACHE: dict[tuple[str, int], Dataset] = {}


def preload(dataset: Dataset) -> None:
    """Put an already split dataset in this process's cache (worker processes get
    the driver's arrays this way instead of importing scikit-learn)."""
    _CACHE[dataset.name, dataset.split_seed] = dataset


def load_dataset(name: str, split_seed: int = 0) -> Dataset:
    """Load ``name`` and split it 80/20, stratified by label, with ``split_seed``.

    The result is cached per process; its arrays are read-only.

    Raises:
        ValueError: an unknown dataset name.
    """
    if name not in DATASETS:
        raise ValueError(f"Unknown dataset {name!r}. Accepted: {', '.join(DATASETS)}.")
    seeds.check_seed(split_seed, "split_seed")
    if (name, split_seed) not in _CACHE:
        preload(_split(name, split_seed))
    return _CACHE[name, split_seed]


def _split(name: str, split_seed: int) -> Dataset:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x = (digits.data / 16.0).astype(np.float32)
    y = digits.target.astype(np.int64)
    # sklearn takes a 32-bit random_state; fold larger seeds into that range.
    state = split_seed % 2**32
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=TEST_FRACTION, stratify=y, random_state=state
    )
    arrays = [np.ascontiguousarray(a) for a in (x_train, y_train, x_test, y_test)]
    for array in arrays:
        array.setflags(write=False)
    return Dataset(name, *arrays, n_classes=int(y.max()) + 1, split_seed=split_seed)


def epoch_order(seed: int, epoch: int, n: int) -> np.ndarray:
    """The order in which epoch ``epoch`` (1-based) visits ``n`` training examples.

    A permutation drawn from the stream ``(seed, "data/epoch/<epoch>")``: it depends on
    the run seed and the epoch only, never on the initializer, so runs that share a
    seed see their data in the same order and can be compared pairwise.
    """
    return seeds.stream(seed, f"data/epoch/{epoch}").permutation(n)
