"""VGG-style CNN: 3x3 convolutions (padding 1) and 2x2 max pooling, then fully connected layers.

`channels` lists conv widths (ints) and pooling ("M"); conv widths are scaled by `width` as
max(1, round(c * width)). Each conv block is conv -> norm -> σ; `layernorm` is GroupNorm(1, C),
normalising over (C, H, W) with a per-channel affine. Convs followed by BatchNorm have no bias.
"""

from __future__ import annotations

from torch import Tensor, nn

from ._activations import activation_fields, make_activation
from ._config import COMMON, Fields, is_int

__all__ = ["VGG", "normalize", "scaled"]

KEYS = (*COMMON, "channels", "norm", "activation", "power", "hidden", "width")
NORMS = ("batchnorm", "layernorm", "none")
DEFAULT_CHANNELS = [16, 16, "M", 32, 32, "M"]
POOL = "M"


def scaled(c: int, width: int | float) -> int:
    """Conv width `c` under multiplier `width`."""
    return max(1, round(c * width))


def normalize(config: dict) -> dict:
    """Full vgg config; checks that the poolings fit the input's height and width."""
    f = Fields("vgg", config, KEYS)
    shape = f.shape(ndim=3)
    channels = f.config.get("channels", DEFAULT_CHANNELS)
    ok = isinstance(channels, list | tuple) and all(
        c == POOL or (is_int(c) and c >= 1) for c in channels
    )
    if not ok or not any(c != POOL for c in channels):
        f.fail(f'`channels` must be a list of conv widths (ints >= 1, at least one) and "M" poolings, got {channels!r}')
    pools = sum(c == POOL for c in channels)
    if min(shape[1:]) >> pools == 0:
        f.fail(f"`channels` has {pools} max-poolings but input_shape {shape} allows at most "
               f"{min(shape[1:]).bit_length() - 1}")
    return {
        "name": "vgg",
        "input_shape": shape,
        "num_outputs": f.int("num_outputs"),
        "channels": [c if c == POOL else int(c) for c in channels],
        "norm": f.choice("norm", NORMS, "batchnorm"),
        **activation_fields(f),
        "hidden": f.int_list("hidden", []),
        "width": f.number("width", 1),
    }


def _norm(kind: str, c: int) -> list[nn.Module]:
    if kind == "batchnorm":
        return [nn.BatchNorm2d(c)]
    if kind == "layernorm":
        return [nn.GroupNorm(1, c)]
    return []


class VGG(nn.Module):
    """`features.{i}` = Sequential(conv, [norm], σ) or MaxPool2d(2); `classifier.{j}` Linear layers."""

    def __init__(self, config: dict):
        super().__init__()
        self.config = config
        c, h, w = config["input_shape"]
        act = config["activation"], config.get("power", 1)
        blocks: list[nn.Module] = []
        for spec in config["channels"]:
            if spec == POOL:
                blocks.append(nn.MaxPool2d(2))
                h, w = h // 2, w // 2
                continue
            out = scaled(spec, config["width"])
            conv = nn.Conv2d(c, out, 3, padding=1, bias=config["norm"] != "batchnorm")
            blocks.append(nn.Sequential(conv, *_norm(config["norm"], out), make_activation(*act)))
            c = out
        self.features = nn.ModuleList(blocks)
        sizes = [c * h * w, *config["hidden"], config["num_outputs"]]
        self.classifier = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:], strict=True))
        self.act = make_activation(*act)

    def forward(self, x: Tensor) -> Tensor:
        for block in self.features:
            x = block(x)  # (batch, C, H, W)
        x = x.flatten(1)  # (batch, C * H * W)
        *hidden, last = self.classifier  # unpacked: a slice builds a new ModuleList per call
        for layer in hidden:
            x = self.act(layer(x))
        return last(x)  # (batch, num_outputs)
