"""The caller's global state, kept: dataset sources run inside `isolated()`.

Some sources touch process-wide state as a side effect: MNIST-1D's generator reseeds Python's `random`
and NumPy's global RNG, and the first import of scikit-learn (digits) draws from Python's `random` and
may change warning filters. `isolated()` saves Python's, NumPy's and torch's (CPU) global RNG states and
the warnings filters, and restores all of them on exit, errors included.
"""

from __future__ import annotations

import contextlib
import random
import warnings
from collections.abc import Iterator

import numpy as np
import torch

__all__ = ["isolated"]


@contextlib.contextmanager
def isolated() -> Iterator[None]:
    """Run the body, then restore the global RNG states (random, numpy.random, torch CPU) and warnings filters."""
    py_state, np_state = random.getstate(), np.random.get_state()
    with torch.random.fork_rng(devices=[]), warnings.catch_warnings():
        try:
            yield
        finally:
            random.setstate(py_state)
            np.random.set_state(np_state)
