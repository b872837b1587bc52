"""Loss and error of a model (or of a parameter dict on a model) on data, streamed batch by batch.

Conventions (the defaults; a task is read from the Dataset, else from each batch, `data.task_of`):
  classification: mean cross-entropy of logits (B, C) against labels (B,); error = fraction misclassified.
  next-token:     mean cross-entropy over every position of logits (B, T, V) against tokens (B, T);
                  error = fraction of tokens mispredicted.
  regression:     mean over samples of ||f(x) − y||² (no 1/2); error is not defined and reported as None.
Any `loss_fn(outputs, targets) -> scalar` (a batch mean) and `error_fn(outputs, targets) -> fraction`
replace them; the reported loss is the sample-weighted mean of the batch values.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .data import Dataset, Source, reusable_batches, task_of, to_model
from .errors import ConfigError, DataError
from .params import first_float, loaded

__all__ = ["LOSSES", "LossFn", "ErrorFn", "criterion", "eval_mode", "evaluate", "evaluation", "fit_inputs",
           "loss_function", "next_token_loss", "error_rate", "check_scalar"]

LossFn = Callable[[Tensor, Tensor], Tensor]
ErrorFn = Callable[[Tensor, Tensor], "float | Tensor | None"]


def next_token_loss(output: Tensor, target: Tensor) -> Tensor:
    """Mean cross-entropy over all B·T positions of logits (B, T, V) against tokens (B, T)."""
    return F.cross_entropy(output.reshape(-1, output.shape[-1]), target.reshape(-1))


def _squared_error(output: Tensor, target: Tensor) -> Tensor:
    if target.shape != output.shape and target.numel() == output.numel():
        target = target.reshape(output.shape)  # (B,) targets for (B, 1) outputs: no broadcasting to (B, B)
    diff = (output - target).reshape(len(output), -1)
    return (diff * diff).sum(dim=1).mean()


def criterion(task: str | None, output: Tensor, target: Tensor) -> Tensor:
    """The task's conventional loss (module docstring); task None reads it from the batch."""
    task = task_of(output, target) if task is None else task
    if task == "classification":
        return F.cross_entropy(output, target)
    if task == "next-token":
        return next_token_loss(output, target)
    return _squared_error(output, target)


def _mse(output: Tensor, target: Tensor) -> Tensor:
    """Squared error; integer labels become one-hot targets over the last axis."""
    if not target.is_floating_point():
        target = F.one_hot(target, output.shape[-1]).to(output.dtype)
    return _squared_error(output.reshape(len(output), -1), target.reshape(len(target), -1))


def _cross_entropy(output: Tensor, target: Tensor) -> Tensor:
    task = task_of(output, target)
    if task == "regression":
        raise ConfigError("the cross-entropy loss needs integer labels or tokens as targets, got floating targets")
    return criterion(task, output, target)


LOSSES: dict[str, LossFn] = {"cross-entropy": _cross_entropy, "next-token": next_token_loss, "mse": _mse}
"""Built-in losses by name: "cross-entropy" (over classes or tokens), "next-token", "mse" (one-hot labels)."""


def loss_function(loss: str | LossFn | None) -> LossFn | None:
    """A loss by name (`LOSSES`) or a callable, unchanged; None stays None (the conventions)."""
    if loss is None or callable(loss):
        return loss
    if loss not in LOSSES:
        raise ConfigError(f"unknown loss {loss!r}; choose one of {', '.join(LOSSES)} or pass a callable")
    return LOSSES[loss]


def _mispredicted(output: Tensor, target: Tensor, task: str | None = None) -> int | None:
    """How many argmax predictions miss the label or the token; None for regression (`task` None: the batch's)."""
    if (task or task_of(output, target)) == "regression":
        return None
    return int((output.argmax(dim=-1) != target).sum())


def error_rate(output: Tensor, target: Tensor) -> float | None:
    """Fraction of argmax predictions that miss the label (classification) or the token (next-token)."""
    wrong = _mispredicted(output, target)
    return None if wrong is None else wrong / target.numel()


def check_scalar(value, where: str = "loss_fn") -> Tensor:
    """`value` if it is a floating scalar tensor, else ConfigError naming what came back."""
    if not isinstance(value, Tensor) or value.dim() != 0 or not value.is_floating_point():
        got = f"shape {tuple(value.shape)}, dtype {value.dtype}" if isinstance(value, Tensor) else type(value).__name__
        raise ConfigError(f"{where} must return a floating scalar tensor, got {got}; reduce it (e.g. .mean())")
    return value


def fit_inputs(x: Tensor, model: nn.Module) -> Tensor:
    """Reshape flat or image inputs to the model's `input_shape` (same number of features)."""
    shape = getattr(model, "config", {}).get("input_shape")
    if shape is None or tuple(x.shape[1:]) == tuple(shape):
        return x
    n = 1
    for s in shape:
        n *= s
    if x[0].numel() != n:
        raise DataError(
            f"inputs have shape {tuple(x.shape[1:])} but the model expects {tuple(shape)} ({n} features)"
        )
    return x.reshape(len(x), *shape)


@contextlib.contextmanager
def eval_mode(module: nn.Module) -> Iterator[nn.Module]:
    """`module` in eval mode until exit, then in the mode it had (switched only when it was training)."""
    was_training = module.training
    if was_training:
        module.eval()
    try:
        yield module
    finally:
        if was_training:
            module.train()


@contextlib.contextmanager
def evaluation(
    model: nn.Module,
    data: Source,
    split: str = "test",
    *,
    batch_size: int = 2048,
    loss_fn: str | LossFn | None = None,
    error_fn: ErrorFn | None = None,
    max_batches: int | None = None,
) -> Iterator[Callable[[Mapping[str, Tensor] | None], dict]]:
    """`evaluate` at many parameter sets of one model on one split (a path's points): yields `measure(params)`.

    What does not change between calls is done once: eval mode, reading the split's batches (`reusable_batches`),
    and binding the module to `params` (`params.loaded`), which is kept while a call passes the very tensors
    already bound (a `params.Lerp` writes every point into the same buffers), the weights' dtype and device
    (read at binding) and the task (from a Dataset). Each call runs under `torch.no_grad`, entered only where
    gradients are on. Everything is restored on exit.
    """
    task = data.task if isinstance(data, Dataset) else None
    custom = loss_function(loss_fn)
    error_fn = None if error_fn is error_rate else error_fn  # None: the default, counted in `passes`
    batches = reusable_batches(data, split, batch_size=batch_size, max_batches=max_batches)
    with eval_mode(model), contextlib.ExitStack() as binding:
        bound: dict[str, Tensor] | None = None
        ref: Tensor | None = None  # the weights' dtype and device, for the batches

        def passes() -> dict:
            total, wrong, n, has_error = 0.0, 0.0, 0, True
            for x, y in batches:
                xb, yb = to_model(fit_inputs(x, model), ref), to_model(y, ref)
                out = model(xb)
                b = len(xb)
                value = criterion(task, out, yb) if custom is None else check_scalar(custom(out, yb))
                total += float(value) * b
                if has_error and error_fn is None:  # counted exactly: error + accuracy == 1 to the last bit
                    count = _mispredicted(out, yb, task)
                    has_error = count is not None
                    wrong += 0.0 if count is None else count / (yb.numel() / b)
                elif has_error:
                    err = error_fn(out, yb)
                    has_error = err is not None
                    wrong += 0.0 if err is None else float(err) * b
                n += b
            result = {"split": split, "loss": total / n, "accuracy": None, "error": None}
            if has_error:
                result["error"] = wrong / n
                result["accuracy"] = 1.0 - wrong / n
            return result

        def measure(params: Mapping[str, Tensor] | None = None) -> dict:
            nonlocal bound, ref
            params = {} if params is None else params
            if bound is None or params.keys() != bound.keys() or any(v is not bound[k] for k, v in params.items()):
                binding.close()
                binding.enter_context(loaded(model, params))
                bound = dict(params)
                ref = first_float(params) if params else next(model.parameters())
            if torch.is_grad_enabled():
                with torch.no_grad():
                    return passes()
            return passes()

        yield measure


def evaluate(
    model: nn.Module,
    data: Source,
    split: str = "test",
    *,
    params: Mapping[str, Tensor] | None = None,
    batch_size: int = 2048,
    loss_fn: str | LossFn | None = None,
    error_fn: ErrorFn | None = None,
    max_batches: int | None = None,
) -> dict:
    """{split, loss, accuracy, error} of `model` (at `params` if given) on `data`'s split, in eval mode.

    `data`: a Dataset, a pair of tensors, `data.Splits` or any iterable of (inputs, targets) batches (streamed;
    at most `max_batches`). `loss_fn` defaults to the task's convention, `error_fn` to `error_rate` (None
    for regression, whatever the loss). accuracy = 1 − error. Many parameter sets: `evaluation`.
    """
    with evaluation(model, data, split, batch_size=batch_size, loss_fn=loss_fn, error_fn=error_fn,
                    max_batches=max_batches) as measure:
        return measure(params)
