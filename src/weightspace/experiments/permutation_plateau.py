"""Claim brea.permutations-reachable: from a permutation point, all n_k! permutations of the layer at equal loss.

Brea et al. 2019: at a permutation point θ_pp of units i, j (w_i = w_j, a_i = a_j) the plateau
{w_i = w_j, a_i + a_j fixed} is flat, and along it every permutation of the layer is reachable at the
loss L(θ_pp). The construction measured here (every move keeps f, hence L, fixed in exact arithmetic):

  1. plateau segment (a_i, a_j) → (a_i + a_j, 0): unit j becomes a zero-type unit (the "hole") with
     incoming weights h = (w_i, b_i);
  2. role moves (`weightspace.paths.move_role`, three segments each: copy the incoming weights of a
     unit into the hole, move its outgoing weight across, park the freed unit on h) that walk the roles
     of the layer along the cycles of π until slot π(k) holds the role of unit k — a product of
     transpositions with the hole, n − c(π) + (cycles not containing j) moves;
  3. the plateau segment back, ending at π θ_pp exactly.

With θ → θ_pp in front and π θ_pp → π θ behind, the path joins the planted minimum θ to each of its n_k!
permuted copies, rising only to L(θ_pp). Value: the fraction of the n_k! permutations whose route ends
exactly on π θ_pp with max |L − L(θ_pp)| <= 1e-10 along the plateau part.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import torch
from torch import Tensor

from ..critical import move_role, objective, permutation_point, teacher_params
from ..data import load
from ..params import Params
from ..paths import loss_curve, polygonal_chain
from ..plots import new_figure, save_figure
from ..symmetry._config import layout_of

__all__ = ["CLAIMS", "permute_units", "plateau_route", "run"]

DT = torch.float64
EQUAL_LOSS_TOL = 1e-10


def permute_units(params: Mapping[str, Tensor], config: Mapping, layer: int, perm: Sequence[int]) -> Params:
    """π θ: unit k of hidden layer `layer` moved to slot perm[k] (incoming and outgoing weights), f unchanged."""
    lay = layout_of(config, layer, where="permute_units")
    out = dict(params)
    for k, target in enumerate(perm):
        out = lay.set(out, target, lay.get(params, k, "all"))
    return out


def plateau_route(point: Mapping[str, Tensor], config: Mapping, layer: int, i: int, j: int,
                  perm: Sequence[int]) -> tuple[list[Params], int]:
    """(vertices θ_pp, ..., π θ_pp, number of role moves): the equal-loss route on the plateau of units i, j.

    Units i and j of `point` must coincide (a permutation point). See the module docstring for the moves.
    """
    lay = layout_of(config, layer, where="plateau_route")
    n = lay.size
    a_i, a_j = lay.get(point, i, "out"), lay.get(point, j, "out")
    freed = lay.set(lay.set(point, i, {k: a_i[k] + a_j[k] for k in a_i}), j,
                    {k: torch.zeros_like(v) for k, v in a_j.items()})
    home = lay.vector(freed, j, "in")
    target = [0] * n
    for k, p in enumerate(perm):
        target[p] = k
    content, hole = list(range(n)), j  # content[s] = the role slot s holds; role j is the hole
    vertices, moves = [dict(point), freed], 0
    while content != target:
        want = target[hole]
        src = content.index(want) if want != j else next(s for s in range(n) if content[s] != target[s])
        vertices += move_role(vertices[-1], config, layer, src, hole, park=home)
        content[hole], content[src], hole = content[src], j, src
        moves += 1
    vertices.append(permute_units(point, config, layer, perm))
    return vertices, moves


def _exact(a: Mapping[str, Tensor], b: Mapping[str, Tensor]) -> bool:
    return all(torch.equal(a[k], b[k]) for k in a)


def _curve(loss_fn, vertices: list[Params], per_segment: int) -> list[float]:
    segments = len(vertices) - 1
    alphas = [k / (segments * per_segment) for k in range(segments * per_segment + 1)]
    return list(loss_curve(loss_fn, polygonal_chain(vertices), alphas=alphas).loss)


def run(out: Path, *, widths: list[int], n_train: int, p: int = 1, d: int = 2, seed: int = 0,
        per_segment: int = 4) -> dict:
    """For each layer width n_k: every permutation of the teacher's layer reached through the plateau of units 0, 1."""
    t0 = time.perf_counter()
    settings, reached, total, worst = [], 0, 0, 0.0
    fig = new_figure(11, 3.8)
    ax_plateau, ax_full = fig.subplots(1, 2)
    for n in widths:
        data = load("teacher", d=d, r_star=n, p=p, n_train=n_train, n_test=10, seed=seed, dtype=DT)
        theta, config = teacher_params(data)
        loss_fn = objective(config, data)
        l_min = float(loss_fn(theta))
        pp = permutation_point(loss_fn, theta, config, 0, 0, 1)
        rows = []
        for perm in itertools.permutations(range(n)):
            route, moves = plateau_route(pp.params, config, 0, 0, 1, perm)
            freed_target = permute_units(route[1], config, 0, perm)
            exact = _exact(route[-2], freed_target) and _exact(route[-1], permute_units(pp.params, config, 0, perm))
            plateau = _curve(loss_fn, route, per_segment)
            minimum_perm = permute_units(theta, config, 0, perm)
            full = _curve(loss_fn, [theta, *route, minimum_perm], per_segment)
            dev = max(abs(v - pp.loss) for v in plateau)
            ok = exact and dev <= EQUAL_LOSS_TOL
            reached += ok
            worst = max(worst, dev)
            cycles = len({frozenset(_cycle(perm, k)) for k in range(n)})
            rows.append({"perm": list(perm), "transpositions": n - cycles, "moves": moves,
                         "segments": len(route) - 1, "endpoint_exact": exact, "max_plateau_deviation": dev,
                         "end_loss_minus_min": float(loss_fn(minimum_perm)) - l_min,
                         "path_max_loss": max(full), "reached": ok})
            ax_plateau.plot([k / (len(plateau) - 1) for k in range(len(plateau))],
                            [max(abs(v - pp.loss), 1e-20) for v in plateau], lw=0.6, alpha=0.6,
                            color=f"C{widths.index(n)}")
            ax_full.plot([k / (len(full) - 1) for k in range(len(full))], full, lw=0.6, alpha=0.6,
                         color=f"C{widths.index(n)}", label=f"n_k = {n}" if perm == tuple(range(n)) else None)
        total += math.factorial(n)
        settings.append({"n_k": n, "p": p, "n_train": n_train, "seed": seed, "loss_min": l_min,
                         "permutation_point": pp.to_dict(), "permutations": math.factorial(n),
                         "reached": sum(r["reached"] for r in rows), "rows": rows})
    ax_plateau.set_yscale("log")
    ax_plateau.axhline(EQUAL_LOSS_TOL, color="black", ls="--", lw=0.8, label=f"tolerance {EQUAL_LOSS_TOL:g}")
    ax_plateau.set_xlabel("route parameter (θ_pp → π θ_pp)")
    ax_plateau.set_ylabel("|L − L(θ_pp)| on the plateau")
    ax_plateau.legend(fontsize=8)
    ax_full.set_yscale("symlog", linthresh=1e-6)
    ax_full.set_xlabel("path parameter (θ → θ_pp → plateau → π θ_pp → π θ)")
    ax_full.set_ylabel("training loss L")
    ax_full.legend(fontsize=8)
    for ax in (ax_plateau, ax_full):
        ax.grid(alpha=0.3)
    fig.suptitle(f"every permutation of the layer through the plateau of units 0, 1 ({reached}/{total} reached)")
    save_figure(fig, out / "permutations_reachable.png")
    return {
        "value": reached / total,
        "measurements": {"settings": settings, "reached": reached, "total": total,
                         "max_plateau_deviation": worst, "tolerance": EQUAL_LOSS_TOL,
                         "seconds": time.perf_counter() - t0},
        "figures": ["permutations_reachable.png"],
        "seeds": [seed],
        "construction": (f"Planted minimum: the teacher (d = {d}, r* = n_k in {list(widths)}, p = {p}, softplus, "
                         f"{n_train} Gaussian inputs, seed {seed}), float64, L = 0. Permutation point of units 0, 1 "
                         "= the minimum of L on Fix(π_01) from the midpoint of θ and π_01 θ (permutation_point). For "
                         "every π in S_{n_k}: θ → θ_pp, then the plateau route (a_0, a_1) → (a_0 + a_1, 0), role "
                         "moves through the freed unit (three straight segments each, move_role), the plateau segment "
                         "back to π θ_pp, then π θ_pp → π θ; loss evaluated at "
                         f"{per_segment} points per segment. Reached = route ends exactly on π θ_pp and |L − L(θ_pp)| "
                         f"<= {EQUAL_LOSS_TOL:g} on the whole route. The equal loss is the permutation point's, "
                         "above the minimum's; the straight segments θ → θ_pp and π θ_pp → π θ are not "
                         "minimum-energy paths and rise above L(θ_pp) (path_max_loss)."),
        "inconclusive": None,
    }


def _cycle(perm: Sequence[int], k: int) -> tuple[int, ...]:
    out, x = [k], perm[k]
    while x != k:
        out.append(x)
        x = perm[x]
    return tuple(out)


CLAIMS = [
    {
        "id": "brea.permutations-reachable",
        "paper": "brea",
        "statement": "A permutation point opens into a plateau on which all n_k! permutations of the layer are "
                     "reachable at equal loss.",
        "measures": "fraction of the n_k! permutations of a hidden layer reached from the permutation point of units "
                    "0, 1 along an equal-loss route (exact endpoint π θ_pp, |L − L(θ_pp)| <= 1e-10 throughout)",
        "threshold": 1.0,
        "direction": ">=",
        "budgets": {
            "smoke": {"widths": [3], "n_train": 100, "per_segment": 2},
            "quick": {"widths": [3, 4], "n_train": 1000, "per_segment": 4},
            "full": {"widths": [3, 4, 5], "n_train": 2000, "p": 2, "per_segment": 8},
        },
        "run": run,
    },
]
