"""The claims registry: verdicts from thresholds, every PAPERS.md claim covered by a smoke run, bad input refused."""

import json
import math

import pytest

from weightspace.cli import main
from weightspace.errors import ConfigError
from weightspace.reproduce import COVERAGE, FAILS, HOLDS, INCONCLUSIVE, PAPERS, claims, select, verdict


def run(capsys, *argv):
    with pytest.raises(SystemExit) as stop:
        main(list(argv))
    out, err = capsys.readouterr()
    return stop.value.code or 0, out, err


# -- verdict rules -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("value, threshold, direction, expected", [
    (0.5, 0.2, "<=", FAILS),      # above an upper threshold
    (0.1, 0.2, "<=", HOLDS),
    (0.2, 0.2, "<=", HOLDS),      # the threshold itself is inside
    (-1, 0, ">=", FAILS),         # below a lower threshold
    (3, 0, ">=", HOLDS),
    (0, 0, ">=", HOLDS),
    (1e-7, 1e-10, "<=", FAILS),
])
def test_verdict_follows_threshold_and_direction(value, threshold, direction, expected):
    assert verdict(value, threshold, direction) == expected


@pytest.mark.parametrize("value, reason", [(None, None), (0.0, "too few seeds at this budget"), (math.nan, None),
                                           (math.inf, None)])
def test_verdict_inconclusive_without_a_finite_value_or_with_a_reason(value, reason):
    assert verdict(value, 1.0, "<=", reason) == INCONCLUSIVE
    assert verdict(value, 1.0, ">=", reason) == INCONCLUSIVE


@pytest.mark.parametrize("value, direction", [(1.0, "<"), (1.0, "=="), ("small", "<="), (True, "<=")])
def test_verdict_refuses_bad_direction_or_value(value, direction):
    with pytest.raises(ConfigError):
        verdict(value, 1.0, direction)


# -- the registry --------------------------------------------------------------------------------------------------
def test_registry_records_follow_the_format():
    records = claims()
    ids = [r["id"] for r in records]
    assert len(ids) == len(set(ids))
    assert [r["paper"] for r in records] == sorted((r["paper"] for r in records), key=list(PAPERS).index)
    for r in records:
        assert r["id"].split(".")[0] == r["paper"] and r["direction"] in ("<=", ">=")
        assert set(r["budgets"]) == {"smoke", "quick", "full"} and callable(r["run"])
        assert r["statement"] and r["measures"]
    missing = set(COVERAGE) - set(ids)
    assert not missing, f"claims of PAPERS.md without a record: {sorted(missing)}"


def test_select_by_paper_id_and_all():
    records = claims()
    assert select(records, ["all"]) == records
    assert {r["paper"] for r in select(records, ["zhao"])} == {"zhao"}
    assert [r["id"] for r in select(records, ["zhao.rescaling", "zhao"])] == \
        [r["id"] for r in records if r["paper"] == "zhao"]
    with pytest.raises(ConfigError, match="unknown paper or claim id"):
        select(records, ["nosuchpaper"])


# -- the smoke run (all claims, toy sizes) ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def smoke(reproduce_smoke):
    out, code, err = reproduce_smoke
    assert code == 0, err
    return out, json.loads((out / "results.json").read_text())


def test_smoke_run_records_environment_and_every_verdict_from_its_threshold(smoke):
    out, results = smoke
    assert results["budget"] == "smoke" and results["finished"] and results["cores"] >= 1
    assert {"commit", "clean", "weightspace", "torch", "python", "seconds"} <= set(results)
    for cid, c in results["claims"].items():
        assert c["error"] is None, f"{cid}: {c['error']}"
        assert c["verdict"] == verdict(c["value"], c["threshold"], c["direction"], c["inconclusive"])
        assert c["seconds"] >= 0 and isinstance(c["measurements"], dict) and c["construction"]
        for f in c["figures"]:
            assert (out / f).is_file() and (out / f).stat().st_size > 0 and f.startswith(cid + "/")
    assert (out / "report.html").is_file()


@pytest.mark.parametrize("cid", COVERAGE)
def test_smoke_run_covers_every_claim_of_the_papers(smoke, cid):
    assert cid in smoke[1]["claims"]


def test_smoke_verdicts_are_the_mathematically_expected_ones(smoke):
    """Exact constructions must hold even at toy sizes; Brea's count fails for p >= 2 (PAPERS.md §2)."""
    c = smoke[1]["claims"]
    for cid in ("simsek.nine-segment-path", "simsek.subspace-counts", "brea.point-count", "zhao.components",
                "zhao.skip-components", "zhao.rescaling", "zhao.orbit-constant-loss", "zhao.chord-within-dmax",
                "zhao.permutation-connects"):
        assert c[cid]["verdict"] == HOLDS, (cid, c[cid]["value"])
    assert c["brea.zero-eigenvalues"]["verdict"] == FAILS and c["brea.zero-eigenvalues"]["value"] < 0


def test_rerun_resumes_and_report_rerenders(smoke, capsys):
    out, results = smoke
    code, _, err = run(capsys, "reproduce", "zhao.rescaling", "--budget", "smoke", "--out", str(out))
    assert code == 0, err
    again = json.loads((out / "results.json").read_text())
    assert again["claims"]["zhao.rescaling"] == results["claims"]["zhao.rescaling"]  # kept, not re-run
    assert set(again["claims"]) == set(results["claims"])
    (out / "report.html").unlink()
    code, _, err = run(capsys, "report", str(out))
    assert code == 0, err
    assert (out / "report.html").is_file()


# -- bad input: one line, exit 2 -----------------------------------------------------------------------------------
def _one_line_error(capsys, *argv, match):
    code, _, err = run(capsys, *argv)
    assert code == 2 and err.count("\n") == 1 and err.startswith("error: ") and match in err, err


def test_unknown_paper_claim_or_budget(capsys, tmp_path):
    out = str(tmp_path / "r")
    _one_line_error(capsys, "reproduce", "nosuchpaper", "--budget", "smoke", "--out", out,
                    match="unknown paper or claim id")
    _one_line_error(capsys, "reproduce", "zhao.nosuchclaim", "--budget", "smoke", "--out", out,
                    match="unknown paper or claim id")
    _one_line_error(capsys, "reproduce", "zhao", "--budget", "huge", "--out", out, match="unknown budget")
    _one_line_error(capsys, "reproduce", "zhao", "--budget", "smoke", "--executor", "slurm", "--out", out,
                    match="only 'local'")
    assert not (tmp_path / "r").exists()


def test_folder_of_another_commit_refused_unless_force(capsys, tmp_path):
    out = tmp_path / "r"
    out.mkdir()
    (out / "results.json").write_text(json.dumps({"commit": "0" * 40, "budget": "smoke", "claims": {}}))
    _one_line_error(capsys, "reproduce", "simsek.subspace-counts", "--budget", "smoke", "--out", str(out),
                    match="pass --force")
    code, _, err = run(capsys, "reproduce", "simsek.subspace-counts", "--budget", "smoke", "--out", str(out),
                       "--force")
    assert code == 0, err
    results = json.loads((out / "results.json").read_text())
    assert results["commit"] != "0" * 40 and list(results["claims"]) == ["simsek.subspace-counts"]


def test_report_of_a_folder_without_results(capsys, tmp_path):
    _one_line_error(capsys, "report", str(tmp_path), match="holds no results.json")
    (tmp_path / "results.json").write_text("{truncated")
    _one_line_error(capsys, "report", str(tmp_path), match="unreadable")
