"""Optimisers that find minimisers of different flatness, and the named training settings of the flatness study.

`make_optimizer(name, params, lr=..., **hyper)` builds any of `OPTIMIZERS` (SGD, Adam, SAM from
pytorch_optimizer, `EntropySGD`, `ReplicatedSGD`); `optimizer_step` feeds a closure to those that need one.
`SETTINGS`, `train_minimiser` and `train_minimisers` train the study's minimisers (settings x seeds).
"""

from ._entropy_sgd import EntropySGD
from ._factory import OPTIMIZERS, make_optimizer, needs_closure, optimizer_step
from ._replicated_sgd import ReplicatedSGD
from ._study import SETTINGS, train_minimiser, train_minimisers

__all__ = ["OPTIMIZERS", "SETTINGS", "EntropySGD", "ReplicatedSGD", "make_optimizer", "needs_closure",
           "optimizer_step", "train_minimiser", "train_minimisers"]
