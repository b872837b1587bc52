"""The Pittorino et al. reproduction: its statistics against scipy.stats, the chain's error criterion, the claim
records, and a study that trains through the sweep and reuses its finished jobs."""

import numpy as np
import pytest
from scipy.stats import spearmanr

from weightspace import sweep
from weightspace.errors import ConfigError
from weightspace.experiments import pittorino
from weightspace.experiments._pittorino import bootstrap_spearman, excess_error, spearman

X = [0.3, 0.1, 0.4, 0.1, 0.5, 0.9, 0.2, 0.6, 0.5, 0.3, 0.7, 0.8]
Y = [2.0, 1.0, 3.5, 1.5, 2.5, 5.0, 0.5, 4.0, 3.0, 3.0, 4.5, 2.0]


def test_spearman_is_the_closed_form_without_ties_and_scipy_with_ties():
    x, y = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0], [2.0, 1.0, 4.0, 3.0, 6.0, 5.0]
    d2 = sum((a - b) ** 2 for a, b in zip([1, 2, 3, 4, 5, 6], [2, 1, 4, 3, 6, 5], strict=True))
    assert spearman(x, y) == pytest.approx(1 - 6 * d2 / (6 * 35), abs=1e-12)
    assert spearman(X, Y) == pytest.approx(spearmanr(X, Y).statistic, abs=1e-12)


def test_bootstrap_interval_is_the_percentile_interval_of_scipy_spearman_over_the_same_resamples():
    lo, hi = bootstrap_spearman(X, Y, resamples=300, level=0.9, seed=7)
    idx = np.random.default_rng(7).integers(0, len(X), size=(300, len(X)))
    x, y = np.asarray(X)[idx], np.asarray(Y)[idx]
    keep = (np.ptp(x, axis=1) > 0) & (np.ptp(y, axis=1) > 0)
    rho = [spearmanr(a, b).statistic for a, b, k in zip(x, y, keep, strict=True) if k]
    assert (lo, hi) == pytest.approx(tuple(np.quantile(rho, [0.05, 0.95])), abs=1e-12)
    assert lo <= spearman(X, Y) <= hi


def test_bootstrap_of_a_monotone_relation_is_one_and_bad_input_is_refused():
    x = np.arange(8.0)
    assert bootstrap_spearman(x, np.exp(x), resamples=100) == (1.0, 1.0)
    assert bootstrap_spearman(x, -x, resamples=100) == (-1.0, -1.0)
    with pytest.raises(ConfigError, match="same length"):
        bootstrap_spearman([1, 2, 3], [1, 2])


def test_chain_criterion_is_the_rise_above_the_worse_endpoint():
    assert excess_error([0.10, 0.30, 0.20]) == pytest.approx(0.10)
    assert excess_error([0.10, 0.05, 0.20]) == 0.0
    assert excess_error([0.02, 0.031, 0.025, 0.01]) == pytest.approx(0.011)
    with pytest.raises(ConfigError, match="two or more"):
        excess_error([0.1])


def test_claim_records_follow_the_format_and_quick_is_large_enough():
    ids = [c["id"] for c in pittorino.CLAIMS]
    assert ids == ["pittorino.flatness-generalisation", "pittorino.flat-minima-closer", "pittorino.geodesic-barrier",
                   "pittorino.chain-connects", "pittorino.binary"]
    for c in pittorino.CLAIMS:
        assert c["paper"] == "pittorino" and c["direction"] in ("<=", ">=") and callable(c["run"])
        assert set(c["budgets"]) == {"smoke", "quick", "full"}
        q = c["budgets"]["quick"]
        assert len(q["seeds"]) >= 5 and len(q["settings"]) >= 5 and len(q["binary_settings"]) >= 5
        assert set(q["datasets"]) == {"digits", "mnist1d"} and q["sigmas"][0] == q["fractions"][0] == 0.0


def test_claims_share_the_sweep_and_recompute_from_its_measurements(tmp_path, one_thread):
    smoke = pittorino.CLAIMS[0]["budgets"]["smoke"]
    (tmp_path / "a").mkdir()
    first = pittorino.run_flatness_generalisation(tmp_path / "a", **smoke)
    work = tmp_path / "_work" / "pittorino" / "smoke"
    (folder,) = [p for p in work.iterdir() if p.name.startswith("digits-mlp-")]
    before = sweep.status(folder)
    assert before["done"] == before["total"] == 8  # 2 settings x 2 seeds: 4 minimisers + 4 flatness jobs
    assert all((tmp_path / "a" / f).is_file() for f in first["figures"])
    assert first["inconclusive"]  # smoke: 2 seeds x 2 settings
    digits = first["measurements"]["datasets"]["digits"]
    rows = digits["minimisers"]
    assert all(r["local_energy"][0] == 0.0 for r in rows)  # δE(θ, 0) = 0
    mean = np.mean([r["local_energy"] for r in rows], axis=0)  # the stated σ: first mean δE >= the floor, else the last
    hit = [s for s, e in zip(smoke["sigmas"], mean, strict=True) if s > 0 and e >= smoke["energy_floor"]]
    assert digits["level"] == (hit[0] if hit else smoke["sigmas"][-1])
    x, y = [r["flatness"] for r in rows], [r["test_error"] for r in rows]
    assert first["value"] == bootstrap_spearman(x, y, resamples=smoke["resamples"], seed=0)[0]
    (tmp_path / "b").mkdir()
    second = pittorino.run_flat_minima_closer(tmp_path / "b", **smoke)
    after = sweep.status(folder)
    assert after["attempts"] == before["attempts"] and after["done"] == before["done"]  # nothing trained again
    per = second["measurements"]["datasets"]["digits"]["settings"]
    assert set(per) == set(smoke["settings"]) and all(0 <= v["mean_distance"] <= 1 for v in per.values())
