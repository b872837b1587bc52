"""The machinery of the Pittorino et al. 2022 reproduction: its sweep tasks, the shared study of minimisers, and
its statistics (Spearman's rho with a paired bootstrap interval, the chain's excess error).

Two sweep tasks (`weightspace.sweep.task`):
  - `pittorino-minimiser` trains one minimiser: `weightspace.optim.train_minimiser(setting, model, dataset,
    seed=seed, epochs=epochs, **overrides)` into the job's folder; result: train/test error and loss.
  - `pittorino-flatness` needs its minimiser (a job of its own, shared) and measures its local energy:
    Gaussian δE(θ, σ) = E_z[E_train(θ ⊙ (1 + σz))] − E_train(θ) for real networks, the error rise after
    flipping a fraction p of the binary weights for binary ones.
A study is the flatness task over settings × seeds in one sweep folder, so a rerun skips every finished job.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ConfigError, WeightspaceError
from ..sweep import Job, Sweep, task
from ..sweep import run as run_sweep

MINIMISER = "pittorino-minimiser"
FLATNESS = "pittorino-flatness"
MINIMISER_KEYS = ("dataset", "model", "setting", "seed", "epochs", "overrides")
FLATNESS_KEYS = ("dataset", "model", "setting", "seed", "epochs", "overrides", "levels", "samples", "perturbation")
PERTURBATIONS = ("gaussian", "flip")


def _minimiser_job(config: dict) -> Job:
    """The minimiser a flatness job measures; `overrides` maps setting -> train options, only its own travels."""
    own = config.get("overrides", {}).get(config["setting"], {})
    return Job(MINIMISER, {**{k: config[k] for k in ("dataset", "model", "setting", "seed", "epochs")},
                           "overrides": own})


@task(MINIMISER, takes=MINIMISER_KEYS)
def minimiser_task(config: dict, artifacts: Path) -> dict:
    """Train one minimiser with the named setting of `weightspace.optim.SETTINGS` (plus `overrides`)."""
    from ..data import load
    from ..optim import train_minimiser

    r = train_minimiser(config["setting"], config["model"], load(config["dataset"]), seed=config["seed"],
                        epochs=config["epochs"], out=artifacts, **config.get("overrides", {}))
    return {f"{s}_{m}": r.metrics[s][m] for s in ("train", "test") for m in ("error", "loss")}


@task(FLATNESS, takes=FLATNESS_KEYS, needs=lambda config: [_minimiser_job(config)])
def flatness_task(config: dict, artifacts: Path, *, inputs: list[Path]) -> dict:
    """The local energy curve of the minimiser (Gaussian σ grid, or flipped fractions p for binary networks)."""
    import torch

    from ..data import load
    from ..evaluate import evaluate
    from ..flatness import flip_energy, local_energy
    from ..io import load_checkpoint

    kind = config.get("perturbation", "gaussian")
    if kind not in PERTURBATIONS:
        raise ConfigError(f"pittorino-flatness: perturbation must be one of {', '.join(PERTURBATIONS)}, got {kind!r}")
    ckpt = load_checkpoint(inputs[0] / "final.safetensors")
    model, data = ckpt.module(), load(config["dataset"])
    measure = local_energy if kind == "gaussian" else flip_energy
    levels = {"sigmas" if kind == "gaussian" else "fractions": config["levels"]}
    gen = torch.Generator().manual_seed(10_000 + config["seed"])
    le = measure(model, ckpt.params, data, **levels, samples=config["samples"], generator=gen)
    return {"local_energy": le.to_dict(),
            **{f"{s}_error": evaluate(model, data, s, params=ckpt.params)["error"] for s in ("train", "test")}}


@dataclass(frozen=True)
class Minimiser:
    """One trained minimiser of a study: its setting and seed, its run folder, errors and local energy curve."""

    setting: str
    seed: int
    run: Path
    train_error: float
    test_error: float
    levels: tuple[float, ...]
    local_energy: tuple[float, ...]
    stderr: tuple[float, ...]

    def flatness(self, level: float) -> float:
        """δE at `level` (a σ or a p of the grid)."""
        if level not in self.levels:
            raise ConfigError(f"pittorino: {level!r} is not on the local-energy grid {list(self.levels)}")
        return self.local_energy[self.levels.index(level)]


def study(work: Path, *, dataset: str, model: dict, settings: Sequence[str], seeds: Sequence[int], epochs: int,
          overrides: dict, levels: Sequence[float], samples: int, perturbation: str = "gaussian",
          workers: int = 1, callback: Callable[[dict], None] | None = None) -> list[Minimiser]:
    """Train and measure every (setting, seed) through one sweep in `work/<dataset>-<model>-<hash>` (its finished
    jobs are reused by every later call) and return the minimisers, settings-major."""
    fixed = {"dataset": dataset, "model": model, "epochs": epochs, "overrides": overrides, "levels": list(levels),
             "samples": samples, "perturbation": perturbation}
    digest = hashlib.sha256(json.dumps(fixed, sort_keys=True).encode()).hexdigest()[:10]
    folder = work / f"{dataset}-{model['name']}-{digest}"
    sweep = Sweep(FLATNESS, {"setting": list(settings), "seed": list(seeds)}, fixed)
    records = {r["key"]: r for r in run_sweep(sweep, folder, workers=workers, callback=callback)}
    failed = [r for r in records.values() if r["status"] != "done"]
    if failed:
        raise WeightspaceError(f"pittorino: {len(failed)} job(s) of {folder} failed; first: {failed[0]['error']}")
    out = []
    for job in sweep.jobs():
        res = records[job.key]["result"]
        le = res["local_energy"]
        run = folder / "jobs" / _minimiser_job(job.config).key
        out.append(Minimiser(job.config["setting"], job.config["seed"], run,
                             res["train_error"], res["test_error"], tuple(le.get("sigmas", le.get("fractions"))),
                             tuple(le["local_energy"]), tuple(le["stderr"])))
    return out


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman's rank correlation (average ranks for ties), `scipy.stats.spearmanr`."""
    from scipy.stats import spearmanr

    return float(spearmanr(x, y).statistic)


def bootstrap_spearman(x: Sequence[float], y: Sequence[float], *, resamples: int = 2000, level: float = 0.95,
                       seed: int = 0) -> tuple[float, float]:
    """The percentile bootstrap interval of Spearman's rho at `level`: `resamples` resamples of the n (x, y)
    pairs with replacement; resamples where x or y is constant (rho undefined) are dropped."""
    from scipy.stats import rankdata

    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if x.shape != y.shape or x.ndim != 1 or len(x) < 3:
        raise ConfigError(f"bootstrap_spearman: need two sequences of the same length >= 3, got {x.shape}, {y.shape}")
    idx = np.random.default_rng(seed).integers(0, len(x), size=(resamples, len(x)))
    rx, ry = rankdata(x[idx], axis=1), rankdata(y[idx], axis=1)
    rx -= rx.mean(axis=1, keepdims=True)
    ry -= ry.mean(axis=1, keepdims=True)
    den = np.sqrt((rx ** 2).sum(axis=1) * (ry ** 2).sum(axis=1))
    ok = den > 0
    if not ok.any():
        raise ConfigError("bootstrap_spearman: every resample is constant; rho is undefined")
    rho = (rx * ry).sum(axis=1)[ok] / den[ok]
    lo, hi = np.quantile(rho, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)


def excess_error(errors: Sequence[float]) -> float:
    """max_t E(t) − max(E(0), E(1)) along a curve sampled at t_0 = 0, ..., t_m = 1: how far the curve's error
    rises above the worse endpoint (0 when it never does)."""
    if len(errors) < 2:
        raise ConfigError("excess_error: need the error at two or more points of the curve")
    return float(max(errors) - max(errors[0], errors[-1]))
