"""The product of spheres a network lives on once its symmetries are removed (Pittorino et al. 2022).

A `Sphere` is a layer of units whose rows are unit vectors in the canonical form:
  "units"   a positive-scale factor of the spec: unit k's incoming slices (w_k, b_k), or the (γ_k, β_k)
            of the BatchNorms it feeds, raveled in slot order;
  "filters" a convolution (or linear map) followed by BatchNorm: output channel k's filter (and bias);
  "output"  the output layer (weight and bias) as one vector: its global scale is fixed;
  "signs"   binary networks: a sign factor's incoming ±1 rows (no norm to fix; compared by cosine).
Everything read from the spec's table (`Spec.units`); the BatchNorm that follows each convolution
is found by tracing the module with torch.fx. Supported: the zoo's MLPs with ReLU or ReLU^k, VGG and
ResNet-20 with BatchNorm (or VGG without normalisation) and binary MLPs; anything else is refused
naming the layer or model.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch
import torch.fx
from torch import Tensor, nn

from ..errors import SymmetryError
from ..models import ReluPow
from ..models._binary import BinaryLinear, Sign
from ..params import Params
from ..symmetry import Piece, Segment, Slot, Spec

__all__ = ["KINDS", "SUPPORTED", "Quotient", "Sphere", "permute_slot", "quotient_of", "scale_slot"]

SUPPORTED = ("mlp", "vgg", "resnet20", "binary_mlp")
KINDS = ("units", "filters", "output", "signs")
_LEAVES = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.modules.batchnorm._BatchNorm, nn.ReLU, ReluPow, nn.MaxPool1d,
           nn.MaxPool2d, nn.Identity, nn.Flatten, Sign)
_CONTAINERS = (nn.Sequential, nn.ModuleList)


def _unit_index(slot: Slot) -> Tensor:
    """(stop − start,): the unit owning each index of the slot's segment (row-major over its pieces)."""
    sizes = [p.size for p in slot.segment.pieces]
    shape = [1] * len(sizes)
    shape[slot.position] = sizes[slot.position]
    return torch.arange(sizes[slot.position]).reshape(shape).expand(sizes).reshape(-1)


def scale_slot(t: Tensor, slot: Slot, coeff: Tensor) -> Tensor:
    """A new tensor: `t` with unit k's slice of `slot` multiplied by coeff[k] (the rest unchanged)."""
    shape = [1] * t.ndim
    shape[slot.axis] = slot.stop - slot.start
    factor = coeff.to(t.device, t.dtype)[_unit_index(slot).to(t.device)].reshape(shape)
    out = t.clone()
    region = out.narrow(slot.axis, slot.start, slot.stop - slot.start)
    region.mul_(factor)
    return out


def permute_slot(t: Tensor, slot: Slot, perm: Tensor) -> Tensor:
    """A new tensor: unit i's slice of `slot` taken from unit perm[i] (T'[i] = T[π(i)]), the rest unchanged."""
    sizes = [p.size for p in slot.segment.pieces]
    index = torch.arange(slot.stop - slot.start).reshape(sizes).index_select(slot.position, perm.cpu()).reshape(-1)
    out = t.clone()
    length = slot.stop - slot.start
    out.narrow(slot.axis, slot.start, length).copy_(
        t.narrow(slot.axis, slot.start, length).index_select(slot.axis, index.to(t.device)))
    return out


@dataclass(frozen=True)
class Sphere:
    """`size` units whose rows (the raveled slices of `slots`) are unit vectors in the canonical form.

    `factor` names the permutation factor indexing the rows (None for the output layer).
    """

    name: str
    kind: str
    size: int
    slots: tuple[Slot, ...]
    factor: str | None

    def matrix(self, params: Mapping[str, Tensor]) -> Tensor:
        """(size, d): row k is unit k's raveled slices, in slot order."""
        return torch.cat([s.block(params[s.key]).reshape(self.size, -1) for s in self.slots], dim=1)

    def scale(self, params: Mapping[str, Tensor], coeff: Tensor) -> Params:
        """A new dict: unit k's slices multiplied by coeff[k]."""
        out = dict(params)
        for s in self.slots:
            out[s.key] = scale_slot(out[s.key], s, coeff)
        return out

    def __repr__(self) -> str:
        return f"Sphere({self.name!r}, {self.kind}, {self.size} units)"


@dataclass(frozen=True)
class Quotient:
    """A model's symmetry-free coordinates: its spec, its spheres and how the canonical form is reached.

    `scale_order`: the scale (or sign) factors in an order where every factor comes after those whose
    outgoing weights it reads; `norms`: (convolution, BatchNorm, eps) pairs whose filters are normalised;
    `output`: the output layer's keys.
    """

    model: str
    spec: Spec
    spheres: tuple[Sphere, ...]
    scale_order: tuple[str, ...]
    norms: tuple[tuple[str, str, float], ...]
    output: tuple[str, ...]
    binary: bool

    def __repr__(self) -> str:
        return (f"Quotient({self.model}: {len(self.spheres)} spheres, {sum(s.size for s in self.spheres)} units, "
                f"{len(self.norms)} BatchNorm filters{', binary' if self.binary else ''})")


def _refuse_layers(model: nn.Module, name: str) -> None:
    for path, m in model.named_modules():
        if next(m.children(), None) is not None or isinstance(m, _CONTAINERS):
            continue
        if not isinstance(m, _LEAVES) or (isinstance(m, nn.Linear | nn.Conv1d | nn.Conv2d) and name == "binary_mlp"
                                          and not isinstance(m, BinaryLinear)):
            raise SymmetryError(f"quotient: layer {path!r} ({type(m).__name__}) of {name} is not supported: the "
                                f"canonical form removes positive rescaling (ReLU, ReLU^k, BatchNorm) and binary "
                                f"sign flips only")


def _bn_pairs(model: nn.Module) -> tuple[tuple[str, str, float], ...]:
    """(producer, BatchNorm, eps) for every BatchNorm, whose input must come straight from a conv or linear layer."""
    modules = dict(model.named_modules())
    pairs = []
    for node in torch.fx.symbolic_trace(model).graph.nodes:
        if node.op != "call_module" or not isinstance(modules[node.target], nn.modules.batchnorm._BatchNorm):
            continue
        bn = modules[node.target]
        src = node.args[0]
        ok = getattr(src, "op", None) == "call_module" and isinstance(modules[src.target], nn.Conv1d | nn.Conv2d
                                                                       | nn.Linear)
        if not ok or not bn.affine or not bn.track_running_stats:
            raise SymmetryError(f"quotient: BatchNorm {node.target!r} must follow a convolution directly and keep "
                                f"affine parameters and running statistics")
        pairs.append((str(src.target), str(node.target), float(bn.eps)))
    return tuple(pairs)


def _scale_order(spec: Spec, names: list[str]) -> tuple[str, ...]:
    """Topological order: G before F when a tensor holds G's outgoing and F's incoming weights."""
    slots = {n: spec.units(n).slots for n in names}
    deps = {f: {g for g in names if g != f and {s.key for s in slots[g] if s.power < 0}
                & {s.key for s in slots[f] if s.power > 0}} for f in names}
    order: list[str] = []
    while len(order) < len(names):
        ready = [f for f in names if f not in order and deps[f] <= set(order)]
        if not ready:
            raise SymmetryError(f"quotient: the scale factors {sorted(set(names) - set(order))[:3]} depend on each "
                                "other in a cycle")
        order.append(ready[0])
    return tuple(order)


def _output_keys(spec: Spec, params: Mapping[str, Tensor]) -> tuple[str, ...]:
    keys = tuple(k for k, e in spec.table.items() if e and e[0] is None and params[k].is_floating_point()
                 and not k.endswith(("running_mean", "running_var")))
    modules = {k.rsplit(".", 1)[0] for k in keys}
    if len(modules) != 1 or not all(k.endswith((".weight", ".bias")) for k in keys):
        raise SymmetryError(f"quotient: expected one output layer whose units no factor owns, found {sorted(keys)[:4]}")
    return keys


def _whole(key: str, n: int, rows: int, factor: str | None) -> Slot:
    """A slot covering axis 0 of `key` (`rows` long) as `n` units: n = rows (one unit per row) or n = 1."""
    pieces = (Piece(factor, rows, 0),) if n == rows else (Piece(None, 1, 0), Piece(None, rows, 0))
    return Slot(key, 0, Segment(0, rows, pieces), 0, key)


def quotient_of(model: nn.Module, *, spec: Spec | None = None) -> Quotient:
    """The spheres and canonicalisation plan of a zoo `model` (its config names it); refuses unsupported layers.

    Raises:
      SymmetryError: a model or layer the canonical form does not handle (named), or a spec leaving units fixed.
    """
    config = getattr(model, "config", None)
    name = config.get("name") if isinstance(config, dict) else type(model).__name__
    if name not in SUPPORTED:
        raise SymmetryError(f"quotient: model {name!r} is not supported; the canonical form handles "
                            f"{', '.join(SUPPORTED)} (ReLU / ReLU^k, BatchNorm)")
    _refuse_layers(model, name)
    if spec is None:
        from ..symmetry._config import spec_for

        spec = spec_for(config)
    if spec.fixed:
        raise SymmetryError(f"quotient: layer {spec.fixed[0].name!r} keeps its units fixed ({spec.fixed[0].reason})")
    binary = name == "binary_mlp"
    need = "sign" if binary else "scale"
    names = [f.name for f in spec.permutation_factors]
    for f in spec.permutation_factors:
        if need not in f.kinds:
            raise SymmetryError(f"quotient: layer {f.name!r} admits no {need} symmetry (kinds {f.kinds})")
    state = model.state_dict()
    spheres: list[Sphere] = []
    order = _scale_order(spec, names)
    for f in order:
        units = spec.units(f)
        powers = {s.power for s in units.incoming}
        if len(powers) != 1:
            raise SymmetryError(f"quotient: layer {f!r} has incoming weights of different powers {sorted(powers)}")
        spheres.append(Sphere(f, "signs" if binary else "units", units.size, units.incoming, f))
    norms = () if binary else _bn_pairs(model)
    for conv, _, _ in norms:
        w = state[f"{conv}.weight"]
        entry = spec.table[f"{conv}.weight"][0]
        factor = entry[0].pieces[0].factor if entry else None
        keys = [k for k in (f"{conv}.weight", f"{conv}.bias") if k in state]
        spheres.append(Sphere(f"{conv} filters", "filters", w.shape[0], tuple(_whole(k, w.shape[0], w.shape[0], factor)
                                                                for k in keys), factor))
    output = _output_keys(spec, state)
    spheres.append(Sphere("output", "output", 1, tuple(_whole(k, 1, state[k].shape[0], None) for k in output), None))
    return Quotient(name, spec, tuple(spheres), order, norms, output, binary)
