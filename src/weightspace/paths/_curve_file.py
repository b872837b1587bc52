"""Curve files: a fitted curve's bend saved as a checkpoint (safetensors, written atomically, loadable by
`weightspace.load` as the network at the bend) whose metadata names the kind and fingerprints its ends.

The ends are not copied: `load_curve(path, start, end)` rebuilds the curve from the endpoints the caller
holds and refuses endpoints whose fingerprint differs from those the curve was fitted between.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from pathlib import Path

from torch import Tensor

from ..errors import CheckpointError, ConfigError
from ..io import load_checkpoint, save_params
from ..params import check_same_structure
from ._fit import CURVE_KINDS, FittedCurve

__all__ = ["curve_fingerprint", "load_curve", "save_curve"]


def curve_fingerprint(params: Mapping[str, Tensor]) -> str:
    """SHA-256 over every tensor's name, dtype, shape and bytes, in sorted key order (hex, 16 characters)."""
    h = hashlib.sha256()
    for k in sorted(params):
        v = params[k].detach().contiguous().cpu()
        h.update(f"{k}|{v.dtype}|{tuple(v.shape)}|".encode())
        h.update(v.reshape(-1).view(-1).numpy().tobytes() if v.numel() else b"")
    return h.hexdigest()[:16]


def save_curve(curve: FittedCurve, config: dict, path: str | os.PathLike, **metadata) -> Path:
    """Write `curve`'s bend with `config` (the endpoints' model config) and `metadata`, atomically."""
    info = {"kind": curve.kind, "start_fingerprint": curve_fingerprint(curve.start),
            "end_fingerprint": curve_fingerprint(curve.end), "steps": len(curve.losses),
            "final_loss": curve.losses[-1] if curve.losses else None}
    return save_params(dict(curve.bend), config, path, **metadata, curve=info)


def load_curve(path: str | os.PathLike, start: Mapping[str, Tensor], end: Mapping[str, Tensor]) -> FittedCurve:
    """The curve stored at `path` between `start` and `end` (the endpoints it was fitted between)."""
    ckpt = load_checkpoint(path)
    info = ckpt.metadata.get("curve")
    if not isinstance(info, dict) or info.get("kind") not in CURVE_KINDS:
        raise CheckpointError(f"{ckpt.path} is a checkpoint, not a curve file (write one with weightspace curve)")
    check_same_structure(start, ckpt.params, what=f"the endpoints and the curve {ckpt.path}")
    check_same_structure(start, end, what="the curve's endpoints")
    for name, params in (("start", start), ("end", end)):
        if curve_fingerprint(params) != info.get(f"{name}_fingerprint"):
            ends = f"{ckpt.metadata.get('start', '?')} and {ckpt.metadata.get('end', '?')}"
            raise ConfigError(f"{ckpt.path} was fitted between other networks ({ends}); its {name} differs")
    return FittedCurve(info["kind"], start, ckpt.params, end)
