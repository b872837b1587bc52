"""Activation modules, one per name in `ACTIVATIONS`; the tracer reads their symmetry from the type.

`relu_pow` is the only custom one: σ(z) = max(z, 0)^k, positively homogeneous of degree k, which it
declares through `weightspace_activation = ("relu_pow", k)`.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ._config import Fields

__all__ = ["ACTIVATIONS", "ReluPow", "make_activation", "activation_fields"]

ACTIVATIONS = ("relu", "tanh", "softplus", "gelu", "linear", "sigmoid", "leaky_relu", "relu_pow")
DEFAULT_POWER = 2


class ReluPow(nn.Module):
    """Rectified power unit σ(z) = max(z, 0)^k for an int k >= 1."""

    def __init__(self, power: int):
        super().__init__()
        self.power = int(power)
        self.weightspace_activation = ("relu_pow", self.power)

    def forward(self, x: Tensor) -> Tensor:
        return torch.relu(x).pow(self.power)

    def extra_repr(self) -> str:
        return f"power={self.power}"


def make_activation(name: str, power: int = DEFAULT_POWER) -> nn.Module:
    """A fresh module for activation `name` (`linear` is `nn.Identity`, `leaky_relu` has slope 0.01)."""
    if name == "relu_pow":
        return ReluPow(power)
    return {
        "relu": nn.ReLU,
        "tanh": nn.Tanh,
        "softplus": nn.Softplus,
        "gelu": nn.GELU,
        "linear": nn.Identity,
        "sigmoid": nn.Sigmoid,
        "leaky_relu": nn.LeakyReLU,
    }[name]()


def activation_fields(f: Fields, default: str = "relu") -> dict:
    """`{"activation": a}`, plus `{"power": k}` (default 2) exactly when a is relu_pow."""
    act = f.choice("activation", ACTIVATIONS, default)
    if act == "relu_pow":
        return {"activation": act, "power": f.int("power", DEFAULT_POWER)}
    if f.has("power"):
        f.fail(f"`power` only applies to activation relu_pow, got activation {act!r}")
    return {"activation": act}
