"""Claims of Simsek et al. 2021 (PAPERS.md §1) and Brea et al. 2019 (§2): records of the claims registry.

Each section function measures one construction (float64, fixed seeds) and writes its figures into `out`;
the records in CLAIMS turn its numbers into the value the registry compares with the threshold:
  simsek.nine-segment-path — teacher r* = 3, student m = 4: two permuted global minima joined by the
     nine-segment path through a zero-type unit at zero loss (also from a trained width-4 student);
  simsek.split-critical-line — a width-2 critical point split into width 3 is a line of critical points;
  brea.permutation-saddle-toy — the toy regression's permutation point is a first-order saddle (CI-NEB);
  brea.zero-eigenvalues — at a permutation point at least n_(k+1) Hessian eigenvalues vanish (p = 1..4);
  brea.multilayer-saddle-wd — permutation points of an MLP 10-6-6-10 on digits with weight decay.
Run them with `weightspace reproduce simsek brea --budget quick --out DIR`.
"""

from __future__ import annotations

import dataclasses
import itertools
from pathlib import Path

import torch

from .. import counting
from ..critical import (
    add_zero_neuron,
    characterize,
    fit_student,
    init_params,
    minimize,
    objective,
    one_hot_regression,
    permutation_point,
    permutation_point_by_split,
    permutation_saddle,
    plateau_facts,
    polygonal_chain,
    split_neuron,
    swap_chain,
    teacher_params,
    transposition,
    zero_form,
)
from ..data import Dataset, load
from ..evaluate import evaluate
from ..models import normalize_config
from ..paths import evaluate_path
from ..plots import plot_band, plot_chain, plot_spectrum, plot_split_family, save_figure
from ..symmetry._config import model_for

DT = torch.float64


def _ev(spectrum, k: int = 6) -> list[float]:
    return [float(v) for v in spectrum.eigenvalues[:k]]


# -- 1. the nine-segment path ----------------------------------------------------------------------------
def nine_segment(out: Path, *, n_train: int = 1000, points: int = 181, student_steps: int = 3000) -> dict:
    data = load("teacher", d=2, r_star=3, p=1, n_train=n_train, n_test=n_train, seed=0, dtype=DT)
    theta, config = teacher_params(data)
    z_in = torch.tensor([0.5, -0.5, 0.25], dtype=DT)  # (w_z, b_z) of the free unit
    start, cfg = add_zero_neuron(theta, config, 0, incoming=z_in)
    vertices = swap_chain(start, cfg, 0, 0, 1, 3)
    target = transposition(cfg, 0, 0, 1).apply(start)
    exact = all(torch.equal(vertices[-1][k], target[k]) for k in start)
    model = model_for(cfg)
    path = polygonal_chain(vertices)
    train = evaluate_path(model, path, data, points=points, split="train")
    test = evaluate_path(model, path, data, points=points, split="test")
    l_min = objective(cfg, data)(start).item()
    section = {
        "claim": "two permuted global minima of a width-(r*+1) student are joined by nine straight segments "
                 "(three three-segment moves through a zero-type unit) along which the loss stays at the minimum",
        "setup": {"teacher": {"d": 2, "r_star": 3, "p": 1, "activation": "softplus", "seed": 0, "n_train": n_train,
                              "n_test": n_train}, "student_width": 4, "swap": [0, 1], "free_unit": 3,
                  "free_unit_incoming": z_in.tolist()},
        "T(r*, m)": counting.T(3, 4),
        "endpoint_exact": exact,
        "loss_min_train": l_min,
        "max_deviation_train": max(abs(v - l_min) for v in train.loss),
        "max_loss_test": max(test.loss),
        "points": len(train.alphas),
    }
    curves = {"teacher + zero unit (train)": train, "teacher + zero unit (test)": test}
    if student_steps:  # a trained width-4 student, moved onto the zero-unit form first
        fit, cfg4 = fit_student(data, 4, seed=0, adam_steps=student_steps, lbfgs_steps=min(student_steps, 2000))
        form, free, kind = zero_form(fit.params, cfg4, 0)
        others = [u for u in range(4) if u != free][:2]
        chain = [fit.params, *form, *swap_chain(form[-1], cfg4, 0, others[0], others[1], free)[1:]]
        student = evaluate_path(model_for(cfg4), polygonal_chain(chain), data, points=points, split="train")
        section["trained_student"] = {
            "fit": fit.to_dict(), "form": kind, "free_unit": free, "swap": others, "segments": len(chain) - 1,
            "max_deviation_train": max(abs(v - fit.loss) for v in student.loss),
            "spectrum_nullity": characterize(objective(cfg4, data), fit.params).nullity,
        }
        curves[f"trained student, {kind} form (train)"] = student
    save_figure(plot_chain(curves, segments=9, reference=0.0, log=True,
                           title="r* = 3, m = 4: the nine-segment path between permuted minima"),
                out / "nine_segment.png")
    section["endpoint_error"] = max(float((vertices[-1][k] - target[k]).abs().max()) for k in start)
    return section


# -- 2. the split line --------------------------------------------------------------------------------------
def split_line(out: Path, *, n_train: int = 1000, lambdas: int = 31, student_steps: int = 3000) -> dict:
    data = load("teacher", d=2, r_star=3, p=1, n_train=n_train, n_test=n_train, seed=0, dtype=DT)
    fit, cfg2 = fit_student(data, 2, seed=0, adam_steps=student_steps, lbfgs_steps=min(student_steps, 2000))
    grid = [round(-1.0 + 3.0 * k / (lambdas - 1), 10) for k in range(lambdas)]  # λ ∈ [−1, 2]
    base = characterize(objective(cfg2, data), fit.params)
    section = {
        "claim": "splitting a width-2 critical point gives a line of critical points in width 3 for every λ "
                 "(Simsek et al.), whose index depends only on whether λ lies in (0, 1)",
        "width2": {"loss": base.loss, "gradient_norm": base.gradient_norm, "index": base.index,
                   "nullity": base.nullity, "smallest_eigenvalues": _ev(base.spectrum, 4)},
        "lambdas": grid,
        "units": {},
    }
    for unit in (0, 1):
        rows = []
        for lam in grid:
            new, cfg3 = split_neuron(fit.params, cfg2, 0, unit, lam)
            cp = characterize(objective(cfg3, data), new)
            rows.append({"lambda": lam, "loss": cp.loss, "gradient_norm": cp.gradient_norm, "index": cp.index,
                         "nullity": cp.nullity, "smallest_eigenvalues": _ev(cp.spectrum, 4)})
        inside = sorted({r["index"] for r in rows if 0 < r["lambda"] < 1})
        outside = sorted({r["index"] for r in rows if r["lambda"] < 0 or r["lambda"] > 1})
        section["units"][str(unit)] = {
            "rows": rows, "max_gradient_norm": max(r["gradient_norm"] for r in rows),
            "loss_spread": max(r["loss"] for r in rows) - min(r["loss"] for r in rows),
            "index_inside_(0,1)": inside, "index_outside_[0,1]": outside,
            "min_nullity": min(r["nullity"] for r in rows),
        }
        save_figure(plot_split_family([r["lambda"] for r in rows], [r["smallest_eigenvalues"] for r in rows],
                                      [r["index"] for r in rows], [r["gradient_norm"] for r in rows],
                                      title=f"width-2 critical point, unit {unit} split with ratio λ (width 3)"),
                    out / f"split_line_unit{unit}.png")
    return section


# -- 3. the permutation saddle on the toy regression --------------------------------------------------------
def toy_saddle(out: Path, *, n_train: int = 200, neb_steps: int = 5000, scan_seeds: int = 6,
               scan_sizes: tuple[int, ...] = (200, 1000), student_steps: int = 3000) -> dict:
    data = load("teacher", d=2, r_star=2, p=1, n_train=n_train, n_test=1000, seed=0, dtype=DT)
    theta, config = teacher_params(data)
    res = permutation_saddle(theta, config, data, 0, 0, 1, neb=True, images=9, neb_steps=neb_steps, points=41)
    loss_fn = objective(config, data)
    fit1, cfg1 = fit_student(data, 1, seed=0, gtol=1e-12, adam_steps=student_steps,
                             lbfgs_steps=min(student_steps, 2000))
    split = permutation_point_by_split(loss_fn, fit1.params, cfg1, 0, 0)
    band = res.band
    gap = {k: float((band.saddle.params[k] - res.point.params[k]).abs().max()) for k in theta}
    w = band.saddle.params["layers.0.weight"]
    section = {
        "claim": "the permutation point of two units is a critical point with >= n_{k+1} zero Hessian eigenvalues "
                 "and can be a first-order saddle on the lowest path between a minimum and its permuted copy "
                 "(Brea et al.)",
        "setup": {"teacher": {"d": 2, "r_star": 2, "p": 1, "activation": "softplus", "seed": 0, "n_train": n_train},
                  "student_width": 2, "units": [0, 1], "n_next": 1},
        "result": res.to_dict(),
        "by_split": {"loss": split.loss, "gradient_norm": split.gradient_norm,
                     "max_param_difference_to_constrained": max(
                         float((split.params[k] - res.point.params[k]).abs().max()) for k in theta)},
        "neb_saddle_vs_permutation_point": {"max_param_difference": gap,
                                            "incoming_gap": float((w[0] - w[1]).norm()),
                                            "loss_difference": band.saddle.loss - res.point.loss},
    }
    save_figure(plot_band(band.positions, band.losses, highest=band.highest,
                          curves={"swap-symmetric path θ → θ_pp → πθ": res.path},
                          title="toy (r* = 2): CI-NEB band and the path through the permutation point"),
                out / "toy_saddle_path.png")
    save_figure(plot_spectrum(res.spectrum, title=f"permutation point: index {res.index}, nullity {res.nullity}"),
                out / "toy_saddle_spectrum.png")
    # how robust is 'index 1'? the same toy over data seeds and sizes
    scan = []
    for seed, n in itertools.product(range(scan_seeds), scan_sizes):
        d = load("teacher", d=2, r_star=2, p=1, n_train=n, n_test=10, seed=seed, dtype=DT)
        t, c = teacher_params(d)
        lf = objective(c, d)
        pp = permutation_point(lf, t, c, 0, 0, 1)
        cp = characterize(lf, pp.params)
        scan.append({"seed": seed, "n_train": n, "loss": cp.loss, "gradient_norm": cp.gradient_norm,
                     "index": cp.index, "nullity": cp.nullity, "smallest_eigenvalues": _ev(cp.spectrum, 3)})
    section["scan"] = scan
    return section


# -- 4. output dimension 2 ------------------------------------------------------------------------------------
def plateau_p2(cases: tuple[tuple[int, int], ...] = ((2, 1), (2, 2), (3, 1), (3, 2), (2, 3), (3, 4)),
               n_train: int = 200) -> dict:
    rows = []
    for r_star, p in cases:
        data = load("teacher", d=2, r_star=r_star, p=p, n_train=n_train, n_test=10, seed=0, dtype=DT)
        theta, config = teacher_params(data)
        loss_fn = objective(config, data)
        pp = permutation_point(loss_fn, theta, config, 0, 0, 1)
        cp = characterize(loss_fn, pp.params)
        facts = plateau_facts(loss_fn, pp)
        rows.append({"r_star": r_star, "p": p, "n_next": p, "loss": pp.loss, "gradient_norm": pp.gradient_norm,
                     "index": cp.index, "nullity": cp.nullity, "brea_count_holds": cp.nullity >= p,
                     "plateau_null_dim": facts.null_dim, "derived_lower_bound": max(1, p - 2 - 1),
                     "plateau": facts.to_dict(), "smallest_eigenvalues": _ev(cp.spectrum, 5)})
    return {
        "claim": "Brea: at a permutation point, >= n_{k+1} Hessian eigenvalues vanish (n_{k+1} = p here)",
        "rows": rows,
        "holds_for_p1": all(r["brea_count_holds"] for r in rows if r["p"] == 1),
        "holds_for_p_ge_2": all(r["brea_count_holds"] for r in rows if r["p"] >= 2),
    }


# -- 5. a multilayer MLP on digits ------------------------------------------------------------------------------
def _digits_pca(k: int) -> Dataset:
    """Digits with inputs projected on the top-k principal components of the training set, whitened."""
    raw = load("digits", dtype=DT)
    x = raw.x_train.reshape(len(raw.x_train), -1)
    mean = x.mean(0)
    _, s, vt = torch.linalg.svd(x - mean, full_matrices=False)
    proj = vt[:k].T / (s[:k] / len(x) ** 0.5)  # (64, k)

    def tr(z: torch.Tensor) -> torch.Tensor:
        return (z.reshape(len(z), -1) - mean) @ proj

    pca = dataclasses.replace(raw, name=f"digits-pca{k}", x_train=tr(raw.x_train), x_test=tr(raw.x_test),
                              meta={**raw.meta, "pca": k})
    return pca


def digits(out: Path, *, weight_decay: float = 1e-3, adam_steps: int = 2000, lbfgs_steps: int = 3000,
           pairs: int = 15, point_steps: int = 2000, newton_steps: int = 30, point_newton: int = 40) -> dict:
    raw = _digits_pca(10)
    data = one_hot_regression(raw)
    config = normalize_config({"name": "mlp", "input_shape": [10], "num_outputs": 10, "widths": [6, 6],
                               "activation": "tanh"})
    loss_fn = objective(config, data, weight_decay=weight_decay)
    fit = minimize(loss_fn, init_params(config, generator=torch.Generator().manual_seed(0)), adam_steps=adam_steps,
                   lbfgs_steps=lbfgs_steps, newton_steps=newton_steps, gtol=1e-10)
    base = characterize(loss_fn, fit.params)
    model = model_for(config)
    acc = evaluate(model, raw, "test", params=fit.params)["accuracy"]
    rows = []
    for layer in (0, 1):
        for i, j in list(itertools.combinations(range(6), 2))[:pairs]:
            pp = permutation_point(loss_fn, fit.params, config, layer, i, j, gtol=1e-10, lbfgs_steps=point_steps,
                                   newton_steps=point_newton)
            cp = characterize(loss_fn, pp.params)
            rows.append({"layer": layer, "units": [i, j], "n_next": 6 if layer == 0 else 10, "loss": pp.loss,
                         "gradient_norm": pp.gradient_norm, "index": cp.index, "nullity": cp.nullity,
                         "smallest_eigenvalues": _ev(cp.spectrum, 3)})
    best = min((r for r in rows if r["gradient_norm"] <= 1e-8), key=lambda r: (r["index"], r["loss"]), default=None)
    section = {
        "claim": "permutation points of a multilayer MLP are critical points; some are first-order saddles (Brea)",
        "setup": {"data": "digits, inputs = top-10 principal components (whitened), 1437 train / 360 test",
                  "model": "MLP 10-6-6-10, tanh", "loss": "squared error on one-hot targets + (wd/2)||θ||²",
                  "weight_decay": weight_decay, "why": "in trials without weight decay (inputs PCA-16 with 8-8 tanh "
                  "units; PCA-10 with 6-6 softplus) the squared loss did not converge — ||∇L|| stalled at 7e-6 "
                  "and 3e-2, with up to 140 near-zero Hessian eigenvalues — and the cross-entropy alone has no "
                  "finite minimum on separable data"},
        "minimum": {"loss": base.loss, "gradient_norm": base.gradient_norm, "index": base.index,
                    "nullity": base.nullity, "test_accuracy_argmax": acc, "fit": fit.to_dict()},
        "rows": rows,
        "index_histogram": {str(k): sum(r["index"] == k for r in rows) for k in sorted({r["index"] for r in rows})},
        "converged": sum(r["gradient_norm"] <= 1e-8 for r in rows),
        "lowest_index_point": best,
    }
    if best is not None:
        pp = permutation_point(loss_fn, fit.params, config, best["layer"], *best["units"], gtol=1e-10,
                               lbfgs_steps=point_steps, newton_steps=point_newton)
        facts = plateau_facts(loss_fn, pp)
        section["lowest_index_point"]["plateau"] = facts.to_dict()
        curve = evaluate_path(model, polygonal_chain([fit.params, pp.params, transposition(
            config, best["layer"], *best["units"]).apply(fit.params)]), data, points=41, split="train")
        title = f"digits MLP: layer {best['layer']}, units {best['units']}, index {best['index']}"
        save_figure(plot_chain({"θ → θ_pp → πθ (squared loss, no wd term)": curve}, segments=2, title=title),
                    out / "digits_path.png")
        save_figure(plot_spectrum(characterize(loss_fn, pp.params).spectrum), out / "digits_spectrum.png")
        section["plots"] = ["digits_path.png", "digits_spectrum.png"]
    return section




# -- the claim records ----------------------------------------------------------------------------------------
TEACHER = "teacher–student regression: softplus teacher with d = 2 Gaussian inputs, p = 1 output, seed 0, float64"


def _nine_segment(out: Path, **budget) -> dict:
    sec = nine_segment(out, **budget)
    dev = max(sec["max_deviation_train"], sec.get("trained_student", {}).get("max_deviation_train", 0.0))
    return {"value": max(dev, sec["endpoint_error"]), "measurements": sec, "figures": ["nine_segment.png"],
            "seeds": [0],
            "construction": f"{TEACHER}, r* = 3, {sec['setup']['teacher']['n_train']} training inputs. Start: the "
                            "teacher plus a zero-type unit (a_z = 0); units 0 and 1 exchanged through the free unit "
                            "by three three-segment moves (nine straight segments). Also (unless the budget's "
                            "student_steps is 0) from a trained width-4 student (Adam, L-BFGS, Newton), first moved "
                            "onto its zero/duplicate form. The value is "
                            "the largest |L − L_min| on the training set along both paths and the endpoint's "
                            "distance to π₀₁θ."}


def _split_line(out: Path, **budget) -> dict:
    sec = split_line(out, **budget)
    base = sec["width2"]["gradient_norm"]
    return {"value": max(u["max_gradient_norm"] for u in sec["units"].values()), "measurements": sec,
            "inconclusive": f"the width-2 student is not critical (||∇L|| = {base:.2g} > 1e-8): too few optimisation "
                            "steps" if base > 1e-8 else None,
            "figures": ["split_line_unit0.png", "split_line_unit1.png"], "seeds": [0],
            "construction": f"{TEACHER}, r* = 3. The best width-2 student (Adam, L-BFGS, Newton polish) is a "
                            "critical point of the width-2 loss; each of its units is split with ratio λ over "
                            f"{len(sec['lambdas'])} values in [−1, 2] and the width-3 gradient and Hessian "
                            "(index, nullity) measured at every λ."}


def _toy_saddle(out: Path, **budget) -> dict:
    sec = toy_saddle(out, **budget)
    res = sec["result"]
    band = res["band"]
    reason = None
    if res["gradient_norm"] > 1e-8:
        reason = f"the permutation point did not converge (||∇L|| = {res['gradient_norm']:.2g} > 1e-8)"
    sec["neb_index_1"] = bool(band["converged"] and band["saddle"]["index"] == 1)
    return {"value": abs(res["index"] - 1), "measurements": sec, "inconclusive": reason,
            "figures": ["toy_saddle_path.png", "toy_saddle_spectrum.png"], "seeds": [0],
            "construction": f"{TEACHER}, r* = 2, student n = 2 (= the teacher). The permutation point of units 0 "
                            "and 1 is the minimum of the loss on the fixed set of their swap (L-BFGS + Newton); its "
                            "Hessian index is counted with a relative threshold. A CI-NEB band (9 images, FIRE) "
                            "between θ and its permuted copy checks that the lowest path crosses it; a scan over "
                            "data seeds and sizes shows how robust index 1 is."}


def _zero_eigenvalues(out: Path, **budget) -> dict:
    sec = plateau_p2(**budget)
    return {"value": min(r["nullity"] - r["n_next"] for r in sec["rows"]), "measurements": sec, "figures": [],
            "seeds": [0],
            "construction": f"{TEACHER.replace('p = 1 output', 'p outputs')}; the teacher of width r* itself is the "
                            "minimum and the permutation point of its units 0, 1 is the constrained minimum on the "
                            "fixed set of the swap. Cases (r*, p) = "
                            + ", ".join(f"({r['r_star']}, {r['p']})" for r in sec["rows"]) + "; nullity from the "
                            "dense Hessian with a relative threshold; the plateau's flatness is measured too "
                            "(`plateau`). The count holds for p = 1; for p ≥ 2 the plateau is flat but only "
                            "p − rank M of its directions are null."}


def _digits_saddle(out: Path, **budget) -> dict:
    sec = digits(out, **budget)
    best = sec["lowest_index_point"]
    return {"value": None if best is None else best["index"], "measurements": sec,
            "figures": sec.get("plots", []), "seeds": [0],
            "inconclusive": None if best is not None else "no permutation point converged to ||∇L|| <= 1e-8",
            "construction": "digits, inputs projected on the top-10 principal components (whitened); MLP 10-6-6-10, "
                            "tanh; squared error on one-hot targets plus (wd/2)||θ||² with wd = "
                            f"{sec['setup']['weight_decay']} (without it the squared loss did not converge). The "
                            "minimum from Adam, L-BFGS and Newton; permutation points of "
                            f"{len(sec['rows'])} unit pairs over both hidden layers; the value is the lowest Hessian "
                            "index among the converged ones."}


CLAIMS = [
    {"id": "simsek.nine-segment-path", "paper": "simsek",
     "statement": "Adding one neuron to a width-r* network at zero loss connects its r*! isolated global minima: "
                  "two permuted minima are joined by nine straight segments (three three-segment moves through a "
                  "zero-type unit) along which the loss stays at the minimum.",
     "measures": "largest |L − L_min| along the nine-segment paths and endpoint error (training loss)",
     "threshold": 1e-10, "direction": "<=",
     "budgets": {"smoke": {"n_train": 100, "points": 19, "student_steps": 0},
                 "quick": {"n_train": 1000, "points": 181, "student_steps": 3000},
                 "full": {"n_train": 10000, "points": 721, "student_steps": 10000}},
     "run": _nine_segment},
    {"id": "simsek.split-critical-line", "paper": "simsek",
     "statement": "Splitting a neuron of a width-r critical point (outgoing weights λa and (1 − λ)a) gives a "
                  "critical point of the width-(r + 1) loss for every λ: a line of critical points.",
     "measures": "largest gradient norm ||∇L|| over λ ∈ [−1, 2] and both split units",
     "threshold": 1e-8, "direction": "<=",
     "budgets": {"smoke": {"n_train": 100, "lambdas": 4, "student_steps": 300},
                 "quick": {"n_train": 1000, "lambdas": 31, "student_steps": 3000},
                 "full": {"n_train": 10000, "lambdas": 121, "student_steps": 10000}},
     "run": _split_line},
    {"id": "brea.permutation-saddle-toy", "paper": "brea",
     "statement": "On the one-hidden-layer toy regression the permutation point of two units is a first-order "
                  "saddle (a permutation saddle) on the path between a minimum and its permuted copy.",
     "measures": "|index − 1| of the permutation point's Hessian (0: a first-order saddle)",
     "threshold": 0, "direction": "<=",
     "budgets": {"smoke": {"n_train": 50, "neb_steps": 50, "scan_seeds": 1, "scan_sizes": (50,),
                           "student_steps": 100},
                 "quick": {"n_train": 200, "neb_steps": 5000, "scan_seeds": 6, "scan_sizes": (200, 1000),
                           "student_steps": 3000},
                 "full": {"n_train": 200, "neb_steps": 20000, "scan_seeds": 20, "scan_sizes": (200, 1000, 5000),
                          "student_steps": 10000}},
     "run": _toy_saddle},
    {"id": "brea.zero-eigenvalues", "paper": "brea",
     "statement": "Permutation points are critical points with at least n_(k+1) vanishing Hessian eigenvalues "
                  "(n_(k+1) = the width of the next layer, here the output dimension p).",
     "measures": "smallest (Hessian nullity − n_(k+1)) over the cases (r*, p)",
     "threshold": 0, "direction": ">=",
     "budgets": {"smoke": {"cases": ((2, 1), (2, 2)), "n_train": 50},
                 "quick": {"cases": ((2, 1), (2, 2), (3, 1), (3, 2), (2, 3), (3, 4)), "n_train": 200},
                 "full": {"cases": ((2, 1), (2, 2), (3, 1), (3, 2), (2, 3), (3, 4), (4, 1), (4, 4), (5, 6)),
                          "n_train": 2000}},
     "run": _zero_eigenvalues},
    {"id": "brea.multilayer-saddle-wd", "paper": "brea",
     "statement": "Permutation saddles also occur in multilayer networks: some permutation points of a multilayer "
                  "MLP (here on digits, with weight decay) are first-order saddles.",
     "measures": "lowest Hessian index among the converged permutation points",
     "threshold": 1, "direction": "<=",
     "budgets": {"smoke": {"adam_steps": 50, "lbfgs_steps": 20, "pairs": 1, "point_steps": 20, "newton_steps": 1,
                           "point_newton": 1},
                 "quick": {"adam_steps": 2000, "lbfgs_steps": 3000, "pairs": 15},
                 "full": {"adam_steps": 5000, "lbfgs_steps": 10000, "pairs": 15}},
     "run": _digits_saddle},
]
