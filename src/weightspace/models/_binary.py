"""Binary network: sign weights and sign activations, trained with a straight-through estimator.

f(x) = sign(W_L) h_{L-1} / √n_{L-1},  h_l = sign(sign(W_l) h_{l-1} / √n_{l-1}),  h_0 = x (real inputs).
The parameters are real latent weights W; the network computes with sign(W) only. Gradients pass
straight through (Courbariaux et al. 2016, BinaryNet): ∂sign(w)/∂w := 1 for the weights and
∂sign(z)/∂z := 1{|z| < 1} for the activations. No biases. sign is odd, so every hidden unit admits
the flip of its incoming row and outgoing column; it is declared like tanh's (`weightspace_activation`),
and the layers keep nn.Linear's symmetry table (`weightspace_leaf`).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ._config import COMMON, Fields, hidden_widths

__all__ = ["BinaryLinear", "BinaryMLP", "Sign", "normalize"]

KEYS = (*COMMON, "widths", "depth", "width")


def normalize(config: dict) -> dict:
    """Full binary_mlp config; `depth` + `width` become `widths`."""
    f = Fields("binary_mlp", config, KEYS)
    return {"name": "binary_mlp", "input_shape": f.shape(), "num_outputs": f.int("num_outputs"),
            "widths": hidden_widths(f)}


class Sign(nn.Module):
    """sign(z) forward; the clipped straight-through gradient 1{|z| < 1} backward."""

    def __init__(self):
        super().__init__()
        self.weightspace_activation = ("tanh", 1)  # odd: permutations and sign flips, like tanh

    def forward(self, x: Tensor) -> Tensor:
        h = F.hardtanh(x)
        return h + (torch.sign(x) - h).detach()


class BinaryLinear(nn.Linear):
    """y = sign(W) x / √(in_features), no bias; the straight-through gradient reaches the latent W."""

    weightspace_leaf = True  # the tracer applies nn.Linear's rule: sign(W) permutes and flips with W

    def __init__(self, in_features: int, out_features: int):
        super().__init__(in_features, out_features, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        w = self.weight
        binary = w + (torch.sign(w) - w).detach()  # (out, in), values ±1
        return F.linear(x, binary) / math.sqrt(self.in_features)


class BinaryMLP(nn.Module):
    """`layers.{i}` are BinaryLinear layers (hidden then output), `act` the sign activation."""

    def __init__(self, config: dict):
        super().__init__()
        self.config = config
        sizes = [math.prod(config["input_shape"]), *config["widths"], config["num_outputs"]]
        self.layers = nn.ModuleList(BinaryLinear(a, b) for a, b in zip(sizes[:-1], sizes[1:], strict=True))
        self.act = Sign()

    def forward(self, x: Tensor) -> Tensor:
        x = x.flatten(1)  # (batch, d)
        *hidden, last = self.layers  # unpacked: a slice builds a new ModuleList per call
        for layer in hidden:
            x = self.act(layer(x))  # (batch, width), values ±1
        return last(x)  # (batch, num_outputs)
