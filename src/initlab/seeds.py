"""Seeds and per-parameter random streams.

Every random value initlab draws comes from a *stream*: a ``numpy.random.Generator``
built from ``SeedSequence(seed, spawn_key=...)``, where the spawn key is a stable hash
of a name (a parameter's qualified name, ``"data"``, ...). Large tensors are drawn in
fixed-size chunks, chunk ``k`` from its own child stream, so the bytes never depend
on how many threads draw them nor on the order in which parameters are initialized.

The algorithm carries a version number, :data:`STREAM_VERSION`. Any change that
alters a drawn byte must bump it and keep the previous version selectable.
"""

from __future__ import annotations

import hashlib
import numbers
import secrets

import numpy as np

__all__ = [
    "CHUNK_SIZE",
    "STREAM_VERSION",
    "SUPPORTED_STREAM_VERSIONS",
    "check_seed",
    "chunk_generator",
    "fresh_seed",
    "name_key",
    "stream",
]

#: Version of the stream algorithm (hash of the name, chunk size, bit generator).
STREAM_VERSION = 1
SUPPORTED_STREAM_VERSIONS = (1,)

#: Elements per chunk. Part of stream version 1: changing it changes drawn bytes.
CHUNK_SIZE = 1 << 16


def check_seed(seed: object, argument: str = "seed") -> int:
    """Return ``seed`` as a Python int, or raise a clear error.

    Args:
        seed: A non-negative integer (Python or NumPy). ``bool`` is refused.
        argument: The argument name used in error messages.

    Raises:
        TypeError: ``seed`` is not an integer.
        ValueError: ``seed`` is negative.
    """
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(
            f"`{argument}` must be a non-negative integer or None. "
            f"Received: {argument}={seed!r} of type {type(seed).__name__}."
        )
    seed = int(seed)
    if seed < 0:
        raise ValueError(
            f"`{argument}` must be a non-negative integer. Received: {argument}={seed}."
        )
    return seed


def fresh_seed() -> int:
    """A fresh 63-bit seed from the operating system's entropy."""
    return secrets.randbits(63)


def name_key(name: str) -> tuple[int, ...]:
    """The spawn key of ``name``: its SHA-256 digest as four 32-bit words.

    Python's ``hash()`` is salted per process, so it is never used here.
    """
    digest = hashlib.sha256(name.encode("utf-8")).digest()
    return tuple(int.from_bytes(digest[i : i + 4], "little") for i in range(0, 16, 4))


def check_version(version: int) -> None:
    """Raise a ValueError unless ``version`` is a supported stream version."""
    if version not in SUPPORTED_STREAM_VERSIONS:
        raise ValueError(
            f"Unknown stream_version={version!r}. "
            f"Supported versions: {list(SUPPORTED_STREAM_VERSIONS)}."
        )


def stream(
    seed: int, name: str = "", *, version: int = STREAM_VERSION
) -> np.random.Generator:
    """The generator of the stream ``(seed, name)``, for draws that are not chunked.

    Args:
        seed: A non-negative integer.
        name: Any string; different names give independent streams.
        version: The stream algorithm version. Defaults to :data:`STREAM_VERSION`.
    """
    check_version(version)
    seed = check_seed(seed)
    return np.random.Generator(
        np.random.PCG64(np.random.SeedSequence(seed, spawn_key=name_key(name)))
    )


def chunk_generator(
    seed: int, name: str, index: int, *, version: int = STREAM_VERSION
) -> np.random.Generator:
    """The generator that draws chunk ``index`` of the tensor named ``name``.

    Chunk ``k`` holds elements ``[k * CHUNK_SIZE, (k + 1) * CHUNK_SIZE)`` of the
    flattened (C-order) tensor, or of the flattened matrix that a structured
    initializer (Orthogonal) draws before transforming it.
    """
    check_version(version)
    key = (*name_key(name), 0xC0DE, index)
    return np.random.Generator(
        np.random.PCG64(np.random.SeedSequence(seed, spawn_key=key))
    )
