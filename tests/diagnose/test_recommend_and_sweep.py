"""recommend: the general rule, the activation-aware one and their variance factors;
depth_sweep: one picture, one line per initializer."""

from __future__ import annotations

import json
import math

import pytest
import torch
from torch import nn

from initlab.diagnostics import (
    build_model,
    depth_sweep,
    plot_depth_sweep,
    plot_diagnosis,
    recommend,
    split_inits,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def by_name(rows):
    return {row.parameter: row for row in rows}


@pytest.mark.parametrize(
    "activation, refined, factor",
    [
        ("relu", "he_normal", 2.0),
        ("gelu", "he_normal", 2.0),
        ("selu", "lecun_normal", 1.0),
        ("tanh", "glorot_uniform", 1.0),
        ("sigmoid", "glorot_uniform", 1.0),
        ("linear", "glorot_uniform", 1.0),
    ],
)
def test_activation_aware_rule_on_a_square_mlp(activation, refined, factor):
    rows = recommend(build_model("mlp", depth=3, width=64, activation=activation))
    assert [row.parameter for row in rows] == ["fc1.weight", "fc2.weight", "fc3.weight"]
    for row in rows:
        assert row.activation == activation
        assert (row.fan_in, row.fan_out) == (64, 64)
        assert row.general == "glorot_uniform"
        assert row.general_std == pytest.approx(math.sqrt(2 / 128))
        assert row.general_factor == pytest.approx(1.0)
        assert row.refined == refined
        assert row.refined_factor == pytest.approx(factor)
        assert row.refined_std == pytest.approx(math.sqrt(factor / 64))


def test_glorot_factor_of_a_rectangular_layer_and_a_linear_head():
    model = nn.Sequential(nn.Linear(100, 300), nn.Tanh(), nn.Linear(300, 10))
    rows = by_name(recommend(model))
    hidden, head = rows["0.weight"], rows["2.weight"]
    assert (hidden.fan_in, hidden.fan_out) == (100, 300)
    assert hidden.refined_factor == pytest.approx(
        2 * 100 / 400
    )  # 2 fan_in / (in + out)
    assert head.activation == "linear" and head.refined == "glorot_uniform"


def test_convolution_and_recurrent_kernels():
    model = nn.Sequential(nn.Conv2d(3, 16, 5), nn.ReLU())
    row = recommend(model)[0]
    assert (row.fan_in, row.fan_out) == (3 * 25, 16 * 25)
    assert row.refined == "he_normal" and row.refined_factor == pytest.approx(2.0)
    rows = by_name(recommend(build_model("lstm", depth=1, width=8)))
    kernel, recurrent = rows["lstm1.weight_ih_l0"], rows["lstm1.weight_hh_l0"]
    assert kernel.general == kernel.refined == "glorot_uniform"
    assert (kernel.fan_in, kernel.fan_out) == (8, 32)  # Keras's (in, 4H) kernel
    assert recurrent.general == recurrent.refined == "orthogonal"
    assert recurrent.refined_std == pytest.approx(1 / math.sqrt(32))


class OutOfOrder(nn.Module):
    """Registers its activation after both layers; calls it between them."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(8, 8)
        self.fc2 = nn.Linear(8, 8)
        self.act = nn.SELU()

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


def test_a_batch_gives_the_real_order_of_activations():
    model = OutOfOrder().train()
    registered = by_name(recommend(model))
    assert registered["fc1.weight"].activation == "linear"  # registration order
    traced = by_name(recommend(model, torch.randn(4, 8)))
    assert traced["fc1.weight"].activation == "selu"
    assert traced["fc1.weight"].refined == "lecun_normal"
    assert traced["fc2.weight"].activation == "linear"
    assert model.training


def test_recommendations_render_and_serialize():
    rows = recommend(build_model("mlp", depth=2, width=8))
    assert "he_normal" in str(rows) and "fc2.weight" in str(rows)
    data = json.loads(json.dumps(rows.to_dicts()))
    assert data[0]["shape"] == [8, 8] and data[0]["refined_factor"] == pytest.approx(2)


def test_split_inits_keeps_json_configs_whole():
    text = 'he_normal, {"class_name": "RandomNormal", "config": {"stddev": 1.0}},lsuv'
    assert split_inits(text) == [
        "he_normal",
        '{"class_name": "RandomNormal", "config": {"stddev": 1.0}}',
        "lsuv",
    ]
    with pytest.raises(ValueError, match="Malformed list"):
        split_inits("he_normal,,zeros")


def test_depth_sweep_one_line_per_initializer(tmp_path):
    lines = depth_sweep(
        ["glorot_normal", "he_normal", "lsuv"],
        "mlp",
        depth=20,
        width=64,
        batch_size=128,
    )
    assert [line.init for line in lines] == ["glorot_normal", "he_normal", "lsuv"]
    assert all(len(line.activation_std) == 20 for line in lines)
    glorot, he, lsuv = (line.to_dict() for line in lines)
    assert glorot["last_over_first"] < 0.01 < he["last_over_first"]
    assert lsuv["verdict"] == "healthy"
    path = plot_depth_sweep(lines, tmp_path / "sweep" / "depth.png")
    assert path.read_bytes().startswith(PNG_MAGIC)
    single = plot_diagnosis(lines[0].report, tmp_path / "one.png", "glorot")
    assert single.read_bytes().startswith(PNG_MAGIC)


def test_depth_sweep_refuses_a_bad_entry_before_running():
    with pytest.raises(ValueError, match="keras, torch, lsuv"):
        depth_sweep(["he_normal", "no_such_init"], "mlp", depth=2, width=4)


def test_depth_sweep_of_a_factory_model_copies_it_and_keeps_one_batch():
    calls = []

    def factory():
        calls.append(1)
        model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 16), nn.ReLU())
        return model, torch.randn(
            32, 8, generator=torch.Generator().manual_seed(len(calls))
        )

    lines = depth_sweep(["he_normal", "he_normal", "zeros"], factory=factory)
    assert len(calls) == 1
    first, again, zeros = (line.report.to_dict() for line in lines)
    assert first["layers"] == again["layers"]  # same copy, same batch, same seed
    assert zeros["verdict"] == "symmetric"
