"""Derive a model's symmetry spec by tracing it with torch.fx.

The model is traced into a graph and its shapes propagated with fake tensors (no arithmetic). Each
node is then followed by a rule from the tables in `_rules_modules` (leaf modules, by type) and
`_rules_functions` (functions and tensor methods), which label its axes with candidate unit groups
(`_axes`); `_resolve` turns the groups into factors. A group tied to the network's input or output
is fixed. A node no rule can follow — no rule, an `Unsupported` case, or an error inside a rule —
fixes every axis it touches, with the reason in `spec.fixed`: the tracer never fails on a model it
could trace, it only acts on less of it.
"""

from __future__ import annotations

import logging
import operator
from collections.abc import Mapping

import torch
import torch.fx
from torch import nn
from torch._subclasses.fake_tensor import FakeTensorMode
from torch.fx.passes.shape_prop import ShapeProp

from ..errors import SymmetryError
from ._axes import AxisState, TupleLabel, Unsupported, find, shape_of
from ._resolve import resolve
from ._rules_functions import FUNCTIONS, METHODS
from ._rules_modules import module_rule
from ._spec import FixedLayer, Spec

log = logging.getLogger("weightspace.symmetry")

__all__ = ["spec_of"]

_NON_TENSOR_METHODS = ("size", "dim", "numel")


class _Leaf(torch.fx.Tracer):
    """Treat torch.nn layers, modules declaring an activation and `weightspace_leaf` subclasses of torch.nn layers
    (their base class's rule applies) as leaves; buffers become graph nodes."""

    proxy_buffer_attributes = True

    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        if getattr(m, "weightspace_activation", None) is not None or getattr(m, "weightspace_leaf", False):
            return True
        return super().is_leaf_module(m, qualname)


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def _trace(model: nn.Module, example_input) -> torch.fx.GraphModule:
    try:
        gm = torch.fx.GraphModule(model, _Leaf().trace(model))
    except Exception as err:  # noqa: BLE001 - fx raises many kinds of errors
        raise SymmetryError(f"spec_of: torch.fx could not trace {type(model).__name__}: {_first_line(err)}") from None
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
            f"spec_of: {type(model).__name__} fails on the example input: {_first_line(err)}"
        ) from None
    finally:
        model.train(was_training)
    return gm


def _aliases(state: Mapping[str, torch.Tensor]) -> dict[str, str]:
    """Every state-dict key of a tensor listed under several names -> its first name (tied weights)."""
    first: dict[int, str] = {}
    out = {}
    for key, t in state.items():
        canonical = first.setdefault(id(t), key)
        if canonical != key:
            out[key] = canonical
    return out


def _name(node) -> str:
    if node.op == "call_module":
        return node.target
    return node.name


def _target_name(node) -> str:
    t = node.target
    return t if isinstance(t, str) else getattr(t, "__name__", str(t))


# -- visiting one node -----------------------------------------------------------------------------------
def _placeholder(st, node):
    shape = shape_of(node)
    return [((None, n),) for n in shape] if shape is not None else None


def _output(st, node):
    for arg in node.all_input_nodes:  # whatever the outputs are nested in, their axes stay put
        st.fix_label(st.labels.get(arg), "network output")


def _get_attr(st, node):
    shape = shape_of(node)
    if shape is None:
        return None
    dims = []
    for axis, s in enumerate(shape):
        v = st.new_var(s, node.target)
        st.register(node.target, axis, ((v, s),), "out")
        dims.append(((v, s),))
    return dims


def _call_module(st, node):
    m = st.modules[node.target]
    rule = module_rule(m)
    if rule is None:
        raise Unsupported(f"layer type {type(m).__name__} is not supported by the tracer")
    return rule(st, node, m)


def _constant_like(st, node):
    """An op whose inputs no group acts on (sizes, constants, fixed axes) yields an output none acts on."""
    inputs = [st.labels.get(a) for a in node.all_input_nodes]
    if all(v.fixed is not None for lab in inputs for v in map(find, st.vars_in(lab))):
        meta = node.meta.get("tensor_meta")
        return _unacted(meta)
    raise Unsupported(f"operation {_target_name(node)} is not supported by the tracer")


def _unacted(meta):
    if hasattr(meta, "shape"):
        return [((None, s),) for s in meta.shape]
    if isinstance(meta, tuple | list):
        return TupleLabel(tuple(_unacted(m) for m in meta))
    return None


def _call(st, node):
    t = node.target
    if node.op == "call_method" and t in _NON_TENSOR_METHODS:
        return None
    if t is getattr:
        if node.args[1] in ("T", "mT") and isinstance(st.label(node.args[0]), list):
            x = st.label(node.args[0])
            return list(reversed(x)) if node.args[1] == "T" else x[:-2] + [x[-1], x[-2]]
        if shape_of(node) is None:
            return None
    if t is operator.getitem and isinstance(st.label(node.args[0]), TupleLabel):
        return st.label(node.args[0]).items[node.args[1]]
    if "tensor_meta" not in node.meta:
        if any(isinstance(st.labels.get(a), list | TupleLabel) for a in node.all_input_nodes):
            raise Unsupported(f"{_target_name(node)} returns a non-tensor")
        return None
    rule = METHODS.get(t) if node.op == "call_method" else FUNCTIONS.get(t)
    if rule is None:
        return _constant_like(st, node)
    return rule(st, node)


_VISIT = {"placeholder": _placeholder, "output": _output, "get_attr": _get_attr, "call_module": _call_module,
          "call_function": _call, "call_method": _call}


def _give_up(st: AxisState, node, reason: str, vars_before: int, regs_before: int) -> None:
    """Fix every axis the node touches — its inputs' and whatever its rule made — and label its output fixed.

    A layer with parameters of its own produces units: they are reported in `spec.fixed` under its name.
    """
    reason = f"{_name(node)}: {reason}"
    for arg in node.all_input_nodes:
        st.fix_label(st.labels.get(arg), reason)
    for v in st.vars[vars_before:]:
        st.fix_var(v, reason)
    for r in st.regs[regs_before:]:
        for v, _ in r.pieces:
            if v is not None:
                st.fix_var(v, reason)
    module = st.modules.get(node.target) if node.op == "call_module" else None
    owns_units = module is not None and next(module.parameters(recurse=False), None) is not None
    st.labels[node] = st.fresh_fixed(node.meta.get("tensor_meta"), reason, _name(node), report=owns_units)


def _walk(st: AxisState, gm: torch.fx.GraphModule) -> None:
    for node in gm.graph.nodes:
        vars_before, regs_before = len(st.vars), len(st.regs)
        try:
            st.labels[node] = _VISIT[node.op](st, node)
        except Unsupported as err:
            _give_up(st, node, str(err), vars_before, regs_before)
        except Exception as err:  # noqa: BLE001 - a rule meeting a case it did not foresee must not crash
            _give_up(st, node, f"{_target_name(node)} could not be followed: {_first_line(err)}",
                     vars_before, regs_before)


def spec_of(model: nn.Module, example_input, *, strict: bool = False) -> Spec:
    """The symmetry spec of `model`, derived by tracing it on `example_input` (a tensor or a tuple).

    Integer inputs (token ids) are fine. Layers the tracer cannot act on keep their units fixed; they
    are listed in `spec.fixed` with the reason (and logged), or raise `SymmetryError` with `strict=True`.
    """
    gm = _trace(model, example_input)
    state = model.state_dict(keep_vars=True)
    st = AxisState(aliases=_aliases(state), modules=dict(gm.named_modules()))
    _walk(st, gm)
    shapes = {k: tuple(v.shape) for k, v in state.items()}
    try:
        spec = resolve(st, shapes)
    except Exception as err:  # noqa: BLE001 - a bug in a phase must not cost the user the (trivial) spec
        reason = f"the symmetry could not be resolved: {_first_line(err)}"
        spec = Spec(table={k: (None,) * len(s) for k, s in shapes.items()}, factors=(),
                    fixed=(FixedLayer(type(model).__name__, reason),), shapes=shapes)
    for f in spec.fixed:
        log.info("spec_of(%s): %s left fixed: %s", type(model).__name__, f.name, f.reason)
    if strict and spec.fixed:
        f = spec.fixed[0]
        raise SymmetryError(f"spec_of(strict=True): cannot act on {f.name}: {f.reason}")
    return spec
