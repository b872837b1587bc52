"""The model zoo: every model is an `nn.Module` built from a small JSON-able config dict.

A config names the model (`name`), the per-sample `input_shape` and `num_outputs`, plus the model's own
keys; `normalize_config` fills in defaults, and `build(config).config` is that normalised dict, so
`build(model.config)` rebuilds the same architecture. Forward passes are `torch.fx`-traceable.

Models (keys beyond name, input_shape, num_outputs; defaults in brackets):
  mlp          widths | depth + width, activation [relu], power [2, relu_pow only], bias [true]
  linear       widths | depth + width, bias [false], skip [false]
  vgg          channels [[16, 16, "M", 32, 32, "M"]], norm [batchnorm], activation [relu],
               power [2, relu_pow only], hidden [[]], width [1]
  resnet20     width [1], norm [batchnorm]
  binary_mlp   widths | depth + width (sign weights and activations, straight-through training)
  transformer  seq_len, token_dim [input_shape[-1]], d_model [32], heads [4], depth [2], mlp_dim [64],
               mlp_activation [gelu]
  gpt          input_shape [seq_len] of token ids, num_outputs = vocabulary; d_model [32], heads [4], depth [2],
               mlp_dim [4 d_model]; outputs next-token logits (batch, T, vocab), head tied to the embedding

Initialisation draws from the global RNG like `nn.Linear`; seed it around `build` (e.g. inside
`torch.random.fork_rng()`) for reproducible weights.

Example:
  >>> model = build({"name": "mlp", "input_shape": [64], "num_outputs": 10, "depth": 2, "width": 512})
  >>> model.config["widths"]
  [512, 512]
  >>> model(example_input(model.config)).shape
  torch.Size([2, 10])
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch
from torch import Tensor, nn

from ..errors import ConfigError
from . import _binary, _gpt, _linear, _mlp, _resnet, _transformer, _vgg
from ._activations import ACTIVATIONS, ReluPow

__all__ = ["ACTIVATIONS", "MODELS", "TOKEN_MODELS", "ReluPow", "build", "example_input", "example_for",
           "normalize_config"]

_REGISTRY: dict[str, tuple[Callable[[dict], dict], type[nn.Module]]] = {
    "mlp": (_mlp.normalize, _mlp.MLP),
    "linear": (_linear.normalize, _linear.LinearNet),
    "vgg": (_vgg.normalize, _vgg.VGG),
    "resnet20": (_resnet.normalize, _resnet.ResNet20),
    "transformer": (_transformer.normalize, _transformer.Transformer),
    "binary_mlp": (_binary.normalize, _binary.BinaryMLP),
    "gpt": (_gpt.normalize, _gpt.GPT),
}
TOKEN_MODELS = ("gpt",)
"""Models whose inputs are int64 token ids in [0, num_outputs)."""
MODELS: tuple[str, ...] = tuple(_REGISTRY)


def normalize_config(config: Mapping) -> dict:
    """The full config of `config`'s model: defaults filled in, JSON-able (lists, ints, floats, str, bool).

    Idempotent: `normalize_config(normalize_config(c)) == normalize_config(c)`.

    Raises:
      ConfigError: unknown model or key, a missing required key, or a nonsensical value.
    """
    if not isinstance(config, Mapping):
        raise ConfigError(f"model config must be a dict with a `name`, got {type(config).__name__}")
    name = config.get("name")
    if name not in _REGISTRY:
        got = "no `name`" if "name" not in config else repr(name)
        raise ConfigError(f"model config: unknown model {got}; expected `name` among {', '.join(MODELS)}")
    return _REGISTRY[name][0](config)


def build(config: Mapping) -> nn.Module:
    """A freshly initialised model for `config`, with its normalised config as the attribute `config`.

    Parameters are float32 (the default dtype) and drawn from the global RNG.
    """
    full = normalize_config(config)
    return _REGISTRY[full["name"]][1](full)


def example_input(
    config: Mapping,
    batch: int = 2,
    *,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    """A standard normal input of shape (batch, *input_shape), or uniform token ids (int64) for a token model
    (`TOKEN_MODELS`); drawn from `generator` (default: seed 0)."""
    full = normalize_config(config)
    if not isinstance(batch, int) or isinstance(batch, bool) or batch < 0:
        raise ConfigError(f"example_input: `batch` must be an int >= 0, got {batch!r}")
    if not dtype.is_floating_point:
        raise ConfigError(f"example_input: `dtype` must be a floating point dtype, got {dtype}")
    gen = generator if generator is not None else torch.Generator().manual_seed(0)
    if full["name"] in TOKEN_MODELS:
        return torch.randint(0, full["num_outputs"], (batch, *full["input_shape"]), generator=gen)
    return torch.randn(batch, *full["input_shape"], generator=gen, dtype=dtype)


def example_for(model: nn.Module, data=None, *, dtype: torch.dtype = torch.float32) -> Tensor:
    """An input that `model` accepts: `example_input` of a zoo model's config, else the first two training
    inputs of `data` (any source of batches, `weightspace.data.iter_batches`), floating ones in `dtype`."""
    config = getattr(model, "config", None)
    if isinstance(config, Mapping) and config.get("name") in _REGISTRY:
        return example_input(config, dtype=dtype)
    if data is None:
        raise ConfigError(f"{type(model).__name__} is not a zoo model: tracing its symmetries needs an example input; "
                          "pass data (CLI: --data MODULE:FACTORY) or a spec")
    from ..data import sample

    x, _ = sample(data, "train", max_samples=2)
    return x.to(dtype) if x.is_floating_point() else x
