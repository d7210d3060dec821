"""LSUV (Mishkin and Matas 2016): unit output variance at every layer it reaches
(case S1), measured independently of its own report."""

from __future__ import annotations

import random
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn

from initlab import seeds
from initlab.diagnostics import build_case, diagnose
from initlab.torch import (
    LSUVWarning,
    fingerprint,
    initialize,
    initialize_lsuv,
    lsuv,
    lsuv_policy_applies,
)

TARGETS = (nn.Linear, nn.modules.conv._ConvNd)


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def output_variances(model, batch):
    """Each Linear/conv layer's output variance at its first call, in eval mode."""
    found = {}
    names = {m: n for n, m in model.named_modules() if isinstance(m, TARGETS)}

    def record(module, args, output):
        found.setdefault(names[module], float(output.double().var(correction=0)))

    hooks = [m.register_forward_hook(record) for m in names]
    mode = model.training
    model.eval()
    with torch.no_grad():
        model(batch)
    model.train(mode)
    for hook in hooks:
        hook.remove()
    return found


def normal(shape, name, std=1.0):
    rng = seeds.stream(0, name)
    return torch.from_numpy(rng.standard_normal(shape).astype(np.float32) * std)


def s1_mlp():
    return nn.Sequential(
        nn.Linear(64, 64),
        nn.Tanh(),
        nn.Linear(64, 64),
        nn.Tanh(),
        nn.Linear(64, 64),
        nn.Tanh(),
        nn.Linear(64, 10),
    )


def s1_cnn():
    return nn.Sequential(
        nn.Conv1d(1, 8, 5, padding=2),
        nn.ReLU(),
        nn.Conv1d(8, 8, 3, padding=1),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(320, 32),
        nn.ReLU(),
        nn.Dropout(0.5),
        nn.Linear(32, 10, bias=False),
    )


# -------------------------------------------------------------------- issue 5 criterion


def test_lsuv_gives_unit_variance_at_every_layer_of_the_50_layer_glorot_net():
    model, batch = build_case(
        "mlp",
        depth=50,
        width=256,
        activation="relu",
        init="glorot_normal",
        batch_size=512,
    )
    assert diagnose(model, batch).verdict == "vanishing"
    report = lsuv(model, batch)
    variances = output_variances(model, batch)
    assert list(variances) == [f"fc{i}" for i in range(1, 51)]
    assert all(abs(v - 1) <= 0.1 for v in variances.values()), variances
    assert [row.name for row in report.rows] == list(variances)
    assert all(row.converged and row.iterations <= 1 for row in report.rows)
    assert [row.variance_after for row in report.rows] == pytest.approx(
        list(variances.values()), rel=1e-6
    )
    assert diagnose(model, batch).verdict == "healthy"


# ------------------------------------------------------------------------- case S1


def test_s1_tanh_mlp_every_layer_the_first_included():
    model = s1_mlp()
    batch = normal((256, 64), "s1/mlp", std=3.0)
    report = lsuv(model, batch, tol=0.1)
    variances = output_variances(model, batch)
    assert list(variances) == ["0", "2", "4", "6"]
    assert all(abs(v - 1) <= 0.1 for v in variances.values()), variances
    assert [row.name for row in report.rows] == ["0", "2", "4", "6"]
    first = report.rows[0]
    # Orthogonal rows of norm 1 on inputs of variance 9: the first layer starts at ~9.
    assert first.variance_before == pytest.approx(9, rel=0.15)
    assert first.iterations >= 1 and abs(first.variance_after - 1) < 0.1
    assert report.unreached == []


def test_s1_mnist1d_cnn_with_dropout_and_a_layer_without_bias():
    model = s1_cnn().train()
    batch = normal((64, 1, 40), "s1/cnn")
    report = lsuv(model, batch)
    variances = output_variances(model, batch)
    assert list(variances) == ["0", "2", "5", "8"]
    assert all(abs(v - 1) <= 0.1 for v in variances.values()), variances
    assert [(row.name, row.kind) for row in report.rows] == [
        ("0", "Conv1d"),
        ("2", "Conv1d"),
        ("5", "Linear"),
        ("8", "Linear"),
    ]
    assert model[8].bias is None
    assert model.training and all(m.training for m in model.modules())


def test_conv2d_conv3d_and_transposed_convolutions_are_reached():
    model = nn.Sequential(nn.Conv2d(2, 4, 3), nn.ReLU(), nn.ConvTranspose2d(4, 3, 3))
    batch = normal((16, 2, 6, 6), "s1/conv2d")
    lsuv(model, batch)
    assert all(abs(v - 1) <= 0.1 for v in output_variances(model, batch).values())
    conv3d = nn.Sequential(
        nn.Conv3d(1, 4, 3), nn.Tanh(), nn.Conv3d(4, 2, 1, bias=False)
    )
    batch3 = normal((8, 1, 5, 5, 5), "s1/conv3d")
    lsuv(conv3d, batch3)
    assert all(abs(v - 1) <= 0.1 for v in output_variances(conv3d, batch3).values())


class WithUnusedHead(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 4))
        self.unused = nn.Linear(4, 2)

    def forward(self, x):
        return self.body(x)


def test_unreached_layers_are_named_in_a_warning_and_left_alone():
    model = WithUnusedHead()
    before = model.unused.weight.detach().clone()
    with pytest.warns(LSUVWarning, match="never reached them: unused"):
        report = lsuv(model, normal((32, 8), "s1/unused"))
    assert report.unreached == ["unused"]
    assert [row.name for row in report.rows] == ["body.0", "body.2"]
    assert torch.equal(model.unused.weight, before)
    assert "unused" in str(report)


# -------------------------------------------------------------- state and determinism


def test_global_random_state_and_modes_are_untouched():
    model = s1_cnn()
    model.train()
    model[7].eval()
    modes = [m.training for m in model.modules()]
    torch_state = torch.get_rng_state()
    numpy_state = np.random.get_state()[1].copy()
    python_state = random.getstate()
    lsuv(model, normal((64, 1, 40), "s1/cnn"))
    assert torch.equal(torch.get_rng_state(), torch_state)
    assert np.array_equal(np.random.get_state()[1], numpy_state)
    assert random.getstate() == python_state
    assert [m.training for m in model.modules()] == modes


def test_orthogonal_pre_init_comes_from_initlab_streams():
    batch = normal((256, 64), "s1/mlp", std=3.0)
    model = s1_mlp()
    report = lsuv(model, batch, seed=5)
    reference = s1_mlp()
    initialize(reference, "orthogonal", seed=5)  # the (seed, name) streams
    assert [row.name for row in report.rows] == ["0", "2", "4", "6"]
    for index in (0, 2, 4, 6):
        ratio = model[index].weight / reference[index].weight
        assert torch.allclose(ratio, ratio.flatten()[0].expand_as(ratio), rtol=1e-4)
        assert torch.count_nonzero(model[index].bias) == 0
    again = s1_mlp()
    lsuv(again, batch, seed=5)
    assert fingerprint(again) == fingerprint(model)
    other = s1_mlp()
    lsuv(other, batch, seed=6)
    assert fingerprint(other) != fingerprint(model)


def test_invalid_arguments_are_refused():
    model, batch = s1_mlp(), normal((8, 64), "x")
    with pytest.raises(ValueError, match="`tol`"):
        lsuv(model, batch, tol=0)
    with pytest.raises(ValueError, match="`max_iter`"):
        lsuv(model, batch, max_iter=0)
    with pytest.raises(ValueError, match="`seed`"):
        lsuv(model, batch, seed=-1)
    with pytest.raises(TypeError, match="torch.nn.Module"):
        lsuv(None, batch)


def test_a_layer_that_outputs_zeros_is_reported_not_rescaled():
    model = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 4))
    batch = torch.zeros(8, 4)
    with pytest.warns(LSUVWarning, match="did not bring these layers"):
        report = lsuv(model, batch)
    assert not report.converged
    assert all(row.iterations == 0 for row in report.rows)
    assert all(torch.isfinite(p).all() for p in model.parameters())


# ------------------------------------------------------------------------- studies


def test_lsuv_policy_applies_to_the_lsuv_entry_only():
    assert lsuv_policy_applies("lsuv") and lsuv_policy_applies(" LSUV ")
    assert lsuv_policy_applies(SimpleNamespace(label="lsuv", config="lsuv"))
    assert not lsuv_policy_applies("he_normal")
    assert not lsuv_policy_applies(SimpleNamespace(label="he_normal", config={}))
    assert not lsuv_policy_applies(None)


def test_initialize_lsuv_for_a_study_run():
    inputs = normal((1000, 64), "study/inputs", std=3.0)
    model = nn.Sequential(
        nn.Linear(64, 32), nn.LayerNorm(32), nn.ReLU(), nn.Linear(32, 10)
    )
    with torch.no_grad():
        model[1].weight.fill_(7.0)  # the keras policy resets it to ones
    report = initialize_lsuv(model, inputs, seed=3, batch_size=200)
    assert [row.name for row in report.rows] == ["0", "3"]
    assert torch.equal(model[1].weight, torch.ones(32))
    rows = np.sort(seeds.stream(3, "lsuv/batch").choice(1000, 200, replace=False))
    variances = output_variances(model, inputs[torch.from_numpy(rows)])
    assert all(abs(v - 1) <= 0.1 for v in variances.values())
    again = nn.Sequential(
        nn.Linear(64, 32), nn.LayerNorm(32), nn.ReLU(), nn.Linear(32, 10)
    )
    initialize_lsuv(again, inputs, seed=3, batch_size=200)
    assert fingerprint(again) == fingerprint(model)
