"""Function-preserving embeddings of a width-r layer into width m ≥ r (Simsek et al. 2021, section 3).

For a hidden layer with units (w_k, b_k; a_k), k = 1..r, an *expansion* is a map φ from the m new units
onto the r old units plus zero-type units:

    new unit j with φ(j) = k:    (w_j, b_j) = (w_k, b_k),   a_j = β_j a_k,   Σ_{j ∈ φ⁻¹(k)} β_j = 1,
    new unit j with φ(j) = ∅:    (w_j, b_j) chosen freely,   a_j = 0         (a zero-type neuron).

φ must hit every old unit. Then f_new(x) = f_old(x) for every x: each old unit's contribution a_k σ(w_k·x + b_k)
is shared among copies with identical pre-activations. Two special cases carry the paper's names:
`split_neuron` (unit k and a copy appended last, β = (λ, 1 − λ)) and `add_zero_neuron`. Splitting maps a
critical point of the width-r loss to a critical point of the width-m loss for every λ ∈ ℝ (the copies'
incoming gradients are β_j times the old one, the outgoing ones equal it); a zero-type neuron keeps
criticality only where the residual vanishes (at global minima).

Only MLP configs can be expanded (their `widths` change); LayerNorm'd groups and attention head
dimensions are refused with the reason (see `split_reason`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch
from torch import Tensor, nn

from ..errors import ConfigError, SymmetryError
from ..models import build
from ..params import Params, check_finite, first_float
from ..symmetry._config import UnitLayout, check_config, check_ratio, check_unit, layout_of, spec_for

__all__ = ["add_zero_neuron", "expand", "expansion_assignment", "split_neuron", "split_reason"]

RATIO_SUM_TOL = 1e-12


def split_reason(config: Mapping, layer: int) -> str | None:
    """Why units of group `layer` of `config` cannot be duplicated, or None when they can.

    MLP hidden layers can. LayerNorm normalises a group's units together (a copy changes the mean and
    variance it divides by); attention scores are scaled by 1/√(head dim), which a copy would change;
    other models have no per-layer `widths` in their config to update.
    """
    config = check_config(config, "split_neuron")
    spec = spec_for(config)
    groups = spec.permutation_factors
    if isinstance(layer, bool) or not isinstance(layer, int) or not 0 <= layer < len(groups):
        return None  # the index error is reported by layout_of with the list of groups
    f = groups[layer]
    with torch.random.fork_rng(devices=[]):
        model = build(config)
    for key, _ in f.axes:
        owner = _owner(model, key)
        if isinstance(owner, nn.LayerNorm | nn.GroupNorm):
            return (f"group {f.name!r} is normalised by {type(owner).__name__} ({key.rsplit('.', 1)[0]}): a copied "
                    "unit changes the mean and variance over the group, so the function is not preserved")
        if isinstance(owner, nn.MultiheadAttention):
            return (f"group {f.name!r} indexes attention heads/head dimensions ({key}): scores are scaled by "
                    "1/sqrt(head dim), which a copy changes, and heads cannot be split into parts")
    if any(g.parent == f.name for g in spec.factors):
        return f"group {f.name!r} has nested head dimensions (attention); heads cannot be split"
    if config["name"] != "mlp":
        return (f"splitting updates the config's per-layer widths, which only mlp configs have; got a "
                f"{config['name']!r} config (group {f.name!r})")
    return None


def _owner(model: nn.Module, key: str) -> nn.Module | None:
    prefix = key.rsplit(".", 1)[0] if "." in key else ""
    try:
        return model.get_submodule(prefix)
    except AttributeError:
        return None


def _prepare(params: Mapping[str, Tensor], config: Mapping, layer: int, where: str) -> tuple[dict, UnitLayout]:
    config = check_config(config, where)
    reason = split_reason(config, layer)
    if reason is not None:
        raise SymmetryError(f"{where}: cannot split layer {layer}: {reason}")
    spec = spec_for(config)
    lay = layout_of(config, layer, where=where, spec=spec)
    if not isinstance(params, Mapping):
        raise ConfigError(f"{where}: params must be a dict of tensors (state_dict), got {type(params).__name__}")
    spec.check(params)
    check_finite(params, what=f"{where}: params")
    return config, lay


def expansion_assignment(r: int, m: int, *, copies_of: int | None = None) -> list[int | None]:
    """A canonical map φ of m units onto r: units 0..r−1 keep their roles, the m − r others are zero-type.

    With `copies_of=k` the extra units are copies of unit k instead (a split into m − r + 1 copies).
    """
    for name, v in (("r", r), ("m", m)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise ConfigError(f"expansion_assignment: {name} must be an int >= 0, got {v!r}")
    if r > m:
        raise ConfigError(f"expansion_assignment: cannot expand width r = {r} into m = {m} < r units; need m >= r")
    if copies_of is not None:
        check_unit(copies_of, r, "expansion_assignment", "copies_of")
    return [*range(r), *([copies_of] * (m - r))]


def expand(params: Mapping[str, Tensor], config: Mapping, layer: int, assignment: Sequence[int | None], *,
           ratios: Sequence[float | None] | None = None,
           incoming: Mapping[int, Tensor] | None = None) -> tuple[Params, dict]:
    """The width-m network given by the map φ = `assignment` of the m new units of `layer` onto its r units.

    assignment[j] = k copies unit k into new unit j (incoming weights copied, outgoing a_j = β_j a_k with
    β_j = ratios[j]; default β_j = 1/|φ⁻¹(k)|, an even split); assignment[j] = None makes j a zero-type unit
    (a_j = 0, incoming weights `incoming[j]`, a 1-D tensor laid out as `UnitLayout.vector`, i.e. (w_j, b_j);
    default 0). φ must hit every old unit and the β of each old unit must sum to 1. Returns the new
    (params, config) with the config's widths updated; f_new = f_old exactly up to rounding.
    """
    where = "expand"
    config, lay = _prepare(params, config, layer, where)
    r = lay.size
    if isinstance(assignment, str | bytes) or not isinstance(assignment, Sequence):
        raise ConfigError(f"{where}: assignment must be a list of old unit indices or None, got {assignment!r}")
    m = len(assignment)
    if m < r:
        raise ConfigError(f"{where}: cannot map m = {m} new units onto r = {r} old ones (r > m); "
                          "give at least r entries")
    groups: dict[int, list[int]] = {k: [] for k in range(r)}
    for j, k in enumerate(assignment):
        if k is not None:
            groups[check_unit(k, r, where, f"assignment[{j}]")].append(j)
    missing = [k for k, js in groups.items() if not js]
    if missing:
        raise ConfigError(f"{where}: assignment misses old units {missing[:5]}; every unit needs at least one copy "
                          "(or zero its outgoing weights first)")
    beta = _ratios(ratios, assignment, groups, where)
    zero_in = _zero_incoming(params, lay, incoming, assignment, where)

    index = torch.tensor([k if k is not None else 0 for k in assignment], dtype=torch.long)  # (m,)
    is_zero = torch.tensor([k is None for k in assignment])  # (m,)
    out = dict(params)
    for s in lay.slots:
        t = params[s.key]
        new = t.index_select(s.axis, index)  # old slices, zero units get unit 0's for now
        shape = [1] * t.dim()
        shape[s.axis] = m
        if s.incoming:
            for j, vals in zero_in.items():
                new.select(s.axis, j).copy_(vals[s.label])
        else:
            new = new * beta.to(t.dtype).reshape(shape)  # β_j a_φ(j), β = 0 for zero units
            new = torch.where(is_zero.reshape(shape), torch.zeros((), dtype=t.dtype), new)
        out[s.key] = new
    new_config = dict(config)
    widths = list(config["widths"])
    widths[layer] = m
    new_config["widths"] = widths
    return out, new_config


def _ratios(ratios, assignment, groups, where) -> Tensor:
    m = len(assignment)
    if ratios is None:
        return torch.tensor([0.0 if k is None else 1.0 / len(groups[k]) for k in assignment], dtype=torch.float64)
    if isinstance(ratios, str | bytes) or not isinstance(ratios, Sequence) or len(ratios) != m:
        raise ConfigError(f"{where}: ratios must be a list of {m} numbers (None for zero-type units), got {ratios!r}")
    beta = []
    for j, (k, b) in enumerate(zip(assignment, ratios, strict=True)):
        if k is None:
            if b not in (None, 0, 0.0):
                raise ConfigError(f"{where}: ratios[{j}] = {b!r} but unit {j} is zero-type; give None (its a_j is 0)")
            beta.append(0.0)
        else:
            beta.append(check_ratio(b, f"{where}: ratios[{j}]"))
    for k, js in groups.items():
        total = math.fsum(beta[j] for j in js)
        if abs(total - 1.0) > RATIO_SUM_TOL:
            raise ConfigError(f"{where}: the ratios of the copies {js} of unit {k} sum to {total!r}, not 1; "
                              "outgoing weights must be shared, Σ β_j = 1")
    return torch.tensor(beta, dtype=torch.float64)


def _zero_incoming(params, lay: UnitLayout, incoming, assignment, where) -> dict[int, dict[str, Tensor]]:
    zeros = [j for j, k in enumerate(assignment) if k is None]
    incoming = {} if incoming is None else incoming
    if not isinstance(incoming, Mapping):
        raise ConfigError(f"{where}: incoming must map zero-type unit indices to 1-D weight tensors, "
                          f"got {type(incoming).__name__}")
    extra = sorted(set(incoming) - set(zeros))
    if extra:
        raise ConfigError(f"{where}: incoming names units {extra[:5]} that are not zero-type (None in assignment)")
    out = {}
    for j in zeros:
        if j in incoming:
            vec = incoming[j]
            vals = lay.unvector(params, vec.to(first_float(params).dtype) if isinstance(vec, Tensor) else vec,
                                "in", f"{where}: incoming[{j}]")
            check_finite(vals, what=f"{where}: incoming[{j}]")
        else:
            vals = {k: torch.zeros_like(v) for k, v in lay.get(params, 0, "in").items()}
        out[j] = vals
    return out


def split_neuron(params: Mapping[str, Tensor], config: Mapping, layer: int, unit: int,
                 ratio: float = 0.5) -> tuple[Params, dict]:
    """Duplicate `unit` of hidden layer `layer`; the copy is appended as the layer's last unit.

    (w_k, b_k; a_k) ↦ (w_k, b_k; λ a_k) at k and (w_k, b_k; (1 − λ) a_k) at the new index r, λ = `ratio`
    (any finite real). `layer` indexes `spec.permutation_factors` (MLP hidden layers from 0). Returns the
    width-(r+1) (params, config); f is preserved, and a critical point stays critical for every λ.
    """
    where = "split_neuron"
    ratio = check_ratio(ratio, where)
    config, lay = _prepare(params, config, layer, where)
    check_unit(unit, lay.size, where)
    r = lay.size
    ratios = [1.0] * r + [1.0 - ratio]
    ratios[unit] = ratio
    return expand(params, config, layer, [*range(r), unit], ratios=ratios)


def add_zero_neuron(params: Mapping[str, Tensor], config: Mapping, layer: int, *,
                    incoming: Tensor | None = None) -> tuple[Params, dict]:
    """Append a zero-type unit to hidden layer `layer`: a_z = 0, incoming weights `incoming` (default 0).

    `incoming` is the unit's incoming vector laid out as `UnitLayout.vector` — for an MLP (w_z, b_z) of
    shape (fan_in + 1,). f is preserved; criticality is kept only where the residual vanishes.
    """
    config, lay = _prepare(params, config, layer, "add_zero_neuron")
    r = lay.size
    return expand(params, config, layer, [*range(r), None], incoming=None if incoming is None else {r: incoming})
