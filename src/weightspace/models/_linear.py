"""Deep linear network, optionally with one residual connection around the hidden layers.

f(x) = W_L (W_{L-1} ... W_1 x) or, with `skip`, f(x) = W_L (W_{L-1} ... W_1 x + x) — e.g. W_3 (W_2 W_1 x + x).
The skip needs every hidden width equal to the input dimension d.
"""

from __future__ import annotations

import math

from torch import Tensor, nn

from ._config import COMMON, Fields, hidden_widths

__all__ = ["LinearNet", "normalize"]

KEYS = (*COMMON, "widths", "depth", "width", "bias", "skip")


def normalize(config: dict) -> dict:
    """Full linear config; `depth` + `width` become `widths`; `skip` checks widths == d."""
    f = Fields("linear", config, KEYS)
    shape = f.shape()
    widths = hidden_widths(f)
    skip = f.bool("skip", False)
    if skip:
        d = math.prod(shape)
        if not widths or any(w != d for w in widths):
            f.fail(f"`skip` needs at least one hidden layer and every width equal to the input dimension {d}, "
                   f"got widths {widths}")
    return {
        "name": "linear",
        "input_shape": shape,
        "num_outputs": f.int("num_outputs"),
        "widths": widths,
        "bias": f.bool("bias", False),
        "skip": skip,
    }


class LinearNet(nn.Module):
    """Product of linear maps `layers.0` .. `layers.{L-1}`, no activation."""

    def __init__(self, config: dict):
        super().__init__()
        self.config = config
        self.skip = config["skip"]
        sizes = [math.prod(config["input_shape"]), *config["widths"], config["num_outputs"]]
        self.layers = nn.ModuleList(
            nn.Linear(a, b, bias=config["bias"]) for a, b in zip(sizes[:-1], sizes[1:], strict=True)
        )

    def forward(self, x: Tensor) -> Tensor:
        x = x.flatten(1)  # (batch, d)
        h = x
        *hidden, last = self.layers  # unpacked: a slice builds a new ModuleList per call
        for layer in hidden:
            h = layer(h)
        if self.skip:
            h = h + x  # (batch, d): widths == d
        return last(h)  # (batch, num_outputs)
