"""Training loops with checkpoints along the trajectory.

`train` fits a zoo model to a dataset with SGD or Adam and, given `out`, writes a run directory:
`step-NNNNNN.safetensors` every `save_every` steps (step 0 included), `final.safetensors` and
`metrics.json`. A fixed seed gives identical weights on CPU.
"""

from __future__ import annotations

import copy
import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from ._files import write_json
from .data import Dataset
from .data import load as load_data
from .errors import ConfigError, NonFiniteError
from .evaluate import criterion, evaluate, fit_inputs
from .io import save
from .models import build

__all__ = ["TrainResult", "train", "OPTIMIZERS", "SCHEDULES"]

OPTIMIZERS = ("sgd", "adam")
SCHEDULES = ("constant", "cosine", "linear")


@dataclass(frozen=True)
class TrainResult:
    """The trained model (eval mode), its final metrics and the run directory (if any)."""

    model: nn.Module
    metrics: dict
    run_dir: Path | None = None

    def __repr__(self) -> str:
        m = self.metrics
        test = m["test"]
        return f"TrainResult(test_loss={test['loss']:.4g}, test_accuracy={test['accuracy']}, run_dir={self.run_dir})"


def _seeds(seed: int) -> tuple[int, int]:
    """Stable sub-seeds (model init, data order) derived from one seed."""
    init, order = np.random.SeedSequence(seed).generate_state(2)
    return int(init), int(order)


def _lr_factor(schedule: str, step: int, total: int) -> float:
    if schedule == "constant":
        return 1.0
    if schedule == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * step / max(total, 1)))
    return 1.0 - step / max(total, 1)


def _validate(epochs, batch_size, optimizer, lr, schedule, save_every, weight_decay) -> None:
    if not isinstance(epochs, int) or epochs < 1:
        raise ConfigError(f"train: epochs must be a positive integer, got {epochs!r}")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ConfigError(f"train: batch_size must be a positive integer, got {batch_size!r}")
    if optimizer not in OPTIMIZERS:
        raise ConfigError(f"train: unknown optimizer {optimizer!r}; choose one of {', '.join(OPTIMIZERS)}")
    if schedule not in SCHEDULES:
        raise ConfigError(f"train: unknown schedule {schedule!r}; choose one of {', '.join(SCHEDULES)}")
    if not (isinstance(lr, int | float) and math.isfinite(lr) and lr > 0):
        raise ConfigError(f"train: lr must be a positive finite number, got {lr!r}")
    if not (math.isfinite(weight_decay) and weight_decay >= 0):
        raise ConfigError(f"train: weight_decay must be >= 0, got {weight_decay!r}")
    if save_every is not None and (not isinstance(save_every, int) or save_every < 0):
        raise ConfigError(f"train: save_every must be a non-negative number of steps, got {save_every!r}")


def train(
    model: dict | nn.Module,
    data: str | Dataset,
    *,
    epochs: int = 20,
    batch_size: int = 64,
    optimizer: str = "sgd",
    lr: float = 0.05,
    momentum: float = 0.9,
    weight_decay: float = 0.0,
    schedule: str = "cosine",
    seed: int = 0,
    save_every: int | None = None,
    out: str | os.PathLike | None = None,
    dtype: torch.dtype = torch.float32,
    device: str | torch.device = "cpu",
    masks: Mapping[str, Tensor] | None = None,
    callback: Callable[[dict], None] | None = None,
) -> TrainResult:
    """Minimise the mean loss (cross-entropy or squared error) with minibatch SGD/Adam.

    Args:
      model: a config dict (`input_shape`/`num_outputs` default to the dataset's) or a built model; a
        built model is left untouched: a deep copy is trained and returned in the result.
      data: a dataset name for `weightspace.data.load` or a `Dataset`.
      save_every: with `out`, save a checkpoint every this many steps (and at step 0).
      masks: 0/1 tensors keyed like parameters; masked weights are zeroed and stay zero (pruning).
      callback: called after every step with {step, total_steps, epoch, loss}.
    Returns:
      `TrainResult` with the trained module (eval mode) and final train/test loss and accuracy.
    """
    _validate(epochs, batch_size, optimizer, lr, schedule, save_every, weight_decay)
    dataset = load_data(data) if isinstance(data, str) else data
    init_seed, order_seed = _seeds(seed)
    if isinstance(model, dict):
        config = dict(model)
        config.setdefault("input_shape", list(dataset.input_shape))
        config.setdefault("num_outputs", dataset.num_outputs)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(init_seed)
            module = build(config)
    else:
        module = copy.deepcopy(model)  # the caller's module is never trained in place
        if out is not None and not isinstance(getattr(module, "config", None), dict):
            raise ConfigError("train: saving a run needs a model built by weightspace.models.build (it carries "
                              "its config); pass the config dict instead")
    module = module.to(device=device, dtype=dtype)
    run_dir = Path(out) if out is not None else None
    meta = {"dataset": dataset.name, "dataset_meta": dataset.meta, "task": dataset.task, "seed": seed}

    x_train = fit_inputs(dataset.x_train, module).to(device, dtype)
    y_train = dataset.y_train.to(device)
    if dataset.task == "regression":
        y_train = y_train.to(dtype)
    n = len(x_train)
    steps_per_epoch = math.ceil(n / batch_size)
    total = epochs * steps_per_epoch
    params = [p for p in module.parameters() if p.requires_grad]
    if optimizer == "sgd":
        opt = torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    else:
        opt = torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    order = torch.Generator().manual_seed(order_seed)

    named = dict(module.named_parameters())
    if masks is not None:
        unknown = sorted(set(masks) - set(named))
        if unknown:
            raise ConfigError(f"train: masks for unknown parameters {unknown[:3]}")
        masks = {k: m.to(device=device, dtype=dtype) for k, m in masks.items()}

    def apply_masks() -> None:
        if masks is not None:
            with torch.no_grad():
                for k, m in masks.items():
                    named[k].mul_(m)

    def checkpoint(step: int, epoch: int) -> None:
        if run_dir is not None and save_every:
            save(module, run_dir / f"step-{step:06d}.safetensors", masks=masks, **meta, step=step, epoch=epoch)

    history = []
    step = 0
    module.train()
    apply_masks()
    checkpoint(0, 0)
    for epoch in range(epochs):
        perm = torch.randperm(n, generator=order).to(device)
        running = 0.0
        for i in range(steps_per_epoch):
            idx = perm[i * batch_size : (i + 1) * batch_size]
            for g in opt.param_groups:
                g["lr"] = lr * _lr_factor(schedule, step, total)
            loss = criterion(dataset.task, module(x_train[idx]), y_train[idx])
            if not torch.isfinite(loss):
                raise NonFiniteError(f"train: the loss became {float(loss)} at step {step}; lower the learning rate")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            apply_masks()
            step += 1
            running += float(loss.detach())
            if callback is not None:
                callback({"step": step, "total_steps": total, "epoch": epoch, "loss": running / (i + 1)})
            if save_every and step % save_every == 0:
                checkpoint(step, epoch + 1)
        history.append({"epoch": epoch + 1, "step": step, "train_loss": running / steps_per_epoch})
    module.eval()
    metrics = {
        "train": evaluate(module, dataset, "train"),
        "test": evaluate(module, dataset, "test"),
        "steps": step,
        "history": history,
        "config": getattr(module, "config", None),
        **meta,
        "hyperparameters": {
            "epochs": epochs, "batch_size": batch_size, "optimizer": optimizer, "lr": lr,
            "momentum": momentum, "weight_decay": weight_decay, "schedule": schedule,
        },
    }
    if run_dir is not None:
        save(module, run_dir / "final.safetensors", masks=masks, **meta, step=step, epoch=epochs)
        write_json(run_dir / "metrics.json", metrics)
    return TrainResult(model=module, metrics=metrics, run_dir=run_dir)
