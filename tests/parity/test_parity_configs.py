"""Configs cross between Keras 3.15.1 and initlab in both directions.

- Keras's ``serialize(init)`` loads with ``initlab.deserialize``, and
  ``initlab.serialize`` of the result gives back the same dict;
- ``initlab.serialize(init)`` loads with ``keras.initializers.deserialize`` and the
  Keras object's ``get_config()`` is initlab's;
- every initializer config inside the config of a Keras model that uses Dense,
  Conv2D, Conv2DTranspose, DepthwiseConv2D, LSTM, GRU, Embedding, BatchNormalization
  and MultiHeadAttention loads with ``initlab.deserialize``.

The one documented departure (docs/design.md): Keras 3.15's ``Identity.get_config()``
drops ``gain``; initlab keeps it. Keras loads initlab's form (its ``from_config`` is
``cls(**config)``) but its own config of the result is ``{}`` again.
"""

from __future__ import annotations

import json

import pytest
from _parity_cases import (
    CASES,
    KERAS_NUMPY2_WARNING,
    import_keras,
    initlab_init,
    keras_init,
)

import initlab

keras = import_keras()

pytestmark = KERAS_NUMPY2_WARNING

NAMES = list(CASES)


def _keras_form(name: str, seed: int | None) -> dict:
    return keras.initializers.serialize(keras_init(name, seed=seed))


@pytest.mark.parametrize("seed", [None, 7])
@pytest.mark.parametrize("name", NAMES)
def test_keras_form_loads_and_serializes_back_unchanged(name, seed):
    form = _keras_form(name, seed)
    form = json.loads(json.dumps(form))  # as stored in a .keras or JSON file
    loaded = initlab.deserialize(form)
    assert type(loaded).__name__ == name
    back = initlab.serialize(loaded)
    if name == "Identity":
        # Keras drops gain from Identity's config; initlab restores the default.
        assert form["config"] == {}
        assert back == {**form, "config": {"gain": 1.0}}
    else:
        assert back == form
    # The short form loads to the same initializer.
    assert initlab.deserialize({"class_name": form["class_name"],
                                "config": form["config"]}) == loaded


@pytest.mark.parametrize("seed", [None, 7])
@pytest.mark.parametrize("name", NAMES)
def test_initlab_form_loads_in_keras_with_the_same_config(name, seed):
    ours = initlab_init(name, seed=seed)
    form = json.loads(json.dumps(initlab.serialize(ours)))
    theirs = keras.initializers.deserialize(form)
    assert type(theirs).__name__ == name
    if name == "Identity":
        assert theirs.get_config() == {}  # Keras 3.15 drops gain from its config...
        assert theirs.gain == ours.gain == CASES["Identity"]["gain"]  # ...but loads it
    else:
        assert theirs.get_config() == ours.get_config()
        assert keras.initializers.serialize(theirs) == initlab.serialize(ours)


@pytest.mark.parametrize("class_name", ["glorot_uniform", "GlorotUniform", "he_normal",
                                        "OrthogonalInitializer", "IdentityInitializer",
                                        "zero", "one", "normal", "uniform"])
def test_names_keras_accepts_as_class_name_load_to_the_same_class(class_name):
    form = {"class_name": class_name, "config": {}}
    assert type(initlab.deserialize(form)).__name__ == type(
        keras.initializers.deserialize(form)).__name__


# ------------------------------------------------------------------ model config


def _model():
    from keras import layers

    keras.utils.set_random_seed(0)
    image = keras.Input((8, 8, 16), name="image")
    x = layers.Conv2D(32, 3, padding="same", name="conv")(image)
    x = layers.Conv2DTranspose(16, 3, padding="same", name="conv_transpose")(x)
    x = layers.DepthwiseConv2D(3, depth_multiplier=2, padding="same",
                               name="depthwise")(x)
    x = layers.BatchNormalization(name="batch_norm")(x)
    tokens = keras.Input((10,), dtype="int32", name="tokens")
    y = layers.Embedding(100, 16, name="embedding")(tokens)
    y = layers.LSTM(32, return_sequences=True, name="lstm")(y)
    orthogonal = keras.initializers.Orthogonal(gain=1.5, seed=3)
    y = layers.GRU(32, return_sequences=True, name="gru",
                   recurrent_initializer=orthogonal)(y)
    y = layers.MultiHeadAttention(num_heads=4, key_dim=8, name="attention",
                                  kernel_initializer="he_normal")(y, y)
    scaling = keras.initializers.VarianceScaling(2.0, "fan_out", "uniform", seed=11)
    y = layers.Dense(64, name="dense", kernel_initializer=scaling)(y)
    return keras.Model([image, tokens], [x, y])


#: Initializer arguments of each layer type (Keras 3.15.1).
EXPECTED = {
    "conv": ["kernel_initializer", "bias_initializer"],
    "conv_transpose": ["kernel_initializer", "bias_initializer"],
    "depthwise": ["depthwise_initializer", "bias_initializer"],
    "batch_norm": ["beta_initializer", "gamma_initializer", "moving_mean_initializer",
                   "moving_variance_initializer"],
    "embedding": ["embeddings_initializer"],
    "lstm": ["kernel_initializer", "recurrent_initializer", "bias_initializer"],
    "gru": ["kernel_initializer", "recurrent_initializer", "bias_initializer"],
    "attention": ["kernel_initializer", "bias_initializer"],
    "dense": ["kernel_initializer", "bias_initializer"],
}


def _initializer_configs(node, path=()):
    """Every initializer config in a nested model config, with its path."""
    if isinstance(node, dict):
        if node.get("module") == "keras.initializers" and "class_name" in node:
            yield path, node
            return
        for key, value in node.items():
            yield from _initializer_configs(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _initializer_configs(value, (*path, index))


def _layer_of(config: dict, path: tuple) -> str:
    node = config
    for key in path[:3]:  # ("layers", index, "config")
        node = node[key]
    return node["name"]


@pytest.mark.parametrize("export", ["get_config", "to_json"])
def test_every_initializer_in_a_keras_model_config_loads(export):
    model = _model()
    config = model.get_config() if export == "get_config" else \
        json.loads(model.to_json())["config"]
    found = list(_initializer_configs(config))
    # Nothing but the initializer arguments holds an initializer config.
    assert all(path[0] == "layers" and path[2] == "config" and len(path) == 4
               for path, _ in found), [p for p, _ in found]
    by_layer: dict[str, list[str]] = {}
    for path, _ in found:
        by_layer.setdefault(_layer_of(config, path), []).append(path[3])
    assert by_layer == EXPECTED
    assert len(found) == sum(map(len, EXPECTED.values())) == 21
    for path, form in found:
        loaded = initlab.deserialize(form)
        assert type(loaded).__name__ == form["class_name"], path
        if form["class_name"] != "Identity":
            assert initlab.serialize(loaded) == form, path
    # The non-default ones kept their arguments.
    loaded = {(_layer_of(config, p), p[3]): initlab.deserialize(f) for p, f in found}
    assert loaded["gru", "recurrent_initializer"] == initlab.Orthogonal(1.5, seed=3)
    assert loaded["attention", "kernel_initializer"] == initlab.HeNormal()
    assert loaded["dense", "kernel_initializer"] == initlab.VarianceScaling(
        2.0, "fan_out", "uniform", seed=11)
    assert loaded["embedding", "embeddings_initializer"] == initlab.RandomUniform()
