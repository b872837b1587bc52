"""The claims registry: the claim records of every claim module, checked against the shared record format.

A claim module under `weightspace.experiments` exports `CLAIMS`, a list of plain dicts (docs/reproduce.md):
id "<paper>.<slug>", paper, statement, measures, threshold, direction ("<=" or ">="), budgets
{smoke, quick, full} (keyword arguments of run) and run(out, **budget) -> {value, measurements, figures,
seeds, construction, inconclusive}. To add claims, append the module's name to CLAIM_MODULES.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Iterable

from ..errors import ConfigError

__all__ = ["BUDGETS", "CLAIM_MODULES", "COVERAGE", "PAPERS", "claims", "select"]

# The claim modules, in report order within a paper. Append yours here (one place).
CLAIM_MODULES: list[str] = [
    "critical_claims",
    "zero_neuron",
    "permutation_plateau",
    "multilayer_saddle",
    "counting_claims",
    "connectivity_claims",
    "gpt_alignment",
    "continuous_claims",
    "curve_bound",
    "pittorino",
]

BUDGETS = ("smoke", "quick", "full")

PAPERS: dict[str, str] = {
    "simsek": "Simsek et al. 2021 — symmetry-induced critical points and the global-minima manifold",
    "brea": "Brea et al. 2019 — permutation points and permutation saddles",
    "sharma": "Sharma et al. 2024 — simultaneous linear connectivity modulo permutation",
    "zhao": "Zhao et al. 2025 — mode connectivity via parameter-space symmetry",
    "pittorino": "Pittorino et al. 2022 — deep networks on toroids",
}

# Every claim of shared/PAPERS.md, by id: a full run must report each of them.
COVERAGE: tuple[str, ...] = (
    "simsek.nine-segment-path",
    "simsek.split-critical-line",
    "simsek.zero-neuron-residual",
    "simsek.subspace-counts",
    "simsek.mild-vs-vast",
    "brea.permutation-saddle-toy",
    "brea.zero-eigenvalues",
    "brea.permutations-reachable",
    "brea.multilayer-saddle",
    "brea.point-count",
    "sharma.weak-lmc",
    "sharma.trajectory",
    "sharma.imp",
    "sharma.width-simplex",
    "sharma.transformer-alignment",
    "zhao.components",
    "zhao.skip-components",
    "zhao.permutation-connects",
    "zhao.orbit-constant-loss",
    "zhao.chord-within-dmax",
    "zhao.rescaling",
    "zhao.curvature-bound",
    "pittorino.flatness-generalisation",
    "pittorino.flat-minima-closer",
    "pittorino.geodesic-barrier",
    "pittorino.chain-connects",
    "pittorino.binary",
)

_ID = re.compile(r"^([a-z]+)\.[a-z0-9]+(-[a-z0-9]+)*$")
_KEYS = ("id", "paper", "statement", "measures", "threshold", "direction", "budgets", "run")


def _check(record: dict, module: str) -> dict:
    """Refuse a record that breaks the shared format, naming the module and the field."""
    missing = [k for k in _KEYS if k not in record]
    if missing:
        raise ConfigError(f"claim record in {module} lacks {', '.join(missing)}")
    cid = record["id"]
    m = _ID.match(str(cid))
    if m is None or m.group(1) != record["paper"] or record["paper"] not in PAPERS:
        raise ConfigError(f"claim id {cid!r} in {module} is not '<paper>.<slug>' with paper one of "
                          f"{', '.join(PAPERS)} and equal to its 'paper' field")
    if record["direction"] not in ("<=", ">="):
        raise ConfigError(f"claim {cid}: direction must be '<=' or '>=', not {record['direction']!r}")
    if set(record["budgets"]) != set(BUDGETS):
        raise ConfigError(f"claim {cid}: budgets must be exactly {', '.join(BUDGETS)}")
    if not callable(record["run"]):
        raise ConfigError(f"claim {cid}: run is not callable")
    return record


def claims(modules: Iterable[str] = CLAIM_MODULES) -> list[dict]:
    """Every claim record, checked, in paper order (PAPERS) and module order within a paper; ids unique."""
    records: list[dict] = []
    for name in modules:
        module = importlib.import_module(f"weightspace.experiments.{name}")
        records += [_check(r, name) for r in module.CLAIMS]
    ids = [r["id"] for r in records]
    twice = sorted({i for i in ids if ids.count(i) > 1})
    if twice:
        raise ConfigError(f"claim ids defined twice: {', '.join(twice)}")
    order = list(PAPERS)
    return sorted(records, key=lambda r: order.index(r["paper"]))


def select(records: list[dict], wanted: Iterable[str]) -> list[dict]:
    """The records named by `wanted`: 'all', paper keys, or claim ids (registry order, no repeats)."""
    wanted = list(wanted) or ["all"]
    known = {r["id"] for r in records}
    for w in wanted:
        if w != "all" and w not in PAPERS and w not in known:
            raise ConfigError(f"unknown paper or claim id {w!r}; papers: {', '.join(PAPERS)} (or 'all'); "
                              "claim ids: `weightspace reproduce --list`")
    chosen = [r for r in records if "all" in wanted or r["paper"] in wanted or r["id"] in wanted]
    if not chosen:
        raise ConfigError(f"no claims registered yet for {', '.join(wanted)}")
    return chosen
