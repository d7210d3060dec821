"""diagnose leaves the model as it was, reports what it cannot compute, and renders."""

from __future__ import annotations

import io
import json
import math

import pytest
import torch
from rich.console import Console
from torch import nn

from initlab import diagnostics
from initlab.diagnostics import build_case, diagnose
from initlab.torch import fingerprint, initialize


def small_mlp(init="he_normal", depth=4, width=32, activation="relu", seed=0):
    return build_case(
        "mlp",
        depth=depth,
        width=width,
        activation=activation,
        init=init,
        seed=seed,
        batch_size=64,
    )


def test_initlab_diagnose_is_the_function():
    import initlab
    import initlab.torch

    assert initlab.diagnose is initlab.torch.diagnose is diagnostics.diagnose
    assert initlab.recommend is initlab.torch.recommend is diagnostics.recommend


# --------------------------------------------------------------- model left unchanged


def norm_dropout_model():
    model = nn.Sequential(
        nn.Linear(8, 16),
        nn.BatchNorm1d(16),
        nn.ReLU(),
        nn.Dropout(0.5),
        nn.Linear(16, 4),
    )
    initialize(model, "he_normal", seed=1)
    return model


def test_model_parameters_buffers_grads_and_modes_are_left_as_they_were():
    model = norm_dropout_model()
    model.train()
    model[3].eval()  # mixed modes must come back as they were
    first, last = model[0], model[4]
    first.weight.grad = torch.full_like(first.weight, 0.25)
    grad_before = first.weight.grad
    state = {k: v.clone() for k, v in model.state_dict().items()}
    modes = [m.training for m in model.modules()]
    print_before = fingerprint(model)
    rng_before = torch.get_rng_state()
    batch = torch.randn(32, 8, generator=torch.Generator().manual_seed(0))

    report = diagnose(model, batch)

    assert fingerprint(model) == print_before
    for key, value in model.state_dict().items():  # BatchNorm running stats too
        assert torch.equal(value, state[key]), key
    assert first.weight.grad is grad_before
    assert torch.equal(first.weight.grad, torch.full_like(first.weight, 0.25))
    assert last.weight.grad is None and first.bias.grad is None
    assert [m.training for m in model.modules()] == modes
    assert torch.equal(torch.get_rng_state(), rng_before)
    assert [row.name for row in report.layers] == ["0", "4"]
    assert report.layers[0].weight_grad_std > 0


def test_the_report_repeats_exactly_even_with_dropout_in_train_mode():
    model = norm_dropout_model().train()
    batch = torch.randn(32, 8, generator=torch.Generator().manual_seed(0))
    assert diagnose(model, batch).to_dict() == diagnose(model, batch).to_dict()


def test_the_batch_and_a_no_grad_context_are_respected():
    model, batch = small_mlp()
    kept = batch.clone()
    with torch.no_grad():
        report = diagnose(model, batch)
    assert torch.equal(batch, kept) and not batch.requires_grad
    assert all(row.output_grad_std is not None for row in report.layers)


def test_frozen_parameters_still_get_output_gradients():
    model, batch = small_mlp()
    for param in model.parameters():
        param.requires_grad_(False)
    report = diagnose(model, batch)
    assert all(row.weight_grad_std is None for row in report.layers)
    assert all(row.output_grad_std > 0 for row in report.layers)
    assert all(not p.requires_grad for p in model.parameters())


# ----------------------------------------------------------------- layer statistics


def test_pre_activation_is_measured_before_an_in_place_relu():
    model = nn.Sequential(nn.Linear(64, 64), nn.ReLU(inplace=True), nn.Linear(64, 64))
    initialize(model, "he_normal", seed=0)
    batch = torch.randn(256, 64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        pre = model[0](batch)
    row = diagnose(model, batch).layers[0]
    assert row.pre_mean == pytest.approx(float(pre.double().mean()), abs=1e-6)
    assert row.pre_std == pytest.approx(float(pre.double().std(correction=0)), rel=1e-6)
    relu = pre.clamp(min=0).double()
    assert row.act_mean == pytest.approx(float(relu.mean()), rel=1e-6)
    assert row.act_std == pytest.approx(float(relu.std(correction=0)), rel=1e-6)
    assert row.activation == "relu"
    assert diagnose(model, batch).layers[1].activation == "linear"


def test_output_gradient_of_the_default_loss_is_probe_over_batch_size():
    model = nn.Sequential(nn.Linear(16, 16))
    batch = torch.randn(100, 16, generator=torch.Generator().manual_seed(0))
    row = diagnose(model, batch).layers[0]
    # The probe is standard normal: the gradient std is about 1 / 100.
    assert row.output_grad_std == pytest.approx(0.01, rel=0.05)


def test_custom_loss_fn():
    model = nn.Sequential(nn.Linear(16, 16))
    batch = torch.randn(100, 16, generator=torch.Generator().manual_seed(0))
    row = diagnose(model, batch, loss_fn=lambda out: out.pow(2).sum() / 2).layers[0]
    assert row.output_grad_std == pytest.approx(row.pre_std, rel=1e-6)  # d/dy y^2/2 = y
    with pytest.raises(ValueError, match="scalar"):
        diagnose(model, batch, loss_fn=lambda out: out)
    with pytest.raises(TypeError, match="must return a tensor"):
        diagnose(model, batch, loss_fn=lambda out: 1.0)


def test_dead_layer_is_found():
    model, batch = small_mlp(depth=4)
    with torch.no_grad():
        model.fc3.bias.fill_(-100.0)  # every pre-activation of fc3 is negative
    report = diagnose(model, batch)
    assert report.verdict == "dead"
    assert report.first_bad_layer == "fc3"
    assert report.layer("fc3").dead_fraction == 1.0
    assert report.layer("fc2").dead_fraction < 0.9


def test_symmetric_takes_precedence_over_dead():
    model, batch = small_mlp("zeros")
    report = diagnose(model, batch)
    assert report.layers[0].dead_fraction == 1.0
    assert report.verdict == "symmetric"


def test_identical_rows_with_different_biases_are_not_symmetric():
    layer = nn.Linear(4, 3)
    with torch.no_grad():
        layer.weight.fill_(0.5)
        layer.bias.copy_(torch.tensor([0.0, 1.0, 2.0]))
    report = diagnose(nn.Sequential(layer, nn.Tanh()), torch.randn(8, 4))
    assert not report.layers[0].symmetric


def test_non_finite_values_are_reported_not_raised():
    model, batch = small_mlp(depth=3)
    with torch.no_grad():
        model.fc2.weight[0, 0] = math.inf
    report = diagnose(model, batch)
    assert report.verdict == "exploding"
    assert report.first_bad_layer == "fc2"
    assert report.layer("fc2").nonfinite_fraction > 0
    assert not math.isfinite(report.layer("fc3").act_std)
    assert "non-finite" in report.gradient_note
    text = json.dumps(report.to_dict(), allow_nan=False)  # strict JSON
    assert '"nan"' in text or '"inf"' in text
    assert "fc2" in str(report)


def test_saturated_sigmoid_uses_its_own_limits():
    model = nn.Sequential(nn.Linear(8, 8), nn.Sigmoid())
    with torch.no_grad():
        model[0].weight.copy_(torch.eye(8) * 100)
        model[0].bias.zero_()
    report = diagnose(
        model, torch.randn(64, 8, generator=torch.Generator().manual_seed(0))
    )
    assert report.verdict == "saturated"
    assert report.layers[0].saturated_fraction > 0.9
    assert report.suggestion == "glorot_uniform"


def test_a_model_without_layers_is_refused():
    with pytest.raises(ValueError, match="No Linear, convolution or recurrent layer"):
        diagnose(nn.Sequential(nn.ReLU()), torch.randn(4, 3))
    with pytest.raises(TypeError, match="torch.nn.Module"):
        diagnose("model", torch.randn(4, 3))


# ------------------------------------------------------------- convolutions and LSTMs


def test_cnn_units_are_channels():
    model, batch = build_case("cnn", depth=3, width=8, init="he_normal", batch_size=32)
    assert batch.shape == (32, 8, 8, 8)
    with torch.no_grad():
        model.conv2.weight[
            :2
        ].zero_()  # channels 0 and 1 of conv2 output zero everywhere
    report = diagnose(model, batch)
    assert [row.kind for row in report.layers] == ["Conv2d"] * 3
    assert report.layer("conv2").units == 8
    assert report.layer("conv2").dead_fraction == pytest.approx(2 / 8)


def test_lstm_stack_is_measured_layer_by_layer():
    model, batch = build_case(
        "lstm", depth=3, width=16, init="glorot_uniform", batch_size=32
    )
    assert batch.shape == (32, 8, 16)
    report = diagnose(model, batch)
    assert [row.name for row in report.layers] == ["lstm1", "lstm2", "lstm3"]
    assert all(row.kind == "LSTM" and row.activation == "lstm" for row in report.layers)
    assert all(row.saturated_fraction is not None for row in report.layers)
    assert report.suggestion == "glorot_uniform"
    zeros = diagnose(*build_case("lstm", depth=2, width=16, init="zeros", batch_size=8))
    assert zeros.verdict == "symmetric"


def test_built_in_models_have_zero_biases_for_every_policy():
    for init in ("torch", "keras"):
        model, _ = build_case("lstm", depth=1, width=4, init=init, batch_size=2)
        biases = [p for n, p in model.named_parameters() if "bias" in n]
        assert biases and all(torch.count_nonzero(b) == 0 for b in biases)


def test_a_repeated_module_gets_one_row_per_call():
    layer = nn.Linear(8, 8)
    model = nn.Sequential(layer, nn.Tanh(), layer, nn.Tanh())
    report = diagnose(model, torch.randn(16, 8))
    assert [row.name for row in report.layers] == ["0", "0#2"]


# ------------------------------------------------------------------------ rendering


def test_report_renders_as_plain_and_rich_tables_and_json():
    model, batch = small_mlp("glorot_normal", depth=3)
    report = diagnose(model, batch)
    plain = str(report)
    assert "verdict: healthy" in plain and "fc1" in plain and "fc3" in plain
    console = Console(file=io.StringIO(), width=200, record=True)
    console.print(report)
    rendered = console.export_text()
    assert "fc3" in rendered and "suggestion: he_normal" in rendered
    data = json.loads(json.dumps(report.to_dict(), allow_nan=False))
    assert set(data) >= {"verdict", "first_bad_layer", "suggestion", "layers"}
    assert len(data["layers"]) == 3 and data["layers"][0]["name"] == "fc1"
    assert data["thresholds"]["exploding_ratio"] == 1e4
