import os

import pytest
import torch
from hypothesis import settings

settings.register_profile("ci", deadline=None, derandomize=True, print_blob=True)
settings.load_profile("ci")


@pytest.fixture(autouse=True)
def _isolate(tmp_path_factory, monkeypatch):
    """Each test gets its own dataset cache; torch runs deterministically on 2 threads."""
    monkeypatch.setenv("WEIGHTSPACE_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))
    torch.set_num_threads(min(2, os.cpu_count() or 1))
    yield


@pytest.fixture
def one_thread():
    """Tiny problems: one thread is much faster than two on a shared machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def reproduce_smoke(tmp_path_factory):
    """`weightspace reproduce all --budget smoke --out DIR` run once per session (tests/test_reproduce.py and
    tests/test_report_browser.py read it): returns (DIR, exit code, stderr)."""
    import contextlib
    import io

    from weightspace.cli import main

    out = tmp_path_factory.mktemp("reproduce") / "smoke"
    err, code = io.StringIO(), 0
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            main(["reproduce", "all", "--budget", "smoke", "--out", str(out)])
        except SystemExit as stop:
            code = stop.code or 0
    return out, code, err.getvalue()
