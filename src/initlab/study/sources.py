"""Where a study's data comes from: a built-in dataset or a user's file.

A ``--dataset`` value is a built-in name (:data:`BUILTIN_DATASETS`) or the path of a
data file: NPZ (arrays ``x`` and ``y``), CSV (a header row and a label column) or
MNIST-format IDX (an images file and its labels file). :func:`resolve_source` turns
the value into a :class:`DataSource` without reading more than the file's bytes:
it checks that the file exists and is readable, recognises its type and records
the SHA-256 of its content, so a run's id changes when the data does and a replay
refuses a file that changed. Parsing and checking the arrays is
:func:`initlab.study.datasets.load_dataset`'s job.

Nothing here imports NumPy or torch: the command line validates specs with it.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

__all__ = [
    "BUILTIN_DATASETS",
    "DATA_FILE_TYPES",
    "DataFileError",
    "DataSource",
    "resolve_source",
    "sha256_of",
]

#: Datasets that ship with initlab's dependencies (generated or bundled locally).
BUILTIN_DATASETS = ("digits", "mnist1d", "breast_cancer", "wine", "iris")

#: What a data file may be, as the error messages list it.
DATA_FILE_TYPES = (
    "an .npz file with arrays x and y, a .csv file with a header and a label "
    "column, or an MNIST-format IDX images file (with its labels file)"
)

_IDX_TYPES = (0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E)


class DataFileError(ValueError):
    """A data file that cannot be used; the message is one sentence naming it."""


@dataclass(frozen=True)
class DataSource:
    """A dataset: a built-in name or a data file, with what identifies its content.

    Attributes:
        kind: ``"builtin"``, ``"npz"``, ``"csv"`` or ``"idx"``.
        name: The built-in name, or the data file's name (its label in results).
        path: The absolute path of the data file (images file for IDX).
        label_column: The CSV column that holds the labels.
        labels: The absolute path of the IDX labels file.
        sha256: SHA-256 of the file's bytes (IDX: of images then labels).
    """

    kind: str
    name: str
    path: str = ""
    label_column: str = ""
    labels: str = ""
    sha256: str = ""

    @property
    def is_file(self) -> bool:
        return self.kind != "builtin"

    def to_json(self) -> str:
        """Compact JSON with sorted keys; empty for a built-in dataset (its name
        says everything)."""
        if not self.is_file:
            return ""
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> DataSource:
        return cls(**json.loads(text))

    def describe(self) -> str:
        """``digits``, or ``data.csv (label column 'species')``, for messages."""
        if self.kind == "csv":
            return f"{self.path} (label column {self.label_column!r})"
        if self.kind == "idx":
            return f"{self.path} with labels {self.labels}"
        return self.path or self.name


def _looks_like_path(text: str) -> bool:
    return (os.sep in text or "/" in text or Path(text).suffix != ""
            or Path(text).exists())


def _read_head(path: Path, size: int) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read(size)
    except OSError as exc:
        raise DataFileError(
            f"Cannot read data file {str(path)!r}: {exc.strerror or exc}."
        ) from None


def _is_idx_name(path: Path) -> bool:
    name = path.name.lower()
    return "idx" in name or name.endswith((".ubyte", ".ubyte.gz"))


def _idx_magic(head: bytes) -> bool:
    return len(head) >= 4 and head[:2] == b"\0\0" and head[2] in _IDX_TYPES


def sha256_of(*paths: Path) -> str:
    """SHA-256 of the files' bytes, one after the other."""
    digest = hashlib.sha256()
    for path in paths:
        try:
            with open(path, "rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):  # noqa: B023
                    digest.update(block)
        except OSError as exc:
            raise DataFileError(
                f"Cannot read data file {str(path)!r}: {exc.strerror or exc}."
            ) from None
    return digest.hexdigest()


def _idx_labels_path(images: Path) -> Path | None:
    """The labels file next to an MNIST images file, named as MNIST names them."""
    for old, new in (("images-idx3", "labels-idx1"), ("images.idx3", "labels.idx1"),
                     ("images", "labels")):
        if old in images.name:
            candidate = images.with_name(images.name.replace(old, new))
            if candidate.is_file():
                return candidate
    return None


def _check_file(path: Path) -> None:
    if not path.exists():
        raise DataFileError(f"Data file {str(path)!r} does not exist.")
    if path.is_dir():
        raise DataFileError(
            f"Data file {str(path)!r} is a folder; give {DATA_FILE_TYPES}."
        )
    _read_head(path, 1)  # unreadable files fail here, with the reason


def resolve_source(dataset: str, *, label_column: str = "label",
                   labels: str | None = None) -> DataSource:
    """Turn a ``--dataset`` value into a :class:`DataSource`.

    Args:
        dataset: A built-in name or the path of a data file.
        label_column: The column of a CSV file that holds the labels.
        labels: The labels file of an IDX images file. Defaults to the file next to
            it named as MNIST names it (``train-labels-idx1-ubyte`` for
            ``train-images-idx3-ubyte``).

    Raises:
        ValueError: an unknown name, or a file that does not exist, cannot be read
            or is of no known type (:class:`DataFileError`); one sentence naming it.
    """
    if not isinstance(dataset, str):
        raise TypeError(
            f"Invalid --dataset {dataset!r}: it must be a name or a path (a string)."
        )
    if dataset in BUILTIN_DATASETS:
        return DataSource("builtin", dataset)
    if not dataset.strip() or not _looks_like_path(dataset):
        raise ValueError(
            f"Unknown --dataset {dataset!r}. Accepted: "
            f"{', '.join(BUILTIN_DATASETS)}, or the path of {DATA_FILE_TYPES}."
        )
    path = Path(dataset).expanduser().resolve()
    _check_file(path)
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes[-1:] == [".npz"]:
        return DataSource("npz", path.name, str(path), sha256=sha256_of(path))
    if suffixes[-1:] == [".csv"]:
        if not isinstance(label_column, str) or not label_column:
            raise ValueError(
                f"Invalid --label-column {label_column!r}: name the CSV column that "
                "holds the labels."
            )
        return DataSource("csv", path.name, str(path), label_column=label_column,
                          sha256=sha256_of(path))
    head = _read_head(path, 4)
    if _is_idx_name(path) or _idx_magic(head) or suffixes[-1:] == [".gz"]:
        if labels is not None:
            labels_path = Path(labels).expanduser().resolve()
            _check_file(labels_path)
        else:
            found = _idx_labels_path(path)
            if found is None:
                raise DataFileError(
                    f"Data file {str(path)!r} looks like an IDX images file, but no "
                    "labels file was found next to it; name it with --labels."
                )
            labels_path = found
        return DataSource("idx", path.name, str(path), labels=str(labels_path),
                          sha256=sha256_of(path, labels_path))
    raise DataFileError(
        f"Data file {str(path)!r} is of no known type; accepted: {DATA_FILE_TYPES}."
    )
