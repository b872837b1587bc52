"""Parameters as a flat dict of named tensors (the `state_dict()` currency) and tree arithmetic.

A model is a pure function of `Params`, evaluated with `torch.func.functional_call` (`forward`) or, without
gradients, by pointing the module at them for a while (`loaded`); nothing here leaves a user's module changed.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence

import torch
from torch import Tensor, nn

from .errors import ArchitectureMismatch, ConfigError, NonFiniteError

Params = dict[str, Tensor]

__all__ = [
    "Params",
    "state_of",
    "forward",
    "loaded",
    "tied_aliases",
    "check_same_structure",
    "check_finite",
    "lerp",
    "Lerp",
    "combine",
    "tree_sub",
    "tree_dot",
    "tree_norm",
    "first_float",
    "select_keys",
    "flatten",
    "unflatten",
]


def first_float(params: Mapping[str, Tensor]) -> Tensor:
    """The first floating tensor (its dtype and device stand for the network's); integer buffers are skipped."""
    for v in params.values():
        if v.is_floating_point():
            return v
    raise ArchitectureMismatch("the parameter dict holds no floating-point tensor")


def select_keys(params: Mapping[str, Tensor], keys: Sequence[str] | None = None, *,
                where: str = "flatten") -> tuple[str, ...]:
    """The keys of a flat vector: `keys` checked against `params`, or every floating tensor's key in dict order."""
    if keys is None:
        chosen = tuple(k for k, v in params.items() if v.is_floating_point())
    else:
        if isinstance(keys, str):
            raise ConfigError(f"{where}: keys must be a sequence of names, got the string {keys!r}; "
                              f"wrap it in a list: keys=[{keys!r}]")
        chosen = tuple(keys)
        missing = [k for k in chosen if k not in params]
        if missing:
            raise ConfigError(f"{where}: keys {missing[:3]} are not in params (known: {list(params)[:5]}...)")
        bad = [k for k in chosen if not params[k].is_floating_point()]
        if bad:
            raise ConfigError(f"{where}: keys {bad[:3]} name non-floating tensors; differentiate floating ones only")
        if len(set(chosen)) != len(chosen):
            dups = sorted(k for k in set(chosen) if chosen.count(k) > 1)
            raise ConfigError(f"{where}: keys contain duplicates: {dups[:3]}; name each tensor once")
    if not chosen:
        raise ConfigError(f"{where}: no floating tensors to differentiate; pass params with floating tensors or keys")
    return chosen


def flatten(params: Mapping[str, Tensor], keys: Sequence[str] | None = None) -> Tensor:
    """θ ↦ vec(θ): the tensors named by `keys` (default: every floating tensor, in the dict's order), raveled
    and concatenated in that order. Shape (n,)."""
    keys = select_keys(params, keys, where="flatten")
    return torch.cat([params[k].reshape(-1) for k in keys])


def unflatten(vec: Tensor, like: Mapping[str, Tensor], keys: Sequence[str] | None = None) -> Params:
    """vec(θ) ↦ θ: the inverse of `flatten`, with the shapes and dtypes of `like[k]` for k in `keys`.

    Only the tensors named by `keys` are returned; merge with `{**like, **unflatten(...)}` for a whole dict.
    """
    keys = select_keys(like, keys, where="unflatten")
    sizes = [like[k].numel() for k in keys]
    if vec.dim() != 1 or vec.numel() != sum(sizes):
        raise ConfigError(f"unflatten: expected a 1-D vector of {sum(sizes)} entries for keys {list(keys)[:3]}..., "
                          f"got shape {tuple(vec.shape)}")
    parts = torch.split(vec, sizes)
    return {k: p.reshape(like[k].shape).to(like[k].dtype) for k, p in zip(keys, parts, strict=True)}


def state_of(module: nn.Module) -> Params:
    """A detached copy of `module.state_dict()` (parameters and buffers)."""
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def tied_aliases(module: nn.Module) -> frozenset[str]:
    """State-dict keys naming a tensor that an earlier key already names (tied weights: `head.weight = emb.weight`)."""
    seen: set[int] = set()
    aliases = set()
    named = (*module.named_parameters(remove_duplicate=False), *module.named_buffers(remove_duplicate=False))
    for name, t in named:
        if id(t) in seen:
            aliases.add(name)
        seen.add(id(t))
    return frozenset(aliases)


def forward(module: nn.Module, params: Mapping[str, Tensor], *args, **kwargs):
    """f(params; x): evaluate `module` at `params` with `torch.func.functional_call`.

    Tied weights are read from their first key (the state dict lists them once per name; the copies are
    equal after any group action, and `functional_call` refuses two tensors for one tied parameter).
    """
    aliases = tied_aliases(module)
    given = {k: v for k, v in params.items() if k not in aliases} if aliases else dict(params)
    return torch.func.functional_call(module, given, args, kwargs, strict=False)


@contextlib.contextmanager
def loaded(module: nn.Module, params: Mapping[str, Tensor]) -> Iterator[nn.Module]:
    """`module` computing f(params; ·) until exit, for evaluation without gradients.

    Each parameter named in `params` has its `.data` pointed at the given tensor (no copy), each buffer is
    replaced; both are restored on exit, and keys not given keep the module's own. Cheaper than `forward`'s
    `functional_call` (no reparametrisation per call, so a loop over batches binds once), but autograd does not
    reach `params`. A key the module lacks raises `ArchitectureMismatch`.
    """
    modules = dict(module.named_modules(remove_duplicate=False))  # one walk (get_submodule per key costs 10x)
    restore: list[tuple[nn.Module, str, Tensor]] = []  # (owner, name, its original data or buffer)
    seen: set[int] = set()  # a tied parameter is pointed (and restored) once
    try:
        for key, value in params.items():
            prefix, _, name = key.rpartition(".")
            owner = modules.get(prefix)
            param = None if owner is None else owner._parameters.get(name)
            if param is not None:
                if id(param) not in seen:
                    seen.add(id(param))
                    restore.append((owner, name, param.data))
                    param.data = value
            elif owner is not None and name in owner._buffers:
                restore.append((owner, name, owner._buffers[name]))
                owner._buffers[name] = value
            else:
                raise ArchitectureMismatch(f"the parameters name {key!r}, which {type(module).__name__} does not have")
        yield module
    finally:
        for owner, name, original in reversed(restore):
            if name in owner._parameters:
                owner._parameters[name].data = original
            else:
                owner._buffers[name] = original


def check_same_structure(a: Mapping[str, Tensor], b: Mapping[str, Tensor], *, what: str = "models") -> None:
    """Raise `ArchitectureMismatch` unless `a` and `b` have the same keys and shapes."""
    if a.keys() != b.keys():
        only_a = sorted(set(a) - set(b))[:3]
        only_b = sorted(set(b) - set(a))[:3]
        raise ArchitectureMismatch(
            f"{what} have different architectures: keys only in the first {only_a}, only in the second {only_b}"
        )
    for k in a:
        if a[k].shape != b[k].shape:
            raise ArchitectureMismatch(
                f"{what} have different architectures: {k!r} has shape {tuple(a[k].shape)} vs "
                f"{tuple(b[k].shape)} (different widths?)"
            )


def check_finite(params: Mapping[str, Tensor], *, what: str = "parameters") -> None:
    """Raise `NonFiniteError` naming the first tensor that holds NaN or inf."""
    for k, v in params.items():
        if v.is_floating_point() and not bool(torch.isfinite(v).all()):
            raise NonFiniteError(f"{what}: tensor {k!r} contains NaN or infinite values")


def combine(weights: list[float], trees: list[Mapping[str, Tensor]]) -> Params:
    """Σ_i w_i θ_i on floating tensors; integer buffers (e.g. BatchNorm counters) are taken from the first."""
    first = trees[0]
    out: Params = {}
    for k, v in first.items():
        if v.is_floating_point():
            acc = torch.zeros_like(v)
            for w, t in zip(weights, trees, strict=True):
                acc = acc + w * t[k]
            out[k] = acc
        else:
            out[k] = v.clone()
    return out


def lerp(a: Mapping[str, Tensor], b: Mapping[str, Tensor], t: float) -> Params:
    """θ(t) = (1 − t) θ_a + t θ_b, exact at t = 0 and t = 1."""
    if t == 0:
        return {k: v.clone() for k, v in a.items()}
    if t == 1:
        return {k: v.clone() for k, v in b.items()}
    return {k: torch.lerp(v, b[k], t) if v.is_floating_point() else v.clone() for k, v in a.items()}


class Lerp:
    """θ(t) = (1 − t) θ_a + t θ_b for one pair.

    Calling it gives a fresh dict, like `lerp`; `points(ts)` yields θ(t) for each t written into one set of
    buffers allocated once (a `torch.lerp(..., out=)` per floating tensor, nothing flattened or allocated per
    point): each yielded dict holds those buffers and is valid until the next one is drawn. Exact at t = 0, 1.
    """

    def __init__(self, a: Mapping[str, Tensor], b: Mapping[str, Tensor]) -> None:
        check_same_structure(a, b)
        self.a, self.b = a, b

    def __call__(self, t: float) -> Params:
        return lerp(self.a, self.b, t)

    def points(self, ts: Sequence[float]) -> Iterator[Params]:
        point = {k: torch.empty_like(v) if v.is_floating_point() else v.clone() for k, v in self.a.items()}
        floating = [(self.a[k], self.b[k].to(v.dtype), v) for k, v in point.items() if v.is_floating_point()]
        for t in ts:
            for fa, fb, out in floating:
                if t == 0:
                    out.copy_(fa)
                elif t == 1:
                    out.copy_(fb)
                else:
                    torch.lerp(fa, fb, t, out=out)
            yield point


def tree_sub(a: Mapping[str, Tensor], b: Mapping[str, Tensor]) -> Params:
    return {k: a[k] - b[k] for k in a if a[k].is_floating_point()}


def tree_dot(a: Mapping[str, Tensor], b: Mapping[str, Tensor]) -> Tensor:
    """⟨a, b⟩ summed over floating tensors present in both."""
    return sum((a[k] * b[k]).sum() for k in a if a[k].is_floating_point())


def tree_norm(a: Mapping[str, Tensor]) -> Tensor:
    return torch.sqrt(tree_dot(a, a))
