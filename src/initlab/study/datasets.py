"""Datasets of a study, split once into train and test sets.

Built-in datasets (nothing is downloaded):

- ``digits``: scikit-learn's 1,797 handwritten 8 x 8 digits, pixels scaled from 0..16
  to [0, 1]; images (an MLP reads 64 values, a CNN one 8 x 8 channel, an LSTM 8 steps
  of 8 pixels, one row per step);
- ``mnist1d``: the 5,000 signals of length 40 that the ``mnist1d`` package generates at
  its published default settings (``get_dataset_args()``, seed 42), standardized as
  the package does; signals (a CNN reads one channel with ``Conv1d``, an LSTM 40 steps
  of one value);
- ``breast_cancer``, ``wine``, ``iris``: scikit-learn's bundled tables (30, 13 and 4
  features), standardized with the training split's mean and standard deviation; for
  the MLP only.

A user's file (see :mod:`initlab.study.sources`): NPZ with ``x`` (examples first) and
``y``, CSV with a header row and a label column, or an MNIST-format IDX pair. The
shape of one example says what it is: ``(F,)`` a signal, ``(H, W)`` an image (or
``H`` steps of ``W`` values for an LSTM), ``(C, H, W)`` an image of ``C`` channels; a
CSV row is a table row. ``uint8`` values are scaled by 1/255; other numbers are used
as they are. Labels must be non-negative integers.

Every dataset is split with the study's split seed, stratified, 80/20, the same for
every run; what differs between runs is the order in which each epoch visits the
training set (see :func:`epoch_order`).
"""

from __future__ import annotations

import csv
import gzip
import random
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from initlab import seeds
from initlab.study.sources import DataFileError, DataSource, resolve_source, sha256_of

__all__ = [
    "KINDS",
    "TEST_FRACTION",
    "DataFileError",
    "Dataset",
    "epoch_order",
    "load_dataset",
    "preload",
]

#: Share of the examples held out for testing.
TEST_FRACTION = 0.2
#: What an example is: decides which models can read it.
KINDS = ("image", "signal", "table")


@dataclass(frozen=True)
class Dataset:
    """A dataset split into train and test arrays.

    Attributes:
        name: The dataset's name (a data file's name).
        x_train: float32 features of shape ``(n_train, n_features)``: each example
            flattened in C order; ``shape`` gives it back its form.
        y_train: int64 labels of shape ``(n_train,)``.
        x_test: float32 features of shape ``(n_test, n_features)``.
        y_test: int64 labels of shape ``(n_test,)``.
        n_classes: The number of classes (the largest label + 1).
        split_seed: The seed the split was drawn with.
        shape: The shape of one example, e.g. ``(8, 8)`` for digits.
        kind: ``"image"``, ``"signal"`` or ``"table"`` (see :data:`KINDS`).
        source: A data file's :meth:`DataSource.to_json`; empty for built-ins.
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    n_classes: int
    split_seed: int
    shape: tuple[int, ...] = ()
    kind: str = "table"
    source: str = ""

    def __post_init__(self) -> None:
        if not self.shape:
            object.__setattr__(self, "shape", (self.x_train.shape[1],))

    @property
    def n_features(self) -> int:
        return self.x_train.shape[1]

    @property
    def key(self) -> str:
        """What :func:`load_dataset` takes to give this dataset back."""
        return self.source or self.name


_CACHE: dict[tuple[str, int], Dataset] = {}
_RAW: dict[str, tuple] = {}


def preload(dataset: Dataset) -> None:
    """Put an already split dataset in this process's cache (worker processes get
    the driver's arrays this way instead of reading or generating them again)."""
    _CACHE[dataset.key, dataset.split_seed] = dataset


def load_dataset(name: str | DataSource, split_seed: int = 0) -> Dataset:
    """Load a dataset and split it 80/20, stratified by label, with ``split_seed``.

    Args:
        name: A built-in name, a :class:`DataSource`, its JSON (``RunSpec.data_key``)
            or a data file's path.
        split_seed: The seed of the split.

    The result is cached per process; its arrays are read-only.

    Raises:
        ValueError: an unknown dataset name, or a data file that cannot be used
            (:class:`DataFileError`, one sentence naming the file and the problem).
    """
    if isinstance(name, DataSource):
        source = name
    elif isinstance(name, str) and name.startswith("{"):
        source = DataSource.from_json(name)
    else:
        source = resolve_source(name)
    key = source.to_json() or source.name
    seeds.check_seed(split_seed, "split_seed")
    if (key, split_seed) not in _CACHE:
        preload(_split(source, split_seed))
    return _CACHE[key, split_seed]


# ------------------------------------------------------------------------ built-ins


def _digits() -> tuple:
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = (digits.data / 16.0).astype(np.float32)
    return x, digits.target.astype(np.int64), (8, 8), "image"


def _mnist1d() -> tuple:
    """The mnist1d package's generator at its default settings; the global Python
    and NumPy random states (which it seeds and uses) are restored afterwards."""
    from mnist1d.data import get_dataset_args, make_dataset

    python_state, numpy_state = random.getstate(), np.random.get_state()
    try:
        with warnings.catch_warnings():
            # SciPy deprecates interp1d, which mnist1d's transform calls.
            warnings.filterwarnings("ignore", message=r"(?s).*interp1d",
                                    category=DeprecationWarning)
            data = make_dataset(get_dataset_args())
    finally:
        random.setstate(python_state)
        np.random.set_state(numpy_state)
    x = np.concatenate([data["x"], data["x_test"]]).astype(np.float32)
    y = np.concatenate([data["y"], data["y_test"]]).astype(np.int64)
    return x, y, (x.shape[1],), "signal"


def _table(name: str) -> tuple:
    from sklearn import datasets

    bunch = getattr(datasets, f"load_{name}")()
    x = bunch.data.astype(np.float64)
    return x, bunch.target.astype(np.int64), (x.shape[1],), "table"


def _builtin(name: str) -> tuple:
    if name not in _RAW:
        if name == "digits":
            _RAW[name] = _digits()
        elif name == "mnist1d":
            _RAW[name] = _mnist1d()
        else:
            _RAW[name] = _table(name)
    return _RAW[name]


# ---------------------------------------------------------------------------- files


def _fail(source: DataSource, problem: str) -> DataFileError:
    return DataFileError(f"Data file {source.path!r} {problem}")


def _check_content(source: DataSource) -> None:
    paths = [Path(source.path)] + ([Path(source.labels)] if source.labels else [])
    for path in paths:
        if not path.is_file():
            raise DataFileError(f"Data file {str(path)!r} does not exist.")
        if path.stat().st_size == 0:
            raise DataFileError(f"Data file {str(path)!r} is empty.")
    if source.sha256 and sha256_of(*paths) != source.sha256:
        raise _fail(source, "has changed since the study recorded it (its SHA-256 "
                            "differs); restore it or start a new study.")


def _labels(source: DataSource, y: np.ndarray, where: str = "") -> np.ndarray:
    """Labels as int64; refuse anything but non-negative whole numbers."""
    if y.ndim != 1:
        raise _fail(source, f"has labels of shape {y.shape}{where}; labels must be "
                            "one integer per example.")
    if y.dtype.kind in "iu":
        labels = y.astype(np.int64)
    elif y.dtype.kind == "f":
        bad = y[~np.isfinite(y) | (y != np.round(y))] if len(y) else y
        if len(bad):
            raise _fail(source, f"has a label {bad[0].item()!r}{where} that is not an "
                                "integer; labels must be integers (class numbers).")
        labels = y.astype(np.int64)
    else:
        sample = y[0].item() if len(y) else ""
        raise _fail(source, f"has labels of type {y.dtype} (e.g. {sample!r}){where}; "
                            "labels must be integers (class numbers).")
    if len(labels) and labels.min() < 0:
        raise _fail(source, f"has a negative label {int(labels.min())}{where}; labels "
                            "must be integers >= 0.")
    return labels


def _features(source: DataSource, x: np.ndarray, name: str = "x") -> np.ndarray:
    if x.dtype.kind not in "iufb":
        raise _fail(source, f"has {name} of type {x.dtype}; the features must be "
                            "numbers.")
    if x.dtype == np.uint8:
        return x.astype(np.float32) / 255.0
    x = x.astype(np.float32)
    if not np.isfinite(x).all():
        raise _fail(source, f"has {name} values that are NaN or infinite (or too "
                            "large for float32).")
    return x


def _npz(source: DataSource) -> tuple:
    try:
        with np.load(source.path, allow_pickle=False) as archive:
            names = list(archive.files)
            missing = [key for key in ("x", "y") if key not in names]
            if missing:
                found = ", ".join(repr(n) for n in names) or "none"
                raise _fail(source, f"has no array {missing[0]!r} (arrays found: "
                                    f"{found}); an NPZ dataset needs arrays 'x' "
                                    "(examples first) and 'y' (labels).")
            x, y = archive["x"], archive["y"]
    except DataFileError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise _fail(source, f"is not a readable NPZ archive ({reason}).") from None
    if x.ndim < 2:
        raise _fail(source, f"has 'x' of shape {x.shape}; it must be examples first "
                            "with at least one value each, e.g. (n, features).")
    if len(x) != len(y):
        raise _fail(source, f"has {len(x)} examples in 'x' but {len(y)} labels in "
                            "'y'; they must be equal.")
    if len(x) == 0:
        raise _fail(source, "holds no examples.")
    labels = _labels(source, np.asarray(y))
    x = _features(source, x)
    kind = "signal" if x.ndim == 2 else "image"
    if x.ndim > 4:
        raise _fail(source, f"has 'x' of shape {x.shape}; accepted: (n, features), "
                            "(n, height, width) or (n, channels, height, width).")
    return x.reshape(len(x), -1), labels, tuple(x.shape[1:]), kind


def _csv(source: DataSource) -> tuple:
    try:
        with open(source.path, newline="", encoding="utf-8-sig") as handle:
            rows = list(csv.reader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise _fail(source, f"cannot be read as CSV ({exc}).") from None
    rows = [row for row in rows if any(cell.strip() for cell in row)]
    if not rows:
        raise DataFileError(f"Data file {source.path!r} is empty.")
    header = [cell.strip() for cell in rows[0]]
    if source.label_column not in header:
        raise _fail(source, f"has no column {source.label_column!r} (columns: "
                            f"{', '.join(header)}); name the label column with "
                            "--label-column.")
    if len(rows) == 1:
        raise _fail(source, "has a header but no rows of data.")
    if len(header) < 2:
        raise _fail(source, "has no feature columns besides the label column.")
    label_at = header.index(source.label_column)
    features, labels = [], []
    for number, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise _fail(source, f"has {len(row)} fields on line {number} but "
                                f"{len(header)} columns in its header.")
        text = row[label_at].strip()
        try:
            value = float(text)
            if not value.is_integer() or value < 0:
                raise ValueError
        except ValueError:
            raise _fail(source, f"has the label {text!r} on line {number}; labels "
                                "must be integers >= 0 (class numbers).") from None
        labels.append(int(value))
        values = []
        for column, cell in enumerate(row):
            if column == label_at:
                continue
            try:
                values.append(float(cell))
            except ValueError:
                raise _fail(source, f"has {cell.strip()!r} in column "
                                    f"{header[column]!r} on line {number}; features "
                                    "must be numbers.") from None
        features.append(values)
    x = _features(source, np.array(features, dtype=np.float64))
    return x, np.array(labels, dtype=np.int64), (x.shape[1],), "table"


_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4",
               0x0E: ">f8"}


def _read_idx(source: DataSource, path: str) -> np.ndarray:
    def fail(problem: str) -> DataFileError:
        return DataFileError(f"Data file {path!r} {problem}")

    try:
        with open(path, "rb") as handle:
            data = handle.read()
        if data[:2] == b"\x1f\x8b":
            data = gzip.decompress(data)
    except (OSError, EOFError) as exc:
        raise fail(f"cannot be read ({exc}).") from None
    if not data:
        raise fail("is empty.")
    if len(data) < 4 or data[:2] != b"\0\0" or data[2] not in _IDX_DTYPES:
        raise fail("is not an MNIST-format IDX file (its first bytes are not an IDX "
                   "magic number).")
    ndim = data[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(data) < header:
        raise fail(f"has a truncated IDX header ({len(data)} bytes).")
    dims = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big")
                 for i in range(ndim))
    dtype = np.dtype(_IDX_DTYPES[data[2]])
    expected = int(np.prod(dims)) * dtype.itemsize
    if len(data) - header != expected:
        raise fail(f"holds {len(data) - header} bytes of data but its header "
                   f"promises {' x '.join(map(str, dims))} values ({expected} bytes).")
    return np.frombuffer(data, dtype=dtype, offset=header).reshape(dims)


def _idx(source: DataSource) -> tuple:
    x = _read_idx(source, source.path)
    y = _read_idx(source, source.labels)
    if x.ndim < 2:
        raise _fail(source, f"holds an array of shape {x.shape}; an IDX images file "
                            "holds examples first, e.g. (60000, 28, 28).")
    if len(x) != len(y):
        raise _fail(source, f"holds {len(x)} images but its labels file "
                            f"{source.labels!r} holds {len(y)} labels; they must be "
                            "equal.")
    labels = _labels(source, np.asarray(y).astype(y.dtype.newbyteorder("=")),
                     f" (labels file {source.labels!r})")
    x = _features(source, x.astype(x.dtype.newbyteorder("=")))
    kind = "signal" if x.ndim == 2 else "image"
    return x.reshape(len(x), -1), labels, tuple(x.shape[1:]), kind


def _from_file(source: DataSource) -> tuple:
    _check_content(source)
    x, y, shape, kind = {"npz": _npz, "csv": _csv, "idx": _idx}[source.kind](source)
    if len(y) == 0:
        raise _fail(source, "holds no examples.")
    return x, y, shape, kind


# ---------------------------------------------------------------------------- split


def _split(source: DataSource, split_seed: int) -> Dataset:
    from sklearn.model_selection import train_test_split

    if source.is_file:
        x, y, shape, kind = _from_file(source)
    else:
        x, y, shape, kind = _builtin(source.name)
    counts = np.bincount(y)
    if source.is_file and counts[counts > 0].min() < 2:
        label = int(np.flatnonzero((counts > 0) & (counts < 2))[0])
        raise _fail(source, f"has a single example of class {label}; a stratified "
                            "80/20 split needs at least 2 examples of every class.")
    # sklearn takes a 32-bit random_state; fold larger seeds into that range.
    state = split_seed % 2**32
    try:
        x_train, x_test, y_train, y_test = train_test_split(
            x, y, test_size=TEST_FRACTION, stratify=y, random_state=state
        )
    except ValueError as exc:
        raise _fail(source, f"cannot be split 80/20 stratified: {exc}") from None
    if kind == "table":  # standardize with the training split's statistics
        mean, std = x_train.mean(axis=0), x_train.std(axis=0)
        std[std == 0] = 1.0
        x_train, x_test = (x_train - mean) / std, (x_test - mean) / std
    arrays = [np.ascontiguousarray(a, dtype=dtype) for a, dtype in (
        (x_train, np.float32), (y_train, np.int64), (x_test, np.float32),
        (y_test, np.int64))]
    for array in arrays:
        array.setflags(write=False)
    return Dataset(source.name, *arrays, n_classes=int(y.max()) + 1,
                   split_seed=split_seed, shape=tuple(shape), kind=kind,
                   source=source.to_json())


def epoch_order(seed: int, epoch: int, n: int) -> np.ndarray:
    """The order in which epoch ``epoch`` (1-based) visits ``n`` training examples.

    A permutation drawn from the stream ``(seed, "data/epoch/<epoch>")``: it depends on
    the run's order seed and the epoch only, never on the initializer, so runs that
    share it see their data in the same order and can be compared pairwise.
    """
    return seeds.stream(seed, f"data/epoch/{epoch}").permutation(n)

