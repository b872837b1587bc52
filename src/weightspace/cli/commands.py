"""Old home of train, eval, info, spec and demo (kept for one release): see cli/train.py, inspect.py, demo.py."""

from .demo import demo
from .inspect import eval_cmd, info_cmd, spec_cmd
from .train import train

__all__ = ["demo", "eval_cmd", "info_cmd", "spec_cmd", "train"]
