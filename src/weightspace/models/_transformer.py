"""Small pre-LayerNorm transformer encoder over tokens cut from the input, mean-pooled.

x (batch, *input_shape) -> tokens (batch, seq_len, token_dim) in memory order (rows of an image,
chunks of a sequence) -> embed + pos -> `depth` blocks
    x = x + Attn(LN1(x)),  x = x + W_out σ(W_in LN2(x))
-> LN -> mean over tokens -> head. Attention is `nn.MultiheadAttention(batch_first=True)`, no dropout.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from ._activations import make_activation
from ._config import COMMON, Fields

__all__ = ["Block", "Transformer", "normalize"]

KEYS = (*COMMON, "seq_len", "token_dim", "d_model", "heads", "depth", "mlp_dim", "mlp_activation")
MLP_ACTIVATIONS = ("gelu", "relu")
POS_STD = 0.02


def normalize(config: dict) -> dict:
    """Full transformer config; without `seq_len`/`token_dim` a token is the input's last axis."""
    f = Fields("transformer", config, KEYS)
    shape = f.shape()
    n = math.prod(shape)
    if f.has("seq_len") or f.has("token_dim"):
        seq_len = f.int("seq_len") if f.has("seq_len") else None
        token_dim = f.int("token_dim") if f.has("token_dim") else None
        if seq_len is None:
            seq_len = n // token_dim
        if token_dim is None:
            token_dim = n // seq_len
        if seq_len * token_dim != n:
            f.fail(f"`seq_len` * `token_dim` must equal the {n} input features of input_shape {shape}, "
                   f"got seq_len {f.config.get('seq_len', 'unset')} and token_dim {f.config.get('token_dim', 'unset')}")
    elif len(shape) >= 2:
        seq_len, token_dim = n // shape[-1], shape[-1]
    else:
        f.fail(f"give `seq_len` or `token_dim` to cut input_shape {shape} into tokens")
    d_model = f.int("d_model", 32)
    heads = f.int("heads", 4)
    if d_model % heads:
        f.fail(f"`heads` must divide `d_model`, got heads {heads} and d_model {d_model}")
    return {
        "name": "transformer",
        "input_shape": shape,
        "num_outputs": f.int("num_outputs"),
        "seq_len": seq_len,
        "token_dim": token_dim,
        "d_model": d_model,
        "heads": heads,
        "depth": f.int("depth", 2, minimum=0),
        "mlp_dim": f.int("mlp_dim", 64),
        "mlp_activation": f.choice("mlp_activation", MLP_ACTIVATIONS, "gelu"),
    }


class Block(nn.Module):
    """Pre-LN encoder block: x + Attn(LN1 x), then x + mlp_out(σ(mlp_in(LN2 x)))."""

    def __init__(self, d_model: int, heads: int, mlp_dim: int, activation: str):
        super().__init__()
        self.norm1 = nn.LayerNorm(d_model)
        self.attn = nn.MultiheadAttention(d_model, heads, dropout=0.0, batch_first=True)
        self.norm2 = nn.LayerNorm(d_model)
        self.mlp_in = nn.Linear(d_model, mlp_dim)
        self.act = make_activation(activation)
        self.mlp_out = nn.Linear(mlp_dim, d_model)

    def forward(self, x: Tensor) -> Tensor:
        h = self.norm1(x)  # (batch, seq_len, d_model)
        x = x + self.attn(h, h, h, need_weights=False)[0]
        return x + self.mlp_out(self.act(self.mlp_in(self.norm2(x))))


class Transformer(nn.Module):
    """`embed`, `pos` (1, seq_len, d_model), `blocks.{i}` (Block), `norm`, `head`."""

    def __init__(self, config: dict):
        super().__init__()
        self.config = config
        self.seq_len, self.token_dim = config["seq_len"], config["token_dim"]
        d = config["d_model"]
        self.embed = nn.Linear(self.token_dim, d)
        self.pos = nn.Parameter(torch.zeros(1, self.seq_len, d))
        nn.init.normal_(self.pos, std=POS_STD)
        self.blocks = nn.ModuleList(
            Block(d, config["heads"], config["mlp_dim"], config["mlp_activation"]) for _ in range(config["depth"])
        )
        self.norm = nn.LayerNorm(d)
        self.head = nn.Linear(d, config["num_outputs"])

    def forward(self, x: Tensor) -> Tensor:
        x = x.reshape(x.shape[0], self.seq_len, self.token_dim)  # (batch, seq_len, token_dim)
        x = self.embed(x) + self.pos  # (batch, seq_len, d_model)
        for block in self.blocks:
            x = block(x)
        x = self.norm(x).mean(dim=1)  # (batch, d_model)
        return self.head(x)  # (batch, num_outputs)
