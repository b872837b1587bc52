"""Fully connected network with one activation shared by all hidden layers.

f(x) = W_L σ(... σ(W_1 x + b_1) ...) + b_L with x flattened; `layers` holds W_1 .. W_L.
"""

from __future__ import annotations

import math

from torch import Tensor, nn

from ._activations import activation_fields, make_activation
from ._config import COMMON, Fields, hidden_widths

__all__ = ["MLP", "normalize"]

KEYS = (*COMMON, "widths", "depth", "width", "activation", "power", "bias")


def normalize(config: dict) -> dict:
    """Full mlp config; `depth` + `width` become `widths`."""
    f = Fields("mlp", config, KEYS)
    return {
        "name": "mlp",
        "input_shape": f.shape(),
        "num_outputs": f.int("num_outputs"),
        "widths": hidden_widths(f),
        **activation_fields(f),
        "bias": f.bool("bias", True),
    }


class MLP(nn.Module):
    """Multilayer perceptron: `layers.{i}` are the hidden layers then the output layer; `act` is σ."""

    def __init__(self, config: dict):
        super().__init__()
        self.config = config
        sizes = [math.prod(config["input_shape"]), *config["widths"], config["num_outputs"]]
        self.layers = nn.ModuleList(
            nn.Linear(a, b, bias=config["bias"]) for a, b in zip(sizes[:-1], sizes[1:], strict=True)
        )
        self.act = make_activation(config["activation"], config.get("power", 1))

    def forward(self, x: Tensor) -> Tensor:
        x = x.flatten(1)  # (batch, d)
        *hidden, last = self.layers  # unpacked: a slice builds a new ModuleList per call
        for layer in hidden:
            x = self.act(layer(x))
        return last(x)  # (batch, num_outputs)
