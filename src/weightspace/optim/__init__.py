"""Optimisers that find minimisers of different flatness, and the named training settings of the flatness study.

`make_optimizer(name, params, lr=..., **hyper)` builds any of `OPTIMIZERS` (SGD, Adam, SAM from
pytorch_optimizer, `EntropySGD`, `ReplicatedSGD`); `optimizer_step` feeds a closure to those that need one.
`SETTINGS` and `train_minimiser` train the study's minimisers (one per setting and seed; grids are sweeps).
"""

from ._entropy_sgd import EntropySGD
from ._factory import OPTIMIZERS, make_optimizer, needs_closure, optimizer_step
from ._replicated_sgd import ReplicatedSGD
from ._study import SETTINGS, train_minimiser

__all__ = ["OPTIMIZERS", "SETTINGS", "EntropySGD", "ReplicatedSGD", "make_optimizer", "needs_closure",
           "optimizer_step", "train_minimiser"]
