"""Batched seeds (cases S2 and S3): stacked members train exactly like separate runs.

Tolerances stated here, and in docs/study.md:

- one member after k optimizer steps equals its solo run within 1e-6 (absolute, on
  every parameter): batched matrix products round differently from single ones;
- BatchNorm running statistics of a batched forward equal the member's own forward
  within 1e-6;
- a study run trained batched has the same initial weights (fingerprint) and data
  order (data_hash) as its sequential run, bit for bit, and per-epoch losses within
  1e-5 and test accuracy within one test example over the first 3 epochs;
- the same group trains to the same bits every time.
"""

import copy
import dataclasses
import math

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from initlab import seeds
from initlab.study.batched import BatchedModels, BatchedSetupError
from initlab.study.spec import StudySpec
from initlab.study.train import train_group, train_recorded, train_run
from initlab.torch import initialize

STEP_TOL = 1e-6
LOSS_TOL = 1e-5


def _bits(results):
    """Results without their wall times: what must repeat bit for bit."""
    if not isinstance(results, list):
        return dataclasses.replace(results, duration_s=0.0)
    return [_bits(result) for result in results]


def _tensor(seed, name, *shape):
    return torch.from_numpy(seeds.stream(seed, name).standard_normal(shape)
                            .astype("float32"))


def _members(*, batchnorm=False, n=3):
    """``n`` copies of Linear(4,8)-[BatchNorm1d(8)-]ReLU-Linear(8,3), each drawn
    with its own initlab seed (0, 1, 2) so members differ."""
    models = []
    for seed in range(n):
        with torch.random.fork_rng(devices=[]):
            layers = [nn.Linear(4, 8)] + ([nn.BatchNorm1d(8)] if batchnorm else [])
            model = nn.Sequential(*layers, nn.ReLU(), nn.Linear(8, 3))
        initialize(model, policy="glorot_uniform", seed=seed)
        with torch.no_grad():  # non-zero biases, so their gradients are checked too
            for name, param in model.named_parameters():
                if name.endswith("bias"):
                    param.copy_(_tensor(seed, f"bias/{name}", *param.shape) * 0.1)
        models.append(model)
    return models


X = _tensor(0, "x", 5, 4)
Y = torch.tensor([0, 1, 2, 1, 0])


def _max_diff(state, model):
    return max((state[name] - value).abs().max().item()
               for name, value in model.state_dict().items())


# ---------------------------------------------------------------------------- S2


def test_an_optimizer_of_the_original_parameters_is_refused():
    models = _members()
    batched = BatchedModels(models)
    wrong = torch.optim.SGD([p for m in models for p in m.parameters()], lr=0.1)
    with pytest.raises(BatchedSetupError, match="original modules' parameters"):
        batched.train_step(wrong, X, Y, shared_input=True)
    partial = torch.optim.SGD(batched.parameters()[:1], lr=0.1)
    with pytest.raises(BatchedSetupError, match="does not hold the stacked"):
        batched.train_step(partial, X, Y, shared_input=True)
    right = torch.optim.SGD(batched.parameters(), lr=0.1)
    before = [p.detach().clone() for p in batched.parameters()]
    batched.train_step(right, X, Y, shared_input=True)
    assert all(not torch.equal(a, b) for a, b in zip(before, batched.parameters(),
                                                     strict=True))


def test_each_member_gets_the_gradient_of_its_own_loss_summed_not_averaged():
    models = _members()
    batched = BatchedModels(models)
    losses = batched.losses(X, Y, shared_input=True)
    losses.sum().backward()
    for index, model in enumerate(models):
        solo = copy.deepcopy(model)
        loss = F.cross_entropy(solo(X), Y)
        assert abs(loss.item() - losses[index].item()) <= STEP_TOL
        loss.backward()
        for name, param in solo.named_parameters():
            stacked = batched.params[name].grad[index]
            assert (stacked - param.grad).abs().max().item() <= STEP_TOL, name
    # averaging would have divided every member's gradient by 3
    grad = batched.params["0.weight"].grad.clone()
    batched.params["0.weight"].grad = None
    batched.losses(X, Y, shared_input=True).mean().backward()
    assert torch.allclose(batched.params["0.weight"].grad * 3, grad, atol=1e-6)


def test_gradient_clipping_is_per_member():
    batched = BatchedModels(_members())
    batched.losses(X, Y, shared_input=True).sum().backward()
    with torch.no_grad():
        for param in batched.parameters():
            param.grad[2] *= 1000.0  # member 2's gradients only
    before = {name: p.grad.clone() for name, p in batched.params.items()}
    norms = batched.clip_grad_norm_(10.0)
    assert norms[2] > 10.0 and norms[0] < 10.0 and norms[1] < 10.0
    for name, param in batched.params.items():
        assert torch.equal(param.grad[0], before[name][0]), name  # untouched
        assert torch.equal(param.grad[1], before[name][1]), name
    clipped = math.sqrt(sum(p.grad[2].pow(2).sum().item()
                            for p in batched.parameters()))
    assert abs(clipped - 10.0) <= 1e-5
    # the same rule as torch's clip_grad_norm_ on member 2 alone
    solo = [before[name][2].clone().requires_grad_(False) for name in batched.params]
    holders = [torch.zeros_like(g, requires_grad=True) for g in solo]
    for holder, grad in zip(holders, solo, strict=True):
        holder.grad = grad
    total = torch.nn.utils.clip_grad_norm_(holders, 10.0)
    assert abs(total.item() - norms[2].item()) <= 1e-6 * total.item()
    for holder, param in zip(holders, batched.parameters(), strict=True):
        assert (holder.grad - param.grad[2]).abs().max().item() <= STEP_TOL


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_after_k_steps_each_member_equals_its_solo_run(optimizer):
    models = _members()
    solos = [copy.deepcopy(model) for model in models]
    batched = BatchedModels(models)

    def make(params):
        if optimizer == "sgd":
            return torch.optim.SGD(params, lr=0.1, momentum=0.9)
        return torch.optim.Adam(params, lr=0.01)

    opt = make(batched.parameters())
    for _ in range(5):
        batched.train_step(opt, X, Y, shared_input=True, clip=1.0)
    for index, solo in enumerate(solos):
        solo_opt = make(solo.parameters())
        for _ in range(5):
            loss = F.cross_entropy(solo(X), Y)
            solo_opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(solo.parameters(), 1.0)
            solo_opt.step()
        state = batched.member_state_dict(index)
        assert _max_diff(state, solo) <= STEP_TOL
        assert _max_diff(state, models[index]) > 1e-3  # originals untouched so far
    # the weights stored for member i are slice i
    batched.write_back()
    for index, model in enumerate(models):
        for name, value in model.state_dict().items():
            assert torch.equal(value, batched.params[name][index].detach()), name
        assert _max_diff(batched.member_state_dict(index), model) == 0.0


def test_members_with_their_own_batches_and_a_nan_member_stay_apart():
    models = _members()
    with torch.no_grad():
        models[1][0].weight.fill_(math.nan)
    batched = BatchedModels(models)
    xs = torch.stack([_tensor(i, "xs", 5, 4) for i in range(3)])
    ys = torch.tensor([[0, 1, 2, 1, 0], [2, 2, 1, 0, 0], [1, 0, 2, 2, 1]])
    opt = torch.optim.SGD(batched.parameters(), lr=0.1)
    losses = batched.train_step(opt, xs, ys)
    assert math.isnan(losses[1].item())
    for index in (0, 2):
        solo = copy.deepcopy(models[index])
        loss = F.cross_entropy(solo(xs[index]), ys[index])
        assert abs(loss.item() - losses[index].item()) <= STEP_TOL
        loss.backward()
        torch.optim.SGD(solo.parameters(), lr=0.1).step()
        assert _max_diff(batched.member_state_dict(index), solo) <= STEP_TOL


# ---------------------------------------------------------------------------- S3


def test_batchnorm_members_keep_their_own_running_statistics():
    models = _members(batchnorm=True)
    x = _tensor(1, "bn", 16, 4)
    batched = BatchedModels(models).train()
    out = batched(x, shared_input=True)
    assert out.shape == (3, 16, 3)
    for index, model in enumerate(models):
        solo = copy.deepcopy(model).train()
        expected = solo(x)
        assert (expected - out[index]).abs().max().item() <= STEP_TOL
        for name in ("running_mean", "running_var"):
            stacked = batched.buffers[f"1.{name}"][index]
            assert (stacked - getattr(solo[1], name)).abs().max().item() <= STEP_TOL
            assert not torch.equal(stacked, getattr(model[1], name))  # updated
        assert batched.buffers["1.num_batches_tracked"][index].item() == 1
    # the members' statistics differ, and they go with the weights
    means = batched.buffers["1.running_mean"]
    assert not torch.equal(means[0], means[1])
    state = batched.member_state_dict(2)
    assert list(state) == list(models[2].state_dict())
    assert torch.equal(state["1.running_mean"], means[2])
    batched.write_back()
    for index, model in enumerate(models):
        assert torch.equal(model[1].running_mean, means[index])
        variances = batched.buffers["1.running_var"]
        assert torch.equal(model[1].running_var, variances[index])
        assert model[1].num_batches_tracked.item() == 1


def test_setups_that_would_share_batchnorm_buffers_are_refused():
    models = _members(batchnorm=True)
    with pytest.raises(BatchedSetupError, match=r"BatchNorm '1' keeps running"):
        BatchedModels(models, share_buffers=True)
    with pytest.raises(BatchedSetupError, match="same module object.*BatchNorm '1'"):
        BatchedModels([models[0], models[1], models[0]])
    models[2][1].running_mean = models[0][1].running_mean
    with pytest.raises(BatchedSetupError, match="BatchNorm1d '1'.*BatchNorm running"):
        BatchedModels(models)
    # without running statistics, members may share buffers
    plain = _members()
    BatchedModels(plain, share_buffers=True)(X, shared_input=True)


def test_other_setups_are_refused_with_a_reason():
    with pytest.raises(BatchedSetupError, match="at least one"):
        BatchedModels([])
    with torch.random.fork_rng(devices=[]):
        other = nn.Sequential(nn.Linear(4, 9), nn.ReLU(), nn.Linear(9, 3))
    with pytest.raises(BatchedSetupError, match="member 1 has another architecture"):
        BatchedModels([_members(n=1)[0], other])
    with torch.random.fork_rng(devices=[]):
        lstm = [nn.LSTM(4, 8) for _ in range(2)]
    with pytest.raises(BatchedSetupError, match="LSTM.*no batching rule"):
        BatchedModels(lstm)


# ------------------------------------------------------------ study runs, batched

SPEC = StudySpec(inits=("he_normal",), seeds=3, epochs=3)


def test_a_group_repeats_itself_bit_for_bit_and_matches_sequential_runs():
    runs = SPEC.runs()
    group = train_group(runs)
    assert _bits(train_group(runs)) == _bits(group)  # every field and epoch
    for run, batched in zip(runs, group, strict=True):
        solo = train_run(run)
        assert (batched.status, batched.mode, batched.batch_seeds) == (
            "finished", "batched", (0, 1, 2))
        assert (batched.fingerprint, batched.data_hash) == (solo.fingerprint,
                                                            solo.data_hash)
        assert len(batched.epochs) == len(solo.epochs) == 4
        for a, b in zip(solo.epochs, batched.epochs, strict=True):
            assert abs(a.train_loss - b.train_loss) <= LOSS_TOL
            assert abs(a.test_loss - b.test_loss) <= LOSS_TOL
            assert abs(a.test_acc - b.test_acc) <= 1 / 360 + 1e-12
    # a replay trains the recorded group again: the same bits
    assert _bits(train_recorded(runs[1], "batched", runs)) == _bits(group[1])
    assert train_recorded(runs[1]).mode == "sequential"
    with pytest.raises(ValueError, match="its recorded group"):
        train_recorded(runs[1], "batched", runs[:1])


def test_a_diverging_group_is_diverged_at_the_epoch_of_its_solo_runs():
    spec = StudySpec(inits=('{"class_name": "RandomNormal", "config": '
                            '{"stddev": 1000000.0}}',), seeds=2, epochs=2,
                     optimizer="sgd", lr=10.0)
    runs = spec.runs()
    group = train_group(runs)
    for run, batched in zip(runs, group, strict=True):
        solo = train_run(run)
        assert solo.status == batched.status == "diverged"
        assert [e.epoch for e in solo.epochs] == [e.epoch for e in batched.epochs]
        assert batched.final.test_acc is None and solo.data_hash == batched.data_hash


def test_groups_must_be_one_cell_with_distinct_seeds():
    runs = StudySpec(inits=("he_normal", "zeros"), seeds=2, epochs=1).runs()
    with pytest.raises(ValueError, match="different grid cells"):
        train_group(runs[:2])
    with pytest.raises(ValueError, match="repeats a seed"):
        train_group([runs[0], runs[0]])
    with pytest.raises(ValueError, match="at least one"):
        train_group([])
