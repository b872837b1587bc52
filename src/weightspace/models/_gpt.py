"""A GPT-style decoder-only transformer over token ids, predicting the next token at every position.

idx (batch, T) int64 -> x = E[idx] + P[:T] (token embedding E (V, d), learned positions P (1, seq_len, d))
-> `depth` pre-LN blocks   x = x + W_o Attn_causal(LN1 x),  x = x + W_2 σ(W_1 LN2 x)
-> LN -> logits = LN(x) Eᵀ (head tied to the embedding), (batch, T, V).
Attention heads are hand-written (q, k, v, o Linears; heads by view/transpose; causal scaled dot-product
attention written out, so that Hessians (double backward) exist): a head is a block of d / heads
query/key and value dimensions that the symmetry tracer permutes as one; the tied embedding moves with the
residual stream.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ._config import COMMON, Fields

__all__ = ["GPT", "GPTBlock", "normalize"]

KEYS = (*COMMON, "d_model", "heads", "depth", "mlp_dim")
INIT_STD = 0.02


def normalize(config: dict) -> dict:
    """Full GPT config: input_shape [seq_len] (the longest context), num_outputs = the vocabulary size."""
    f = Fields("gpt", config, KEYS)
    shape = f.shape(ndim=1)
    d_model = f.int("d_model", 32)
    heads = f.int("heads", 4)
    if d_model % heads:
        f.fail(f"`heads` must divide `d_model`, got heads {heads} and d_model {d_model}")
    return {"name": "gpt", "input_shape": shape, "num_outputs": f.int("num_outputs", minimum=2),
            "d_model": d_model, "heads": heads, "depth": f.int("depth", 2, minimum=0),
            "mlp_dim": f.int("mlp_dim", 4 * d_model)}


class GPTBlock(nn.Module):
    """Pre-LN causal block: x + o(Attn(q, k, v of LN1 x)), then x + fc2(gelu(fc1(LN2 x)))."""

    def __init__(self, d_model: int, heads: int, mlp_dim: int, seq_len: int):
        super().__init__()
        self.heads = heads
        self.register_buffer("mask", torch.ones(seq_len, seq_len, dtype=torch.bool).tril(), persistent=False)
        self.ln1, self.ln2 = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.q, self.k, self.v, self.o = (nn.Linear(d_model, d_model) for _ in range(4))
        self.fc1, self.fc2 = nn.Linear(d_model, mlp_dim), nn.Linear(mlp_dim, d_model)

    def forward(self, x: Tensor) -> Tensor:
        b, t, _ = x.shape
        h = self.ln1(x)
        q, k, v = (f(h).view(b, t, self.heads, -1).transpose(1, 2) for f in (self.q, self.k, self.v))
        att = (q @ k.transpose(-2, -1)) / q.shape[-1] ** 0.5  # (b, heads, t, t); by hand: twice differentiable
        causal = torch.narrow(torch.narrow(self.mask, 0, 0, t), 1, 0, t)  # (t, t); narrow: traceable by torch.fx
        att = att.masked_fill(~causal, float("-inf"))
        y = torch.softmax(att, dim=-1) @ v  # (b, heads, t, d / heads)
        x = x + self.o(y.transpose(1, 2).contiguous().view(b, t, -1))
        return x + self.fc2(F.gelu(self.fc1(self.ln2(x))))


class GPT(nn.Module):
    """`embed` (V, d), `pos` (1, seq_len, d), `blocks.{i}` (GPTBlock), `norm`, `head` (tied to `embed`)."""

    def __init__(self, config: dict):
        super().__init__()
        self.config = config
        d, vocab = config["d_model"], config["num_outputs"]
        self.embed = nn.Embedding(vocab, d)
        self.pos = nn.Parameter(torch.zeros(1, config["input_shape"][0], d))
        nn.init.normal_(self.embed.weight, std=INIT_STD)
        nn.init.normal_(self.pos, std=INIT_STD)
        seq_len = config["input_shape"][0]
        self.blocks = nn.ModuleList(GPTBlock(d, config["heads"], config["mlp_dim"], seq_len)
                                    for _ in range(config["depth"]))
        self.norm = nn.LayerNorm(d)
        self.head = nn.Linear(d, vocab, bias=False)
        self.head.weight = self.embed.weight  # tied: the state dict lists the one matrix under both names

    def forward(self, idx: Tensor) -> Tensor:
        t = idx.shape[1]
        x = self.embed(idx) + self.pos[:, :t]  # (batch, t, d)
        for block in self.blocks:
            x = block(x)
        return self.head(self.norm(x))  # (batch, t, vocab)
