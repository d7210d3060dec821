"""The torch adapter: policies, layouts, seeds (cases C1, C10, C12, C13)."""

import math
import os

import numpy as np
import pytest
import torch
from torch import nn

import initlab
from initlab.torch import UnknownParameterWarning, fingerprint, initialize


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().to(torch.float64).numpy()


# ------------------------------------------------------------------- C12: defaults


def test_c12_torch_policy_linear_is_pytorch_default():
    layer = nn.Linear(128, 256)
    initialize(layer, "torch", seed=0)
    bound = 1 / math.sqrt(128)  # 0.088388
    w, b = _np(layer.weight), _np(layer.bias)
    assert np.abs(w).max() <= bound
    assert np.abs(w).max() >= 0.99 * bound
    assert w.std() == pytest.approx(bound / math.sqrt(3), rel=0.02)  # 0.051031
    assert np.abs(b).max() <= bound and np.abs(b).max() >= 0.95 * bound


def test_c12_keras_policy_linear_is_keras_default():
    layer = nn.Linear(128, 256)
    initialize(layer, "keras", seed=0)
    bound = math.sqrt(6 / (128 + 256))  # 0.125
    w = _np(layer.weight)
    assert bound == pytest.approx(0.125)
    assert np.abs(w).max() <= bound and np.abs(w).max() >= 0.99 * bound
    assert w.std() == pytest.approx(0.072169, rel=0.02)
    assert np.all(_np(layer.bias) == 0.0)


def test_c12_torch_policy_lstm_is_uniform_over_hidden():
    lstm = nn.LSTM(32, 128)
    initialize(lstm, "torch", seed=0)
    bound = 1 / math.sqrt(128)
    for name, p in lstm.named_parameters():
        values = _np(p)
        assert np.abs(values).max() <= bound, name
        assert np.abs(values).max() >= 0.95 * bound, name


# -------------------------------------------------------- C13: deep bidirectional LSTM


def test_c13_keras_lstm_policy_on_deep_bidirectional_lstm():
    lstm = nn.LSTM(512, 64, num_layers=2, bidirectional=True)
    initialize(lstm, "keras", seed=0)
    for layer in range(2):
        for suffix in ("", "_reverse"):
            total = _np(getattr(lstm, f"bias_ih_l{layer}{suffix}")) + _np(
                getattr(lstm, f"bias_hh_l{layer}{suffix}")
            )
            assert np.all(total[64:128] == 1.0)
            assert np.all(np.delete(total, np.s_[64:128]) == 0.0)
            w_ih = _np(getattr(lstm, f"weight_ih_l{layer}{suffix}"))
            fan_in = 512 if layer == 0 else 128
            bound = math.sqrt(6 / (fan_in + 256))
            assert bound == pytest.approx(0.088388 if layer == 0 else 0.125, abs=1e-6)
            assert np.abs(w_ih).max() <= bound and np.abs(w_ih).max() >= 0.99 * bound
            w_hh = _np(getattr(lstm, f"weight_hh_l{layer}{suffix}"))  # (256, 64)
            assert np.abs(w_hh.T @ w_hh - np.eye(64)).max() < 1e-5


def test_c13_lstm_without_bias():
    lstm = nn.LSTM(16, 8, bias=False)
    report = initialize(lstm, "keras", seed=0)
    assert [row.name for row in report.rows] == ["weight_ih_l0", "weight_hh_l0"]


# Keras 3.15's torch backend converts tensors with np.array(x, copy=False), which
# NumPy 2 flags; it is Keras's code, not ours.
@pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")
def test_c13_keras_lstm_weights_copied_into_torch_give_same_outputs():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    if keras.backend.backend() != "torch":
        pytest.skip("parity runs with KERAS_BACKEND=torch")
    keras.utils.set_random_seed(0)
    units, features, steps = 64, 12, 5
    layer = keras.layers.LSTM(units, return_sequences=True)
    x = np.random.default_rng(0).standard_normal((3, steps, features)).astype("float32")
    expected = np.asarray(keras.ops.convert_to_numpy(layer(x)))
    kernel, recurrent, bias = (
        np.asarray(keras.ops.convert_to_numpy(w)) for w in layer.weights
    )
    lstm = nn.LSTM(features, units, batch_first=True)
    with torch.no_grad():
        lstm.weight_ih_l0.copy_(torch.from_numpy(kernel.T.copy()))
        lstm.weight_hh_l0.copy_(torch.from_numpy(recurrent.T.copy()))
        lstm.bias_ih_l0.copy_(torch.from_numpy(bias))
        lstm.bias_hh_l0.zero_()
        actual = lstm(torch.from_numpy(x))[0].numpy()
    np.testing.assert_allclose(actual, expected, atol=1e-5)


# --------------------------------------------------------------- C1, C10: seeds


def test_c1_model_seed_gives_each_layer_its_own_values():
    model = nn.Sequential(nn.Linear(5, 5), nn.Linear(5, 5))
    initialize(model, "keras", seed=0)
    assert np.abs(_np(model[0].weight) - _np(model[1].weight)).max() > 0


@pytest.mark.parametrize("seed", [None, 42])
def test_c1_one_initializer_object_for_two_layers(seed):
    shared = initlab.GlorotUniform(seed=seed)
    model = nn.Sequential(nn.Linear(8, 8), nn.Linear(8, 8))
    initialize(model, {"Linear.weight": shared}, seed=0)
    assert np.abs(_np(model[0].weight) - _np(model[1].weight)).max() > 0


def test_own_seed_of_a_rule_initializer_takes_precedence():
    a, b = nn.Linear(8, 8), nn.Linear(8, 8)
    initialize(a, {"weight": initlab.GlorotUniform(seed=42)}, seed=0)
    initialize(b, {"weight": initlab.GlorotUniform(seed=42)}, seed=7)
    assert torch.equal(a.weight, b.weight)


def test_c10_numpy_and_adapter_write_the_same_bytes():
    layer = nn.Linear(3, 1)
    initialize(layer, {"Linear.weight": "orthogonal"}, seed=0)
    # The adapter draws the Keras kernel (in, out) = (3, 1) and writes its transpose.
    expected = initlab.Orthogonal().sample((3, 1), name="weight", seed=0)
    assert np.array_equal(layer.weight.detach().numpy(), expected.T)


def test_adapter_matches_numpy_for_a_dense_kernel():
    model = nn.Sequential(nn.Linear(20, 30))
    initialize(model, "keras", seed=5)
    expected = initlab.GlorotUniform().sample((20, 30), name="0.weight", seed=5)
    assert np.array_equal(model[0].weight.detach().numpy(), expected.T)


def test_adding_a_layer_leaves_other_layers_unchanged():
    small = nn.ModuleDict({"a": nn.Linear(4, 4), "c": nn.Linear(4, 4)})
    big = nn.ModuleDict(
        {"a": nn.Linear(4, 4), "b": nn.Linear(9, 9), "c": nn.Linear(4, 4)}
    )
    initialize(small, "keras", seed=3)
    initialize(big, "keras", seed=3)
    assert torch.equal(small["a"].weight, big["a"].weight)
    assert torch.equal(small["c"].weight, big["c"].weight)


def test_prefix_reproduces_the_whole_model_call():
    model = nn.Sequential(nn.Linear(4, 6), nn.Linear(6, 2))
    initialize(model, "keras", seed=1)
    whole = model[1].weight.detach().clone()
    initialize(model[1], "keras", seed=1, prefix="1.")
    assert torch.equal(model[1].weight, whole)


def test_same_seed_same_fingerprint_and_different_seed_differs():
    def build(seed):
        model = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 2))
        initialize(model, "keras", seed=seed)
        return fingerprint(model)

    assert build(0) == build(0)
    assert build(0) != build(1)


def test_half_precision_parameters_receive_the_float32_draw_cast():
    for dtype in (torch.float16, torch.bfloat16):
        layer = nn.Linear(16, 8).to(dtype)
        initialize(layer, "keras", seed=0)
        expected = initlab.GlorotUniform().sample((16, 8), name="weight", seed=0)
        assert torch.equal(layer.weight, torch.from_numpy(expected.T.copy()).to(dtype))


def test_tied_parameters_are_initialized_once():
    enc, dec = nn.Embedding(10, 4), nn.Linear(4, 10, bias=False)
    dec.weight = enc.weight
    model = nn.ModuleDict({"enc": enc, "dec": dec})
    report = initialize(model, "keras", seed=0)
    assert [row.name for row in report.rows] == ["enc.weight"]


# ----------------------------------------------------------------- module kinds


def test_single_initializer_policy_covers_kernels_and_keeps_keras_elsewhere():
    lstm = nn.LSTM(6, 4)
    initialize(lstm, "he_normal", seed=0)
    total = _np(lstm.bias_ih_l0) + _np(lstm.bias_hh_l0)
    assert (
        np.all(total[4:8] == 1.0) and np.all(total[:4] == 0) and np.all(total[8:] == 0)
    )


def test_zeros_policy_makes_every_kernel_zero():
    model = nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 3))
    initialize(model, "zeros", seed=0)
    assert all(torch.count_nonzero(p) == 0 for p in model.parameters())


def test_rules_precedence_name_glob_over_type_over_base():
    model = nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 4))
    report = initialize(
        model,
        {
            "base": "torch",
            "Linear.weight": "ones",
            "1.*": "zeros",
            "1.weight": "constant",
        },
        seed=0,
    )
    by_name = {row.name: row.initializer for row in report.rows}
    assert by_name["0.weight"].startswith("ones")
    assert by_name["1.weight"].startswith("constant")  # longest glob wins
    assert by_name["1.bias"].startswith("zeros")
    assert by_name["0.bias"] == "random_uniform"  # base torch


def test_multihead_attention_projections_are_separate_glorot_kernels():
    embed = 32
    mha = nn.MultiheadAttention(embed, 4)
    initialize(mha, "keras", seed=0)
    w = _np(mha.in_proj_weight)
    bound = math.sqrt(6 / (embed + embed))
    assert np.abs(w).max() <= bound and np.abs(w).max() >= 0.95 * bound
    q, k, v = np.split(w, 3)
    assert not np.array_equal(q, k)
    assert np.all(_np(mha.in_proj_bias) == 0)


def test_embedding_and_norm_keras_defaults():
    model = nn.ModuleDict(
        {"emb": nn.Embedding(100, 16), "bn": nn.BatchNorm1d(16), "ln": nn.LayerNorm(16)}
    )
    initialize(model, "keras", seed=0)
    emb = _np(model["emb"].weight)
    assert np.abs(emb).max() <= 0.05 and emb.std() == pytest.approx(
        0.1 / math.sqrt(12), rel=0.05
    )
    for norm in ("bn", "ln"):
        assert np.all(_np(model[norm].weight) == 1) and np.all(
            _np(model[norm].bias) == 0
        )


def test_gru_gate_order_follows_keras():
    gru = nn.GRU(5, 3)
    initialize(gru, "keras", seed=0)
    kernel = initlab.GlorotUniform().sample((5, 9), name="weight_ih_l0", seed=0)
    z, r, h = np.split(kernel, 3, axis=1)  # Keras (z, r, h); PyTorch (r, z, n)
    expected = np.concatenate([r, z, h], axis=1).T
    assert np.array_equal(gru.weight_ih_l0.detach().numpy(), expected)


def test_per_gate_recurrent_blocks_are_each_orthogonal():
    lstm = nn.LSTM(8, 16)
    initialize(lstm, "keras", seed=0, recurrent="per_gate")
    w = _np(lstm.weight_hh_l0)  # (4H, H)
    for block in np.split(w, 4):
        assert np.abs(block @ block.T - np.eye(16)).max() < 1e-5


def test_unknown_parameter_is_reported_not_guessed():
    class Scale(nn.Module):
        def __init__(self):
            super().__init__()
            self.alpha = nn.Parameter(torch.full((3,), 7.0))

    model = nn.Sequential(nn.Linear(3, 3), Scale())
    with pytest.warns(UnknownParameterWarning, match="1.alpha"):
        report = initialize(model, "keras", seed=0)
    assert report.unknown == ["1.alpha"]
    assert torch.all(model[1].alpha == 7.0)
    assert "1.alpha" in str(report)


def test_report_lists_expected_and_sampled_std():
    layer = nn.Linear(256, 512)
    report = initialize(layer, "keras", seed=0)
    row = report.rows[0]
    assert (row.fan_in, row.fan_out) == (256, 512)
    assert row.expected_std == pytest.approx(math.sqrt(2 / 768))
    assert row.sampled_std == pytest.approx(row.expected_std, rel=0.03)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"policy": "kears"}, "kears"),
        ({"policy": {"base": "jax"}}, "jax"),
        ({"fans": "real"}, "real"),
        ({"recurrent": "gates"}, "gates"),
    ],
)
def test_bad_arguments_name_the_value(kwargs, match):
    with pytest.raises(ValueError, match=match):
        initialize(nn.Linear(2, 2), **kwargs)


def test_bad_seed_is_refused():
    with pytest.raises(ValueError, match="-1"):
        initialize(nn.Linear(2, 2), seed=-1)
    with pytest.raises(TypeError, match="seed"):
        initialize(nn.Linear(2, 2), seed="zero")


# ----------------------------------------------------------------- meta device


def test_meta_model_is_materialized_with_the_same_bytes_as_cpu():
    def build():
        return nn.Sequential(
            nn.Linear(64, 128),
            nn.BatchNorm1d(128),
            nn.ReLU(),
            nn.Linear(128, 10),
            nn.Embedding(7, 3),
        )

    cpu = build()
    initialize(cpu, "keras", seed=2)
    with torch.device("meta"):
        meta = build()
    assert all(p.is_meta for p in meta.parameters())
    initialize(meta, "keras", seed=2)
    assert not any(p.is_meta for p in meta.parameters())
    assert fingerprint(meta) == fingerprint(cpu)
    assert torch.equal(meta[1].running_mean, torch.zeros(128))
    assert torch.equal(meta[1].running_var, torch.ones(128))


def test_stream_version_is_selectable_and_checked():
    a, b = nn.Linear(4, 4), nn.Linear(4, 4)
    report = initialize(a, "keras", seed=0, stream_version=1)
    initialize(b, "keras", seed=0)
    assert report.stream_version == 1 and torch.equal(a.weight, b.weight)
    with pytest.raises(ValueError, match="stream_version=7"):
        initialize(a, "keras", stream_version=7)


def test_a_rule_that_matches_nothing_is_warned_about():
    layer = nn.Linear(3, 3)
    with pytest.warns(initlab.torch.UnmatchedRuleWarning, match=r"\*\.weight"):
        initialize(layer, {"*.weight": "zeros", "weight": "ones"}, seed=0)
    assert torch.all(layer.weight == 1)


@pytest.mark.parametrize("policy", ["keras", "torch", "he_normal"])
def test_embedding_padding_row_is_zero_under_every_policy(policy):
    emb = nn.Embedding(10, 4, padding_idx=2)
    initialize(emb, policy, seed=0)
    assert torch.all(emb.weight[2] == 0) and torch.count_nonzero(emb.weight[3]) == 4


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_bounds_hold_compared_in_the_parameter_dtype(dtype):
    layer = nn.Linear(300, 200).to(dtype)
    initialize(layer, "keras", seed=0)
    limit = torch.tensor(math.sqrt(6 / 500), dtype=torch.float64).to(dtype)
    assert torch.all(layer.weight.abs() <= limit)
