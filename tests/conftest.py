"""Test-wide settings."""

import os

# Keras parity tests run Keras 3 on its torch backend (its numpy backend imports JAX).
os.environ.setdefault("KERAS_BACKEND", "torch")
