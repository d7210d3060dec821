"""Chunked parallel generation gives the same bytes at any thread count."""

import subprocess
import sys

import numpy as np
import pytest

import initlab
from initlab import seeds

CATALOG_RANDOM = [cls for cls in initlab.CATALOG if cls().random]
# Large enough for several chunks, so the thread pool is used.
SHAPE = (seeds.CHUNK_SIZE // 64, 300)


@pytest.fixture
def restore_threads():
    before = initlab.get_num_threads()
    yield
    initlab.set_num_threads(before)


@pytest.mark.parametrize("cls", CATALOG_RANDOM, ids=lambda c: c.__name__)
def test_same_bytes_with_one_and_two_threads(cls, restore_threads):
    init = cls(seed=3)
    initlab.set_num_threads(1)
    one = init(SHAPE, name="layer/kernel")
    initlab.set_num_threads(2)
    two = init(SHAPE, name="layer/kernel")
    assert one.tobytes() == two.tobytes()


def test_same_bytes_in_a_new_process_with_other_thread_count():
    code = (
        "import initlab, hashlib; initlab.set_num_threads({n}); "
        "a = initlab.HeNormal(seed=11)(({rows}, 300), name='w'); "
        "print(hashlib.sha256(a.tobytes()).hexdigest())"
    )
    digests = {
        subprocess.run(
            [sys.executable, "-c", code.format(n=n, rows=SHAPE[0])],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        for n in (1, 2)
    }
    here = initlab.HeNormal(seed=11)(SHAPE, name="w")
    import hashlib

    assert digests == {hashlib.sha256(here.tobytes()).hexdigest()}


@pytest.mark.parametrize("bad", [0, -2, 1.5, "2", True])
def test_bad_thread_count_is_refused(bad):
    with pytest.raises(ValueError, match="thread count"):
        initlab.set_num_threads(bad)


def test_explicit_rng_draws_sequentially_and_repeats():
    a = initlab.RandomNormal()(SHAPE, rng=np.random.default_rng(5))
    b = initlab.RandomNormal()(SHAPE, rng=np.random.default_rng(5))
    assert np.array_equal(a, b)


@pytest.mark.parametrize("shape", [(512, 512), (1500, 300), (3, 3, 64, 128)])
def test_orthogonal_same_bytes_at_one_and_two_blas_threads(shape):
    threadpoolctl = pytest.importorskip("threadpoolctl")
    digests = set()
    for threads in (1, 2):
        with threadpoolctl.threadpool_limits(threads, user_api="blas"):
            digests.add(initlab.Orthogonal(seed=4)(shape, name="w").tobytes())
    assert len(digests) == 1


@pytest.mark.parametrize("cls", CATALOG_RANDOM, ids=lambda c: c.__name__)
@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_out_argument_gives_the_same_values_in_a_transposed_view(cls, dtype):
    shape = (SHAPE[0] + 3, 257)  # several chunks, chunk edges inside rows
    reference = cls(seed=1).sample(shape, dtype, name="k")
    memory = np.empty(shape[::-1], dtype=reference.dtype)
    result = cls(seed=1).sample(shape, dtype, name="k", out=memory.T)
    assert np.array_equal(memory.T, reference)
    assert np.shares_memory(result, memory)
