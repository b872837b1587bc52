"""A synthetic next-token task: token sequences of a second-order Markov chain, generated offline.

Over a vocabulary of V tokens, a transition table τ: V × V -> V (drawn from the seed) gives the next token
x_{t+1} = τ(x_{t-1}, x_t) with probability 1 − `noise`, else a uniform token; x_0, x_1 are uniform. A model
that has learned τ predicts token t + 1 (t >= 1) with accuracy (1 − noise) + noise / V, the ceiling; the
first target (after x_0 alone) is predictable only by chance. Inputs are x_0..x_{T−1}, targets x_1..x_T.
"""

from __future__ import annotations

import torch

from ._dataset import Dataset, check_int
from ._teacher import subseed

__all__ = ["MARKOV", "load_markov", "ceiling"]

MARKOV = "markov"


def ceiling(vocab: int, noise: float, seq_len: int) -> float:
    """The best expected next-token accuracy over all T targets: chance at the first, (1 − p) + p/V after."""
    best = (1 - noise) + noise / vocab
    return (1 / vocab + (seq_len - 1) * best) / seq_len


def _sequences(table: torch.Tensor, n: int, length: int, noise: float, g: torch.Generator) -> torch.Tensor:
    v = table.shape[0]
    seq = torch.empty(n, length, dtype=torch.int64)
    seq[:, :2] = torch.randint(0, v, (n, 2), generator=g)
    for t in range(2, length):
        rule = table[seq[:, t - 2], seq[:, t - 1]]  # (n,)
        flip = torch.rand(n, generator=g) < noise
        seq[:, t] = torch.where(flip, torch.randint(0, v, (n,), generator=g), rule)
    return seq


def load_markov(root=None, seed=None, dtype=torch.float32, *, vocab: int = 8, seq_len: int = 16,
                n_train: int = 2048, n_test: int = 512, noise: float = 0.1) -> Dataset:
    """Next-token data of the second-order chain (task "next-token"); `root` and `dtype` play no part (tokens)."""
    where = f"data.load({MARKOV!r})"
    vocab = check_int(where, "vocab", vocab, minimum=2, maximum=4096)
    seq_len = check_int(where, "seq_len", seq_len, minimum=2)
    n_train = check_int(where, "n_train", n_train, minimum=1)
    n_test = check_int(where, "n_test", n_test, minimum=1)
    if not (isinstance(noise, int | float) and not isinstance(noise, bool) and 0 <= noise <= 1):
        from ..errors import DataError

        raise DataError(f"{where}: noise must be a probability in [0, 1], got {noise!r}")
    seed = 0 if seed is None else seed
    g = torch.Generator().manual_seed(subseed(seed, MARKOV))
    table = torch.randint(0, vocab, (vocab, vocab), generator=g)
    train = _sequences(table, n_train, seq_len + 1, float(noise), g)
    test = _sequences(table, n_test, seq_len + 1, float(noise), g)
    options = {"vocab": vocab, "seq_len": seq_len, "n_train": n_train, "n_test": n_test, "noise": noise,
               "seed": seed}
    return Dataset(name=MARKOV, task="next-token", x_train=train[:, :-1], y_train=train[:, 1:],
                   x_test=test[:, :-1], y_test=test[:, 1:], num_outputs=vocab,
                   meta={"source": "second-order Markov chain, generated", "seed": seed, "options": options,
                         "ceiling": ceiling(vocab, float(noise), seq_len)})
