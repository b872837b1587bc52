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
