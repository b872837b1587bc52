"""Sharma et al. 2024: weak, simultaneous and strong linear connectivity modulo permutation, as studies.

`trajectory_barriers`: two training runs (or two IMP sequences) compared checkpoint by checkpoint
under three alignments — the permutation found at the end, one found per checkpoint, and none.
`width_sweep`: 2-model (all seed pairs) and 3-model (simplex over all seed triples) barriers after weight
matching as width grows, with Spearman's ρ between width and barrier. Both take networks as parameter
dicts (or a callable giving them); reading runs and writing results is the driver's
(`weightspace.experiments.connectivity`).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence

import numpy as np
from scipy.stats import spearmanr
from torch import Tensor, nn

from ..align import align_many, weight_matching
from ..data import Dataset
from ..errors import ConfigError
from ..evaluate import evaluate
from ..models import example_input
from ..symmetry import Spec, spec_of
from ._barrier import evaluate_path
from ._curves import linear_path
from ._simplex import simplex_barrier

__all__ = ["trajectory_barriers", "width_barriers", "width_row", "width_summary", "width_sweep"]


def _spec(model: nn.Module, spec: Spec | None) -> Spec:
    return spec if spec is not None else spec_of(model, example_input(model.config))


def trajectory_barriers(
    model: nn.Module,
    checkpoints: Sequence[tuple[Mapping[str, Tensor], Mapping[str, Tensor]]],
    data: Dataset,
    *,
    labels: Sequence[str] | None = None,
    masks: Sequence[Mapping[str, Tensor] | None] | None = None,
    spec: Spec | None = None,
    points: int = 11,
    split: str = "test",
    callback: Callable[[int, int], None] | None = None,
) -> dict:
    """Loss barrier of the line θ_A(t) → π θ_B(t) at every checkpoint pair, for three π.

    "final_permutation": π from weight matching the last pair; "per_step": π matched at each pair;
    "naive": π = id. `masks[i]` (pruning masks of θ_B(t_i), or None) check that a mask moves with its
    weights under the final π ("masks_permuted_with_weights"; None when no pair has masks).
    """
    if not checkpoints:
        raise ConfigError("trajectory_barriers: no checkpoint pairs to compare")
    labels = list(labels) if labels is not None else [str(i) for i in range(len(checkpoints))]
    masks = list(masks) if masks is not None else [None] * len(checkpoints)
    if len(labels) != len(checkpoints) or len(masks) != len(checkpoints):
        raise ConfigError(f"trajectory_barriers: {len(checkpoints)} checkpoint pairs but {len(labels)} labels and "
                          f"{len(masks)} masks; give one of each per pair")
    spec = _spec(model, spec)
    final = weight_matching(checkpoints[-1][0], checkpoints[-1][1], spec)
    series: dict[str, list[float]] = {"final_permutation": [], "per_step": [], "naive": []}
    masks_consistent = True
    for i, ((a, b), mask) in enumerate(zip(checkpoints, masks, strict=True)):
        per_step = weight_matching(a, b, spec)
        aligned = final.apply(b)
        for name, moved in (("final_permutation", aligned), ("per_step", per_step.apply(b)), ("naive", dict(b))):
            curve = evaluate_path(model, linear_path(a, moved), data, points=points, split=split)
            series[name].append(curve.barrier("loss").value)
        if mask:  # a pruned network's mask moves with its weights
            for k, m in mask.items():
                moved_mask = final.element.apply_to(k, m)
                masks_consistent &= bool((aligned[k][moved_mask == 0] == 0).all())
        if callback is not None:
            callback(i + 1, len(checkpoints))
    return {"checkpoints": labels, **series, "split": split, "points": points,
            "masks_permuted_with_weights": masks_consistent if any(masks) else None}


def width_barriers(model: nn.Module, networks: Sequence[Mapping[str, Tensor]], data: Dataset, *,
                   spec: Spec | None = None, points: int = 11, resolution: int = 4) -> dict:
    """Test-loss barriers among networks of one width: mean ± std over seed pairs after weight matching
    ("barrier_2", "barrier_2_std"), without it ("barrier_2_naive"), and with three or more networks the
    simplex barrier over every triple, each aligned to its first network ("barrier_3", "barrier_3_std",
    "barrier_3_naive")."""
    if len(networks) < 2:
        raise ConfigError(f"width_barriers: need at least two networks, got {len(networks)}")
    spec = _spec(model, spec)
    pair, naive = [], []
    for i, j in itertools.combinations(range(len(networks)), 2):
        a, b = networks[i], networks[j]
        aligned = weight_matching(a, b, spec).apply(b)
        pair.append(evaluate_path(model, linear_path(a, aligned), data, points=points).barrier().value)
        naive.append(evaluate_path(model, linear_path(a, b), data, points=points).barrier().value)
    row = {"barrier_2": float(np.mean(pair)), "barrier_2_std": float(np.std(pair)),
           "barrier_2_naive": float(np.mean(naive))}
    if len(networks) >= 3:
        b3, b3_naive = [], []
        for trio in itertools.combinations(range(len(networks)), 3):
            triple = [networks[i] for i in trio]
            aligned = [al.apply(t) for al, t in zip(align_many(triple, spec), triple, strict=True)]
            b3.append(simplex_barrier(model, aligned, data, resolution=resolution).value)
            b3_naive.append(simplex_barrier(model, triple, data, resolution=resolution).value)
        row["barrier_3"], row["barrier_3_std"] = float(np.mean(b3)), float(np.std(b3))
        row["barrier_3_naive"] = float(np.mean(b3_naive))
    return row


def width_row(width: int, model: nn.Module, networks: Sequence[Mapping[str, Tensor]], data: Dataset, *,
              points: int = 11, resolution: int = 4) -> dict:
    """One width's row of the width study: `width_barriers` of its networks and their mean test accuracy."""
    accuracy = [evaluate(model, data, "test", params=dict(p))["accuracy"] for p in networks]
    barriers = width_barriers(model, networks, data, points=points, resolution=resolution)
    return {"width": width, **{k: barriers[k] for k in ("barrier_2", "barrier_2_std", "barrier_2_naive")},
            "test_accuracy": float(np.mean([float("nan") if a is None else a for a in accuracy])),
            **{k: v for k, v in barriers.items() if k.startswith("barrier_3")}}


def width_summary(rows: Sequence[dict], seeds: int) -> dict:
    """The rows with Spearman's ρ between width and barrier (2-model; 3-model with three or more seeds),
    for three or more widths."""
    result: dict = {"rows": list(rows)}
    if len(rows) >= 3:
        widths = [r["width"] for r in rows]
        result["spearman_2"] = float(spearmanr(widths, [r["barrier_2"] for r in rows])[0])
        if seeds >= 3:
            result["spearman_3"] = float(spearmanr(widths, [r["barrier_3"] for r in rows])[0])
    return result


def width_sweep(
    widths: Sequence[int],
    seeds: int,
    network: Callable[[int, int], tuple[nn.Module, Mapping[str, Tensor]]],
    data: Dataset,
    *,
    points: int = 11,
    resolution: int = 4,
    callback: Callable[[str, dict], None] | None = None,
) -> dict:
    """`width_row` at every width over the networks `network(width, seed)` -> (module, params), seed <
    `seeds`; Spearman's ρ between width and barrier for three or more widths (`width_summary`).

    `callback("barriers", {"step", "total_steps", "row"})` follows each finished width.
    """
    if seeds < 2 or not widths:
        raise ConfigError("width sweep needs at least two seeds and one width")
    rows = []
    for w in widths:
        nets = [network(w, s) for s in range(seeds)]
        rows.append(width_row(w, nets[0][0], [p for _, p in nets], data, points=points, resolution=resolution))
        if callback is not None:
            callback("barriers", {"step": len(rows), "total_steps": len(widths), "row": rows[-1]})
    return width_summary(rows, seeds)
