"""Fixing the variance collapse of interpolated networks.

`reset_batchnorm`: recompute every BatchNorm's running statistics at the interpolated parameters
(cumulative average over the given inputs, train-mode forward passes).
Inputs are a tensor or any source of batches (`weightspace.data.iter_inputs`, its train split), of which at most
`max_samples` samples are read: the statistics need only a sample.
`repair` (Jordan et al., REPAIR): at every layer producing hidden units, rescale and shift each
unit's activation so its mean and standard deviation equal the interpolation of the endpoints'
statistics, (1 − α) μ_A + α μ_B and (1 − α) σ_A + α σ_B; the correction is folded into the layer's
weight and bias, layer by layer in forward order (a producing layer without a bias is refused: its
means could not be matched). BatchNorm statistics are reset first.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping

import torch
from torch import Tensor, nn

from ..align._activation_matching import unit_activations
from ..data import Source, iter_inputs, to_model
from ..errors import ConfigError, DataError
from ..evaluate import fit_inputs
from ..params import Params, first_float, forward
from ..symmetry import Spec

__all__ = ["reset_batchnorm", "repair"]

def _has_batchnorm(model: nn.Module) -> bool:
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())


def _inputs(model, inputs, batch_size: int, max_samples: int | None):
    if isinstance(inputs, Tensor) and len(inputs) == 0:
        raise DataError("renormalisation needs data: the input batch is empty")
    return (fit_inputs(x, model) for x in iter_inputs(inputs, batch_size=batch_size, max_samples=max_samples))


@torch.no_grad()
def reset_batchnorm(model: nn.Module, params: Mapping[str, Tensor], inputs: Tensor | Source, *,
                    batch_size: int = 500, max_samples: int | None = None) -> Params:
    """`params` with BatchNorm running statistics recomputed on `inputs` (unchanged if there is none)."""
    if not _has_batchnorm(model):
        return dict(params)
    net = copy.deepcopy(model)
    net.load_state_dict(dict(params))
    for m in net.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.reset_running_stats()
            m.momentum = None  # cumulative average
    net.train()
    ref = first_float(params)
    for x in _inputs(model, inputs, batch_size, max_samples):
        net(to_model(x, ref))
    return {k: v.detach().clone() for k, v in net.state_dict().items()}


def _stats(model, params, names, inputs, max_samples) -> dict[str, tuple[Tensor, Tensor]]:
    mods = dict(model.named_modules())
    acc: dict[str, list] = {}

    def record(module, args, output, name):
        acc.setdefault(name, []).append(unit_activations(module, output).to(torch.float64))

    handles = [mods[n].register_forward_hook(lambda m, i, o, n=n: record(m, i, o, n)) for n in names]
    try:
        ref = first_float(params)
        for x in _inputs(model, inputs, 2048, max_samples):
            forward(model, params, to_model(x, ref))
    finally:
        for h in handles:
            h.remove()
    out = {}
    for n, chunks in acc.items():
        z = torch.cat(chunks)
        out[n] = (z.mean(0), z.std(0, unbiased=False))
    return out


@torch.no_grad()
def repair(
    model: nn.Module,
    params: Mapping[str, Tensor],
    endpoints: tuple[Mapping[str, Tensor], Mapping[str, Tensor]],
    alpha: float,
    inputs: Tensor | Source,
    spec: Spec,
    *,
    max_samples: int | None = None,
) -> Params:
    """REPAIR the interpolated `params` at α so each hidden unit matches the interpolated endpoint statistics."""
    if isinstance(inputs, Tensor) and len(inputs) == 0:
        raise DataError("REPAIR needs data: the input batch is empty")
    net = copy.deepcopy(model).eval()
    mods = dict(net.named_modules())
    names = [n for f in spec.factors for n in spec.producers(f.name)
             if n in mods and not isinstance(mods[n], nn.MultiheadAttention)]
    for n in names:
        if getattr(mods[n], "bias", None) is None:
            raise ConfigError(f"REPAIR: layer {n!r} produces hidden units but has no bias, so their means cannot be "
                              f"matched (give it a bias or follow it with a BatchNorm)")
    order = [n for n, _ in net.named_modules() if n in set(names)]
    a, b = endpoints
    sa, sb = _stats(net, dict(a), order, inputs, max_samples), _stats(net, dict(b), order, inputs, max_samples)
    current = reset_batchnorm(net, params, inputs, max_samples=max_samples)
    for n in order:  # forward order: a layer's correction changes the statistics downstream
        mu, sd = _stats(net, current, [n], inputs, max_samples)[n]
        target_mu = (1 - alpha) * sa[n][0] + alpha * sb[n][0]
        target_sd = (1 - alpha) * sa[n][1] + alpha * sb[n][1]
        gain = target_sd / sd.clamp_min(1e-12)
        w, bias = current[f"{n}.weight"], current[f"{n}.bias"]
        shape = [-1] + [1] * (w.ndim - 1)
        current[f"{n}.weight"] = (w.to(torch.float64) * gain.reshape(shape)).to(w.dtype)
        current[f"{n}.bias"] = ((bias.to(torch.float64) - mu) * gain + target_mu).to(bias.dtype)
    return current
