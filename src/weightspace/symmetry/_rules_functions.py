"""Tracing rules for functions and tensor methods: a table from fx target to handler.

A handler `rule(st, node) -> label` reads its inputs' labels from the `AxisState`, ties, restricts or
fixes their axes and returns the output's label; it raises `Unsupported` for a case it cannot follow.
Activations restrict the kinds of the groups they touch (ReLU: scale, tanh: sign, only linear maps:
GL) and multiply exponents by their homogeneity degree.
"""

from __future__ import annotations

import math
import operator

import torch
import torch.nn.functional as F

from ._axes import NOT_SCALABLE, AxisState, TupleLabel, Unsupported, find, shape_of
from ._spec import KINDS

__all__ = ["FUNCTIONS", "METHODS", "act_props", "activation", "reshape", "spatial"]


# -- activations: (admitted kinds, homogeneity degree) -------------------------------------------------
def act_props(kind: str, power: int = 1) -> tuple[frozenset, int]:
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


def activation(st: AxisState, x, kind, power=1, *, where):
    """σ applied elementwise: each unit axis gets a derived axis tied to its input."""
    if not isinstance(x, list):
        raise Unsupported("an activation of a non-tensor")
    kinds, degree = act_props(kind, power)
    out = []
    for dim in x:
        pieces = []
        for var, s in dim:
            if var is None:
                pieces.append((None, s))
                continue
            st.remove(var, set(KINDS) - kinds)
            w = st.new_var(s, where, derived=(degree, var))
            st.union(var, w, where)
            pieces.append((w, s))
        out.append(tuple(pieces))
    return out


def spatial(st: AxisState, node, x, kinds):
    """Pooling: channel axis (1) kept, spatial axes become non-unit."""
    shape = shape_of(node)
    if not isinstance(x, list) or len(x) < 2 or shape is None:
        raise Unsupported("pooling of a non-tensor")
    for v in st.vars_in(x[2:]):
        st.fix_var(v, f"{node.name}: pools over a unit axis")
    if kinds is not None:
        for v in st.vars_in([x[1]]):
            st.remove(v, set(KINDS) - set(kinds))
    return [x[0], x[1]] + [((None, s),) for s in shape[2:]]


def _tensor(st: AxisState, arg, what="operand"):
    lab = st.label(arg)
    if not isinstance(lab, list):
        raise Unsupported(f"a {what} that is not a traced tensor")
    return lab


def _act_rule(kind):
    return lambda st, node: activation(st, _tensor(st, node.args[0]), kind, where=node.name)


def _identity(st, node):
    return st.label(node.args[0])


# -- reshapes ----------------------------------------------------------------------------------------
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
                if i >= len(a):
                    raise Unsupported("a reshape whose shapes cannot be aligned")
                pa *= a[i]
                gi.append(i)
                i += 1
            else:
                if j >= len(b):
                    raise Unsupported("a reshape whose shapes cannot be aligned")
                pb *= b[j]
                gj.append(j)
                j += 1
        groups.append(([k for k in gi if k < len(a)], [k for k in gj if k < len(b)]))
    return groups


def reshape(st: AxisState, node):
    """view/reshape/flatten/(un)squeeze: pieces flow row-major; an axis cut in two becomes heads × dims."""
    x = _tensor(st, node.args[0])
    shape_in, shape_out = shape_of(node.args[0]), shape_of(node)
    if shape_in is None or shape_out is None or len(x) != len(shape_in):
        raise Unsupported("a reshape of a tensor of unknown shape")
    out: list = []
    for gi, go in _reshape_groups(shape_in, shape_out):
        pieces = st.refine([p for i in gi for p in x[i]])
        for v, n in pieces:
            if n == 1 and v is not None:  # a unit axis of size 1 disappears in the reshape
                st.fix_var(v, f"{node.name}: a reshape drops a unit axis of size 1")
        queue = [p for p in pieces if p[1] != 1]
        for s in (shape_out[j] for j in go):
            run, prod = [], 1
            while prod < s and queue:
                v, n = queue.pop(0)
                if prod * n > s:  # the piece straddles this output axis: split it
                    a = s // prod
                    if s % prod or n % a:
                        raise Unsupported("a reshape splits a unit axis unevenly")
                    if v is None:
                        first, rest = (None, a), (None, n // a)
                    elif find(v).fixed is not None:
                        first = (st.fixed_var(a, find(v).fixed), a)
                        rest = (st.fixed_var(n // a, find(v).fixed), n // a)
                    else:
                        first, rest = st.split_var(v, a, n // a)
                    queue.insert(0, rest)
                    v, n = first
                run.append((v, n))
                prod *= n
            out.append(tuple(run) if run else ((None, s),))
    return out


def _dims(node, n):
    dims = node.args[1:] if len(node.args) > 1 else node.kwargs.get("dims", ())
    if len(dims) == 1 and isinstance(dims[0], tuple | list):
        dims = dims[0]
    return [d % n for d in dims]


def _permute(st, node):
    x = _tensor(st, node.args[0])
    return [x[d] for d in _dims(node, len(x))]


def _transpose(st, node):
    x = _tensor(st, node.args[0])
    n = len(x)
    d0 = node.args[1] if len(node.args) > 1 else node.kwargs["dim0"]
    d1 = node.args[2] if len(node.args) > 2 else node.kwargs["dim1"]
    out = list(x)
    out[d0 % n], out[d1 % n] = x[d1 % n], x[d0 % n]
    return out


def _t(st, node):
    x = _tensor(st, node.args[0])
    return list(reversed(x))


def _expand(st, node):
    x = _tensor(st, node.args[0])
    shape = shape_of(node)
    x = [((None, 1),)] * (len(shape) - len(x)) + list(x)
    out = []
    for d, s in zip(x, shape, strict=True):
        if _size(d) == s:
            out.append(d)
        else:
            for v in st.vars_in([d]):
                st.fix_var(v, f"{node.name}: expands a unit axis")
            out.append(((None, s),))
    return out


def _size(d) -> int:
    return math.prod(s for _, s in d)


# -- elementwise arithmetic ----------------------------------------------------------------------------
def _operands(st, node):
    return [st.label(a) for a in node.args if hasattr(a, "op") and isinstance(st.label(a), list)]


def _add(st, node):
    """x + y ties the units of equal axes (a residual connection); x + c breaks rescaling."""
    tensors = _operands(st, node)
    if len(tensors) < 2:
        for lab in tensors:  # x + constant: an affine shift breaks rescaling
            for v in st.vars_in(lab):
                st.remove(v, NOT_SCALABLE)
        if not tensors:
            raise Unsupported("an addition of non-tensors")
        return tensors[0]
    return st.broadcast(tensors, node.name, record_ties=True, verb="added to")


def _mul(st, node):
    """x · c keeps every kind (x / c too; c / x is odd and of degree −1); x · y is permutation-equivariant."""
    tensors = _operands(st, node)
    if not tensors:
        raise Unsupported("arithmetic on non-tensors")
    if len(tensors) == 1:
        divisor = len(node.args) > 1 and isinstance(st.label(node.args[1]), list)  # c / x
        if node.target in (operator.truediv, torch.div, "div") and divisor:
            for v in st.vars_in(tensors[0]):
                st.remove(v, {"scale", "gl"})
        return tensors[0]
    out = st.broadcast(tensors, node.name)
    for lab in tensors:
        for v in st.vars_in(lab):
            st.remove(v, NOT_SCALABLE)
    return out


def _neg(st, node):
    return _tensor(st, node.args[0])


def _masked_fill(st, node):
    """x.masked_fill(mask, c): the mask broadcasts against x; rescaling is lost."""
    x = _tensor(st, node.args[0])
    mask = st.label(node.args[1]) if len(node.args) > 1 else st.label(node.kwargs.get("mask"))
    out = st.broadcast([x, mask], node.name) if isinstance(mask, list) else x
    for v in st.vars_in(x):
        st.remove(v, NOT_SCALABLE)
    return out


def _softmax(st, node):
    """Equivariant under permutations of every axis, not under scaling."""
    x = _tensor(st, node.args[0])
    for v in st.vars_in(x):
        st.remove(v, NOT_SCALABLE)
    return x


def _smooth(st, node):
    return activation(st, _tensor(st, node.args[0]), "smooth", where=node.name)


def _reduce(linear):
    def rule(st, node):
        x = _tensor(st, node.args[0])
        dims = node.kwargs.get("dim", node.args[1] if len(node.args) > 1 else None)
        keep = node.kwargs.get("keepdim", node.args[2] if len(node.args) > 2 else False)
        n = len(x)
        if dims is None:
            dims = set(range(n))
        else:
            dims = {d % n for d in (dims if isinstance(dims, tuple | list) else (dims,))}
        out = []
        for i, d in enumerate(x):
            if i in dims:
                for v in st.vars_in([d]):  # Σ over units is permutation-invariant, not scale-invariant
                    st.remove(v, NOT_SCALABLE)
                if keep:
                    out.append(((None, 1),))
            else:
                if not linear:
                    for v in st.vars_in([d]):
                        st.remove(v, {"sign", "gl"})
                out.append(d)
        return out
    return rule


# -- contractions --------------------------------------------------------------------------------------
def _batch_dims(st, dims_a, dims_b, where) -> list:
    """Leading (batch) axes of a matmul: tied where both carry units, broadcast where one has size 1."""
    n = max(len(dims_a), len(dims_b))
    dims_a = [((None, 1),)] * (n - len(dims_a)) + list(dims_a)
    dims_b = [((None, 1),)] * (n - len(dims_b)) + list(dims_b)
    out = []
    for da, db in zip(dims_a, dims_b, strict=True):
        if _size(db) == 1 and not st.vars_in([db]):
            out.append(da)
        elif _size(da) == 1 and not st.vars_in([da]):
            out.append(db)
        else:
            st.tie(da, db, where)
            out.append(da)
    return out


def _matmul(st, node):
    a, b = _tensor(st, node.args[0]), _tensor(st, node.args[1])
    if len(a) < 2 or len(b) < 2:
        raise Unsupported("matmul with a vector operand")
    st.tie(a[-1], b[-2], node.name)
    for v in st.vars_in(a) + st.vars_in(b):
        st.remove(v, NOT_SCALABLE)
    return _batch_dims(st, a[:-2], b[:-2], node.name) + [a[-2], b[-1]]


def _sdpa(st, node):
    """softmax(Q Kᵀ/√d + mask) V: Q and K share their last axis; the mask broadcasts against the scores."""
    args = list(node.args) + [node.kwargs.get(k) for k in ("query", "key", "value") if k in node.kwargs]
    q, k, v = (_tensor(st, a, "query, key or value") for a in args[:3])
    mask = st.label(args[3]) if len(args) > 3 else st.label(node.kwargs.get("attn_mask"))
    st.tie(q[-1], k[-1], node.name)
    batch = _batch_dims(st, _batch_dims(st, q[:-2], k[:-2], node.name), v[:-2], node.name)
    if isinstance(mask, list):
        st.broadcast([batch + [q[-2], k[-2]], mask], node.name)
    for w in st.vars_in(q) + st.vars_in(k) + st.vars_in(v):
        st.remove(w, NOT_SCALABLE)
    return batch + [q[-2], v[-1]]


def _linear(st, node):
    """F.linear(x, W, b) with a parameter used directly: x's last axis is tied to W's columns."""
    x, w = _tensor(st, node.args[0]), _tensor(st, node.args[1] if len(node.args) > 1 else node.kwargs["weight"])
    b = st.label(node.args[2]) if len(node.args) > 2 else st.label(node.kwargs.get("bias"))
    if len(w) != 2:
        raise Unsupported("F.linear with a weight that is not a matrix")
    st.tie(x[-1], w[1], node.name)
    if isinstance(b, list):
        st.tie(w[0], b[0], node.name)
    for v in st.vars_in(w) + st.vars_in(x):  # the weight's axes are registered as producers only
        st.remove(v, NOT_SCALABLE)
    return x[:-1] + [w[0]]


def _embedding(st, node):
    """F.embedding(idx, W): W's rows are looked up by token; its columns are the output's units."""
    idx, w = _tensor(st, node.args[0]), _tensor(st, node.args[1] if len(node.args) > 1 else node.kwargs["weight"])
    if len(w) != 2:
        raise Unsupported("an embedding table that is not a matrix")
    st.fix_label([w[0]], "token indices")
    if node.kwargs.get("max_norm") is not None:
        st.fix_label([w[1]], f"{node.name}: max_norm renormalises the rows")
    return list(idx) + [w[1]]


def _layer_norm(st, node):
    """F.layer_norm(x, (n,), weight, bias): permutation-equivariant over the last axis, scale-invariant."""
    x = _tensor(st, node.args[0])
    shape = node.args[1] if len(node.args) > 1 else node.kwargs["normalized_shape"]
    if len(shape) != 1 or len(x[-1]) != 1 or x[-1][0][0] is None:
        raise Unsupported("layer_norm over several, composite or non-unit axes")
    st.remove(x[-1][0][0], NOT_SCALABLE)
    for i, name in ((2, "weight"), (3, "bias")):
        affine = st.label(node.args[i]) if len(node.args) > i else st.label(node.kwargs.get(name))
        if isinstance(affine, list):
            st.tie(x[-1], affine[0], node.name)
    return x


# -- indexing, concatenation, splitting ----------------------------------------------------------------
def _getitem(st, node):
    x, index = st.label(node.args[0]), node.args[1]
    if isinstance(x, TupleLabel):
        return x.items[index]
    if not isinstance(x, list):
        return None
    idx = index if isinstance(index, tuple) else (index,)
    if any(hasattr(i, "op") and isinstance(st.label(i), list) for i in idx) or any(
            isinstance(i, list | torch.Tensor) for i in idx):
        raise Unsupported("indexing with a tensor")
    shape = shape_of(node)
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
        else:  # an integer or a partial slice selects some units of this axis: they stay put
            for v in st.vars_in([x[dim]]):
                st.fix_var(v, f"{node.name}: indexes into a unit axis")
            if isinstance(it, slice):
                out.append(((None, shape[len(out)]),))
            dim += 1
    return out + x[dim:]


def _dim_arg(node, position, default=0):
    d = node.args[position] if len(node.args) > position else node.kwargs.get("dim", default)
    return d


def _cat(st, node):
    """torch.cat along a non-unit axis ties the other axes; along a unit axis it fixes them."""
    seq = node.args[0] if node.args else node.kwargs["tensors"]
    labels = [st.label(a) for a in seq]
    if not all(isinstance(lab, list) for lab in labels):
        raise Unsupported("torch.cat of non-tensors")
    n = len(labels[0])
    d = _dim_arg(node, 1) % n
    shape = shape_of(node)
    for lab in labels:
        for v in st.vars_in([lab[d]]):
            st.fix_var(v, f"{node.name}: concatenates along a unit axis")
    rest = [lab[:d] + [((None, 1),)] + lab[d + 1:] for lab in labels]
    out = st.broadcast(rest, node.name, record_ties=True)
    out[d] = ((None, shape[d]),)
    return out


def _split(st, node):
    """split/chunk/unbind: along a non-unit axis each part keeps the other axes' units."""
    x = _tensor(st, node.args[0])
    metas = node.meta.get("tensor_meta")
    if not isinstance(metas, tuple | list):
        raise Unsupported("a split of unknown parts")
    fn = node.target if isinstance(node.target, str) else node.target.__name__
    d = _dim_arg(node, 1 if fn == "unbind" else 2, 0) % len(x)
    for v in st.vars_in([x[d]]):
        st.fix_var(v, f"{node.name}: splits a unit axis")
    if fn == "unbind":
        return TupleLabel(tuple(x[:d] + x[d + 1:] for _ in metas))
    return TupleLabel(tuple(x[:d] + [((None, m.shape[d]),)] + x[d + 1:] for m in metas))


def _stack(st, node):
    seq = node.args[0] if node.args else node.kwargs["tensors"]
    labels = [st.label(a) for a in seq]
    if not all(isinstance(lab, list) for lab in labels):
        raise Unsupported("torch.stack of non-tensors")
    d = _dim_arg(node, 1) % (len(labels[0]) + 1)
    out = st.broadcast(labels, node.name, record_ties=True)
    return out[:d] + [((None, len(labels)),)] + out[d:]


def _max_pool(st, node):
    return spatial(st, node, _tensor(st, node.args[0]), act_props("max")[0])


def _avg_pool(st, node):
    return spatial(st, node, _tensor(st, node.args[0]), None)


# -- tables --------------------------------------------------------------------------------------------
_ACT_FUNCTIONS = {
    F.relu: "relu", torch.relu: "relu", F.leaky_relu: "leaky_relu", torch.tanh: "tanh", F.tanh: "tanh",
    F.gelu: "smooth", F.softplus: "smooth", torch.sigmoid: "smooth", F.sigmoid: "smooth", F.silu: "smooth",
    F.elu: "smooth", F.mish: "smooth", F.relu6: "smooth", F.hardtanh: "smooth",
}
_SMOOTH = (torch.exp, torch.log, torch.sqrt, torch.rsqrt, torch.abs, torch.square, torch.sin, torch.cos,
           torch.erf, F.softsign)

FUNCTIONS = {
    **{f: _act_rule(kind) for f, kind in _ACT_FUNCTIONS.items()},
    **dict.fromkeys(_SMOOTH, _smooth),
    F.dropout: _identity, torch.clone: _identity,
    operator.add: _add, torch.add: _add, operator.sub: _add, torch.sub: _add, operator.iadd: _add,
    operator.mul: _mul, torch.mul: _mul, operator.truediv: _mul, torch.div: _mul,
    operator.neg: _neg, torch.neg: _neg,
    torch.flatten: reshape, torch.reshape: reshape, torch.unsqueeze: reshape, torch.squeeze: reshape,
    torch.transpose: _transpose, torch.permute: _permute, torch.t: _t,
    operator.matmul: _matmul, torch.matmul: _matmul, torch.bmm: _matmul,
    F.scaled_dot_product_attention: _sdpa, F.linear: _linear, F.embedding: _embedding, F.layer_norm: _layer_norm,
    F.softmax: _softmax, torch.softmax: _softmax, torch.masked_fill: _masked_fill,
    torch.mean: _reduce(True), torch.sum: _reduce(True), torch.amax: _reduce(False),
    F.max_pool1d: _max_pool, F.max_pool2d: _max_pool, F.adaptive_max_pool2d: _max_pool,
    F.avg_pool1d: _avg_pool, F.avg_pool2d: _avg_pool, F.adaptive_avg_pool1d: _avg_pool,
    F.adaptive_avg_pool2d: _avg_pool,
    operator.getitem: _getitem, torch.cat: _cat, torch.concat: _cat, torch.stack: _stack,
    torch.split: _split, torch.chunk: _split, torch.unbind: _split,
}

METHODS = {
    "relu": _act_rule("relu"), "tanh": _act_rule("tanh"), "sigmoid": _act_rule("smooth"),
    "exp": _smooth, "sqrt": _smooth, "rsqrt": _smooth, "abs": _smooth, "square": _smooth,
    **dict.fromkeys(("contiguous", "clone", "float", "double", "to", "type_as", "detach"), _identity),
    "add": _add, "sub": _add, "__add__": _add, "mul": _mul, "div": _mul, "neg": _neg,
    "flatten": reshape, "view": reshape, "reshape": reshape, "unsqueeze": reshape, "squeeze": reshape,
    "transpose": _transpose, "permute": _permute, "t": _t, "expand": _expand,
    "matmul": _matmul, "bmm": _matmul, "softmax": _softmax, "masked_fill": _masked_fill,
    "mean": _reduce(True), "sum": _reduce(True), "amax": _reduce(False),
    "split": _split, "chunk": _split, "unbind": _split,
}
