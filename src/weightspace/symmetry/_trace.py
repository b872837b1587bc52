"""Derive a model's symmetry spec by tracing it with torch.fx.

Every tensor dimension in the traced graph is labelled by a tuple of pieces (var, size): a var is a
candidate unit group (union-find), None a batch/spatial/sequence axis. Layers create vars for their
outputs and record which parameter axes they own; residual additions tie vars; activations restrict
the kinds a group admits (ReLU: scale, tanh: sign, only linear maps: GL); normalisation layers
restrict scale to their affine outputs. A var tied to the network's input or output is fixed; an
operation the tracer does not understand fixes every group it touches and is reported with a reason.
"""

from __future__ import annotations

import logging
import math
import operator
from dataclasses import dataclass, field

import torch
import torch.fx
import torch.nn.functional as F
from torch import nn
from torch._subclasses.fake_tensor import FakeTensorMode
from torch.fx.passes.shape_prop import ShapeProp

from ..errors import SymmetryError
from ._spec import KINDS, Factor, FixedLayer, Piece, Segment, Spec

log = logging.getLogger("weightspace.symmetry")

__all__ = ["spec_of"]

STRUCTURAL = ("network output",)


# -- activations: (admitted kinds, homogeneity degree) -------------------------------------------
def _act_props(kind: str, power: int = 1) -> tuple[frozenset, int]:
    table = {
        "relu": ({"permutation", "scale"}, 1),
        "leaky_relu": ({"permutation", "scale"}, 1),
        "relu_pow": ({"permutation", "scale"}, power),
        "tanh": ({"permutation", "sign"}, 1),
        "max": ({"permutation", "scale"}, 1),
        "smooth": ({"permutation"}, 1),
    }
    kinds, degree = table[kind]
    return frozenset(kinds), degree


_ACT_MODULES = {
    nn.ReLU: "relu", nn.ReLU6: "smooth", nn.LeakyReLU: "leaky_relu", nn.PReLU: "smooth", nn.Tanh: "tanh",
    nn.Hardtanh: "smooth", nn.GELU: "smooth", nn.Softplus: "smooth", nn.Sigmoid: "smooth", nn.SiLU: "smooth",
    nn.ELU: "smooth", nn.Mish: "smooth", nn.Softsign: "tanh",
}
_ACT_FUNCTIONS = {
    F.relu: "relu", torch.relu: "relu", F.leaky_relu: "leaky_relu", torch.tanh: "tanh", F.tanh: "tanh",
    F.gelu: "smooth", F.softplus: "smooth", torch.sigmoid: "smooth", F.sigmoid: "smooth", F.silu: "smooth",
    F.elu: "smooth", F.mish: "smooth", F.relu6: "smooth", F.hardtanh: "smooth",
}
_ACT_METHODS = {"relu": "relu", "tanh": "tanh", "sigmoid": "smooth"}
_PASS_MODULES = (nn.Identity, nn.Dropout, nn.Dropout1d, nn.Dropout2d)
_PASS_FUNCTIONS = {F.dropout, torch.clone}
_PASS_METHODS = {"contiguous", "clone", "float", "double", "to", "type_as", "detach"}


class _Var:
    """A candidate unit group for one tensor dimension (union-find node)."""

    __slots__ = ("parent", "size", "birth", "order", "unit", "fixed", "removed", "derived",
                 "forced_zero", "nested_in", "name_hint", "split")

    def __init__(self, size, birth, order, *, unit=False, derived=None, nested_in=None, name_hint=None):
        self.parent = self
        self.size = size
        self.birth = birth
        self.order = order
        self.unit = unit
        self.fixed: str | None = None
        self.removed: set[str] = set()
        self.derived = derived  # (degree, var) when this var = act(var)
        self.forced_zero = False  # fed into BatchNorm: its values are normalised away
        self.nested_in = nested_in
        self.name_hint = name_hint
        self.split: tuple | None = None  # ((heads var, H), (dims var, d)) once a reshape splits this axis


def _find(v: _Var) -> _Var:
    while v.parent is not v:
        v.parent = v.parent.parent
        v = v.parent
    return v


class _Unsupported(Exception):
    """An operation the tracer cannot follow: its groups are fixed and reported."""


@dataclass(frozen=True)
class _Tuple:
    """Label of a tuple-valued node (e.g. MultiheadAttention's (output, weights))."""

    items: tuple


@dataclass
class _Registration:
    key: str
    axis: int
    start: int
    stop: int
    pieces: tuple  # ((var | None, size), ...)
    role: str  # "out" | "in" | "stat"


@dataclass
class _Tracer:
    model: nn.Module
    vars: list = field(default_factory=list)
    regs: list = field(default_factory=list)
    ties: list = field(default_factory=list)  # (a, b): exponents must agree
    fixes: list = field(default_factory=list)  # (layer name, reason) reported
    labels: dict = field(default_factory=dict)

    # -- var helpers --------------------------------------------------------------------------------
    def new_var(self, size, birth, **kw) -> _Var:
        v = _Var(size, birth, len(self.vars), **kw)
        self.vars.append(v)
        return v

    def union(self, a: _Var, b: _Var, where: str) -> None:
        ra, rb = _find(a), _find(b)
        if ra is rb:
            return
        if ra.size != rb.size:
            self.fix_var(ra, f"{where} ties axes of sizes {ra.size} and {rb.size}")
            self.fix_var(rb, f"{where} ties axes of sizes {ra.size} and {rb.size}")
        if (ra.nested_in is None) != (rb.nested_in is None):
            self.fix_var(ra, f"{where} ties attention head dimensions to other units")
        if rb.order < ra.order:
            ra, rb = rb, ra
        rb.parent = ra
        ra.fixed = ra.fixed or rb.fixed
        ra.removed |= rb.removed
        ra.unit = ra.unit or rb.unit
        if rb.split is not None:
            if ra.split is None:
                ra.split = rb.split
            elif [n for _, n in ra.split] != [n for _, n in rb.split]:
                self.fix_var(ra, f"{where} ties axes split into heads of different sizes")
            else:
                for (x, _), (y, _) in zip(ra.split, rb.split, strict=True):
                    self.union(x, y, where)
        if ra.nested_in is not None and rb.nested_in is not None:
            self.union(ra.nested_in, rb.nested_in, where)

    def fix_var(self, v: _Var, reason: str) -> None:
        r = _find(v)
        if r.fixed is None:
            r.fixed = reason
            if reason not in STRUCTURAL:
                self.fixes.append((r, reason))

    def remove(self, v: _Var, kinds) -> None:
        """The units of v's group no longer admit `kinds`."""
        _find(v).removed |= set(kinds)

    # -- label helpers ------------------------------------------------------------------------------
    def vars_in(self, label) -> list[_Var]:
        out = []
        if isinstance(label, _Tuple):
            for lab in label.items:
                out += self.vars_in(lab)
            return out
        if isinstance(label, list):
            for dim in label:
                for var, _ in dim:
                    if var is not None:
                        out.append(var)
        return out

    def fix_label(self, label, reason: str) -> None:
        for v in self.vars_in(label):
            self.fix_var(v, reason)

    def fresh_fixed(self, shape, reason, where) -> list:
        dims = []
        for i, s in enumerate(shape):
            if i == 0:
                dims.append(((None, s),))
            else:
                v = self.new_var(s, where)
                v.fixed = reason
                dims.append(((v, s),))
        return dims

    def register(self, key, axis, dim, role, start=0, stop=None):
        size = math.prod(s for _, s in dim)
        self.regs.append(_Registration(key, axis, start, size if stop is None else stop, tuple(dim), role))


def _shape(node) -> tuple[int, ...] | None:
    meta = node.meta.get("tensor_meta")
    if meta is None or not hasattr(meta, "shape"):
        return None
    return tuple(meta.shape)


def _reshape_groups(a: tuple[int, ...], b: tuple[int, ...]):
    """Align two shapes with equal numel into consecutive groups of equal products."""
    groups, i, j = [], 0, 0
    while i < len(a) or j < len(b):
        gi, gj = [i], [j]
        pa = a[i] if i < len(a) else 1
        pb = b[j] if j < len(b) else 1
        i, j = i + 1, j + 1
        while pa != pb:
            if pa < pb:
                pa *= a[i]
                gi.append(i)
                i += 1
            else:
                pb *= b[j]
                gj.append(j)
                j += 1
        groups.append(([k for k in gi if k < len(a)], [k for k in gj if k < len(b)]))
    return groups


class _Leaf(torch.fx.Tracer):
    """Treat torch.nn layers and modules declaring an activation as leaves."""

    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        if getattr(m, "weightspace_activation", None) is not None:
            return True
        return super().is_leaf_module(m, qualname)


def _trace(model: nn.Module, example_input) -> torch.fx.GraphModule:
    try:
        graph = _Leaf().trace(model)
    except Exception as err:  # noqa: BLE001 - fx raises many kinds of errors
        raise SymmetryError(
            f"spec_of: torch.fx could not trace {type(model).__name__}: {str(err).splitlines()[0]}"
        ) from None
    gm = torch.fx.GraphModule(model, graph)
    inputs = example_input if isinstance(example_input, tuple) else (example_input,)
    was_training = model.training
    gm.eval()
    mode = FakeTensorMode(allow_non_fake_inputs=True)  # shapes only: no arithmetic is done
    try:
        with torch.no_grad():
            ShapeProp(gm, fake_mode=mode).propagate(*(mode.from_tensor(t) if isinstance(t, torch.Tensor) else t
                                                      for t in inputs))
    except Exception as err:  # noqa: BLE001 - the model's own errors on a bad example input
        raise SymmetryError(
            f"spec_of: {type(model).__name__} fails on the example input: {str(err).splitlines()[0]}"
        ) from None
    finally:
        model.train(was_training)
    return gm


class _Builder(_Tracer):
    def run(self, gm: torch.fx.GraphModule) -> None:
        self.modules = dict(gm.named_modules())
        for node in gm.graph.nodes:
            try:
                self.labels[node] = self.visit(node)
            except _Unsupported as err:
                self.unsupported(node, str(err))

    # -- fallbacks ------------------------------------------------------------------------------------
    def unsupported(self, node, reason: str) -> None:
        name = node.target if node.op == "call_module" else node.name
        for arg in node.all_input_nodes:
            lab = self.labels.get(arg)
            if lab is not None:
                for v in self.vars_in(lab):
                    self.fix_var(v, f"{name}: {reason}")
                    self.fixes.append((_find(v), f"{name}: {reason}"))
        shape = _shape(node)
        self.labels[node] = self.fresh_fixed(shape, f"{name}: {reason}", name) if shape is not None else None

    def label(self, arg):
        if isinstance(arg, torch.fx.Node):
            return self.labels.get(arg)
        return None

    # -- dispatch -------------------------------------------------------------------------------------
    def visit(self, node):
        if node.op == "placeholder":
            shape = _shape(node)
            return [((None, n),) for n in shape] if shape is not None else None
        if node.op == "output":  # whatever the outputs are nested in (tuples, dicts), their axes stay put
            for arg in node.all_input_nodes:
                self.fix_label(self.labels.get(arg), "network output")
            return None
        if node.op == "get_attr":
            return self.get_attr(node)
        if node.op == "call_module":
            return self.call_module(node, self.modules[node.target])
        if node.op in ("call_function", "call_method"):
            return self.call_function(node)
        raise _Unsupported(f"graph node kind {node.op}")

    def get_attr(self, node):
        shape = _shape(node)
        if shape is None:
            return None
        key = node.target
        dims = []
        for axis, s in enumerate(shape):
            v = self.new_var(s, key)
            self.register(key, axis, ((v, s),), "out")
            dims.append(((v, s),))
        return dims

    # -- modules --------------------------------------------------------------------------------------
    def call_module(self, node, m: nn.Module):
        x = self.label(node.args[0]) if node.args else None
        name = node.target
        act = getattr(m, "weightspace_activation", None)
        if act is not None:
            return self.activation(x, *act, where=name)
        if isinstance(m, _PASS_MODULES):
            return x
        if type(m) in _ACT_MODULES:
            kind = _ACT_MODULES[type(m)]
            if isinstance(m, nn.LeakyReLU) and m.negative_slope == 1.0:
                return x
            return self.activation(x, kind, where=name)
        if isinstance(m, nn.Linear):
            return self.linear_like(node, x, m, name, channel=-1)
        if isinstance(m, nn.Conv1d | nn.Conv2d | nn.Conv3d):
            if m.groups != 1:
                raise _Unsupported(f"grouped convolution (groups={m.groups}) is not supported")
            return self.linear_like(node, x, m, name, channel=1)
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            return self.batchnorm(x, m, name)
        if isinstance(m, nn.LayerNorm):
            return self.layernorm(x, m, name)
        if isinstance(m, nn.GroupNorm):
            if m.num_groups not in (1, m.num_channels):
                raise _Unsupported(f"GroupNorm with {m.num_groups} groups is not supported")
            return self.norm_affine(x, m, name, channel=1)
        if isinstance(m, nn.MaxPool1d | nn.MaxPool2d | nn.AdaptiveMaxPool2d):
            return self.spatial(node, x, kinds=_act_props("max")[0], where=name)
        if isinstance(m, nn.AvgPool1d | nn.AvgPool2d | nn.AdaptiveAvgPool1d | nn.AdaptiveAvgPool2d):
            return self.spatial(node, x, kinds=None, where=name)
        if isinstance(m, nn.Flatten):
            return self.reshape(node, x)
        if isinstance(m, nn.MultiheadAttention):
            return self.attention(node, m, name)
        raise _Unsupported(f"layer type {type(m).__name__} is not supported by the tracer")

    def activation(self, x, kind, power=1, *, where):
        kinds, degree = _act_props(kind, power)
        out = []
        for dim in x:
            pieces = []
            for var, s in dim:
                if var is None:
                    pieces.append((None, s))
                    continue
                self.remove(var, set(KINDS) - kinds)
                w = self.new_var(s, where, derived=(degree, var))
                self.union(var, w, where)
                pieces.append((w, s))
            out.append(tuple(pieces))
        return out

    def linear_like(self, node, x, m, name, channel):
        ndim = len(x)
        c = channel % ndim
        in_dim = x[c]
        v = self.new_var(m.weight.shape[0], name, unit=True)
        self.register(f"{name}.weight", 0, ((v, v.size),), "out")
        self.register(f"{name}.weight", 1, in_dim, "in")
        if getattr(m, "bias", None) is not None:
            self.register(f"{name}.bias", 0, ((v, v.size),), "out")
        out = []
        for i, dim in enumerate(x):
            if i == c:
                out.append(((v, v.size),))
            elif channel == 1 and i > 1:
                out.append(((None, _shape(node)[i]),))
            else:
                out.append(dim)
        return out

    def batchnorm(self, x, m, name):
        dim = x[1]
        if len(dim) != 1 or dim[0][0] is None:
            raise _Unsupported("BatchNorm over a composite or non-unit axis")
        v = dim[0][0]
        v.forced_zero = True
        if m.running_mean is not None:
            self.register(f"{name}.running_mean", 0, dim, "stat")
            self.register(f"{name}.running_var", 0, dim, "stat")
        self.remove(v, {"gl"})
        w = self.new_var(v.size, name, unit=True)
        self.union(v, w, name)
        if m.affine:
            self.register(f"{name}.weight", 0, ((w, w.size),), "out")
            self.register(f"{name}.bias", 0, ((w, w.size),), "out")
        return [d if i != 1 else ((w, w.size),) for i, d in enumerate(x)]

    def layernorm(self, x, m, name):
        if len(m.normalized_shape) != 1:
            raise _Unsupported("LayerNorm over several axes is not supported")
        return self.norm_affine(x, m, name, channel=-1)

    def norm_affine(self, x, m, name, channel):
        c = channel % len(x)
        dim = x[c]
        if len(dim) != 1 or dim[0][0] is None:
            raise _Unsupported(f"{type(m).__name__} over a composite or non-unit axis")
        v = dim[0][0]
        self.remove(v, {"scale", "sign", "gl"})
        w = self.new_var(v.size, name, unit=True)
        self.union(v, w, name)
        if getattr(m, "weight", None) is not None:
            self.register(f"{name}.weight", 0, ((w, w.size),), "out")
        if getattr(m, "bias", None) is not None:
            self.register(f"{name}.bias", 0, ((w, w.size),), "out")
        return [d if i != c else ((w, w.size),) for i, d in enumerate(x)]

    def spatial(self, node, x, kinds, where):
        """Pooling: channel axis (1) kept, spatial axes become non-unit."""
        if kinds is not None:
            for v in self.vars_in([x[1]]):
                self.remove(v, set(KINDS) - set(kinds))
        shape = _shape(node)
        return [x[0], x[1]] + [((None, s),) for s in shape[2:]]

    def attention(self, node, m: nn.MultiheadAttention, name):
        if not m.batch_first or not m._qkv_same_embed_dim or m.bias_k is not None or m.add_zero_attn:
            raise _Unsupported("MultiheadAttention needs batch_first=True, equal q/k/v dims, no bias_kv/zero_attn")
        args = list(node.args) + [node.kwargs.get(k) for k in ("query", "key", "value") if k in node.kwargs]
        labels = [self.label(a) for a in args[:3]]
        if any(lab is None for lab in labels):
            raise _Unsupported("MultiheadAttention called without query, key and value tensors")
        e_dims = [lab[-1] for lab in labels]
        for d in e_dims[1:]:
            if len(d) != 1 or len(e_dims[0]) != 1 or d[0][0] is None or e_dims[0][0][0] is None:
                raise _Unsupported("MultiheadAttention over a composite embedding axis")
            self.union(e_dims[0][0][0], d[0][0], name)
        e, h = m.embed_dim, m.num_heads
        d = e // h
        heads = self.new_var(h, name, unit=True, name_hint=f"{name}.heads")
        qk = self.new_var(d, name, unit=True, nested_in=heads, name_hint=f"{name}.qk")
        vv = self.new_var(d, name, unit=True, nested_in=heads, name_hint=f"{name}.v")
        for v in (heads, qk, vv):
            self.remove(v, {"scale", "sign", "gl"})
        layouts = [((heads, h), (qk, d)), ((heads, h), (qk, d)), ((heads, h), (vv, d))]
        for i, lay in enumerate(layouts):
            self.register(f"{name}.in_proj_weight", 0, lay, "out", start=i * e, stop=(i + 1) * e)
            if m.in_proj_bias is not None:
                self.register(f"{name}.in_proj_bias", 0, lay, "out", start=i * e, stop=(i + 1) * e)
        self.register(f"{name}.in_proj_weight", 1, e_dims[0], "in")
        o = self.new_var(e, f"{name}.out_proj", unit=True)
        self.register(f"{name}.out_proj.weight", 0, ((o, e),), "out")
        self.register(f"{name}.out_proj.weight", 1, layouts[2], "in")
        if m.out_proj.bias is not None:
            self.register(f"{name}.out_proj.bias", 0, ((o, e),), "out")
        q = labels[0]
        return _Tuple((q[:-1] + [((o, e),)], None))

    # -- functions and methods --------------------------------------------------------------------------
    def call_function(self, node):
        t = node.target
        args = node.args
        x = self.label(args[0]) if args else None
        if node.op == "call_method" and t in ("size", "dim", "numel"):
            return None
        if t is getattr and isinstance(args[1], str) and args[1] in ("shape", "ndim", "dtype", "device"):
            return None
        if _shape(node) is None and t is not operator.getitem:
            if any(self.label(a) is not None for a in node.all_input_nodes):
                raise _Unsupported(f"{_name(t)} returns a non-tensor")
            return None
        if t is operator.getitem:
            return self.getitem(node, x, args[1])
        if node.op == "call_function" and t in _ACT_FUNCTIONS:
            return self.activation(x, _ACT_FUNCTIONS[t], where=node.name)
        if node.op == "call_method" and t in _ACT_METHODS:
            return self.activation(x, _ACT_METHODS[t], where=node.name)
        if t in _PASS_FUNCTIONS or (node.op == "call_method" and t in _PASS_METHODS):
            return x
        if t in (operator.add, torch.add, operator.sub, torch.sub, operator.iadd, "add", "sub", "__add__"):
            return self.add(node)
        if t in (operator.mul, torch.mul, operator.truediv, torch.div, "mul", "div", operator.neg, torch.neg):
            return self.scalar_op(node)
        if t in (torch.flatten, "flatten", "view", "reshape", torch.reshape, "unsqueeze", torch.unsqueeze,
                 "squeeze", torch.squeeze):
            return self.reshape(node, x)
        if t in ("transpose", torch.transpose, "permute", torch.permute, "t"):
            return self.transpose(node, x)
        if t in (operator.matmul, torch.matmul, torch.bmm, "matmul", "bmm"):
            return self.matmul(node, x, self.label(args[1]))
        if t is F.scaled_dot_product_attention:
            return self.dot_product_attention(node, [self.label(a) for a in args[:3]])
        if t in (F.softmax, torch.softmax, "softmax"):
            for v in self.vars_in(x):  # equivariant under permutations of every axis, not under scaling
                self.remove(v, {"scale", "sign", "gl"})
            return x
        if t in (torch.mean, "mean", torch.sum, "sum"):
            return self.reduce(node, x, linear=True)
        if t in (torch.amax, "amax"):
            return self.reduce(node, x, linear=False)
        if t in (F.max_pool1d, F.max_pool2d, F.adaptive_max_pool2d):
            return self.spatial(node, x, kinds=_act_props("max")[0], where=node.name)
        if t in (F.avg_pool1d, F.avg_pool2d, F.adaptive_avg_pool1d, F.adaptive_avg_pool2d):
            return self.spatial(node, x, kinds=None, where=node.name)
        raise _Unsupported(f"operation {_name(t)} is not supported by the tracer")

    def getitem(self, node, x, index):
        if isinstance(x, _Tuple):
            return x.items[index]
        if x is None:
            return None
        idx = index if isinstance(index, tuple) else (index,)
        out, dim = [], 0
        for it in idx:
            if it is Ellipsis:
                skip = len(x) - (len([i for i in idx if i is not None]) - 1)
                out += x[dim:dim + skip]
                dim += skip
            elif it is None:
                out.append(((None, 1),))
            elif isinstance(it, slice) and it == slice(None):
                out.append(x[dim])
                dim += 1
            elif isinstance(it, int | slice) and not self.vars_in([x[dim]]):
                if isinstance(it, slice):
                    out.append(((None, _shape(node)[len(out)]),))
                dim += 1
            else:
                raise _Unsupported("indexing into a unit axis")
        return out + x[dim:]

    def add(self, node):
        shape = _shape(node)
        operands = [a for a in node.args[:2]]
        labels = [self.label(a) if isinstance(a, torch.fx.Node) else None for a in operands]
        tensors = [lab for lab in labels if lab is not None]
        if len(tensors) < 2:
            for lab in tensors:  # x + constant: an affine shift breaks rescaling
                for v in self.vars_in(lab):
                    self.remove(v, {"scale", "sign", "gl"})
            return tensors[0] if tensors else None
        a, b = tensors
        n = len(shape)
        a = [((None, 1),)] * (n - len(a)) + list(a)
        b = [((None, 1),)] * (n - len(b)) + list(b)
        out = []
        for da, db in zip(a, b, strict=True):
            va, vb = self.vars_in([da]), self.vars_in([db])
            if [s for _, s in da] == [s for _, s in db] and all(
                (pa is None) == (pb is None) for (pa, _), (pb, _) in zip(da, db, strict=True)
            ):
                for (pa, _), (pb, _) in zip(da, db, strict=True):
                    if pa is not None:
                        self.union(pa, pb, node.name)
                        self.ties.append((pa, pb))
                out.append(da)
                continue
            big = da if math.prod(s for _, s in da) >= math.prod(s for _, s in db) else db
            small = db if big is da else da
            broadcast = math.prod(s for _, s in small) == 1 < math.prod(s for _, s in big)
            if broadcast and not self.vars_in([small]):
                out.append(big)
                continue
            for v in va + vb:  # broadcasting a unit axis, or adding it to a non-unit axis
                self.fix_var(v, f"{node.name}: a unit axis is added to a broadcast or non-unit axis")
            out.append(big)
        return out

    def contract(self, da, db, where) -> None:
        """Sum over a pair of axes (matmul): their units must be permuted together; no scaling survives."""
        if [n for _, n in da] != [n for _, n in db] or any((a is None) != (b is None) for (a, _), (b, _) in
                                                           zip(da, db, strict=True)):
            for v in self.vars_in([da, db]):
                self.fix_var(v, f"{where}: contracts a unit axis with a different axis")
            return
        for (a, _), (b, _) in zip(da, db, strict=True):
            if a is not None:
                self.union(a, b, where)

    def broadcast_batch(self, dims_a, dims_b, where) -> list:
        """Leading (batch) axes of a matmul: tied where both carry units, broadcast where one has size 1."""
        n = max(len(dims_a), len(dims_b))
        dims_a = [((None, 1),)] * (n - len(dims_a)) + list(dims_a)
        dims_b = [((None, 1),)] * (n - len(dims_b)) + list(dims_b)
        out = []
        for da, db in zip(dims_a, dims_b, strict=True):
            if math.prod(s for _, s in db) == 1 and not self.vars_in([db]):
                out.append(da)
            elif math.prod(s for _, s in da) == 1 and not self.vars_in([da]):
                out.append(db)
            else:
                self.contract(da, db, where)
                out.append(da)
        return out

    def matmul(self, node, a, b):
        if a is None or b is None or len(a) < 2 or len(b) < 2:
            raise _Unsupported("matmul with a vector or a non-tensor operand")
        self.contract(a[-1], b[-2], node.name)
        for v in self.vars_in(a) + self.vars_in(b):
            self.remove(v, {"scale", "sign", "gl"})
        return self.broadcast_batch(a[:-2], b[:-2], node.name) + [a[-2], b[-1]]

    def dot_product_attention(self, node, qkv):
        q, k, v = qkv
        if q is None or k is None or v is None:
            raise _Unsupported("scaled_dot_product_attention without query, key and value tensors")
        self.contract(q[-1], k[-1], node.name)
        batch = self.broadcast_batch(self.broadcast_batch(q[:-2], k[:-2], node.name), v[:-2], node.name)
        for w in self.vars_in(q) + self.vars_in(k) + self.vars_in(v):
            self.remove(w, {"scale", "sign", "gl"})
        return batch + [q[-2], v[-1]]

    def scalar_op(self, node):
        labels = [self.label(a) for a in node.args if isinstance(a, torch.fx.Node)]
        labels = [lab for lab in labels if lab is not None]  # traced sizes such as x.shape[-1] are numbers
        if len(labels) == 1:
            divisor = len(node.args) > 1 and isinstance(node.args[1], torch.fx.Node) and \
                self.label(node.args[1]) is not None
            if node.target in (operator.truediv, torch.div, "div") and divisor:  # c / x: odd, homogeneous of degree -1
                for v in self.vars_in(labels[0]):
                    self.remove(v, {"scale", "gl"})
            return labels[0]
        raise _Unsupported(f"{_name(node.target)} of two tensors (gating) is not supported")

    def refine(self, pieces) -> list:
        """Pieces with every split axis replaced by its (heads, dims) pieces."""
        out = []
        for v, n in pieces:
            r = _find(v) if v is not None else None
            out += self.refine(list(r.split)) if r is not None and r.split is not None else [(v, n)]
        return out

    def split_var(self, v: _Var, a: int, b: int, where: str) -> tuple:
        """Split a unit axis of size a·b into a heads axis (a) and a per-head dims axis (b), row-major."""
        r = _find(v)
        base = r.name_hint or r.birth
        heads = self.new_var(a, r.birth, unit=True, name_hint=f"{base}.heads")
        dims = self.new_var(b, r.birth, unit=True, nested_in=heads, name_hint=f"{base}.dims")
        for w in (heads, dims):
            self.remove(w, {"scale", "sign", "gl"})
        r.split = ((heads, a), (dims, b))
        return r.split

    def reshape(self, node, x):
        shape_in = _shape(node.args[0]) if node.args else None
        shape_out = _shape(node)
        out: list = []
        for gi, go in _reshape_groups(shape_in, shape_out):
            pieces = self.refine([p for i in gi for p in x[i]])
            for v, n in pieces:
                if n == 1 and v is not None:  # a unit axis of size 1 disappears in the reshape
                    self.fix_var(v, f"{node.name}: a reshape drops a unit axis of size 1")
            queue = [p for p in pieces if p[1] != 1]
            for s in (shape_out[j] for j in go):
                run, prod = [], 1
                while prod < s and queue:
                    v, n = queue.pop(0)
                    if prod * n > s:  # the piece straddles this output axis: split it
                        a = s // prod
                        if s % prod or n % a:
                            raise _Unsupported("a reshape splits a unit axis unevenly")
                        if v is None:
                            first, rest = (None, a), (None, n // a)
                        elif _find(v).fixed is not None:
                            first = (self._fixed_var(a, _find(v).fixed), a)
                            rest = (self._fixed_var(n // a, _find(v).fixed), n // a)
                        else:
                            first, rest = self.split_var(v, a, n // a, node.name)
                        queue.insert(0, rest)
                        v, n = first
                    run.append((v, n))
                    prod *= n
                out.append(tuple(run) if run else ((None, s),))
        return out

    def _fixed_var(self, s, reason):
        """A piece of an axis that is already fixed: fixed for the same reason (reported once, already)."""
        v = self.new_var(s, "reshape")
        v.fixed = reason
        return v

    def transpose(self, node, x):
        n = len(x)
        if node.target in ("permute", torch.permute):
            dims = node.args[1:] if not isinstance(node.args[1], tuple | list) else node.args[1]
            return [x[d % n] for d in dims]
        if node.target == "t":
            return [x[1], x[0]]
        d0, d1 = node.args[1] % n, node.args[2] % n
        out = list(x)
        out[d0], out[d1] = x[d1], x[d0]
        return out

    def reduce(self, node, x, linear):
        dims = node.kwargs.get("dim", node.args[1] if len(node.args) > 1 else None)
        keep = node.kwargs.get("keepdim", node.args[2] if len(node.args) > 2 else False)
        n = len(x)
        dims = set(range(n)) if dims is None else {d % n for d in (dims if isinstance(dims, tuple | list) else (dims,))}
        out = []
        for i, d in enumerate(x):
            if i in dims:
                for v in self.vars_in([d]):  # Σ over units is permutation-invariant, not scale-invariant
                    self.remove(v, {"scale", "sign", "gl"})
                if keep:
                    out.append(((None, 1),))
            else:
                if not linear:
                    for v in self.vars_in([d]):
                        self.remove(v, {"sign", "gl"})
                out.append(d)
        return out


def _name(target) -> str:
    return target if isinstance(target, str) else getattr(target, "__name__", str(target))


def _exponent(v: _Var, memo: dict) -> int:
    """e(v): values on v scale as c^e(v) when a unit's coefficient is c (0 for BatchNorm inputs)."""
    if v in memo:
        return memo[v]
    if v.derived is not None:
        degree, u = v.derived
        e = degree * _exponent(u, memo)
    else:
        e = 0 if v.forced_zero else 1
    memo[v] = e
    return e


def _resolve(tr: _Builder, shapes: dict[str, tuple[int, ...]]) -> Spec:
    # the same parameter axis reached twice (a module called twice) must carry one permutation
    seen: dict = {}
    for r in tr.regs:
        k = (r.key, r.axis, r.start, r.stop)
        if k in seen:
            other = seen[k]
            if [s for _, s in other.pieces] != [s for _, s in r.pieces]:
                for v, _ in other.pieces + r.pieces:
                    if v is not None:
                        tr.fix_var(v, f"{r.key} is used twice with different layouts")
            for (a, _), (b, _) in zip(other.pieces, r.pieces, strict=False):
                if a is not None and b is not None:
                    tr.union(a, b, r.key)
        else:
            seen[k] = r
    regs = list(seen.values())

    memo: dict = {}
    for v in tr.vars:
        if v.forced_zero and _exponent(v, memo) != 0:
            tr.remove(v, {"scale", "sign", "gl"})
    for a, b in tr.ties:
        if _exponent(a, memo) != _exponent(b, memo):
            tr.remove(a, {"scale", "sign", "gl"})

    members: dict[_Var, list[_Var]] = {}
    for v in tr.vars:
        members.setdefault(_find(v), []).append(v)
    # an axis split into heads and fixed as a whole fixes its heads (and so their dims)
    for root in list(members):
        if root.split is not None and root.fixed is not None:
            for v, _ in root.split:
                tr.fix_var(v, root.fixed)
    # nested factors follow their parent's fate
    for root in members:
        if root.nested_in is not None and _find(root.nested_in).fixed and root.fixed is None:
            root.fixed = "its attention heads are fixed"

    for r in regs:
        r.pieces = tuple(tr.refine(r.pieces))
    powers: dict[_Var, list] = {}
    for r in regs:
        for v, _ in r.pieces:
            if v is not None:
                e = _exponent(v, memo)
                powers.setdefault(_find(v), []).append((e if r.role == "out" else -e if r.role == "in" else 0,
                                                        len(r.pieces)))

    names: dict[_Var, str] = {}
    used: set[str] = set()
    factors = []
    for root in sorted(members, key=lambda r: r.order):
        vs = members[root]
        units = sorted((v for v in vs if v.unit), key=lambda v: v.order)
        if root.fixed is not None or root.split is not None or not units or root not in powers:
            continue
        base = units[0].name_hint or units[0].birth
        name, i = base, 1
        while name in used:
            i += 1
            name = f"{base}#{i}"
        used.add(name)
        names[root] = name
        kinds = [k for k in KINDS if k not in root.removed]
        ps = powers[root]
        if all(p == 0 for p, _ in ps):
            kinds = [k for k in kinds if k not in ("scale", "sign", "gl")]
        if "gl" in kinds and (any(abs(p) != 1 or n != 1 for p, n in ps) or not {"scale", "sign"} <= set(kinds)):
            kinds.remove("gl")
        parent = names.get(_find(root.nested_in)) if root.nested_in is not None else None
        factors.append(Factor(name=name, size=root.size, kinds=tuple(kinds), parent=parent))

    table: dict[str, list] = {k: [None] * len(s) for k, s in shapes.items()}
    grouped: dict[tuple[str, int], list[Segment]] = {}
    for r in regs:
        if r.key not in table:
            continue
        pieces = []
        for v, size in r.pieces:
            root = _find(v) if v is not None else None
            if root in names:
                e = _exponent(v, memo)
                pieces.append(Piece(names[root], size, e if r.role == "out" else -e if r.role == "in" else 0))
            else:
                pieces.append(Piece(None, size, 0))
        if all(p.factor is None for p in pieces):
            continue
        grouped.setdefault((r.key, r.axis), []).append(Segment(r.start, r.stop, tuple(pieces)))
    for (key, axis), segs in grouped.items():
        table[key][axis] = tuple(sorted(segs, key=lambda s: s.start))

    fixed, reported = [], set()
    for root, reason in tr.fixes:
        r = _find(root)
        units = sorted((v for v in members.get(r, []) if v.unit), key=lambda v: v.order)
        if not units:
            continue
        name = units[0].name_hint or units[0].birth
        if name not in reported:
            reported.add(name)
            fixed.append(FixedLayer(name, reason))
    return Spec(table={k: tuple(v) for k, v in table.items()}, factors=tuple(factors), fixed=tuple(fixed),
                shapes=shapes)


def spec_of(model: nn.Module, example_input, *, strict: bool = False) -> Spec:
    """The symmetry spec of `model`, derived by tracing it on `example_input`.

    Layers the tracer cannot act on keep their units fixed; they are listed in `spec.fixed` with the
    reason (and logged), or raise `SymmetryError` with `strict=True`.
    """
    gm = _trace(model, example_input)
    tr = _Builder(model=model)
    tr.run(gm)
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    spec = _resolve(tr, shapes)
    for f in spec.fixed:
        log.info("spec_of(%s): %s left fixed: %s", type(model).__name__, f.name, f.reason)
    if strict and spec.fixed:
        f = spec.fixed[0]
        raise SymmetryError(f"spec_of(strict=True): cannot act on {f.name}: {f.reason}")
    return spec
