"""The README's main job: two digits MLPs (64-512-512-10) from two seeds and the barriers between them.

Claim shown: two SGD solutions reach the same accuracy, yet the straight line between them crosses a
loss barrier; after aligning the second network's hidden units to the first (weight matching or
activation matching) the barrier nearly vanishes. Runs in well under 2 minutes on 2 CPU cores.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from ..align import activation_matching, weight_matching
from ..data import load
from ..models import example_input
from ..params import state_of
from ..paths import evaluate_path, linear_path
from ..symmetry import spec_of
from ..train import train

__all__ = ["DEMO_MODEL", "run_demo"]

DEMO_MODEL = {"name": "mlp", "depth": 2, "width": 512, "activation": "relu"}


def run_demo(
    out: str | os.PathLike | None = None,
    *,
    epochs: int = 20,
    points: int = 25,
    seeds: tuple[int, int] = (0, 1),
    callback: Callable[[str, dict], None] | None = None,
) -> dict:
    """Train two MLPs on digits; evaluate the linear path between them before and after alignment.

    Returns {"accuracy": [a, b], "barrier": naive test-loss barrier, "barrier_weight",
    "barrier_activation", "error_barrier", "curves", "runs"}.
    """
    data = load("digits")
    runs = []
    for seed in seeds:
        run_dir = Path(out) / f"mlp-seed{seed}" if out is not None else None

        def step(event, seed=seed):
            if callback is not None:
                callback(f"train seed {seed}", event)

        runs.append(train(DEMO_MODEL, data, epochs=epochs, seed=seed, out=run_dir, force=True, callback=step))
    a, b = (state_of(r.model) for r in runs)
    model = runs[0].model

    def progress(i, n):
        if callback is not None:
            callback("barrier", {"step": i, "total_steps": n})

    spec = spec_of(model, example_input(model.config))
    aligned = {
        "naive": b,
        "weight": weight_matching(a, b, spec).apply(b),
        "activation": activation_matching(model, a, b, data.x_train, spec).apply(b),
    }
    curves = {k: evaluate_path(model, linear_path(a, v), data, points=points, split="test", callback=progress)
              for k, v in aligned.items()}
    return {
        "accuracy": [r.metrics["test"]["accuracy"] for r in runs],
        "barrier": curves["naive"].barrier("loss").value,
        "barrier_weight": curves["weight"].barrier("loss").value,
        "barrier_activation": curves["activation"].barrier("loss").value,
        "error_barrier": curves["naive"].barrier("error").value,
        "error_barrier_weight": curves["weight"].barrier("error").value,
        "error_barrier_activation": curves["activation"].barrier("error").value,
        "curves": curves,
        "runs": [str(r.run_dir) if r.run_dir else None for r in runs],
        "model": model,
        "params": (a, b),
        "data": data,
    }
