"""The Ray executor: a local Ray instance (2 CPUs) gives the local executor's results; no Ray process stays."""

import importlib.util
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from weightspace import sweep

if importlib.util.find_spec("ray") is None and os.environ.get("CI") != "true":
    pytest.skip("RAY IS NOT INSTALLED: the Ray executor is untested here (pip install 'weightspace[ray]'); in CI "
                "this test runs", allow_module_level=True)

TINY = {"model": "mlp", "depth": 1, "width": 4, "dataset": "teacher", "epochs": 2, "method": "weight", "points": 5}
TIMEOUT = 300  # seconds for the whole Ray run (start, jobs, shutdown) on a slow shared machine


def _processes_mentioning(text: str) -> list[str]:
    """Processes whose command line or environment holds `text` (Ray's processes inherit RAY_TMPDIR)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or proc.name == str(os.getpid()):
            continue
        try:
            cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            env = (proc / "environ").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if text in cmd or text in env:
            found.append(f"{proc.name}: {cmd[:120]}")
    return found


def test_ray_gives_the_local_results_and_leaves_no_process(tmp_path, one_thread):
    spec = {"task": "barrier", "grid": {"seeds": [[0, 1], [0, 2]]}, "fixed": TINY}
    cfg = tmp_path / "s.toml"
    cfg.write_text('task = "barrier"\n[grid]\nseeds = [[0, 1], [0, 2]]\n[fixed]\n'
                   + "".join(f"{k} = {v!r}\n".replace("'", '"') for k, v in TINY.items()))
    ray_tmp = tempfile.mkdtemp(prefix="wsray", dir="/tmp")  # short: Ray's socket paths live under it
    env = {**os.environ, "OMP_NUM_THREADS": "1", "RAY_TMPDIR": ray_tmp}
    out = tmp_path / "ray"
    # --address local (a fresh instance, as a cluster) without --artifacts: the artifacts travel back to the
    # driver, and the training runs travel to the barrier jobs
    proc = subprocess.run([sys.executable, "-c", "import sys; from weightspace.cli import main; main(sys.argv[1:])",
                           "sweep", "run", str(cfg), "--out", str(out), "--executor", "ray", "--workers", "2",
                           "--address", "local"], env=env, capture_output=True, text=True, timeout=TIMEOUT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    local = sweep.run(spec, tmp_path / "local")
    assert sweep.results(out) == local
    assert [r["task"] for r in local] == ["train", "train", "barrier", "train", "barrier"]
    for r in local:
        assert r["status"] == "done"
        assert sorted(p.name for p in (out / "jobs" / r["key"]).iterdir()) == sorted(
            p.name for p in (tmp_path / "local" / "jobs" / r["key"]).iterdir())
    for a, b, pair in (local[0:3], (local[0], local[3], local[4])):  # the path's ends are the two trained runs
        values = pair["result"]["values"]
        assert values[0] == pytest.approx(a["result"]["test"]["loss"], rel=1e-5)
        assert values[-1] == pytest.approx(b["result"]["test"]["loss"], rel=1e-5)  # aligned: the same function
        assert pair["result"]["align"] == "weight" and pair["result"]["barrier"] >= 0
    deadline = time.monotonic() + 30
    while (left := _processes_mentioning(ray_tmp)) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not left, f"Ray processes left behind: {left}"
