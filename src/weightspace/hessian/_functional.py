"""Losses as functions of a parameter dict, flattening, gradients and Hessian-vector products.

Everything in `weightspace.hessian` works on a scalar loss L(θ) given as `loss_fn(params) -> Tensor`
and a point `params`, differentiated with respect to the tensors named by `keys` (default: every
floating tensor in `params`, in the dict's order; exclude buffers such as BatchNorm running statistics by
passing `keys`, as `loss_of` does). The other entries of `params` are held fixed. Flat vectors are
`weightspace.params.flatten` (re-exported here with `unflatten` and `select_keys`).

HVPs are reverse-over-reverse, H v = ∇_θ ⟨∇_θ L(θ), v⟩, which was faster than forward-over-reverse
(`jvp` of `grad`) on CPU for single products and no slower under `vmap` (bench/hessian.md). Repeated
products at one point (Lanczos, power iteration, Hutchinson, the dense Hessian) linearise the
gradient once with `torch.func.vjp` and reuse it: H v = vjp(∇L, θ)(v), valid because H is symmetric.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import grad, vjp, vmap

from ..data import Source, iter_batches, to_model
from ..errors import ConfigError
from ..params import Params, check_finite, first_float, flatten, forward, select_keys, tree_dot, unflatten

__all__ = ["LossFn", "loss_of", "select_keys", "flatten", "unflatten", "gradient", "hvp"]

LossFn = Callable[[Params], Tensor]

KINDS = ("mse", "cross_entropy")


def loss_of(module: nn.Module, data: Tensor | Source, y: Tensor | None = None, *, kind: str = "mse",
            loss_fn: Callable[[Tensor, Tensor], Tensor] | None = None, keys: Sequence[str] | None = None,
            split: str = "train", batch_size: int = 2048,
            max_batches: int | None = None) -> tuple[LossFn, tuple[str, ...]]:
    """(L, keys) for `module` on data, L(θ) = (1/N) Σ_i ℓ(f(θ; x_i), y_i) over N samples.

    `data` is the input batch x with targets `y`, or any source of batches (`weightspace.data.iter_batches`:
    a Dataset's `split`, a pair, a DataLoader; at most `max_batches`), streamed at every call of L: the
    batch means are weighted by batch size. ℓ is `loss_fn(outputs, targets)` (a batch mean) if given, else
    mse: ||f(x) − y||² summed over outputs (no 1/2); cross_entropy: mean cross-entropy on logits.
    `keys` defaults to the module's trainable parameters (buffers excluded); tensors missing from
    the dict passed to L are taken from the module. The module is not modified.
    """
    if kind not in KINDS:
        raise ConfigError(f"loss_of: unknown kind {kind!r}; choose one of {', '.join(KINDS)}")
    source = (data, y) if y is not None else data
    if any(isinstance(m, nn.modules.batchnorm._BatchNorm) and m.training and m.track_running_stats
           for m in module.modules()):
        raise ConfigError("loss_of: the module has BatchNorm in training mode, which would update its running "
                          "statistics in place; call module.eval() first")
    state = dict(module.state_dict(keep_vars=True))
    if keys is None:
        keys = tuple(k for k, p in module.named_parameters() if p.requires_grad and p.is_floating_point())
    keys = select_keys(state, keys, where="loss_of")

    def batch_loss(out: Tensor, target: Tensor) -> Tensor:
        if loss_fn is not None:
            return loss_fn(out, target)
        if kind == "cross_entropy":
            return F.cross_entropy(out, target)
        diff = (out - target).reshape(len(out), -1)
        return (diff * diff).sum(dim=1).mean()

    def objective(params: Params) -> Tensor:
        ref = first_float(params) if params else first_float(state)
        total, n = 0, 0
        for xb, yb in iter_batches(source, split, batch_size=batch_size, max_batches=max_batches):
            value = _check(batch_loss(forward(module, params, to_model(xb, ref)), to_model(yb, ref)), "loss_of")
            total = total + value * len(xb)
            n += len(xb)
        return total / n

    return objective, keys


def _check(out, where: str) -> Tensor:
    if not isinstance(out, Tensor) or out.dim() != 0 or not out.is_floating_point():
        got = f"shape {tuple(out.shape)}, dtype {out.dtype}" if isinstance(out, Tensor) else type(out).__name__
        raise ConfigError(f"{where}: loss_fn must return a floating scalar tensor, got {got}; reduce it "
                          f"(e.g. .mean()) inside loss_fn")
    return out


def _scalar(loss_fn: LossFn, where: str) -> LossFn:
    """`loss_fn` with its output checked to be a floating scalar."""

    def checked(params: Params) -> Tensor:
        return _check(loss_fn(params), where)

    return checked


def _prepare(loss_fn: LossFn, params: Mapping[str, Tensor], keys: Sequence[str] | None, where: str):
    """(L restricted to `keys` as a function of a sub-dict, the sub-dict at the point, keys)."""
    keys = select_keys(params, keys, where=where)
    sub = {k: params[k].detach() for k in keys}
    check_finite(sub, what=f"{where}: parameters")
    rest = {k: v.detach() if isinstance(v, Tensor) else v for k, v in params.items() if k not in sub}
    checked = _scalar(loss_fn, where)

    def f(p: Params) -> Tensor:
        return checked({**rest, **p})

    return f, sub, keys


def gradient(loss_fn: LossFn, params: Mapping[str, Tensor], keys: Sequence[str] | None = None) -> Params:
    """∇_θ L(θ) for the tensors named by `keys`, as a dict."""
    f, sub, _ = _prepare(loss_fn, params, keys, "gradient")
    return grad(f)(sub)


def hvp(loss_fn: LossFn, params: Mapping[str, Tensor], v: Mapping[str, Tensor],
        keys: Sequence[str] | None = None) -> Params:
    """H v = ∇_θ ⟨∇_θ L(θ), v⟩ (reverse-over-reverse) for the tensors named by `keys`, as a dict."""
    f, sub, keys = _prepare(loss_fn, params, keys, "hvp")
    missing = [k for k in keys if k not in v]
    if missing:
        raise ConfigError(f"hvp: v lacks keys {missing[:3]}; give v the same keys as the differentiated params")
    for k in keys:
        if v[k].shape != sub[k].shape:
            raise ConfigError(f"hvp: v[{k!r}] has shape {tuple(v[k].shape)}, expected {tuple(sub[k].shape)}")
    vs = {k: v[k].detach().to(sub[k].dtype) for k in keys}
    check_finite(vs, what="hvp: v")
    return grad(lambda p: tree_dot(grad(f)(p), vs))(sub)


class _Operator:
    """The Hessian at one point as a linear map on flat vectors, v ↦ H v, (n,) -> (n,).

    The gradient is linearised once with `torch.func.vjp`; each product reuses that linearisation.
    `calls` counts Hessian-vector products (a batch of c vectors counts c).
    """

    def __init__(self, loss_fn: LossFn, params: Mapping[str, Tensor], keys: Sequence[str] | None, where: str):
        f, sub, keys = _prepare(loss_fn, params, keys, where)
        self.keys = keys
        self.like = sub
        self.x0 = flatten(sub, keys)  # (n,)
        self.n = self.x0.numel()
        self.dtype = self.x0.dtype
        self.device = self.x0.device
        self.calls = 0

        def f_flat(vec: Tensor) -> Tensor:
            return f(unflatten(vec, sub, keys))

        self.grad0, self._vjp = vjp(grad(f_flat), self.x0)
        self._batched = vmap(lambda u: self._vjp(u)[0])

    def matvec(self, v: Tensor) -> Tensor:
        """H v for v of shape (n,)."""
        self.calls += 1
        return self._vjp(v.to(self.dtype))[0]

    def matmat(self, vs: Tensor) -> Tensor:
        """(H v_i)_i for rows v_i of `vs`, shape (c, n) -> (c, n), vectorised with `vmap`."""
        self.calls += vs.shape[0]
        return self._batched(vs.to(self.dtype))
