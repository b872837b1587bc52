"""Loss and error of a model (or of a parameter dict on a model) on a dataset split.

Classification: mean cross-entropy, error = fraction misclassified. Regression: mean over samples
of ||f(x) − y||² (no 1/2); error is not defined and reported as None.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .data import Dataset
from .errors import DataError
from .params import first_float, forward

__all__ = ["criterion", "evaluate", "fit_inputs"]


def criterion(task: str, output: Tensor, target: Tensor) -> Tensor:
    """Mean cross-entropy (classification) or mean squared error summed over outputs (regression)."""
    if task == "classification":
        return F.cross_entropy(output, target)
    if target.shape != output.shape and target.numel() == output.numel():
        target = target.reshape(output.shape)  # (B,) targets for (B, 1) outputs: no broadcasting to (B, B)
    diff = (output - target).reshape(len(output), -1)
    return (diff * diff).sum(dim=1).mean()


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


@torch.no_grad()
def evaluate(
    model: nn.Module,
    data: Dataset,
    split: str = "test",
    *,
    params: Mapping[str, Tensor] | None = None,
    batch_size: int = 2048,
) -> dict:
    """{split, loss, accuracy, error} of `model` (at `params` if given) on `data`'s split, in eval mode."""
    x, y = data.split(split)
    if len(x) == 0:
        raise DataError(f"evaluate: the {split} split of {data.name} is empty")
    was_training = model.training
    model.eval()
    try:
        ref = first_float(params) if params else next(model.parameters())
        total, correct = 0.0, 0
        for i in range(0, len(x), batch_size):
            xb = fit_inputs(x[i : i + batch_size], model).to(ref.device, ref.dtype)
            yb = y[i : i + batch_size].to(ref.device)
            if data.task == "regression":
                yb = yb.to(ref.dtype)
            out = forward(model, params, xb) if params is not None else model(xb)
            total += float(criterion(data.task, out, yb)) * len(xb)
            if data.task == "classification":
                correct += int((out.argmax(dim=1) == yb).sum())
    finally:
        model.train(was_training)
    n = len(x)
    result = {"split": split, "loss": total / n, "accuracy": None, "error": None}
    if data.task == "classification":
        result["accuracy"] = correct / n
        result["error"] = 1.0 - correct / n
    return result
