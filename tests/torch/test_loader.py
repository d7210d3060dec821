"""Data-loading workers (case C11): 8 items of 3 random integers drawn in the loader,
batch 2, 4 workers, 2 epochs, run seed 0.

Each item draws one integer from Python's ``random``, one from NumPy's global
generator and one from torch's, so that each of the three is checked.
"""

import multiprocessing
import random

import numpy as np
import pytest
import torch

from initlab.torch import seeded_loader, worker_init_fn, worker_seeds

RUN_SEED, WORKERS, EPOCHS = 0, 4, 2
#: fork starts a worker in milliseconds; elsewhere the platform's default is used.
CONTEXT = ("fork" if "fork" in multiprocessing.get_all_start_methods() else None)


class RandomItems(torch.utils.data.Dataset):
    """8 items, each 3 random integers drawn when the loader asks for it."""

    def __len__(self):
        return 8

    def __getitem__(self, index):
        return torch.tensor([random.randrange(2**31), int(np.random.randint(2**31)),
                             int(torch.randint(2**31, ()))])


def _epoch(epoch, run_seed=RUN_SEED):
    loader = seeded_loader(RandomItems(), run_seed, epoch, batch_size=2,
                           num_workers=WORKERS, multiprocessing_context=CONTEXT)
    return torch.cat(list(loader)).tolist()  # 8 items in batch order


def _expected(epoch, run_seed=RUN_SEED):
    """What worker w draws for its batch (batch w: the loader deals batches to the
    workers in turn), from the seeds of its named streams."""
    items = []
    for worker in range(WORKERS):
        values = worker_seeds(run_seed, epoch, worker)
        python = random.Random(values["python"])
        numpy = np.random.RandomState(values["numpy"])
        gen = torch.Generator().manual_seed(values["torch"])
        for _ in range(2):
            items.append([python.randrange(2**31), int(numpy.randint(2**31)),
                          int(torch.randint(2**31, (), generator=gen))])
    return items


# The case asks for 4 workers; torch warns when a machine has fewer CPUs.
@pytest.mark.filterwarnings(
    "ignore:This DataLoader will create 4 worker processes:UserWarning")
def test_c11_workers_draw_from_named_streams_of_run_epoch_and_worker():
    state = (random.getstate(), np.random.get_state()[1].copy(),
             torch.random.get_rng_state())
    first, second = _epoch(1), _epoch(2)
    # within an epoch the 8 items differ pairwise, column by column too: no two
    # workers share Python, NumPy or torch random state
    for items in (first, second):
        assert len({tuple(item) for item in items}) == 8
        for column in range(3):
            assert len({item[column] for item in items}) == 8
    assert first != second  # epoch 2 differs from epoch 1
    assert not set(map(tuple, first)) & set(map(tuple, second))
    # the same run seed reproduces both epochs, drawn from the named streams
    assert (_epoch(1), _epoch(2)) == (first, second)
    assert (first, second) == (_expected(1), _expected(2))
    assert _epoch(1, run_seed=1) != first
    # the parent's global random state is neither read nor changed
    assert random.getstate() == state[0]
    assert np.array_equal(np.random.get_state()[1], state[1])
    assert torch.equal(torch.random.get_rng_state(), state[2])


def test_the_worker_init_fn_seeds_and_pins_one_worker():
    before = (random.getstate(), np.random.get_state(), torch.random.get_rng_state(),
              torch.get_num_threads())
    try:
        worker_init_fn(0, 1)(3)
        values = worker_seeds(0, 1, 3)
        assert random.random() == random.Random(values["python"]).random()
        assert np.random.rand() == np.random.RandomState(values["numpy"]).rand()
        assert torch.initial_seed() == values["torch"]
        assert torch.get_num_threads() == 1
        assert worker_seeds(0, 1, 3) != worker_seeds(0, 1, 2) != worker_seeds(0, 2, 2)
    finally:
        random.setstate(before[0])
        np.random.set_state(before[1])
        torch.random.set_rng_state(before[2])
        torch.set_num_threads(before[3])


def test_settings_that_would_break_the_seeding_are_refused():
    data = RandomItems()
    with pytest.raises(ValueError, match="sets worker_init_fn itself"):
        seeded_loader(data, 0, 1, worker_init_fn=print)
    with pytest.raises(ValueError, match="sets generator itself"):
        seeded_loader(data, 0, 1, generator=torch.Generator())
    with pytest.raises(ValueError, match="persistent_workers=True"):
        seeded_loader(data, 0, 1, num_workers=2, persistent_workers=True)
    with pytest.raises(ValueError, match="epoch"):
        worker_init_fn(0, -1)
    with pytest.raises(TypeError, match="run_seed"):
        seeded_loader(data, "0", 1)
