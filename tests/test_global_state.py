"""Calls leave the caller's global state alone: `ws.load`, `data.load` (every source that needs no files) and
`ws.train` keep torch's, NumPy's and Python's global RNG states as they were, and `data.load` the warnings
filters too (`ws.train` may import torch's optimiser stack, whose import adds a SymPy filter: an import effect).

Each call is checked the first time it runs in a fresh interpreter (first calls import their dependencies,
which is where scikit-learn's import drew from Python's `random`), then again in this process.
"""

from __future__ import annotations

import random
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest
import torch

import weightspace as ws
from weightspace import data

SOURCES = {"digits": {}, "mnist1d": {"num_samples": 200}, "teacher": {}, "linear-teacher": {"h": 2}, "scalar": {},
           "markov": {"n_train": 16, "n_test": 8}}
CONFIG = {"name": "mlp", "depth": 2, "width": 4, "activation": "relu"}


def state(*, filters: bool = True) -> tuple:
    np_state = np.random.get_state()
    return (torch.get_rng_state().tolist(), np_state[0], np_state[1].tolist(), np_state[2:], random.getstate(),
            list(warnings.filters) if filters else None)


def test_every_file_free_source_is_covered():
    assert set(SOURCES) == set(data.DATASETS) - {"mnist", "cifar10"}  # those two read local files


@pytest.mark.parametrize("name", SOURCES)
def test_data_load_keeps_global_state(name):
    random.seed(1), np.random.seed(1), torch.manual_seed(1)
    before = state()
    data.load(name, **SOURCES[name])
    assert state() == before


def test_load_and_train_keep_global_state(tmp_path):
    torch.manual_seed(3)
    before = state(filters=False)
    result = ws.train(CONFIG, "scalar", epochs=2, batch_size=1, out=tmp_path / "run")
    assert state(filters=False) == before
    model = ws.load(tmp_path / "run")
    assert state(filters=False) == before
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), result.model.state_dict().values(),
                                                  strict=True))


SCRIPT = textwrap.dedent("""
    import random, sys, warnings
    import numpy as np, torch
    import weightspace as ws
    from weightspace import data

    def state(filters=True):
        s = np.random.get_state()
        return (torch.get_rng_state().tolist(), s[0], s[1].tolist(), s[2:], random.getstate(),
                list(warnings.filters) if filters else None)

    changed = []
    for name, options in {sources!r}.items():
        before = state()
        data.load(name, **options)
        changed += [] if state() == before else [f"data.load({{name!r}})"]
    before = state(filters=False)
    ws.train({config!r}, "digits", epochs=1, batch_size=256, out=sys.argv[1])
    changed += [] if state(filters=False) == before else ["ws.train"]
    before = state(filters=False)
    ws.load(sys.argv[1])
    changed += [] if state(filters=False) == before else ["ws.load"]
    print(",".join(changed) or "unchanged")
""")


def test_first_calls_in_a_fresh_interpreter_keep_global_state(tmp_path):
    script = SCRIPT.format(sources=SOURCES, config=CONFIG)
    out = subprocess.run([sys.executable, "-c", script, str(tmp_path / "run")], capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "unchanged"
