"""CIFAR-style ResNet-20 (He et al. 2016) with a width multiplier k.

stem: conv3x3 -> norm -> relu; 3 stages of 3 BasicBlocks with 16k, 32k, 64k channels (the first block
of stages 2 and 3 has stride 2 and a conv1x1 + norm shortcut); global average pool; linear head.
19 convolutions + 1 linear = 20 layers. Convolutions have no bias; `layernorm` is GroupNorm(1, C).
"""

from __future__ import annotations

from torch import Tensor, nn

from ._config import COMMON, Fields

__all__ = ["BasicBlock", "ResNet20", "normalize"]

KEYS = (*COMMON, "width", "norm")
NORMS = ("batchnorm", "layernorm")
STAGE_CHANNELS = (16, 32, 64)
BLOCKS_PER_STAGE = 3


def normalize(config: dict) -> dict:
    """Full resnet20 config."""
    f = Fields("resnet20", config, KEYS)
    return {
        "name": "resnet20",
        "input_shape": f.shape(ndim=3),
        "num_outputs": f.int("num_outputs"),
        "width": f.int("width", 1),
        "norm": f.choice("norm", NORMS, "batchnorm"),
    }


def _norm(kind: str, c: int) -> nn.Module:
    return nn.BatchNorm2d(c) if kind == "batchnorm" else nn.GroupNorm(1, c)


def _conv3x3(c_in: int, c_out: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)


class BasicBlock(nn.Module):
    """relu(norm2(conv2(relu(norm1(conv1(x))))) + shortcut(x))."""

    def __init__(self, c_in: int, c_out: int, stride: int, norm: str):
        super().__init__()
        self.conv1 = _conv3x3(c_in, c_out, stride)
        self.norm1 = _norm(norm, c_out)
        self.conv2 = _conv3x3(c_out, c_out)
        self.norm2 = _norm(norm, c_out)
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), _norm(norm, c_out))
        else:
            self.shortcut = nn.Identity()
        self.act = nn.ReLU()

    def forward(self, x: Tensor) -> Tensor:
        out = self.act(self.norm1(self.conv1(x)))
        out = self.norm2(self.conv2(out))
        return self.act(out + self.shortcut(x))


class ResNet20(nn.Module):
    """`stem`, `stages.{i}.{j}` (BasicBlock), `head`."""

    def __init__(self, config: dict):
        super().__init__()
        self.config = config
        k, norm = config["width"], config["norm"]
        c = config["input_shape"][0]
        self.stem = nn.Sequential(_conv3x3(c, 16 * k), _norm(norm, 16 * k), nn.ReLU())
        c = 16 * k
        stages = []
        for i, base in enumerate(STAGE_CHANNELS):
            blocks = []
            for j in range(BLOCKS_PER_STAGE):
                stride = 2 if i > 0 and j == 0 else 1
                blocks.append(BasicBlock(c, base * k, stride, norm))
                c = base * k
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.ModuleList(stages)
        self.head = nn.Linear(c, config["num_outputs"])

    def forward(self, x: Tensor) -> Tensor:
        x = self.stem(x)  # (batch, 16k, H, W)
        for stage in self.stages:
            x = stage(x)  # (batch, 64k, H / 4, W / 4) after the last stage
        x = x.mean(dim=(2, 3))  # (batch, 64k)
        return self.head(x)  # (batch, num_outputs)
