"""Checkpoints: safetensors files whose header carries the model config and training metadata.

A checkpoint argument is either a `.safetensors` file or a run directory (meaning its
`final.safetensors`). Files are written atomically and never unpickled.
"""

from __future__ import annotations

import json
import os
import struct
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from ._files import atomic_path
from .errors import CheckpointError, ConfigError
from .params import Params, check_finite, first_float

__all__ = ["Checkpoint", "save", "save_params", "load", "load_checkpoint", "params_of", "resolve_checkpoint"]

FORMAT = "weightspace/1"
FINAL = "final.safetensors"


@dataclass(frozen=True)
class Checkpoint:
    """A checkpoint's contents: the state dict, the model config and the metadata (dataset, task, seed, step...)."""

    params: Params
    config: dict
    metadata: dict = field(default_factory=dict)
    path: Path | None = None
    masks: Params | None = None

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

    def module(self) -> nn.Module:
        """Rebuild the model from its config and load the parameters (eval mode)."""
        from .models import build

        with torch.random.fork_rng(devices=[]):  # the random initial weights are replaced: the global RNG is kept
            model = build(self.config).to(first_float(self.params).dtype)  # the precision of the stored weights
        try:
            model.load_state_dict(self.params, strict=True)
        except RuntimeError as err:
            problem = _first_problem(err)
            raise CheckpointError(f"{self.path}: tensors do not fit the config's model: {problem}") from None
        return model.eval()


def _first_problem(err: RuntimeError) -> str:
    """The first concrete line of a `load_state_dict` error (missing/unexpected key or a size mismatch)."""
    lines = [ln.strip() for ln in str(err).splitlines() if ln.strip()]
    return next((ln for ln in lines[1:]), lines[0] if lines else "unknown error")



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


def load_checkpoint(path: str | os.PathLike, *, allow_nonfinite: bool = False) -> Checkpoint:
    """Read a checkpoint file or run directory; refuses truncated files, non-safetensors and NaN weights."""
    p = resolve_checkpoint(path)
    header = _read_header(p)
    meta = header.get("__metadata__") or {}
    if meta.get("format") != FORMAT or "config" not in meta:
        raise CheckpointError(f"{p} is a safetensors file without a weightspace model config in its header")
    try:
        params = load_file(str(p))
    except (SafetensorError, OSError) as err:
        raise CheckpointError(f"{p} is corrupt: {err}") from None
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
