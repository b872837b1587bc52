"""Importing weightspace changes no global state, and the CLI starts without torch.

Each check runs in a fresh interpreter (subprocess), since this test process has long imported everything.
"""

import json
import os
import subprocess
import sys
import textwrap

import pytest


def run_python(code: str, **env) -> str:
    """Run `code` in a fresh interpreter (this process's environment plus `env`); return its stdout."""
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          env={**os.environ, **env}, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


# the library and every submodule it names (not the CLI: importing rich draws from Python's `random`)
EVERYTHING = """
    import importlib
    import weightspace
    for name in weightspace.__all__:
        getattr(weightspace, name)
    for mod in ("plots", "experiments"):
        importlib.import_module("weightspace." + mod)
"""


def test_import_keeps_the_matplotlib_backend_even_after_drawing(tmp_path):
    out = run_python(EVERYTHING + f"""
    import sys
    import matplotlib
    from weightspace.plots import plot_series, save_figure
    before = matplotlib.get_backend()
    fig = plot_series([1, 2, 3], {{"y": [1.0, 2.0, 0.5]}}, xlabel="x")
    path = save_figure(fig, {str(tmp_path / "f.png")!r})
    print(before, matplotlib.get_backend(), "matplotlib.pyplot" in sys.modules, open(path, "rb").read(4))
    """, MPLBACKEND="svg")
    assert out.split() == ["svg", "svg", "False", r"b'\x89PNG'"]


def test_import_does_not_load_matplotlib():
    assert run_python("import sys, weightspace; print('matplotlib' in sys.modules)").strip() == "False"


def test_import_keeps_dtype_rng_and_threads():
    """The default dtype, every RNG's state and torch's thread count are the same before and after."""
    out = run_python("""
    import random
    import numpy as np
    import torch
    torch.set_num_threads(1)
    before = (torch.get_default_dtype(), torch.get_rng_state().clone(), np.random.get_state()[1].copy(),
              random.getstate(), torch.get_num_threads(), torch.get_num_interop_threads())
    """ + EVERYTHING + """
    after = (torch.get_default_dtype(), torch.get_rng_state(), np.random.get_state()[1], random.getstate(),
             torch.get_num_threads(), torch.get_num_interop_threads())
    print(before[0] == after[0], torch.equal(before[1], after[1]), (before[2] == after[2]).all(),
          before[3] == after[3], before[4] == after[4] == 1, before[5] == after[5])
    """)
    assert out.split() == ["True"] * 6


@pytest.mark.parametrize("argv", [["--help"], ["count", "T", "--r-star", "3", "--m", "5", "--format", "json"],
                                  ["count", "components", "--layers", "40", "--skip", "--format", "json"]])
def test_cli_starts_without_torch(argv):
    """`--help` and the counts import neither torch, scipy nor matplotlib; T(3, 5) = 390, 2^38 + 1 components."""
    out = run_python(f"""
    import sys
    from weightspace.cli import main
    try:
        main({argv!r})
    except SystemExit as e:
        assert not e.code, e.code
    heavy = sorted(m for m in ("torch", "scipy", "matplotlib", "numpy", "safetensors") if m in sys.modules)
    print("HEAVY", heavy)
    """)
    assert out.splitlines()[-1] == "HEAVY []"
    if argv[:2] == ["count", "T"]:
        assert out.splitlines()[0] == '{"value": 390}'
    elif argv[0] == "count":
        assert json.loads(out.splitlines()[0])["value"] == 2**38 + 1
    else:
        assert "count" in out and "train" in out
