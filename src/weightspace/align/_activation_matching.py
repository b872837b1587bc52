"""Activation matching (Git Re-Basin): one assignment per factor on correlations of unit activations.

For each permutation factor, the activations of every layer producing its units are recorded on the
same inputs for both networks; S[i, j] = Σ_layers corr(z_A,i, z_B,j). Residual-tied factors sum the
statistics of all their producing layers. Attention heads are matched through their query/key and
value projections with the block cost of weight matching; heads of hand-written attention (no
`nn.MultiheadAttention` to record) are matched on their weights.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping

import torch
from torch import Tensor, nn

from ..data import Source, iter_inputs, to_model
from ..errors import DataError
from ..params import check_finite, check_same_structure, first_float, forward
from ..symmetry import FactorAction, GroupElement, Spec
from ._alignment import Alignment
from ._assignment import Solver, solve
from ._weight_matching import _step_heads

__all__ = ["activation_matching", "unit_activations"]

_CHANNEL_FIRST = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.modules.batchnorm._BatchNorm, nn.GroupNorm)


class _Stats:
    """Running sums for the cross-correlation of two activation streams (n units each)."""

    def __init__(self):
        self.n = 0
        self.sa = self.sb = self.saa = self.sbb = self.sab = None

    def add(self, za: Tensor, zb: Tensor) -> None:
        za, zb = za.to(torch.float64), zb.to(torch.float64)
        if self.sa is None:
            self.sa, self.sb = za.sum(0), zb.sum(0)
            self.saa, self.sbb, self.sab = (za * za).sum(0), (zb * zb).sum(0), za.T @ zb
        else:
            self.sa += za.sum(0)
            self.sb += zb.sum(0)
            self.saa += (za * za).sum(0)
            self.sbb += (zb * zb).sum(0)
            self.sab += za.T @ zb
        self.n += len(za)

    def correlation(self) -> Tensor:
        ma, mb = self.sa / self.n, self.sb / self.n
        cov = self.sab / self.n - ma[:, None] * mb[None, :]
        sd_a = (self.saa / self.n - ma * ma).clamp_min(0).sqrt()
        sd_b = (self.sbb / self.n - mb * mb).clamp_min(0).sqrt()
        return cov / (sd_a[:, None] * sd_b[None, :] + 1e-12)


def unit_activations(module: nn.Module, out: Tensor) -> Tensor:
    """(samples, units): move the unit axis last and flatten the rest."""
    if isinstance(module, _CHANNEL_FIRST):
        out = out.movedim(1, -1)
    return out.reshape(-1, out.shape[-1])


def _record(model, names, params, x) -> dict[str, Tensor]:
    """Unit activations of the named layers; for attention: its q, k, v projections and its output."""
    acts: dict[str, Tensor] = {}
    handles = []
    mods = dict(model.named_modules())
    for name in names:
        m = mods[name]
        if isinstance(m, nn.MultiheadAttention):
            def pre(mod, args, kwargs, name=name):
                e = mod.embed_dim
                inputs = list(args) + [kwargs.get(k) for k in ("query", "key", "value") if k in kwargs]
                bias = mod.in_proj_bias if mod.in_proj_bias is not None else [None] * 3
                for i, tag in enumerate("qkv"):
                    w, b = mod.in_proj_weight[i * e:(i + 1) * e], None if bias[0] is None else bias[i * e:(i + 1) * e]
                    acts[f"{name}:{tag}"] = unit_activations(mod, nn.functional.linear(inputs[i], w, b))

            def post(mod, args, output, name=name):  # out_proj is applied inside the functional kernel
                acts[f"{name}.out_proj"] = unit_activations(mod, output[0])

            handles.append(m.register_forward_pre_hook(pre, with_kwargs=True))
            handles.append(m.register_forward_hook(post))
        elif not (name.endswith(".out_proj") and isinstance(mods.get(name.rsplit(".", 1)[0]), nn.MultiheadAttention)):
            def record(mod, args, output, name=name):
                acts[name] = unit_activations(mod, output)

            handles.append(m.register_forward_hook(record))
    try:
        forward(model, params, x)
    finally:
        for h in handles:
            h.remove()
    return acts


@torch.no_grad()
def activation_matching(
    model: nn.Module,
    reference: Mapping[str, Tensor],
    other: Mapping[str, Tensor],
    inputs: Tensor | Source,
    spec: Spec,
    *,
    batch_size: int = 500,
    max_samples: int | None = None,
    solver: Solver | None = None,
) -> Alignment:
    """Permute `other`'s units to maximise the correlation of their activations with `reference`'s on `inputs`.

    `inputs`: a tensor of inputs, or any source of batches (`weightspace.data.iter_inputs`, its train split),
    streamed; at most `max_samples` samples enter the correlations.
    """
    if inputs is None or (isinstance(inputs, Tensor) and len(inputs) == 0):
        raise DataError("activation matching needs data: the input batch is empty")
    check_same_structure(reference, other)
    check_finite(reference, what="reference network")
    check_finite(other, what="network to align")
    model = copy.deepcopy(model).eval()
    modules = dict(model.named_modules())
    prod = {f.name: [n for n in spec.producers(f.name) if n in modules] for f in spec.factors}
    children: dict[str, list[str]] = {}
    for f in spec.factors:
        if f.parent is not None:
            children.setdefault(f.parent, []).append(f.name)
    mha = {name: m for name, m in model.named_modules() if isinstance(m, nn.MultiheadAttention)}
    heads_of = {f"{name}.heads": name for name in mha}
    names = sorted({n for ns in prod.values() for n in ns} | set(mha))
    stats: dict[str, _Stats] = {}
    ref = first_float(reference)
    for x in iter_inputs(inputs, batch_size=batch_size, max_samples=max_samples):
        xb = to_model(x, ref)
        za, zb = _record(model, names, reference, xb), _record(model, names, other, xb)
        for n in za:
            stats.setdefault(n, _Stats()).add(za[n], zb[n])
    actions: dict[str, FactorAction] = dict(spec.identity().actions)
    for f in spec.permutation_factors:
        if f.name in children and f.name in heads_of:
            layer = heads_of[f.name]
            corr = {tag: stats[f"{layer}:{tag}"].correlation() for tag in "qkv"}
            actions.update(_heads(spec, f.name, corr, mha[layer], solver))
            continue
        if f.name in children:  # hand-written attention: its heads are matched on their weights
            new, _, _ = _step_heads(spec, f.name, children[f.name], [(reference, other)],
                                    GroupElement(spec, actions), solver)
            actions.update(new)
            continue
        layers = [n for n in prod.get(f.name, []) if n in stats]
        if not layers:
            continue
        s = sum(stats[n].correlation() for n in layers)
        actions[f.name] = FactorAction(solve(s, solver).cpu())
    return Alignment(GroupElement(spec, actions), method="activation", iterations=1)


def _heads(spec, name, corr, mha, solver) -> dict[str, FactorAction]:
    """Block cost over heads from the correlations of the q, k and v projections (E × E each)."""
    e, h = mha.embed_dim, mha.num_heads
    d = e // h
    qk = corr["q"] + corr["k"]
    v = corr["v"]
    cost = torch.zeros(h, h, dtype=torch.float64)
    inner = {}
    for tag, s in (("qk", qk), ("v", v)):
        for i in range(h):
            for j in range(h):
                block = s[i * d:(i + 1) * d, j * d:(j + 1) * d]
                p = solve(block, solver).cpu()
                inner[tag, i, j] = p
                cost[i, j] += float(block[torch.arange(d), p].sum())
    heads = solve(cost, solver).cpu()
    out = {name: FactorAction(heads)}
    for child in (f.name for f in spec.factors if f.parent == name):
        tag = child.rsplit(".", 1)[-1]
        out[child] = FactorAction(torch.stack([inner[tag, i, int(heads[i])] for i in range(h)]))
    return out
