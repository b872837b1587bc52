"""Training loops with checkpoints along the trajectory.

`train` fits a zoo model to a dataset with SGD or Adam and, given `out`, writes a run directory:
`step-NNNNNN.safetensors` every `save_every` steps (step 0 included), each with its resume state
`step-NNNNNN.state.pt` (optimizer, data-order generator, step, loss history, the run's settings),
`final.safetensors` and `metrics.json`. A fixed seed gives identical weights on CPU, and a run resumed from
its last step checkpoint ends with the same weights, bit for bit, as one never interrupted.

While a run writes, its folder holds the lock `.lock` ("pid host"): a second writer is refused. A folder
holding another run is refused unless `force` (its run files are removed first) or `resume`.
"""

from __future__ import annotations

import contextlib
import copy
import json
import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from ._files import RunLock, atomic_path, check_output, write_json
from .data import Dataset
from .data import load as load_data
from .errors import CheckpointError, ConfigError, NonFiniteError, OutputError
from .evaluate import criterion, evaluate, fit_inputs
from .io import FINAL, load_checkpoint, save
from .models import build
from .optim import OPTIMIZERS, make_optimizer, optimizer_step

__all__ = ["TrainResult", "train", "OPTIMIZERS", "SCHEDULES"]

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


_STEP = re.compile(r"^step-(\d+)\.(safetensors|state\.pt)$")
_RUN_FILES = re.compile(r"^(final\.safetensors|metrics\.json|step-\d+\.(safetensors|state\.pt)|\..*\.tmp)$")


def _physical_memory() -> int | None:
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def _memory_of(device: torch.device) -> tuple[int | None, str]:
    """The memory a model trained on `device` lives in: host RAM for the CPU, the GPU's own for CUDA (None:
    unknown, not checked)."""
    if device.type == "cpu":
        return _physical_memory(), "this machine's"
    if device.type == "cuda" and torch.cuda.is_available():
        try:
            return torch.cuda.mem_get_info(device)[1], f"the {device} device's"
        except (RuntimeError, AssertionError, ValueError):
            return None, ""
    return None, ""  # other accelerators: not estimated


def _check_memory(config: dict, dtype: torch.dtype, optimizer: str, device: str | torch.device = "cpu") -> None:
    """Refuse a model whose parameters, gradients and optimizer state (counted on the meta device, nothing
    allocated) exceed the memory of the device it trains on (host RAM for the CPU, GPU memory for CUDA)."""
    try:
        with torch.device("meta"):
            numel = sum(p.numel() for p in build(config).parameters())
    except (NotImplementedError, RuntimeError):  # a model that cannot be built without data: not estimated
        return
    copies = 4 if optimizer == "adam" else 3  # weights, gradients, momentum / two Adam moments
    need = numel * torch.empty((), dtype=dtype).element_size() * copies
    have, whose = _memory_of(torch.device(device))
    if have is not None and need > have:
        raise ConfigError(f"train: the model has {numel:.3g} parameters and needs about {need / 2**30:.3g} GiB to "
                          f"train, more than {whose} {have / 2**30:.3g} GiB; choose a smaller width or depth")


def _steps_of(run_dir: Path) -> dict[int, set[str]]:
    steps: dict[int, set[str]] = {}
    for p in run_dir.iterdir():
        m = _STEP.match(p.name)
        if m:
            steps.setdefault(int(m.group(1)), set()).add(m.group(2))
    return steps


def _clear(run_dir: Path) -> None:
    """Remove a run's files (checkpoints, resume states, metrics, temporaries); other files stay."""
    for p in run_dir.iterdir():
        if p.is_file() and _RUN_FILES.match(p.name):
            p.unlink()


def _prepare(run_dir: Path, *, resume: bool, force: bool) -> Path | None:
    """Make `run_dir` ready for this run (the lock held); returns the state file to resume from, if any."""
    held = sorted(p.name for p in run_dir.iterdir() if p.name != RunLock.NAME)
    if resume:
        steps = _steps_of(run_dir)
        complete = [n for n, kinds in steps.items() if kinds == {"safetensors", "state.pt"}]
        if not complete:
            if (run_dir / FINAL).exists():
                raise OutputError(f"{run_dir} holds a finished run without resumable step checkpoints; nothing "
                                  "to resume")
            _clear(run_dir)
            return None
        return run_dir / f"step-{max(complete):06d}.state.pt"  # nothing removed before its settings are checked
    if held and not force:
        raise OutputError(f"{run_dir} already holds files ({', '.join(held[:3])}); pass --force to replace the "
                          "run, --resume to continue it, or choose another folder")
    if force:
        _clear(run_dir)
    return None


def _discard_after(run_dir: Path, last: int) -> None:
    """Remove what a resume from step `last` replaces: later steps cut short, the final weights and metrics."""
    for n, kinds in _steps_of(run_dir).items():
        if n > last:
            for kind in kinds:
                (run_dir / f"step-{n:06d}.{kind}").unlink()
    for name in (FINAL, "metrics.json"):
        with contextlib.suppress(FileNotFoundError):
            (run_dir / name).unlink()


def _load_state(state_file: Path) -> dict:
    """A resume state written by this version (a dict with its settings), or a one-line CheckpointError."""
    try:
        st = torch.load(state_file, weights_only=True)
    except Exception as err:  # truncated, garbage or pickled by another version: unpickling raises many types
        raise CheckpointError(f"{state_file}: not a resume state of this version ({type(err).__name__}); pass "
                              "--force to start the run over") from None
    keys = {"settings", "step", "epoch", "i", "running", "history", "order", "optimizer"}
    if not isinstance(st, dict) or not keys <= st.keys():
        raise CheckpointError(f"{state_file}: not a resume state of this version (it lacks "
                              f"{sorted(keys - set(st) if isinstance(st, dict) else keys)[:3]}); pass --force to "
                              "start the run over")
    return st


def _open_run(run_dir: Path) -> tuple[RunLock, Path | None]:
    """Create (if needed) and lock `run_dir`; returns the lock and the topmost folder created here (or None)."""
    check_output(run_dir, folder=True)
    created = None
    for parent in reversed([run_dir, *run_dir.parents]):
        if not parent.exists():
            created = parent
            break
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise OutputError(f"cannot create the run folder {run_dir}: {err.strerror or err}") from None
    lock = RunLock(run_dir)
    try:
        lock.acquire()
    except BaseException:
        _remove_empty(run_dir, created)  # another writer may be filling it: only empty folders go
        raise
    return lock, created


def _remove_empty(run_dir: Path, created: Path | None) -> None:
    """Remove the folders from `run_dir` up to `created` (made by this run) while they are empty."""
    if created is None:
        return
    for folder in [run_dir, *run_dir.parents]:
        try:
            folder.rmdir()
        except OSError:
            return
        if folder == created:
            return


def train(
    model: dict | nn.Module,
    data: str | Dataset,
    *,
    epochs: int = 20,
    batch_size: int = 64,
    optimizer: str = "sgd",
    optimizer_options: Mapping | None = None,
    lr: float = 0.05,
    momentum: float = 0.9,
    weight_decay: float = 0.0,
    schedule: str = "cosine",
    seed: int = 0,
    save_every: int | None = None,
    out: str | os.PathLike | None = None,
    resume: bool = False,
    force: bool = False,
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
      optimizer: one of `weightspace.optim.OPTIMIZERS` (sgd, adam, sam, entropy-sgd, replicated-sgd);
        `optimizer_options` holds its own hyperparameters (`weightspace.optim.make_optimizer`).
      save_every: with `out`, save a checkpoint (and its resume state) every this many steps (and at step 0).
      out: the run directory; locked while the run writes, refused if it holds another run.
      resume: continue the run in `out` from its last step checkpoint (same settings required).
      force: replace the run `out` holds.
      masks: 0/1 tensors keyed like parameters; masked weights are zeroed and stay zero (pruning).
      callback: called after every step with {step, total_steps, epoch, loss}.
    Returns:
      `TrainResult` with the trained module (eval mode) and final train/test loss and accuracy.
    """
    _validate(epochs, batch_size, optimizer, lr, schedule, save_every, weight_decay)
    if out is None:
        if resume or force:
            raise ConfigError("train: resume and force need a run directory (out)")
        return _train(model, data, None, None, epochs=epochs, batch_size=batch_size, optimizer=optimizer,
                      optimizer_options=optimizer_options, lr=lr, momentum=momentum, weight_decay=weight_decay,
                      schedule=schedule, seed=seed,
                      save_every=save_every, dtype=dtype, device=device, masks=masks, callback=callback)
    run_dir = Path(out)
    lock, created = _open_run(run_dir)
    try:
        state = _prepare(run_dir, resume=resume, force=force)
        return _train(model, data, run_dir, state, epochs=epochs, batch_size=batch_size, optimizer=optimizer,
                      optimizer_options=optimizer_options, lr=lr, momentum=momentum, weight_decay=weight_decay,
                      schedule=schedule, seed=seed,
                      save_every=save_every, dtype=dtype, device=device, masks=masks, callback=callback)
    except Exception:
        if created is not None:  # nothing of a failed run is left in a folder made for it
            _clear(run_dir)
        raise
    finally:
        lock.release()
        _remove_empty(run_dir, created)


def _train(model, data, run_dir: Path | None, state_file: Path | None, *, epochs, batch_size, optimizer,
           optimizer_options, lr,
           momentum, weight_decay, schedule, seed, save_every, dtype, device, masks, callback) -> TrainResult:
    dataset = load_data(data) if isinstance(data, str) else data
    init_seed, order_seed = _seeds(seed)
    if isinstance(model, dict):
        config = dict(model)
        config.setdefault("input_shape", list(dataset.input_shape))
        config.setdefault("num_outputs", dataset.num_outputs)
        _check_memory(config, dtype, optimizer, device)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(init_seed)
            module = build(config)
    else:
        module = copy.deepcopy(model)  # the caller's module is never trained in place
        if run_dir is not None and not isinstance(getattr(module, "config", None), dict):
            raise ConfigError("train: saving a run needs a model built by weightspace.models.build (it carries "
                              "its config); pass the config dict instead")
    module = module.to(device=device, dtype=dtype)
    meta = {"dataset": dataset.name, "dataset_meta": dataset.meta, "task": dataset.task, "seed": seed}
    hyper = {"epochs": epochs, "batch_size": batch_size, "optimizer": optimizer, "lr": lr, "momentum": momentum,
             "weight_decay": weight_decay, "schedule": schedule}
    if optimizer_options:
        hyper["optimizer_options"] = dict(optimizer_options)
    settings = json.dumps({"config": getattr(module, "config", None), **meta, **hyper, "dtype": str(dtype)},
                          sort_keys=True, default=str)

    x_train = fit_inputs(dataset.x_train, module).to(device, dtype)
    y_train = dataset.y_train.to(device)
    if dataset.task == "regression":
        y_train = y_train.to(dtype)
    n = len(x_train)
    steps_per_epoch = math.ceil(n / batch_size)
    total = epochs * steps_per_epoch
    params = [p for p in module.parameters() if p.requires_grad]
    opt = make_optimizer(optimizer, params, lr=lr, momentum=momentum, weight_decay=weight_decay,
                         **(optimizer_options or {}))
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

    history: list[dict] = []
    step, start_epoch, start_i, running, epoch_order = 0, 0, 0, 0.0, order.get_state()

    def checkpoint(step: int, epoch: int, i: int) -> None:
        if run_dir is not None and save_every:
            name = f"step-{step:06d}"
            save(module, run_dir / f"{name}.safetensors", masks=masks, **meta, step=step,
                 epoch=epoch + 1 if step else 0)
            resume_state = {"settings": settings, "step": step, "epoch": epoch, "i": i, "running": running,
                            "history": history, "order": epoch_order, "optimizer": opt.state_dict()}
            with atomic_path(run_dir / f"{name}.state.pt") as tmp:
                torch.save(resume_state, tmp)

    module.train()
    apply_masks()
    if state_file is not None:
        st = _load_state(state_file)
        if st["settings"] != settings:
            raise ConfigError(f"train: {run_dir} was started with other settings; resume it with the same "
                              "options, or pass --force to start over")
        _discard_after(run_dir, st["step"])
        module.load_state_dict(load_checkpoint(state_file.with_name(state_file.name.replace(".state.pt",
                                                                                            ".safetensors"))).params)
        opt.load_state_dict(st["optimizer"])
        step, start_epoch, start_i, running, history = st["step"], st["epoch"], st["i"], st["running"], st["history"]
        epoch_order = st["order"]
        order.set_state(epoch_order)
    else:
        checkpoint(0, 0, 0)
    for epoch in range(start_epoch, epochs):
        if epoch != start_epoch or state_file is None:
            epoch_order, running, first = order.get_state(), 0.0, 0
        else:
            first = start_i
        perm = torch.randperm(n, generator=order).to(device)
        for i in range(first, steps_per_epoch):
            idx = perm[i * batch_size : (i + 1) * batch_size]
            for g in opt.param_groups:
                g["lr"] = lr * _lr_factor(schedule, step, total)
            loss = criterion(dataset.task, module(x_train[idx]), y_train[idx])
            if not torch.isfinite(loss):
                raise NonFiniteError(f"train: the loss became {float(loss.detach())} at step {step}; lower the "
                                     "learning rate")
            opt.zero_grad(set_to_none=True)
            loss.backward()

            def closure(idx=idx) -> Tensor:  # SAM, Entropy-SGD, replicated SGD re-evaluate the step's minibatch
                opt.zero_grad(set_to_none=True)
                again = criterion(dataset.task, module(x_train[idx]), y_train[idx])
                again.backward()
                return again

            optimizer_step(opt, closure)
            apply_masks()
            step += 1
            running += float(loss.detach())
            if callback is not None:
                callback({"step": step, "total_steps": total, "epoch": epoch, "loss": running / (i + 1)})
            if save_every and step % save_every == 0:
                checkpoint(step, epoch, i + 1)
        history.append({"epoch": epoch + 1, "step": step, "train_loss": running / steps_per_epoch})
    module.eval()
    metrics = {
        "train": evaluate(module, dataset, "train"),
        "test": evaluate(module, dataset, "test"),
        "steps": step,
        "history": history,
        "config": getattr(module, "config", None),
        **meta,
        "hyperparameters": hyper,
    }
    if run_dir is not None:
        save(module, run_dir / FINAL, masks=masks, **meta, step=step, epoch=epochs)
        write_json(run_dir / "metrics.json", metrics)
    return TrainResult(model=module, metrics=metrics, run_dir=run_dir)
