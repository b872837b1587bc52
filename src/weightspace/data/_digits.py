"""scikit-learn's bundled 8x8 handwritten digits (1797 images, no download), with a fixed 80/20 split."""

from __future__ import annotations

import numpy as np
import torch

from ._dataset import Dataset, check_bool

__all__ = ["load_digits"]

SPLIT_SEED = 0  # the split is part of the dataset: the same for every caller, whatever `seed` they pass
TRAIN_FRACTION = 0.8


def load_digits(*, root, seed, dtype: torch.dtype, image: bool = False) -> Dataset:
    """The digits dataset: x = pixels / 16 in [0, 1], shape (N, 64) or (N, 1, 8, 8) with `image=True`.

    The split is `numpy.random.default_rng(0).permutation(1797)`: the first 1437 indices train, the last 360 test.
    `root` and `seed` are ignored (the data is bundled and the split fixed).
    """
    image = check_bool("data.load('digits')", "image", image)
    from sklearn.datasets import load_digits as sk_load_digits

    bunch = sk_load_digits()
    x = np.asarray(bunch.data, dtype=np.float64) / 16.0  # (1797, 64)
    y = np.asarray(bunch.target, dtype=np.int64)  # (1797,)
    perm = np.random.default_rng(SPLIT_SEED).permutation(len(y))
    n_train = int(TRAIN_FRACTION * len(y))
    train, test = perm[:n_train], perm[n_train:]
    shape = (1, 8, 8) if image else (64,)

    def inputs(idx: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(x[idx]).reshape(len(idx), *shape).to(dtype)

    meta = {
        "source": "sklearn.datasets.load_digits",
        "seed": SPLIT_SEED,
        "split": "numpy.random.default_rng(0).permutation, first 80% train",
        "n_train": len(train),
        "n_test": len(test),
        "options": {"image": image},
    }
    return Dataset(
        name="digits",
        task="classification",
        x_train=inputs(train),
        y_train=torch.from_numpy(y[train]),
        x_test=inputs(test),
        y_test=torch.from_numpy(y[test]),
        num_outputs=10,
        meta=meta,
    )
