"""The canonical form: one representative of a network's orbit under permutations x positive scales.

Scale (in the order of `Quotient.scale_order`, every factor after those feeding it):
  1. each positive-scale factor: unit k's incoming vector u_k (power p > 0 in the spec) is brought to
     unit norm by the group element with c_k = ||u_k||^(−1/p); its outgoing slices (power q < 0) are
     multiplied by c_k^q — for ReLU^k units ||u_k||^k. A dead unit (u_k = 0) keeps c_k = 1 and gets
     zero outgoing weights (it contributes nothing);
  2. each convolution followed by BatchNorm: filter k (and bias) divided by n_k = ||W_k||, the running
     statistics fixed so that the evaluation-mode function is unchanged exactly:
     μ_k ← μ_k / n_k, σ²_k ← (σ²_k + ε) / n²_k − ε  (σ²_k + ε > 0 always; σ²_k < 0 only if σ²_k/n²_k < ε);
  3. the output layer (weight and bias) divided by its Frobenius norm: the logits scale by a positive
     number, so predictions (argmax) and the error are unchanged; the loss is not.
Order (no reference), layer by layer from the input (spec order): the units of each factor sorted by
the norm of their outgoing slices in the scaled form (descending), ties broken by the entries of their
incoming vector sorted in descending order (lexicographic, descending). Both keys are invariant under
every element of the permutation x scale group, the other layers' permutations included.
Binary networks, layer by layer from the input: weights binarised (sign), unit k flipped so that the
first nonzero entry of its incoming ±1 row is +1 (the previous layer already in canonical order), units
sorted by their incoming rows (lexicographic, descending); units with identical incoming rows compute
identical activations and keep their relative order.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
from torch import Tensor, nn

from ..params import Params, check_finite, state_of
from ._structure import Quotient, permute_slot, quotient_of, scale_slot

__all__ = ["canonical_form", "canonical_order", "canonical_scale"]


def _params(model: nn.Module, params: Mapping[str, Tensor] | None, quotient: Quotient) -> Params:
    p = state_of(model) if params is None else {k: v.detach().clone() for k, v in params.items()}
    quotient.spec.check(p)
    check_finite(p, what="canonical_form")
    return p


def _act(p: Params, quotient: Quotient, name: str, coeff: Tensor) -> Params:
    """The spec's action of coefficients `coeff` on factor `name`: T' = c^power · T on each of its slots."""
    for s in quotient.spec.units(name).slots:
        if s.power != 0:
            p[s.key] = scale_slot(p[s.key], s, coeff.to(torch.float64) ** s.power)
    return p


def _scale(p: Params, quotient: Quotient) -> Params:
    spec = quotient.spec
    for name in quotient.scale_order:
        units = spec.units(name)
        norms = units.matrix(p, "in").to(torch.float64).norm(dim=1)  # (n,)
        power = units.incoming[0].power
        alive = norms > 0
        coeff = torch.where(alive, norms.clamp_min(torch.finfo(torch.float64).tiny) ** (-1.0 / power), 1.0)
        p = _act(p, quotient, name, coeff)
        if not bool(alive.all()):
            for s in units.outgoing:
                p[s.key] = scale_slot(p[s.key], s, alive.to(torch.float64))
    for conv, bn, eps in quotient.norms:
        keys = [k for k in (f"{conv}.weight", f"{conv}.bias") if k in p]
        n = torch.cat([p[k].reshape(len(p[k]), -1) for k in keys], dim=1).to(torch.float64).norm(dim=1)  # (C,)
        n = torch.where(n > 0, n, 1.0)
        for k in keys:
            p[k] = p[k] / n.to(p[k].dtype).reshape(-1, *[1] * (p[k].ndim - 1))
        mean, var = f"{bn}.running_mean", f"{bn}.running_var"
        p[mean] = p[mean] / n.to(p[mean].dtype)
        p[var] = ((p[var].to(torch.float64) + eps) / n**2 - eps).to(p[var].dtype)
    total = torch.sqrt(sum((p[k].to(torch.float64) ** 2).sum() for k in quotient.output))
    if float(total) > 0:
        for k in quotient.output:
            p[k] = p[k] / total.to(p[k].dtype)
    return p


def _sign_fix(p: Params, quotient: Quotient, name: str) -> Params:
    """Flip the units of sign factor `name` so that the first nonzero entry of each incoming ±1 row is +1."""
    rows = quotient.spec.units(name).matrix(p, "in")  # (n, d) in {−1, 0, 1}
    lead = rows.gather(1, torch.argmax((rows != 0).to(torch.int8), dim=1)[:, None])[:, 0]
    return _act(p, quotient, name, torch.where(lead < 0, -1.0, 1.0).to(torch.float64))


def _binarise(p: Params, quotient: Quotient) -> Params:
    p = {k: torch.sign(v) if v.is_floating_point() else v for k, v in p.items()}
    for name in quotient.scale_order:
        p = _sign_fix(p, quotient, name)
    return p


def _descending(keys: list[np.ndarray]) -> Tensor:
    """The permutation listing rows in descending lexicographic order of `keys` (first key primary), stable."""
    return torch.from_numpy(np.asarray(np.lexsort([-k for k in reversed(keys)]), dtype=np.int64))


def _permute(p: Params, quotient: Quotient, perms: Mapping[str, Tensor]) -> Params:
    """The spec's permutation action (T'[i] = T[π(i)] on every slot of each factor), slot by slot."""
    for name, perm in perms.items():
        for s in quotient.spec.units(name).slots:
            p[s.key] = permute_slot(p[s.key], s, perm)
    return p


def canonical_order(model: nn.Module, params: Mapping[str, Tensor], *, quotient: Quotient | None = None) -> Params:
    """Sort every permutation factor's units by the stated keys (module docstring), layer by layer from the input.

    `params` must already be at canonical scale (`canonical_scale`): the keys are then invariant. For real
    networks every key is also invariant under the other layers' permutations, so all layers are sorted at once.
    """
    quotient = quotient if quotient is not None else quotient_of(model)
    p = dict(params)
    perms = {}
    for f in quotient.spec.permutation_factors:
        units = quotient.spec.units(f.name)
        if quotient.binary:  # signs read the previous layer's order: one layer at a time
            p = _sign_fix(p, quotient, f.name)
            rows = units.matrix(p, "in").to(torch.float64).cpu().numpy()  # (n, d)
            p = _permute(p, quotient, {f.name: _descending(list(rows.T))})
            continue
        rows = units.matrix(p, "in").to(torch.float64).sort(dim=1, descending=True).values.cpu().numpy()  # (n, d)
        out = units.matrix(p, "out").to(torch.float64).norm(dim=1).cpu().numpy()  # (n,)
        perms[f.name] = _descending([out, *rows.T])
    return _permute(p, quotient, perms)


def canonical_scale(model: nn.Module, params: Mapping[str, Tensor] | None = None, *,
                    quotient: Quotient | None = None) -> Params:
    """Scales (or, for binary networks, signs) fixed: every sphere's rows are unit vectors; units not reordered."""
    quotient = quotient if quotient is not None else quotient_of(model)
    p = _params(model, params, quotient)
    return _binarise(p, quotient) if quotient.binary else _scale(p, quotient)


def canonical_form(model: nn.Module, params: Mapping[str, Tensor] | None = None, *,
                   quotient: Quotient | None = None) -> Params:
    """The canonical representative of `params` (default: the model's own state): scales fixed, units ordered.

    Idempotent, the same for θ and g·θ for every element g of the permutation x scale group (x sign for
    binary networks), and the same predictions as θ. The model itself is not modified.

    Example:
      >>> c = canonical_form(model)                      # a state dict on the product of spheres
      >>> torch.equal(forward(model, c, x).argmax(1), model(x).argmax(1))
      True
    """
    quotient = quotient if quotient is not None else quotient_of(model)
    return canonical_order(model, canonical_scale(model, params, quotient=quotient), quotient=quotient)
