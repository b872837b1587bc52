"""Checkpoints: safetensors files whose header carries the model config and training metadata, and plain state
dicts (a safetensors file without that header, or a torch file of `torch.save(model.state_dict())`).

A checkpoint argument is either a file or a run directory (meaning its `final.safetensors`). Torch files are
read with `torch.load(weights_only=True)` only: a pickle that needs more than tensors and containers is
refused with the reason, never unpickled. A plain state dict carries no config: its model is given by the
caller (`Checkpoint.module(model)`). Files are written atomically.
"""

from __future__ import annotations

import copy
import json
import os
import pickle
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from ._files import atomic_path
from .errors import CheckpointError, ConfigError
from .params import Params, check_finite, first_float

__all__ = ["Checkpoint", "save", "save_params", "load", "load_checkpoint", "params_of", "resolve_checkpoint",
           "fit_model", "KINDS"]

FORMAT = "weightspace/1"
FINAL = "final.safetensors"
KINDS = ("weightspace", "safetensors state dict", "torch state dict")
"""What a checkpoint file was found to be (`Checkpoint.kind`)."""


@dataclass(frozen=True)
class Checkpoint:
    """A checkpoint's contents: the state dict, the model config and the metadata (dataset, task, seed, step...).

    `kind` is one of `KINDS`; a plain state dict has `config` None and empty metadata.
    """

    params: Params
    config: dict | None
    metadata: dict = field(default_factory=dict)
    path: Path | None = None
    masks: Params | None = None
    kind: str = "weightspace"

    def dataset(self, name: str | None = None, **options):
        """The dataset this network was trained on (rebuilt from the metadata), or the one named."""
        from .data import load as load_data

        recorded = self.metadata.get("dataset")
        name = name or recorded
        if name is None:
            raise ConfigError(f"{self.path} records no dataset; name one (--dataset NAME)")
        if name == recorded and isinstance(self.metadata.get("dataset_meta"), dict):
            options = {**(self.metadata["dataset_meta"].get("options") or {}), **options}
        return load_data(name, **options)

    def module(self, model: nn.Module | None = None) -> nn.Module:
        """The model with these parameters (eval mode): a copy of `model` if given, else rebuilt from the config.

        Raises CheckpointError naming missing and unexpected keys and shape mismatches when they do not fit.
        """
        if model is None:
            if self.config is None:
                raise CheckpointError(f"{self.path} is a {self.kind} without a weightspace model config in its "
                                      "header; name the model (CLI: --model MODULE:FACTORY)")
            from .models import build

            with torch.random.fork_rng(devices=[]):  # the random initial weights are replaced: the global RNG kept
                model = build(self.config)
            where = "the config's model"
        else:
            model = copy.deepcopy(model)
            where = f"the model {type(model).__name__}"
        model = model.to(first_float(self.params).dtype)  # the precision of the stored weights
        return fit_model(model, self.params, where=f"{self.path}: tensors do not fit {where}").eval()


def fit_model(model: nn.Module, params: Mapping[str, torch.Tensor], *, where: str = "state dict") -> nn.Module:
    """Load `params` into `model` (strictly); CheckpointError names missing/unexpected keys and shape mismatches."""
    own = model.state_dict()
    missing = [k for k in own if k not in params]
    extra = [k for k in params if k not in own]
    shapes = [f"{k} {tuple(params[k].shape)} vs {tuple(own[k].shape)}" for k in own
              if k in params and tuple(params[k].shape) != tuple(own[k].shape)]
    problems = []
    for label, items in (("missing keys", missing), ("unexpected keys", extra),
                         ("size mismatch (file vs model) for", shapes)):
        if items:
            more = f" (+{len(items) - 4} more)" if len(items) > 4 else ""
            problems.append(f"{label} {', '.join(items[:4])}{more}")
    if problems:
        raise CheckpointError(f"{where}: {'; '.join(problems)}")
    model.load_state_dict(dict(params), strict=True)
    return model



def resolve_checkpoint(path: str | os.PathLike) -> Path:
    """A checkpoint file, or a run directory's `final.safetensors`."""
    p = Path(path)
    if p.is_dir():
        final = p / FINAL
        if not final.is_file():
            raise CheckpointError(f"run directory {p} has no {FINAL} (did the training finish?)")
        return final
    if not p.exists():
        raise CheckpointError(f"checkpoint not found: {p}")
    return p


MASK = "__mask__."


def save_params(params: Params, config: dict, path: str | os.PathLike, *, masks: Params | None = None,
                **metadata) -> Path:
    """Write `params` (and pruning `masks`) with `config` and JSON-able `metadata` in the header, atomically."""
    check_finite(params, what=f"saving {path}")
    tensors = {k: v.detach().contiguous().clone() for k, v in params.items()}
    for k, m in (masks or {}).items():
        tensors[MASK + k] = m.detach().to(torch.uint8).contiguous()
    header = {
        "format": FORMAT,
        "config": json.dumps(config, sort_keys=True),
        "metadata": json.dumps(metadata, sort_keys=True, default=str),
    }
    target = Path(path)
    with atomic_path(target) as tmp:
        save_file(tensors, str(tmp), metadata=header)
    return target


def save(module: nn.Module, path: str | os.PathLike, *, masks: Params | None = None, **metadata) -> Path:
    """Save a weightspace model (it carries `.config`) and its state dict, buffers included."""
    config = getattr(module, "config", None)
    if not isinstance(config, dict):
        raise ConfigError(
            f"save: {type(module).__name__} has no `config` dict; build it with weightspace.models.build(config)"
        )
    return save_params(module.state_dict(), config, path, masks=masks, **metadata)


def _read_header(path: Path) -> dict:
    size = path.stat().st_size
    with path.open("rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise CheckpointError(f"{path} is not a safetensors checkpoint (file too short: {size} bytes)")
        (n,) = struct.unpack("<Q", head)
        if n <= 0 or 8 + n > size:
            raise CheckpointError(f"{path} is not a safetensors checkpoint or is truncated (header length {n})")
        try:
            header = json.loads(f.read(n))
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise CheckpointError(f"{path} is not a safetensors checkpoint (unreadable header)") from None
    if not isinstance(header, dict):
        raise CheckpointError(f"{path} is not a safetensors checkpoint (header is not a table)")
    try:
        end = max((int(v["data_offsets"][1]) for k, v in header.items() if k != "__metadata__"), default=0)
    except (KeyError, IndexError, TypeError, ValueError):
        raise CheckpointError(f"{path} is not a safetensors checkpoint (malformed tensor table)") from None
    if 8 + n + end > size:
        raise CheckpointError(f"{path} is truncated: {size} bytes, the header promises {8 + n + end}")
    return header


def _json_field(path: Path, meta: dict, key: str, default: str | None) -> dict:
    """A header field that must hold a JSON object."""
    try:
        value = json.loads(meta.get(key, default))
    except (TypeError, json.JSONDecodeError):
        raise CheckpointError(f"{path}: the {key} field of its header is not JSON") from None
    if not isinstance(value, dict):
        raise CheckpointError(f"{path}: the {key} field of its header is not a JSON object")
    return value


def _is_torch_file(path: Path) -> bool:
    """The file starts like a torch file: a zip archive (torch.save) or a bare pickle (protocol 2-5), and not like
    safetensors (an 8-byte header length, then the JSON header's `{`; the length's first byte may well be 0x80)."""
    with path.open("rb") as f:
        head = f.read(9)
    if head[8:9] == b"{":
        return False
    return head[:4] == b"PK\x03\x04" or (head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"))


def _torch_state_dict(path: Path) -> Params:
    """A state dict from a torch file, loaded with `weights_only=True`; the unpickler's refusal is the reason."""
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        reason = next((ln.strip() for ln in str(err).splitlines() if "Unsupported" in ln or "global" in ln.lower()),
                      str(err).splitlines()[0] if str(err) else "unknown reason")
        raise CheckpointError(f"{path} needs unrestricted unpickling, which weightspace refuses (arbitrary code could "
                              f"run); save model.state_dict() instead: {reason}") from None
    except (RuntimeError, EOFError, OSError, ValueError, SafetensorError) as err:
        first = (str(err).splitlines() or ["unreadable"])[0]
        raise CheckpointError(f"{path} is not a safetensors checkpoint nor a readable torch file: {first}") from None
    if isinstance(obj, Mapping) and not all(isinstance(v, torch.Tensor) for v in obj.values()):
        nested = [k for k in ("state_dict", "model", "model_state_dict") if isinstance(obj.get(k), Mapping)]
        if nested:
            obj = obj[nested[0]]
    if not isinstance(obj, Mapping) or not obj or not all(isinstance(k, str) and isinstance(v, torch.Tensor)
                                                          for k, v in obj.items()):
        raise CheckpointError(f"{path} holds a {type(obj).__name__}, not a state dict (names -> tensors); save "
                              "model.state_dict()")
    return {k: v.detach() for k, v in obj.items()}


def load_checkpoint(path: str | os.PathLike, *, allow_nonfinite: bool = False) -> Checkpoint:
    """Read a checkpoint file or run directory: a weightspace checkpoint, or a plain state dict (header-less
    safetensors, or a torch file read with weights_only=True); refuses truncated files and NaN weights."""
    p = resolve_checkpoint(path)
    if _is_torch_file(p):
        params = _torch_state_dict(p)
        if not allow_nonfinite:
            check_finite(params, what=f"checkpoint {p}")
        return Checkpoint(params=params, config=None, path=p, kind=KINDS[2])
    header = _read_header(p)
    meta = header.get("__metadata__") or {}
    try:
        params = load_file(str(p))
    except (SafetensorError, OSError) as err:
        raise CheckpointError(f"{p} is corrupt: {err}") from None
    if meta.get("format") != FORMAT or "config" not in meta:
        if not allow_nonfinite:
            check_finite(params, what=f"checkpoint {p}")
        return Checkpoint(params=params, config=None, path=p, kind=KINDS[1])
    config, metadata = _json_field(p, meta, "config", None), _json_field(p, meta, "metadata", "{}")
    masks = {k[len(MASK):]: params.pop(k).to(torch.float32) for k in [k for k in params if k.startswith(MASK)]}
    if not allow_nonfinite:
        check_finite(params, what=f"checkpoint {p}")
    return Checkpoint(params=params, config=config, metadata=metadata, path=p, masks=masks or None)


def load(path: str | os.PathLike) -> nn.Module:
    """Rebuild the model stored in a checkpoint (file or run directory), in eval mode."""
    return load_checkpoint(path).module()


def params_of(path: str | os.PathLike) -> tuple[Params, dict, dict]:
    """(params, config, metadata) of a checkpoint."""
    ckpt = load_checkpoint(path)
    return ckpt.params, ckpt.config, ckpt.metadata
