"""Sweeps: job identity, the run store, resuming after SIGKILL and SIGINT, failures, bad input, the CLI."""

import contextlib
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import weightspace as ws
from weightspace import sweep
from weightspace.cli import main

TINY = {"model": "mlp", "depth": 1, "width": 4, "dataset": "teacher", "epochs": 2, "batch_size": 64}
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def toml(path, task, grid, fixed=None):
    def value(v):  # TOML values: JSON's scalars and arrays, inline tables
        if isinstance(v, dict):
            return "{" + ", ".join(f"{k} = {value(x)}" for k, x in v.items()) + "}"
        return json.dumps(v)
    lines = [f'task = "{task}"', "[grid]", *(f"{k} = {value(v)}" for k, v in grid.items()), "[fixed]",
             *(f"{k} = {value(v)}" for k, v in (fixed or {}).items())]
    path.write_text("\n".join(lines) + "\n")
    return path


def store_rows(folder):
    with contextlib.closing(sqlite3.connect(folder / "sweep.sqlite")) as db:
        return db.execute("SELECT key, status, attempts, error FROM jobs ORDER BY seq").fetchall()


def cli(*args):
    return subprocess.Popen([sys.executable, "-c", "import sys; from weightspace.cli import main; main(sys.argv[1:])",
                             *map(str, args)], env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def test_a_key_is_the_task_config_and_version_and_nothing_else(monkeypatch):
    a = sweep.Job("train", {"seed": 1, "lr": 0.1, "config": {"bias": True, "activation": "relu"}})
    b = sweep.Job("train", {"config": {"activation": "relu", "bias": True}, "lr": 0.1, "seed": 1})
    assert a.key == b.key and len(a.key) == 16
    others = {sweep.Job("train", {**a.config, "seed": 2}).key, sweep.Job("barrier", a.config).key,
              sweep.Job("train", {**a.config, "lr": 0.1000001}).key}
    assert a.key not in others and len(others) == 3
    before = a.key
    monkeypatch.setattr(ws, "__version__", "9.9.9")
    assert a.key != before  # a new version recomputes everything


def test_a_grid_is_the_cartesian_product_with_seeds_from_the_config():
    s = sweep.Sweep("train", {"seed": [0, 1, 2], "lr": [0.1, 0.2]}, {"epochs": 1})
    jobs = s.jobs()
    assert [(j.config["seed"], j.config["lr"]) for j in jobs] == [(s_, lr) for s_ in (0, 1, 2) for lr in (0.1, 0.2)]
    assert all(j.config["epochs"] == 1 for j in jobs) and len({j.key for j in jobs}) == 6
    reordered = sweep.Sweep("train", {"lr": [0.2, 0.1], "seed": [2, 1, 0]}, {"epochs": 1})
    assert {j.key for j in reordered.jobs()} == {j.key for j in jobs}  # call order never enters a job


def test_barrier_jobs_need_their_two_training_runs():
    job = sweep.Sweep("barrier", {"seeds": [[0, 1], [0, 2]]}, {**TINY, "method": "weight"}).jobs()[0]
    a, b = job.needs()
    assert (a.task, a.config["seed"], b.config["seed"]) == ("train", 0, 1)
    assert {k: v for k, v in a.config.items() if k != "seed"} == TINY


@pytest.mark.parametrize("task,grid,fixed,message", [
    ("fly", {"seed": [0]}, {}, "unknown task 'fly'"),
    ("train", {"seed": [0], "wings": [2]}, {}, "task 'train' takes no key 'wings'"),
    ("train", {}, {"seed": 0}, "the grid of task 'train' is empty"),
    ("train", {"seed": []}, {}, "grid key 'seed' must be a non-empty list"),
])
def test_bad_sweep_files_are_one_line_errors(tmp_path, capsys, task, grid, fixed, message):
    cfg = toml(tmp_path / "s.toml", task, grid, fixed)
    with pytest.raises(SystemExit) as e:
        main(["sweep", "run", str(cfg), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert e.value.code == 2 and message in err and err.count("\n") == 1
    assert not (tmp_path / "out").exists()


def test_a_non_toml_file_and_another_sweeps_folder_are_refused(tmp_path, capsys, one_thread):
    bad = tmp_path / "s.toml"
    bad.write_text("task = train\n[grid\n")
    with pytest.raises(SystemExit) as e:
        main(["sweep", "run", str(bad), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert e.value.code == 2 and "is not a TOML sweep file" in err and err.count("\n") == 1
    sweep.run({"task": "train", "grid": {"seed": [0]}, "fixed": TINY}, tmp_path / "out")
    other = toml(tmp_path / "o.toml", "train", {"seed": [0]}, {**TINY, "epochs": 3})
    with pytest.raises(SystemExit) as e:
        main(["sweep", "run", str(other), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert e.value.code == 2 and "holds another sweep" in err and err.count("\n") == 1
    assert [r[1:3] for r in store_rows(tmp_path / "out")] == [("done", 1)]


def test_a_failing_cell_is_recorded_and_the_others_finish(tmp_path, capsys, one_thread):
    cfg = toml(tmp_path / "s.toml", "train", {"lr": [0.05, -1.0, 0.1]}, TINY)
    with pytest.raises(SystemExit) as e:
        main(["sweep", "run", str(cfg), "--out", str(tmp_path / "out"), "--format", "json"])
    assert e.value.code == 1
    assert json.loads(capsys.readouterr().out)["failed"] == 1
    rows = store_rows(tmp_path / "out")
    assert [r[1] for r in rows] == ["done", "failed", "done"]
    assert rows[1][3] == "train: lr must be a positive finite number, got -1.0"
    assert sorted(p.name for p in (tmp_path / "out" / "jobs").iterdir()) == sorted([rows[0][0], rows[2][0]])
    with pytest.raises(SystemExit) as e:
        main(["sweep", "results", str(tmp_path / "out")])
    assert e.value.code == 0
    records = json.loads(capsys.readouterr().out)
    assert [sorted(r) for r in records] == [sorted(sweep.RECORD_KEYS)] * 3
    assert records[0]["result"]["steps"] == 2 * 16 and records[1]["result"] is None
    first_fails = toml(tmp_path / "f.toml", "train", {"lr": [-1.0, 0.05, 0.1]}, TINY)
    with pytest.raises(SystemExit) as e:
        main(["sweep", "run", str(first_fails), "--out", str(tmp_path / "ff"), "--fail-fast"])
    assert e.value.code == 1
    assert [r[1:3] for r in store_rows(tmp_path / "ff")] == [("failed", 1), ("pending", 0), ("pending", 0)]


@sweep.task("fit_line", takes=("data",))
def fit_line(config, artifacts):
    """Least squares y = a x + b on the CSV file `data`."""
    xy = torch.tensor([[float(v) for v in line.split(",")] for line in Path(config["data"]).read_text().split()],
                      dtype=torch.float64)
    design = torch.stack([xy[:, 0], torch.ones(len(xy), dtype=torch.float64)], 1)
    a, b = torch.linalg.lstsq(design, xy[:, 1:]).solution[:, 0].tolist()
    (artifacts / "fit.json").write_text(json.dumps([a, b]))
    return {"slope": a, "intercept": b}


def test_retry_failed_reruns_only_the_failed_job(tmp_path):
    lines = {name: (slope, 1.0 - slope) for name, slope in (("a", 2.0), ("b", -0.5), ("c", 3.0))}
    for name, (a, b) in lines.items():
        (tmp_path / f"{name}.csv").write_text("\n".join(f"{x},{a * x + b}" for x in range(5)))
    (tmp_path / "c.csv").write_text("0,1\n1,x\n")  # corrupt
    spec = {"task": "fit_line", "grid": {"data": [str(tmp_path / f"{n}.csv") for n in "abc"]}}
    out = tmp_path / "out"
    first = sweep.run(spec, out)
    assert [r["status"] for r in first] == ["done", "done", "failed"]
    assert first[2]["error"] == "ValueError: could not convert string to float: 'x'"
    (tmp_path / "c.csv").write_text("\n".join(f"{x},{3 * x - 2}" for x in range(5)))  # fixed
    assert [r["status"] for r in sweep.run(spec, out)] == ["done", "done", "failed"]  # failed stays failed
    final = sweep.run(spec, out, retry_failed=True)
    assert [r[2] for r in store_rows(out)] == [1, 1, 2]
    for r, (a, b) in zip(final, lines.values(), strict=True):
        assert r["status"] == "done"
        assert r["result"]["slope"] == pytest.approx(a, abs=1e-12) and r["result"]["intercept"] == pytest.approx(b)
    assert sweep.results(out) == final


def _wait(predicate, proc, what, timeout=90):
    deadline = time.monotonic() + timeout
    while not predicate():
        if proc.poll() is not None:  # it may have ended between two looks: judge by the store once more
            assert predicate(), f"the driver exited ({proc.returncode}) before a {what}: {proc.stderr.read().decode()}"
            return
        assert time.monotonic() < deadline, f"no {what} within {timeout} s"
        time.sleep(0.01)


def _done(out):
    try:
        return sum(r[1] == "done" for r in store_rows(out))
    except sqlite3.Error:
        return 0


def test_killed_and_interrupted_drivers_resume_to_the_uninterrupted_results(tmp_path, capsys, one_thread):
    """SIGKILL the driver (and so its pool) three times at random points, then SIGINT it; each rerun
    resumes. Every key ends done once, no partial artifact is left, results equal an uninterrupted run."""
    grid = {"seed": list(range(6)), "lr": [0.05, 0.1]}
    fixed = {**TINY, "epochs": 40}  # jobs long enough to be killed mid-sweep on a quiet machine
    cfg = toml(tmp_path / "s.toml", "train", grid, fixed)
    out = tmp_path / "out"
    rng = random.Random(0)
    seen = 0
    for round_, workers in enumerate((2, 1, 1, 2)):  # a pool of two, or the job in the driver itself
        proc = cli("sweep", "run", cfg, "--out", out, "--workers", workers)
        _wait(lambda: _done(out) > seen, proc, "finished job")  # noqa: B023
        if round_ == 0:  # meanwhile a second driver is refused, naming the running one
            with pytest.raises(SystemExit) as second:
                main(["sweep", "run", str(cfg), "--out", str(out)])
            assert second.value.code == 2 and f"process {proc.pid}" in capsys.readouterr().err
        time.sleep(rng.uniform(0, 0.3))
        if round_ < 3:
            proc.send_signal(signal.SIGKILL)
            assert proc.wait(30) == -signal.SIGKILL
        else:
            _wait(lambda: any(r[1] == "running" for r in store_rows(out)), proc, "running job")
            proc.send_signal(signal.SIGINT)
            assert proc.wait(60) == 130
            rows = store_rows(out)
            assert "running" not in {r[1] for r in rows}
            assert "the sweep was interrupted" in {r[3] for r in rows if r[1] == "pending"}
        proc.stderr.close()
        seen = _done(out)
    assert seen < 12
    proc = cli("sweep", "run", cfg, "--out", out)
    assert proc.wait(120) == 0, proc.stderr.read().decode()
    proc.stderr.close()
    rows = store_rows(out)
    assert len(rows) == 12 and {r[1] for r in rows} == {"done"}
    assert sorted(p.name for p in (out / "jobs").iterdir()) == sorted(r[0] for r in rows)  # no .tmp-* left
    for r in rows:
        assert sorted(p.name for p in (out / "jobs" / r[0]).iterdir()) == ["final.safetensors", "metrics.json",
                                                                           "result.json"]
    reference = sweep.run({"task": "train", "grid": grid, "fixed": fixed}, tmp_path / "ref")
    assert sweep.results(out) == reference
    for r in reference:  # the artifacts are the run the result describes
        assert ws.load_checkpoint(out / "jobs" / r["key"]).metadata["seed"] == r["config"]["seed"]
