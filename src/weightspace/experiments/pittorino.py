"""Reproduction of Pittorino et al. 2022 (PAPERS.md section 5): flatness, distances, geodesics and chains between
minimisers of different optimisers, for real and binary MLPs on MNIST-1D and digits.

    weightspace reproduce pittorino --budget quick --out DIR

Every claim trains its minimisers through the sweep tasks of `._pittorino` (settings x seeds per dataset) in the
shared folder `out.parent / "_work" / "pittorino" / <budget>`: the second claim reuses the first's runs and a
rerun does only what is not done. Verdicts are value vs threshold (`CLAIMS`), never typed.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import torch

from ._pittorino import Minimiser, bootstrap_spearman, excess_error, spearman, study

PAPER = "pittorino"
_MIN_SEEDS, _MIN_SETTINGS = 5, 5


def _work(out: Path, budget: str) -> Path:
    return Path(out).parent / "_work" / PAPER / budget


def _studies(out: Path, b: dict, *, binary: bool = False) -> dict[str, list[Minimiser]]:
    """The minimisers of every dataset of the budget (trained once, shared by all claims of the budget)."""
    prefix = "binary_" if binary else ""
    model = {"name": "binary_mlp" if binary else "mlp", "depth": b["depth"], "width": b[f"{prefix}width"]}
    return {ds: study(_work(out, b["budget"]), dataset=ds, model=model, settings=b[f"{prefix}settings"],
                      seeds=b["seeds"], epochs=b[f"{prefix}epochs"], overrides=b[f"{prefix}overrides"],
                      levels=b["fractions"] if binary else b["sigmas"], samples=b["samples"],
                      perturbation="flip" if binary else "gaussian", workers=b["workers"])
            for ds in b[f"{prefix}datasets"]}


def _too_small(b: dict, binary: bool = False) -> str | None:
    n = len(b["binary_settings" if binary else "settings"])
    if len(b["seeds"]) < _MIN_SEEDS or n < _MIN_SETTINGS:
        return (f"{len(b['seeds'])} seeds x {n} optimiser settings at budget {b['budget']!r}: the claim needs "
                f">= {_MIN_SEEDS} seeds x >= {_MIN_SETTINGS} settings")
    return None


def _by_setting(ms: list[Minimiser]) -> dict[str, list[Minimiser]]:
    return {s: [m for m in ms if m.setting == s] for s in dict.fromkeys(m.setting for m in ms)}


def _load(m: Minimiser):
    from ..io import load_checkpoint

    return load_checkpoint(m.run / "final.safetensors")


def headline_level(ms: list[Minimiser], floor: float) -> float:
    """The stated noise level of a study: the smallest nonzero level of the grid at which the mean δE over all its
    minimisers reaches `floor` (out of the Monte Carlo noise floor, short of saturation); else the largest level.
    The rule reads the train error only, never the test error."""
    levels = ms[0].levels
    for i, level in enumerate(levels):
        if level > 0 and np.mean([m.local_energy[i] for m in ms]) >= floor:
            return level
    return max(levels)


def _row(m: Minimiser, level: float) -> dict:
    return {"setting": m.setting, "seed": m.seed, "train_error": m.train_error, "test_error": m.test_error,
            "flatness": m.flatness(level), "levels": list(m.levels), "local_energy": list(m.local_energy),
            "stderr": list(m.stderr)}


# -- figures ---------------------------------------------------------------------------------------------------
def _fig_curves(studies: dict[str, list[Minimiser]], path: Path, xlabel: str) -> None:
    from ..plots import new_figure, save_figure

    fig = new_figure(5.0 * len(studies), 3.8)
    for i, (ds, ms) in enumerate(studies.items()):
        ax = fig.add_subplot(1, len(studies), i + 1)
        for s, group in _by_setting(ms).items():
            e = np.array([m.local_energy for m in group])
            sem = e.std(axis=0, ddof=1) / np.sqrt(len(group)) if len(group) > 1 else np.zeros(e.shape[1])
            ax.errorbar(group[0].levels, e.mean(axis=0), yerr=sem, marker="o", ms=3, capsize=2, label=s)
        ax.set(xlabel=xlabel, ylabel="local energy δE (train error)", title=f"{ds}: mean ± s.e.m. over seeds")
        ax.legend(fontsize=7)
    save_figure(fig, path)


def _fig_scatter(panels: dict[str, dict], path: Path, xlabel: str, ylabel: str) -> None:
    """panels[name] = {"x": {setting: [..]}, "y": {setting: [..]}, "title": str}."""
    from ..plots import new_figure, save_figure

    fig = new_figure(5.0 * len(panels), 3.8)
    for i, p in enumerate(panels.values()):
        ax = fig.add_subplot(1, len(panels), i + 1)
        for s in p["x"]:
            ax.scatter(p["x"][s], p["y"][s], s=18, label=s)
        ax.set(xlabel=xlabel, ylabel=ylabel, title=p["title"])
        ax.legend(fontsize=7)
    save_figure(fig, path)


def _fig_lines(panels: dict[str, dict[str, tuple[list, list]]], path: Path, ylabel: str) -> None:
    from ..plots import new_figure, save_figure

    fig = new_figure(5.0 * len(panels), 3.8)
    for i, (title, lines) in enumerate(panels.items()):
        ax = fig.add_subplot(1, len(panels), i + 1)
        for label, (x, y) in lines.items():
            ax.plot(x, [100 * v for v in y], marker="o", ms=3, label=label)
        ax.set(xlabel="t", ylabel=ylabel, title=title)
        ax.legend(fontsize=7)
    save_figure(fig, path)


# -- the claims ------------------------------------------------------------------------------------------------
def _correlation_claim(out: Path, b: dict, *, binary: bool) -> dict:
    studies = _studies(out, b, binary=binary)
    name = "p" if binary else "σ"
    per, values, levels = {}, [], {}
    for ds, ms in studies.items():
        level = levels[ds] = headline_level(ms, b["energy_floor"])
        x, y = [m.flatness(level) for m in ms], [m.test_error for m in ms]
        rho = spearman(x, y)
        lo, hi = bootstrap_spearman(x, y, resamples=b["resamples"], seed=0)
        per[ds] = {"level": level, "spearman": rho, "ci95": [lo, hi],
                   "spearman_train_error": spearman(x, [m.train_error for m in ms]),
                   "spearman_by_level": {str(v): spearman([m.flatness(v) for m in ms], y) for v in ms[0].levels[1:]},
                   "minimisers": [_row(m, level) for m in ms]}
        values.append(lo)
    tag = "binary_" if binary else ""
    _fig_curves(studies, out / f"{tag}local_energy.png",
                "fraction p of flipped weights" if binary else "σ (multiplicative Gaussian noise)")
    _fig_scatter({ds: {"x": {s: [m.flatness(levels[ds]) for m in g] for s, g in _by_setting(ms).items()},
                       "y": {s: [100 * m.test_error for m in g] for s, g in _by_setting(ms).items()},
                       "title": f"{ds}: δE at {name} = {levels[ds]}; ρ = {per[ds]['spearman']:.2f}, 95% CI "
                                f"[{per[ds]['ci95'][0]:.2f}, {per[ds]['ci95'][1]:.2f}]"} for ds, ms in studies.items()},
                 out / f"{tag}flatness_vs_test_error.png", f"δE at the stated {name}", "test error (%)")
    measurements = {"energy_floor": b["energy_floor"], "datasets": per}
    if binary:
        measurements["hamming"] = _distance_rows(studies, b["energy_floor"], "hamming")
    return {"value": float(min(values)), "measurements": measurements,
            "figures": [f"{tag}local_energy.png", f"{tag}flatness_vs_test_error.png"], "seeds": list(b["seeds"]),
            "construction": _construction(b, binary=binary), "inconclusive": _too_small(b, binary)}


def _distance_rows(studies: dict[str, list[Minimiser]], floor: float, metric: str) -> dict:
    """Per dataset and setting: the mean pairwise quotient distance (`metric`) among its seeds and its mean δE,
    and Spearman's rho between the two over settings."""
    from ..quotient import pairwise_distances

    rows = {}
    for ds, ms in studies.items():
        per, level = {}, headline_level(ms, floor)
        for s, group in _by_setting(ms).items():
            ckpts = [_load(m) for m in group]
            d = np.array(pairwise_distances(ckpts[0].module(), [c.params for c in ckpts]).matrices[metric])
            per[s] = {"mean_distance": float(d[np.triu_indices(len(group), 1)].mean()),
                      "mean_flatness": float(np.mean([m.flatness(level) for m in group])),
                      "mean_test_error": float(np.mean([m.test_error for m in group]))}
        rho = spearman([v["mean_flatness"] for v in per.values()], [v["mean_distance"] for v in per.values()]) \
            if len(per) >= 3 else None
        rows[ds] = {"level": level, "settings": per, "spearman": rho}
    return rows


def run_flatness_generalisation(out: Path, **b) -> dict:
    return _correlation_claim(Path(out), b, binary=False)


def run_flat_minima_closer(out: Path, **b) -> dict:
    out = Path(out)
    studies = _studies(out, b)
    rows = _distance_rows(studies, b["energy_floor"], "normalized")
    _fig_scatter({ds: {"x": {s: [v["mean_flatness"]] for s, v in r["settings"].items()},
                       "y": {s: [v["mean_distance"]] for s, v in r["settings"].items()},
                       "title": f"{ds}: ρ = {r['spearman']:.2f}" if r["spearman"] is not None else ds}
                  for ds, r in rows.items()},
                 out / "distance_vs_flatness.png", "mean δE at the stated σ",
                 "mean pairwise normalised quotient distance")
    rhos = [r["spearman"] for r in rows.values()]
    value = None if any(r is None or np.isnan(r) for r in rhos) else float(min(rhos))
    reason = _too_small(b) or (None if value is not None else "fewer than 3 settings, or a constant column")
    return {"value": value, "measurements": {"energy_floor": b["energy_floor"], "datasets": rows},
            "figures": ["distance_vs_flatness.png"], "seeds": list(b["seeds"]), "construction": _construction(b),
            "inconclusive": reason}


def run_geodesic_barrier(out: Path, **b) -> dict:
    from ..data import load
    from ..quotient import geodesic_study

    out = Path(out)
    studies = _studies(out, b)
    per, diffs, panels = {}, [], {}
    for ds, ms in studies.items():
        data = load(ds)
        rows = []
        for s, group in _by_setting(ms).items():
            for a, c in list(itertools.combinations(group, 2))[:b["pairs"]]:
                ca, cc = _load(a), _load(c)
                st = geodesic_study(ca.module(), ca.params, cc.params, data, points=b["points"], splits=("test",))
                geo, lin = st.barrier("geodesic").value, st.barrier("linear").value
                rows.append({"setting": s, "seeds": [a.seed, c.seed], "geodesic": geo, "linear": lin})
                diffs.append(100 * (geo - lin))
                if not any(p.startswith(f"{ds}:") for p in panels):  # one example pair per dataset
                    panels[f"{ds}: {s}, seeds {a.seed} and {c.seed}"] = {
                        p: (list(v["test"].alphas), list(v["test"].error)) for p, v in st.curves.items()}
        per[ds] = {"pairs": rows,
                   "fraction_geodesic_le_linear": float(np.mean([r["geodesic"] <= r["linear"] for r in rows]))}
    _fig_lines(panels, out / "geodesic_vs_linear.png", "test error (%)")
    return {"value": float(np.mean(diffs)), "measurements": {"datasets": per, "barrier_difference_points": diffs},
            "figures": ["geodesic_vs_linear.png"], "seeds": list(b["seeds"]), "construction": _construction(b),
            "inconclusive": _too_small(b)}


def run_chain_connects(out: Path, **b) -> dict:
    from ..data import load
    from ..paths import evaluate_fitted_curve, evaluate_path, fit_model_curve, linear_path

    out = Path(out)
    studies = _studies(out, b)
    per, values, panels = {}, [], {}
    for ds, ms in studies.items():
        data = load(ds)
        candidates = []
        for group in _by_setting(ms).values():
            a, c = group[0], group[1]
            ca, cc = _load(a), _load(c)
            line = evaluate_path(ca.module(), linear_path(ca.params, cc.params), data, points=b["points"],
                                 split="train")
            candidates.append((excess_error(line.error), a, c, ca, cc, line))
        barrier, a, c, ca, cc, line = max(candidates, key=lambda t: t[0])
        row = {"pair": [[a.setting, a.seed], [c.setting, c.seed]], "linear_excess_points": 100 * barrier,
               "candidates": [{"pair": [[x[1].setting, x[1].seed], [x[2].setting, x[2].seed]],
                               "linear_excess_points": 100 * x[0]} for x in candidates]}
        if barrier >= 0.05:
            model = ca.module()
            curve = fit_model_curve(model, data, ca.params, cc.params, kind="chain", steps=b["chain_steps"],
                                    lr=b["chain_lr"], generator=torch.Generator().manual_seed(0))
            ev = evaluate_fitted_curve(model, curve, data, points=b["points"], split="train")
            row.update(chain_excess_points=100 * excess_error(ev.error), chain_error=list(ev.error),
                       linear_error=list(line.error), alphas=list(ev.alphas))
            values.append(row["chain_excess_points"])
            panels[f"{ds}: {a.setting} seed {a.seed} -> {c.setting} seed {c.seed}"] = {
                "straight line": (list(line.alphas), list(line.error)),
                "fitted chain (one bend)": (list(ev.alphas), list(ev.error))}
        per[ds] = row
    figures = []
    if panels:
        _fig_lines(panels, out / "chain.png", "train error (%)")
        figures.append("chain.png")
    largest = max(r["linear_excess_points"] for r in per.values())
    reason = _too_small(b) if values else ("no pair of minimisers has a straight-line train error barrier >= 5 "
                                           f"points (largest: {largest:.2f})")
    return {"value": float(max(values)) if values else None, "measurements": {"datasets": per}, "figures": figures,
            "seeds": list(b["seeds"]), "construction": _construction(b), "inconclusive": reason}


def run_binary(out: Path, **b) -> dict:
    return _correlation_claim(Path(out), b, binary=True)


def _construction(b: dict, *, binary: bool = False) -> str:
    if binary:
        return (f"binary_mlp (sign weights and activations, straight-through training), {b['depth']} hidden "
                f"layer(s) of {b['binary_width']}, on {', '.join(b['binary_datasets'])}; settings "
                f"{', '.join(b['binary_settings'])} (overrides {b['binary_overrides']}), seeds {b['seeds']}, "
                f"{b['binary_epochs']} epochs; local energy = train-error rise after flipping a fraction p of the "
                f"weights ({b['samples']} draws each), read at the smallest p where the mean δE >= "
                f"{b['energy_floor']}; "
                f"distances = Hamming after sign-aware cosine alignment; "
                f"Spearman with a {b['resamples']}-resample percentile bootstrap 95% CI")
    return (f"ReLU MLPs, {b['depth']} hidden layer(s) of {b['width']}, on {', '.join(b['datasets'])}; optimiser "
            f"settings {', '.join(b['settings'])} of weightspace.optim.SETTINGS (overrides {b['overrides']}), "
            f"seeds {b['seeds']}, {b['epochs']} epochs; local energy δE(σ) = E_z[E_train(θ(1+σz))] − E_train(θ) "
            f"({b['samples']} draws per σ), read at the stated σ: the smallest σ of the grid where the dataset's "
            f"mean δE >= {b['energy_floor']}; quotient distance = mean (1 − cos)/2 over units after canonical form "
            f"and weight matching; geodesics between aligned canonical forms ({b['points']} points); chain fitted "
            f"for {b['chain_steps']} Adam steps; Spearman with a {b['resamples']}-resample percentile bootstrap 95% CI")


_SMOKE = {"budget": "smoke", "datasets": ["digits"], "settings": ["sgd-large-lr", "adam"], "seeds": [0, 1],
          "depth": 1, "width": 16, "epochs": 2, "overrides": {"adam": {"lr": 0.01}},
          "sigmas": [0.0, 0.1, 0.3], "energy_floor": 0.01, "samples": 4, "resamples": 200, "pairs": 1, "points": 5,
          "chain_steps": 20, "chain_lr": 0.01, "workers": 1,
          "binary_datasets": ["digits"], "binary_settings": ["adam", "sgd-large-lr"], "binary_width": 16,
          "binary_epochs": 2, "binary_overrides": {"adam": {"lr": 0.01}}, "fractions": [0.0, 0.05, 0.1]}
_QUICK = {"budget": "quick", "datasets": ["digits", "mnist1d"],
          "settings": ["sgd-small-batch", "sgd-large-batch", "sgd-large-lr", "adam", "sam"],
          "seeds": [0, 1, 2, 3, 4], "depth": 1, "width": 256, "epochs": 30,
          "overrides": {"sgd-large-batch": {"lr": 0.5, "batch_size": 256}, "adam": {"lr": 1e-2}, "sam": {"lr": 0.2}},
          "sigmas": [0.0, 0.05, 0.1, 0.2, 0.3, 0.5], "energy_floor": 0.01, "samples": 32, "resamples": 2000, "pairs": 2,
          "points": 11, "chain_steps": 1000, "chain_lr": 0.01, "workers": 2,
          "binary_datasets": ["digits"],
          "binary_settings": ["sgd-small-batch", "sgd-large-batch", "sgd-large-lr", "adam", "sam"],
          "binary_width": 256, "binary_epochs": 30,
          "binary_overrides": {"sgd-large-batch": {"lr": 0.5, "batch_size": 256}, "adam": {"lr": 0.01}},
          "fractions": [0.0, 0.01, 0.02, 0.05, 0.1]}
_FULL = {**_QUICK, "budget": "full", "datasets": ["digits", "mnist1d"], "binary_datasets": ["digits", "mnist1d"],
         "settings": [*_QUICK["settings"], "sgd-small-lr", "entropy-sgd", "replicated-sgd"],
         "binary_settings": [*_QUICK["binary_settings"], "replicated-sgd"],
         "seeds": list(range(10)), "depth": 2, "width": 512, "epochs": 100, "binary_width": 512, "binary_epochs": 100,
         "overrides": {**_QUICK["overrides"], "sgd-small-lr": {"lr": 0.02}}, "samples": 128, "resamples": 10000,
         "pairs": 10, "points": 25, "chain_steps": 3000, "workers": 8}
_BUDGETS = {"smoke": _SMOKE, "quick": _QUICK, "full": _FULL}

CLAIMS = [
    {"id": "pittorino.flatness-generalisation", "paper": PAPER,
     "statement": "Flatter minimisers generalise better: across minimisers found by different optimisers, the "
                  "local energy (error rise under multiplicative weight noise) and the test error are positively "
                  "rank-correlated.",
     "measures": "the lower end of the 95% bootstrap interval of Spearman's rho between δE_train at the stated σ "
                 "(the smallest σ of the grid where the dataset's mean δE >= 0.01) and test error over all "
                 "minimisers of a dataset, the minimum over datasets (dimensionless)",
     "threshold": 0.0, "direction": ">=", "run": run_flatness_generalisation},
    {"id": "pittorino.flat-minima-closer", "paper": PAPER,
     "statement": "Flatter minimisers lie closer together: optimiser settings that find flatter minima find them "
                  "at smaller mutual distance on the quotient (after removing rescalings and permutations).",
     "measures": "Spearman's rho over optimiser settings between the setting's mean δE at the stated σ and the "
                 "mean pairwise normalised quotient distance among its seeds, the minimum over datasets",
     "threshold": 0.5, "direction": ">=", "run": run_flat_minima_closer},
    {"id": "pittorino.geodesic-barrier", "paper": PAPER,
     "statement": "Geodesics on the quotient (great circles per unit between aligned canonical forms) have error "
                  "barriers no higher than the straight lines between the same canonical forms.",
     "measures": "the mean over pairs of minimisers (same setting) of geodesic minus straight-line test-error "
                 "barrier (interpolation definition), in percentage points",
     "threshold": 0.0, "direction": "<=", "run": run_geodesic_barrier},
    {"id": "pittorino.chain-connects", "paper": PAPER,
     "statement": "Two minimisers whose straight line has an error barrier of >= 5 points are joined by a fitted "
                  "polygonal chain with one bend whose training error stays within 1 point of its endpoints'.",
     "measures": "max over t of train error along the fitted chain minus the worse endpoint's, in percentage "
                 "points, the maximum over datasets (pair: the largest straight-line excess among seed pairs)",
     "threshold": 1.0, "direction": "<=", "run": run_chain_connects},
    {"id": "pittorino.binary", "paper": PAPER,
     "statement": "The same holds for binary networks: flatter binary minimisers (smaller error rise after "
                  "flipping a fraction p of the weights) generalise better.",
     "measures": "the lower end of the 95% bootstrap interval of Spearman's rho between the flip local energy at "
                 "the stated p (smallest p with mean δE >= 0.01) and test error over all binary minimisers of a "
                 "dataset, the minimum over datasets",
     "threshold": 0.0, "direction": ">=", "run": run_binary},
]
for _c in CLAIMS:
    _c["budgets"] = {k: dict(v) for k, v in _BUDGETS.items()}
