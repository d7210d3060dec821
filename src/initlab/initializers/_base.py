"""The base class of every initializer, dtypes, and chunked sampling."""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ClassVar

import numpy as np

from initlab import seeds
from initlab.initializers._fans import _check_layout, compute_fans, normalize_shape

__all__ = ["Initializer", "RandomInitializer", "resolve_dtype"]

FLOAT_DTYPES = ("float16", "bfloat16", "float32", "float64")


def bfloat16() -> np.dtype:
    """The bfloat16 dtype; ``ml_dtypes`` is imported on first use (it is slow)."""
    import ml_dtypes

    return np.dtype(ml_dtypes.bfloat16)


def _is_bfloat16(dtype: np.dtype) -> bool:
    # A bfloat16 dtype object exists only once ml_dtypes is imported.
    return dtype.name == "bfloat16" and dtype.kind == "V"


def resolve_dtype(dtype: object, *, floating_only: bool = True) -> np.dtype:
    """Return the NumPy dtype named by ``dtype`` (None means float32).

    Accepts NumPy dtypes and their names, ``"bfloat16"`` (through ``ml_dtypes``)
    and PyTorch dtypes such as ``torch.float16``.

    Raises:
        TypeError: the dtype is unknown, or (with ``floating_only``) not one of
            float16, bfloat16, float32, float64.
    """
    if dtype is None:
        return np.dtype("float32")
    text = str(dtype)
    if text.startswith("torch."):
        dtype = text.removeprefix("torch.")
    if isinstance(dtype, str) and dtype == "bfloat16":
        resolved = bfloat16()
    else:
        try:
            resolved = np.dtype(dtype)  # type: ignore[call-overload]
        except TypeError:
            raise TypeError(
                f"Unknown dtype {dtype!r}. Accepted: {', '.join(FLOAT_DTYPES)}"
                + ("." if floating_only else ", or an integer dtype.")
            ) from None
    is_float = _is_bfloat16(resolved) or (
        resolved.kind == "f" and resolved.itemsize <= 8
    )
    if floating_only and not is_float:
        raise TypeError(
            "Random initializers need a floating dtype; received "
            f"dtype={resolved.name}. "
            f"Accepted: {', '.join(FLOAT_DTYPES)}."
        )
    if not is_float and resolved.kind not in "biu":
        # Constant fills take numbers only: no complex, text, object or dates.
        raise TypeError(
            f"Unsupported dtype={resolved.name}. Accepted: {', '.join(FLOAT_DTYPES)}, "
            "an integer dtype or bool."
        )
    return resolved


def work_dtype(dtype: np.dtype) -> np.dtype:
    """The dtype values are sampled in: float64 for float64 output, else float32."""
    return np.dtype("float64") if dtype == np.float64 else np.dtype("float32")


def inner_bound(value: float, dtype: np.dtype, toward: float) -> Any:
    """``value`` rounded to ``dtype``, moved one step toward ``toward`` if rounding
    left it outside, so a value clipped to it stays within ``value`` exactly."""
    rounded = np.asarray(value, dtype=dtype)[()]
    if (value >= toward and float(rounded) > value) or (
        value < toward and float(rounded) < value
    ):
        rounded = np.nextafter(rounded, np.asarray(toward, dtype=dtype))
    return rounded


_MEMORY_LIMIT: int | None = None


def _available_memory() -> int | None:
    global _MEMORY_LIMIT
    if _MEMORY_LIMIT is None:
        try:
            with open("/proc/meminfo") as meminfo:
                for line in meminfo:
                    if line.startswith("MemTotal:"):
                        _MEMORY_LIMIT = int(line.split()[1]) * 1024
        except OSError:
            return None
    return _MEMORY_LIMIT


def check_size(shape: tuple[int, ...], dtype: np.dtype) -> None:
    """Refuse, before allocating, an array larger than the machine's memory."""
    nbytes = math.prod(shape) * dtype.itemsize
    limit = _available_memory()
    if limit is not None and nbytes > limit:
        raise ValueError(
            f"shape={shape} in {dtype.name} needs {nbytes / 2**30:.1f} GiB, more than "
            f"this machine's {limit / 2**30:.1f} GiB of memory."
        )


class Source:
    """Where the values of one call come from, in INTERFACE.md's precedence."""

    def __init__(
        self,
        rng: np.random.Generator | None,
        seed: int | None,
        name: str,
        version: int = seeds.STREAM_VERSION,
    ):
        if rng is not None and not isinstance(rng, np.random.Generator):
            raise TypeError(
                f"`rng` must be a numpy.random.Generator or None. "
                f"Received: rng={rng!r}."
            )
        if not isinstance(name, str):
            raise TypeError(f"`name` must be a string. Received: name={name!r}.")
        self.rng = rng
        self.seed = seeds.fresh_seed() if seed is None and rng is None else seed
        self.name = name
        self.version = version
        #: Where :func:`draw` may write directly (a C-contiguous array), or None.
        self.out: np.ndarray | None = None

    def chunk(self, index: int) -> np.random.Generator:
        if self.rng is not None:
            return self.rng
        assert self.seed is not None
        return seeds.chunk_generator(self.seed, self.name, index, version=self.version)


#: Fills its ``out`` argument (1-D, float32 or float64) in place.
ChunkSampler = Callable[[np.random.Generator, np.ndarray], None]


_threads: dict[str, Any] = {"count": None, "pool": None}


def get_num_threads() -> int:
    """Threads that draw the chunks of one tensor (the bytes never depend on it)."""
    if _threads["count"] is None:
        env = os.environ.get("INITLAB_NUM_THREADS", "")
        _threads["count"] = (
            int(env) if env.isdigit() and int(env) > 0 else min(os.cpu_count() or 1, 8)
        )
    return _threads["count"]


def set_num_threads(count: int) -> None:
    """Set how many threads draw chunks; the values drawn stay the same bytes.

    Raises:
        ValueError: ``count`` is not a positive integer.
    """
    if isinstance(count, bool) or not isinstance(count, numbers.Integral) or count < 1:
        raise ValueError(
            f"The thread count must be a positive integer. Received: {count!r}."
        )
    if _threads["pool"] is not None:
        _threads["pool"].shutdown(wait=True)
    _threads.update(count=int(count), pool=None)


def _pool() -> ThreadPoolExecutor:
    if _threads["pool"] is None:
        _threads["pool"] = ThreadPoolExecutor(
            get_num_threads(), thread_name_prefix="initlab-draw"
        )
    return _threads["pool"]


def _write_rows(matrix: np.ndarray, start: int, values: np.ndarray) -> None:
    """Write ``values`` at flat C-order offset ``start`` of a strided 2-D ``matrix``.

    Each chunk covers whole rows plus partial ones at its ends; writing a block of
    rows into a transposed view is a cache-blocked transpose, done by the thread
    that drew the chunk.
    """
    cols = matrix.shape[1]
    row, col = divmod(start, cols)
    done = 0
    if col:
        done = min(cols - col, values.size)
        matrix[row, col : col + done] = values[:done]
        row += 1
    full = (values.size - done) // cols
    if full:
        matrix[row : row + full] = values[done : done + full * cols].reshape(full, cols)
        done += full * cols
        row += full
    if done < values.size:
        matrix[row, : values.size - done] = values[done:]


def draw(
    size: int, dtype: np.dtype, source: Source, sample: ChunkSampler
) -> np.ndarray:
    """Fill a flat array of ``size`` elements chunk by chunk.

    Each chunk is sampled in the work dtype (float32, or float64 for float64 output)
    and cast into the output, so no full-size temporary is made. Chunk ``k`` comes
    from its own generator, so chunks are drawn by a pool of threads (NumPy releases
    the GIL while filling) and the bytes never depend on the thread count. With an
    explicit ``rng`` the chunks are drawn one after another from it.
    """
    given, rows = source.out, None
    if (
        given is not None
        and given.size == size
        and given.dtype == dtype
        and (given.flags.c_contiguous or given.ndim == 2)
    ):
        source.out = None  # used once: by the draw of the whole tensor
        if given.flags.c_contiguous:
            out = given.reshape(-1)
        else:
            out = rows = given  # a strided matrix (a transposed parameter)
    else:
        out = np.empty(size, dtype=dtype)
    work = work_dtype(dtype)
    count = -(-size // seeds.CHUNK_SIZE)

    def fill(index: int) -> None:
        start = index * seeds.CHUNK_SIZE
        stop = min(start + seeds.CHUNK_SIZE, size)
        if dtype == work and rows is None:
            sample(source.chunk(index), out[start:stop])  # straight into the output
            return
        chunk = np.empty(stop - start, dtype=work)
        sample(source.chunk(index), chunk)
        if rows is None:
            out[start:stop] = chunk  # the cast to float16 / bfloat16
        else:
            _write_rows(rows, start, chunk)

    if source.rng is not None or count < 4 or get_num_threads() == 1:
        for index in range(count):
            fill(index)
    else:
        for _ in _pool().map(fill, range(count)):
            pass
    return out


def check_finite(
    value: object, argument: str, *, positive: bool = False, non_negative: bool = False
) -> float:
    """Return ``value`` as a float, or raise a ValueError naming the argument."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(
            f"Argument `{argument}` must be a real number. "
            f"Received: {argument}={value!r}."
        )
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(
            f"Argument `{argument}` must be finite. Received: {argument}={value}."
        )
    if positive and value <= 0:
        raise ValueError(
            f"Argument `{argument}` must be a positive float. "
            f"Received: {argument}={value}."
        )
    if non_negative and value < 0:
        raise ValueError(
            f"Argument `{argument}` must be non-negative. Received: {argument}={value}."
        )
    return value


class Initializer:
    """Base class: a configuration plus a pure sampling function.

    Subclasses implement :meth:`_generate` and :meth:`get_config`, and set
    :attr:`formula`, a one-line description used by ``initlab list``.
    """

    formula: ClassVar[str] = ""
    #: Whether values are random (seeded); constant initializers set False.
    random: ClassVar[bool] = False
    #: Whether integer dtypes are accepted (constant initializers only).
    accepts_integers: ClassVar[bool] = False

    def __call__(
        self,
        shape: Any,
        dtype: Any = None,
        *,
        name: str = "",
        rng: np.random.Generator | None = None,
        layout: str = "keras",
    ) -> np.ndarray:
        """Return a new array of ``shape`` and ``dtype``.

        Args:
            shape: The array shape, a tuple of non-negative ints.
            dtype: float16, bfloat16, float32 or float64 (integer dtypes too for
                Zeros, Ones and Constant). Defaults to float32.
            name: The parameter's name; with an int ``seed`` the values come from
                the stream of (seed, name). Defaults to "".
            rng: A ``numpy.random.Generator`` that, when given, supplies the values
                and takes precedence over the seed. Defaults to None.
            layout: How fans are read from ``shape``: ``"keras"`` or ``"torch"``
                (see :func:`initlab.compute_fans`). Defaults to ``"keras"``.
        """
        return self.sample(shape, dtype, name=name, rng=rng, layout=layout)

    def sample(
        self,
        shape: Any,
        dtype: Any = None,
        *,
        name: str = "",
        rng: np.random.Generator | None = None,
        seed: int | None = None,
        layout: str = "keras",
        fans: tuple[int, int] | None = None,
        stream_version: int | None = None,
        out: np.ndarray | None = None,
    ) -> np.ndarray:
        """Like calling the initializer, with more controls for adapters.

        Args:
            seed: The seed used when the initializer has none of its own (a model
                seed, say). The initializer's own int seed takes precedence.
            fans: ``(fan_in, fan_out)`` to use instead of those read from
                ``shape`` (layer-aware fans of grouped or depthwise convolutions).
            stream_version: The stream algorithm to draw with, one of
                ``initlab.seeds.SUPPORTED_STREAM_VERSIONS``, to repeat draws made
                by an older initlab. Defaults to None: the current
                ``initlab.STREAM_VERSION``.
            out: An array of ``shape`` and ``dtype`` to write the values into (a
                parameter's own memory, say, or its transpose) instead of a new
                array. The values are the same. Defaults to None.
            shape, dtype, name, rng, layout: as in ``__call__``.
        """
        shape = normalize_shape(shape)
        _check_layout(layout)
        dtype = resolve_dtype(dtype, floating_only=not self.accepts_integers)
        check_size(shape, dtype)
        own_seed = getattr(self, "seed", None)
        if stream_version is None:
            stream_version = getattr(self, "stream_version", seeds.STREAM_VERSION)
        seeds.check_version(stream_version)
        source = Source(
            rng, own_seed if own_seed is not None else seed, name, stream_version
        )
        if out is None:
            return self._generate(shape, dtype, source, layout, fans)
        if out.shape != shape or out.dtype != dtype:
            raise ValueError(
                f"`out` must be a {dtype.name} array of shape {shape}. "
                f"Received: {out.dtype.name} of shape {out.shape}."
            )
        source.out = out
        values = self._generate(shape, dtype, source, layout, fans)
        if not np.shares_memory(values, out):
            out[...] = values
        return out

    def _generate(
        self,
        shape: tuple[int, ...],
        dtype: np.dtype,
        source: Source,
        layout: str,
        fans: tuple[int, int] | None = None,
    ) -> np.ndarray:
        raise NotImplementedError

    def statistics(
        self, shape: Any, layout: str = "keras", fans: tuple[int, int] | None = None
    ) -> dict[str, Any]:
        """What the values of ``shape`` should look like.

        Returns:
            A dict with ``fan_in``, ``fan_out``, ``expected_mean``,
            ``expected_std`` and ``bounds`` (a ``(low, high)`` pair or None).
        """
        fan_in, fan_out = fans or compute_fans(normalize_shape(shape), layout)
        return {
            "fan_in": fan_in,
            "fan_out": fan_out,
            "expected_mean": None,
            "expected_std": None,
            "bounds": None,
        }

    def get_config(self) -> dict[str, Any]:
        return {}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Initializer:
        return cls(**config)

    def clone(self) -> Initializer:
        return self.__class__.from_config(self.get_config())

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and self.get_config() == other.get_config()  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash((type(self).__name__, repr(self.get_config())))


class RandomInitializer(Initializer):
    """An initializer whose values are random, drawn from a seed's streams.

    ``seed`` semantics (INTERFACE.md): an int gives the stream of (seed, name), so
    repeated calls with the same shape and name repeat exactly and different names
    differ; None draws fresh entropy at every call (unlike Keras 3, which fixes an
    unseeded object's seed at construction, so that an unseeded object shared by
    several layers gives them identical weights).
    """

    random = True

    def __init__(self, seed: int | None = None):
        self.seed = None if seed is None else seeds.check_seed(seed)

    def get_config(self) -> dict[str, Any]:
        return {"seed": self.seed}
