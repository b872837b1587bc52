"""The two pieces every figure shares: a bare `matplotlib.figure.Figure` and its atomic PNG write.

No pyplot and no backend selection: a Figure built directly saves through the canvas matching the file
format, so drawing leaves matplotlib's global state (the backend a notebook chose) alone.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from .._files import atomic_path

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["new_figure", "save_figure"]


def new_figure(width: float, height: float) -> Figure:
    """An empty Figure of `width` × `height` inches (matplotlib imported here, on first use)."""
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height))


def save_figure(fig: Figure, path: str | os.PathLike) -> Path:
    """Write `fig` as PNG (120 dpi, tight bounding box) atomically; returns the path written."""
    target = Path(path)
    with atomic_path(target) as tmp:
        fig.savefig(tmp, format="png", dpi=120, bbox_inches="tight")
    return target
