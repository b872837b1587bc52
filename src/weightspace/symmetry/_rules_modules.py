"""Tracing rules for leaf modules: a table from module type to handler (looked up along the MRO).

A handler `rule(st, node, module) -> label` creates a unit axis for each layer's outputs and
registers the parameter axes it owns: a producer's rows with role "out" (power +e), a consumer's
columns with role "in" (power −e), normalisation statistics with role "stat" (power 0).
"""

from __future__ import annotations

from torch import nn

from ._axes import NOT_SCALABLE, AxisState, TupleLabel, Unsupported, shape_of
from ._rules_functions import act_props, activation, reshape, spatial

__all__ = ["MODULES", "module_rule"]


def _input(st: AxisState, node):
    x = st.label(node.args[0]) if node.args else st.label(next(iter(node.kwargs.values()), None))
    if not isinstance(x, list):
        raise Unsupported("called on something that is not a traced tensor")
    return x


def _declared_activation(st, node, m):
    return activation(st, _input(st, node), *m.weightspace_activation, where=node.target)


def _act(kind):
    return lambda st, node, m: activation(st, _input(st, node), kind, where=node.target)


def _leaky_relu(st, node, m):
    x = _input(st, node)
    return x if m.negative_slope == 1.0 else activation(st, x, "leaky_relu", where=node.target)


def _prelu(st, node, m):
    """PReLU: smooth, with one slope per channel (axis 1) permuted along with it, or one shared slope."""
    x = _input(st, node)
    if m.weight.numel() > 1:
        st.register(f"{node.target}.weight", 0, x[1] if len(x) > 1 else x[0], "stat")
    return activation(st, x, "smooth", where=node.target)


def _identity(st, node, m):
    return _input(st, node)


def _linear_like(channel):
    def rule(st, node, m):
        x, name = _input(st, node), node.target
        if getattr(m, "groups", 1) != 1:
            raise Unsupported(f"grouped convolution (groups={m.groups}) is not supported")
        c = channel % len(x)
        v = st.new_var(m.weight.shape[0], name, unit=True)
        st.register(f"{name}.weight", 0, ((v, v.size),), "out")
        st.register(f"{name}.weight", 1, x[c], "in")
        if getattr(m, "bias", None) is not None:
            st.register(f"{name}.bias", 0, ((v, v.size),), "out")
        shape = shape_of(node)
        out = []
        for i, dim in enumerate(x):
            if i == c:
                out.append(((v, v.size),))
            elif channel == 1 and i > 1:  # spatial axes of a convolution mix positions
                for w in st.vars_in([dim]):
                    st.fix_var(w, f"{name}: convolves over a unit axis")
                out.append(((None, shape[i]),))
            else:
                out.append(dim)
        return out
    return rule


def _batchnorm(st, node, m):
    x, name = _input(st, node), node.target
    dim = x[1]
    if len(dim) != 1 or dim[0][0] is None:
        raise Unsupported("BatchNorm over a composite or non-unit axis")
    v = dim[0][0]
    v.forced_zero = True
    if m.running_mean is not None:
        st.register(f"{name}.running_mean", 0, dim, "stat")
        st.register(f"{name}.running_var", 0, dim, "stat")
    st.remove(v, {"gl"})
    w = st.new_var(v.size, name, unit=True)
    st.union(v, w, name)
    if m.affine:
        st.register(f"{name}.weight", 0, ((w, w.size),), "out")
        st.register(f"{name}.bias", 0, ((w, w.size),), "out")
    else:  # normalised outputs with no γ to carry a scale or sign: only permutations act
        w.forced_zero = True
    return [d if i != 1 else ((w, w.size),) for i, d in enumerate(x)]


def _norm_affine(channel):
    def rule(st, node, m):
        x, name = _input(st, node), node.target
        if isinstance(m, nn.LayerNorm) and len(m.normalized_shape) != 1:
            raise Unsupported("LayerNorm over several axes is not supported")
        if isinstance(m, nn.GroupNorm) and m.num_groups not in (1, m.num_channels):
            raise Unsupported(f"GroupNorm with {m.num_groups} groups is not supported")
        c = channel % len(x)
        dim = x[c]
        if len(dim) != 1 or dim[0][0] is None:
            raise Unsupported(f"{type(m).__name__} over a composite or non-unit axis")
        v = dim[0][0]
        st.remove(v, NOT_SCALABLE)
        w = st.new_var(v.size, name, unit=True)
        st.union(v, w, name)
        if getattr(m, "weight", None) is not None:
            st.register(f"{name}.weight", 0, ((w, w.size),), "out")
        if getattr(m, "bias", None) is not None:
            st.register(f"{name}.bias", 0, ((w, w.size),), "out")
        return [d if i != c else ((w, w.size),) for i, d in enumerate(x)]
    return rule


def _pool(kinds):
    return lambda st, node, m: spatial(st, node, _input(st, node), kinds)


def _flatten(st, node, m):
    return reshape(st, node)


def _embedding(st, node, m):
    """out = W[idx]: W's columns are the output's units; its rows are indexed by tokens and stay put."""
    idx, name = _input(st, node), node.target
    d = m.weight.shape[1]
    v = st.new_var(d, name, unit=True)
    if m.max_norm is not None:
        st.fix_var(v, f"{name}: max_norm renormalises the embedding rows")
    st.register(f"{name}.weight", 0, ((st.fixed_var(m.weight.shape[0], "token indices", name), m.weight.shape[0]),),
                "stat")
    st.register(f"{name}.weight", 1, ((v, d),), "out")
    return list(idx) + [((v, d),)]


def _attention(st, node, m: nn.MultiheadAttention):
    """Heads are blocks: a head factor, with Q/K dims and V dims permuted within each head."""
    name = node.target
    if not m._qkv_same_embed_dim or m.bias_k is not None or m.add_zero_attn:
        raise Unsupported("MultiheadAttention needs equal q/k/v dims, no bias_kv/zero_attn")
    keys = ("query", "key", "value")
    args = list(node.args) + [node.kwargs[k] for k in keys if k in node.kwargs]
    labels = [st.label(a) for a in args[:3]]
    if not all(isinstance(lab, list) for lab in labels):
        raise Unsupported("MultiheadAttention called without query, key and value tensors")
    attn_mask = node.kwargs.get("attn_mask", node.args[5] if len(node.args) > 5 else None)
    if hasattr(attn_mask, "op") and len(shape_of(attn_mask) or ()) == 3:
        raise Unsupported("a per-head attn_mask is not supported")
    for lab in labels[1:]:  # query, key and value share in_proj's input columns
        st.tie(labels[0][-1], lab[-1], name)
    e, h = m.embed_dim, m.num_heads
    d = e // h
    heads = st.new_var(h, name, unit=True, name_hint=f"{name}.heads")
    qk = st.new_var(d, name, unit=True, nested_in=heads, name_hint=f"{name}.qk")
    vv = st.new_var(d, name, unit=True, nested_in=heads, name_hint=f"{name}.v")
    for v in (heads, qk, vv):
        st.remove(v, NOT_SCALABLE)
    layouts = [((heads, h), (qk, d)), ((heads, h), (qk, d)), ((heads, h), (vv, d))]
    for i, lay in enumerate(layouts):
        st.register(f"{name}.in_proj_weight", 0, lay, "out", start=i * e, stop=(i + 1) * e)
        if m.in_proj_bias is not None:
            st.register(f"{name}.in_proj_bias", 0, lay, "out", start=i * e, stop=(i + 1) * e)
    st.register(f"{name}.in_proj_weight", 1, labels[0][-1], "in")
    o = st.new_var(e, f"{name}.out_proj", unit=True)
    st.register(f"{name}.out_proj.weight", 0, ((o, e),), "out")
    st.register(f"{name}.out_proj.weight", 1, layouts[2], "in")
    if m.out_proj.bias is not None:
        st.register(f"{name}.out_proj.bias", 0, ((o, e),), "out")
    out = labels[0][:-1] + [((o, e),)]
    weights = node.meta.get("tensor_meta")
    weights = weights[1] if isinstance(weights, tuple | list) and len(weights) == 2 else None
    if weights is None:
        return TupleLabel((out, None))
    ws = tuple(weights.shape)
    if len(ws) == len(out) + 1:  # (N, H, L, S): per-head weights carry the heads axis
        return TupleLabel((out, [((None, ws[0]),), ((heads, h),), *[((None, s),) for s in ws[2:]]]))
    return TupleLabel((out, [((None, s),) for s in ws]))


_ACT_MODULES = {
    nn.ReLU: "relu", nn.ReLU6: "smooth", nn.Tanh: "tanh",
    nn.Hardtanh: "smooth", nn.GELU: "smooth", nn.Softplus: "smooth", nn.Sigmoid: "smooth", nn.SiLU: "smooth",
    nn.ELU: "smooth", nn.Mish: "smooth", nn.Softsign: "tanh",
}

MODULES = {
    **{cls: _act(kind) for cls, kind in _ACT_MODULES.items()},
    nn.LeakyReLU: _leaky_relu, nn.PReLU: _prelu,
    nn.Identity: _identity, nn.Dropout: _identity, nn.Dropout1d: _identity, nn.Dropout2d: _identity,
    nn.Linear: _linear_like(-1), nn.Conv1d: _linear_like(1), nn.Conv2d: _linear_like(1), nn.Conv3d: _linear_like(1),
    nn.modules.batchnorm._BatchNorm: _batchnorm,
    nn.LayerNorm: _norm_affine(-1), nn.GroupNorm: _norm_affine(1),
    nn.MaxPool1d: _pool(act_props("max")[0]), nn.MaxPool2d: _pool(act_props("max")[0]),
    nn.AdaptiveMaxPool2d: _pool(act_props("max")[0]),
    nn.AvgPool1d: _pool(None), nn.AvgPool2d: _pool(None), nn.AdaptiveAvgPool1d: _pool(None),
    nn.AdaptiveAvgPool2d: _pool(None),
    nn.Flatten: _flatten, nn.Embedding: _embedding, nn.MultiheadAttention: _attention,
}


def module_rule(m: nn.Module):
    """The handler for `m`: its declared activation, else the first type along its MRO in the table."""
    if getattr(m, "weightspace_activation", None) is not None:
        return _declared_activation
    for cls in type(m).__mro__:
        if cls in MODULES:
            return MODULES[cls]
    return None
