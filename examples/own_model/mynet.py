"""A model, data and loss of your own, as weightspace's --model, --data and --loss import them.

    --model examples/own_model/mynet.py:make_model --model-args '{"width": 8}'
    --data  examples/own_model/mynet.py:make_data
    --loss  examples/own_model/mynet.py:smooth_cross_entropy
"""

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset


class SmallCNN(nn.Module):
    """conv(1 -> w, 3x3) - ReLU - maxpool 2 - conv(w -> w, 3x3) - ReLU - maxpool 2 - linear(4w -> 10)."""

    def __init__(self, width: int = 16):
        super().__init__()
        self.conv1 = nn.Conv2d(1, width, 3, padding=1)
        self.conv2 = nn.Conv2d(width, width, 3, padding=1)
        self.fc = nn.Linear(4 * width, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)  # (B, w, 4, 4)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)  # (B, w, 2, 2)
        return self.fc(x.flatten(1))


def make_model(width: int = 16) -> nn.Module:
    return SmallCNN(width)


def _images(x: torch.Tensor) -> torch.Tensor:
    """The transform: flat 8x8 digits -> (1, 8, 8) images scaled to [0, 1]."""
    return x.reshape(-1, 1, 8, 8) / 16.0


def make_data(batch_size: int = 256):
    """(train, test) DataLoaders over scikit-learn's 8x8 digits (bundled: nothing is downloaded)."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = _images(torch.tensor(digits.data, dtype=torch.float32))
    y = torch.tensor(digits.target, dtype=torch.int64)
    train, test = TensorDataset(x[:1400], y[:1400]), TensorDataset(x[1400:], y[1400:])
    return (DataLoader(train, batch_size=batch_size, shuffle=False),
            DataLoader(test, batch_size=batch_size, shuffle=False))


def smooth_cross_entropy(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Cross-entropy with label smoothing 0.1: a batch mean, a scalar."""
    return F.cross_entropy(outputs, targets, label_smoothing=0.1)
