"""Model zoo contracts: every config builds, runs, round-trips through its normalised config and
state dict, and traces with torch.fx to the same function; bad configs raise one-line ConfigErrors;
the defining formulas (relu_pow, the linear skip, the attention block) hold against hand-written oracles."""

import json
import math

import pytest
import torch
import torch.fx
import torch.nn.functional as F
from torch import nn

from weightspace import models
from weightspace.errors import ConfigError
from weightspace.models import ACTIVATIONS, MODELS, ReluPow, build, example_input, normalize_config

CONFIGS = {
    **{f"mlp-{a}": {"name": "mlp", "input_shape": [5], "num_outputs": 3, "widths": [7, 6], "activation": a}
       for a in ACTIVATIONS},
    "mlp-depth-width-image": {"name": "mlp", "input_shape": [1, 4, 4], "num_outputs": 2, "depth": 2, "width": 9},
    "mlp-no-hidden": {"name": "mlp", "input_shape": [4], "num_outputs": 1, "widths": [], "bias": False},
    "linear": {"name": "linear", "input_shape": [4], "num_outputs": 3, "widths": [5, 6]},
    "linear-skip-bias": {"name": "linear", "input_shape": [3], "num_outputs": 2, "widths": [3, 3], "skip": True,
                         "bias": True},
    "vgg-default": {"name": "vgg", "input_shape": [1, 8, 8], "num_outputs": 10},
    "vgg-ln-hidden": {"name": "vgg", "input_shape": [1, 8, 8], "num_outputs": 4, "channels": [4, "M", 6],
                      "norm": "layernorm", "hidden": [5, 7]},
    "vgg-none-tanh": {"name": "vgg", "input_shape": [2, 8, 8], "num_outputs": 4, "channels": [4, 4, "M"],
                      "norm": "none", "activation": "tanh"},
    "vgg-cifar-half": {"name": "vgg", "input_shape": [3, 32, 32], "num_outputs": 10, "width": 0.5},
    "resnet20-bn": {"name": "resnet20", "input_shape": [1, 8, 8], "num_outputs": 3},
    "resnet20-ln-2": {"name": "resnet20", "input_shape": [1, 8, 8], "num_outputs": 3, "width": 2,
                      "norm": "layernorm"},
    "resnet20-cifar": {"name": "resnet20", "input_shape": [3, 32, 32], "num_outputs": 10},
    "transformer-seq": {"name": "transformer", "input_shape": [12], "num_outputs": 3, "seq_len": 4, "token_dim": 3,
                        "d_model": 8, "heads": 2, "depth": 2, "mlp_dim": 10},
    "transformer-image-rows": {"name": "transformer", "input_shape": [1, 8, 8], "num_outputs": 10},
    "transformer-mnist1d-relu": {"name": "transformer", "input_shape": [40], "num_outputs": 10, "token_dim": 4,
                                 "d_model": 8, "heads": 1, "depth": 1, "mlp_dim": 8, "mlp_activation": "relu"},
    "transformer-depth0": {"name": "transformer", "input_shape": [6], "num_outputs": 2, "seq_len": 2, "depth": 0},
    "binary-mlp": {"name": "binary_mlp", "input_shape": [5], "num_outputs": 3, "widths": [7, 6]},
    "gpt": {"name": "gpt", "input_shape": [6], "num_outputs": 5, "d_model": 8, "heads": 2, "depth": 2, "mlp_dim": 12},
}
NAMES = list(CONFIGS)


def _build(name: str, dtype=torch.float64) -> nn.Module:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = build(CONFIGS[name])
    return model.to(dtype).eval()


def _input(model: nn.Module, dtype=torch.float64, batch: int = 3) -> torch.Tensor:
    return example_input(model.config, batch, generator=torch.Generator().manual_seed(1), dtype=dtype)


def test_every_model_is_in_the_table():
    assert {c["name"] for c in CONFIGS.values()} == set(MODELS)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("name", NAMES)
def test_forward_shape_and_dtype(name, dtype):
    model = _build(name, dtype)
    x = _input(model, dtype)
    y = model(x)
    tokens = CONFIGS[name]["name"] in models.TOKEN_MODELS  # next-token logits at every position
    assert y.shape == ((3, *x.shape[1:], CONFIGS[name]["num_outputs"]) if tokens else (3, CONFIGS[name]["num_outputs"]))
    assert y.dtype == dtype and torch.isfinite(y).all()


@pytest.mark.parametrize("name", NAMES)
def test_rebuilt_from_config_with_state_dict_gives_identical_outputs(name):
    model = _build(name)
    # a randomised state (BatchNorm statistics included) so the check is not vacuous
    with torch.no_grad():
        gen = torch.Generator().manual_seed(2)
        for key, t in model.state_dict().items():
            if key.endswith("running_var"):
                t.copy_(torch.rand(t.shape, generator=gen, dtype=t.dtype) + 0.5)
            elif t.is_floating_point():
                t.add_(0.1 * torch.randn(t.shape, generator=gen, dtype=t.dtype))
    rebuilt = build(model.config).double().eval()
    rebuilt.load_state_dict(model.state_dict(), strict=True)
    x = _input(model)
    assert rebuilt.config == model.config
    assert torch.equal(rebuilt(x), model(x))


@pytest.mark.parametrize("name", NAMES)
def test_fx_trace_gives_identical_outputs(name):
    model = _build(name)
    traced = torch.fx.symbolic_trace(model)
    x = _input(model)
    assert torch.equal(traced(x), model(x))


@pytest.mark.parametrize("name", NAMES)
def test_config_is_normalised_json_and_idempotent(name):
    config = build(CONFIGS[name]).config
    assert config == normalize_config(CONFIGS[name])
    assert normalize_config(config) == config
    assert json.loads(json.dumps(config)) == config
    assert list(config)[:3] == ["name", "input_shape", "num_outputs"]


def test_same_seed_same_weights():
    sd = [_build("resnet20-bn").state_dict() for _ in range(2)]
    assert all(torch.equal(sd[0][k], sd[1][k]) for k in sd[0])


def test_depth_and_width_become_widths():
    config = normalize_config({"name": "mlp", "input_shape": [64], "num_outputs": 10, "depth": 2, "width": 512})
    assert config["widths"] == [512, 512] and "depth" not in config and "width" not in config
    assert normalize_config({"name": "linear", "input_shape": [3], "num_outputs": 1, "depth": 0, "width": 4})[
        "widths"] == []


def test_defaults():
    assert normalize_config({"name": "mlp", "input_shape": [4], "num_outputs": 2, "widths": [3]}) == {
        "name": "mlp", "input_shape": [4], "num_outputs": 2, "widths": [3], "activation": "relu", "bias": True}
    assert normalize_config({"name": "linear", "input_shape": (4,), "num_outputs": 2, "widths": (3,)}) == {
        "name": "linear", "input_shape": [4], "num_outputs": 2, "widths": [3], "bias": False, "skip": False}
    assert normalize_config({"name": "vgg", "input_shape": [1, 8, 8], "num_outputs": 2}) == {
        "name": "vgg", "input_shape": [1, 8, 8], "num_outputs": 2, "channels": [16, 16, "M", 32, 32, "M"],
        "norm": "batchnorm", "activation": "relu", "hidden": [], "width": 1}
    assert normalize_config({"name": "resnet20", "input_shape": [3, 32, 32], "num_outputs": 10}) == {
        "name": "resnet20", "input_shape": [3, 32, 32], "num_outputs": 10, "width": 1, "norm": "batchnorm"}
    assert normalize_config({"name": "transformer", "input_shape": [1, 8, 8], "num_outputs": 10}) == {
        "name": "transformer", "input_shape": [1, 8, 8], "num_outputs": 10, "seq_len": 8, "token_dim": 8,
        "d_model": 32, "heads": 4, "depth": 2, "mlp_dim": 64, "mlp_activation": "gelu"}
    relu_pow = normalize_config({"name": "mlp", "input_shape": [4], "num_outputs": 2, "widths": [3],
                                 "activation": "relu_pow"})
    assert relu_pow["power"] == 2


BAD = {
    "not a dict": ([("name", "mlp")], "must be a dict"),
    "no name": ({"input_shape": [4], "num_outputs": 2}, "no `name`.*mlp, linear, vgg, resnet20, transformer"),
    "unknown name": ({"name": "lenet", "input_shape": [4], "num_outputs": 2}, "unknown model 'lenet'"),
    "unknown key": ({"name": "mlp", "input_shape": [4], "num_outputs": 2, "widths": [3], "dropout": 0.1,
                     "activaton": "relu"}, "unknown key.*'activaton', 'dropout'"),
    "missing num_outputs": ({"name": "mlp", "input_shape": [4], "widths": [3]}, "missing required key `num_outputs`"),
    "width 0": ({"name": "mlp", "input_shape": [4], "num_outputs": 2, "widths": [3, 0]}, r"`widths`.*\[3, 0\]"),
    "width float": ({"name": "mlp", "input_shape": [4], "num_outputs": 2, "widths": [3.5]}, "`widths`"),
    "width bool": ({"name": "mlp", "input_shape": [4], "num_outputs": 2, "widths": [True]}, "`widths`"),
    "negative depth": ({"name": "mlp", "input_shape": [4], "num_outputs": 2, "depth": -1, "width": 3}, "`depth`"),
    "depth without width": ({"name": "mlp", "input_shape": [4], "num_outputs": 2, "depth": 2}, "together"),
    "widths and depth": ({"name": "mlp", "input_shape": [4], "num_outputs": 2, "widths": [3], "depth": 1,
                          "width": 3}, "not both"),
    "no hidden layers": ({"name": "mlp", "input_shape": [4], "num_outputs": 2}, "give `widths`"),
    "bad activation": ({"name": "mlp", "input_shape": [4], "num_outputs": 2, "widths": [3], "activation": "swish"},
                       "`activation` must be one of"),
    "power without relu_pow": ({"name": "mlp", "input_shape": [4], "num_outputs": 2, "widths": [3], "power": 3},
                               "only applies to activation relu_pow"),
    "power 0": ({"name": "mlp", "input_shape": [4], "num_outputs": 2, "widths": [3], "activation": "relu_pow",
                 "power": 0}, "`power`"),
    "bias not bool": ({"name": "mlp", "input_shape": [4], "num_outputs": 2, "widths": [3], "bias": 1}, "`bias`"),
    "empty input_shape": ({"name": "mlp", "input_shape": [], "num_outputs": 2, "widths": [3]}, "`input_shape`"),
    "zero outputs": ({"name": "mlp", "input_shape": [4], "num_outputs": 0, "widths": [3]}, "`num_outputs`"),
    "skip mismatched widths": ({"name": "linear", "input_shape": [3], "num_outputs": 2, "widths": [3, 4],
                                "skip": True}, r"input dimension 3, got widths \[3, 4\]"),
    "skip no hidden": ({"name": "linear", "input_shape": [3], "num_outputs": 2, "widths": [], "skip": True},
                       "at least one hidden layer"),
    "vgg flat input": ({"name": "vgg", "input_shape": [64], "num_outputs": 2}, "3 positive ints"),
    "vgg bad channel": ({"name": "vgg", "input_shape": [1, 8, 8], "num_outputs": 2, "channels": [4, "P"]},
                        "`channels`"),
    "vgg no conv": ({"name": "vgg", "input_shape": [1, 8, 8], "num_outputs": 2, "channels": ["M"]}, "at least one"),
    "vgg too many pools": ({"name": "vgg", "input_shape": [1, 8, 8], "num_outputs": 2,
                            "channels": [4, "M", "M", "M", "M"]}, "4 max-poolings.*at most 3"),
    "vgg width 0": ({"name": "vgg", "input_shape": [1, 8, 8], "num_outputs": 2, "width": 0}, "`width`"),
    "vgg bad norm": ({"name": "vgg", "input_shape": [1, 8, 8], "num_outputs": 2, "norm": "instance"}, "`norm`"),
    "resnet width float": ({"name": "resnet20", "input_shape": [1, 8, 8], "num_outputs": 2, "width": 1.5},
                           "`width`"),
    "resnet norm none": ({"name": "resnet20", "input_shape": [1, 8, 8], "num_outputs": 2, "norm": "none"}, "`norm`"),
    "heads not dividing": ({"name": "transformer", "input_shape": [12], "num_outputs": 2, "seq_len": 4,
                            "d_model": 10, "heads": 4}, "heads 4 and d_model 10"),
    "seq_len not dividing": ({"name": "transformer", "input_shape": [12], "num_outputs": 2, "seq_len": 5},
                             "12 input features"),
    "seq_len times token_dim": ({"name": "transformer", "input_shape": [12], "num_outputs": 2, "seq_len": 4,
                                 "token_dim": 4}, "12 input features"),
    "flat input without tokens": ({"name": "transformer", "input_shape": [12], "num_outputs": 2},
                                  "give `seq_len` or `token_dim`"),
    "transformer negative depth": ({"name": "transformer", "input_shape": [12], "num_outputs": 2, "seq_len": 4,
                                    "depth": -1}, "`depth`"),
    "transformer bad activation": ({"name": "transformer", "input_shape": [12], "num_outputs": 2, "seq_len": 4,
                                    "mlp_activation": "tanh"}, "`mlp_activation`"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_config_raises_one_line_config_error(case):
    config, match = BAD[case]
    with pytest.raises(ConfigError, match=match) as info:
        build(config)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("power", [1, 2, 3])
def test_relu_pow_is_max_z_0_to_the_k(power):
    z = torch.linspace(-2, 2, 41, dtype=torch.float64)
    assert torch.equal(ReluPow(power)(z), torch.clamp(z, min=0) ** power)
    assert ReluPow(power).weightspace_activation == ("relu_pow", power)
    model = build({"name": "mlp", "input_shape": [5], "num_outputs": 3, "widths": [7, 6], "activation": "relu_pow",
                   "power": power}).double()
    x = _input(model)
    h = x
    for layer in model.layers[:-1]:
        h = torch.clamp(h @ layer.weight.T + layer.bias, min=0) ** power
    expected = h @ model.layers[-1].weight.T + model.layers[-1].bias
    torch.testing.assert_close(model(x), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_activation_modules(name):
    act = build({"name": "mlp", "input_shape": [2], "num_outputs": 1, "widths": [2], "activation": name}).act
    z = torch.linspace(-3, 3, 13)
    expected = {"relu": F.relu, "tanh": torch.tanh, "softplus": F.softplus, "gelu": F.gelu, "linear": lambda t: t,
                "sigmoid": torch.sigmoid, "leaky_relu": F.leaky_relu, "relu_pow": lambda t: F.relu(t) ** 2}[name]
    assert torch.equal(act(z), expected(z))


def test_linear_skip_is_w3_of_w2_w1_x_plus_x():
    model = build({"name": "linear", "input_shape": [3], "num_outputs": 2, "widths": [3, 3], "skip": True}).double()
    w1, w2, w3 = (layer.weight for layer in model.layers)
    assert all(layer.bias is None for layer in model.layers)
    x = _input(model)
    torch.testing.assert_close(model(x), (w3 @ (w2 @ w1 @ x.T + x.T)).T, rtol=1e-12, atol=1e-12)
    plain = build({**model.config, "skip": False}).double()
    plain.load_state_dict(model.state_dict())
    torch.testing.assert_close(plain(x), (w3 @ w2 @ w1 @ x.T).T, rtol=1e-12, atol=1e-12)


def test_state_dict_keys():
    assert list(build(CONFIGS["mlp-relu"]).state_dict()) == [
        "layers.0.weight", "layers.0.bias", "layers.1.weight", "layers.1.bias", "layers.2.weight", "layers.2.bias"]
    assert list(build(CONFIGS["linear"]).state_dict()) == ["layers.0.weight", "layers.1.weight", "layers.2.weight"]
    vgg = build(CONFIGS["vgg-ln-hidden"]).state_dict()
    assert list(vgg) == [
        "features.0.0.weight", "features.0.0.bias", "features.0.1.weight", "features.0.1.bias",
        "features.2.0.weight", "features.2.0.bias", "features.2.1.weight", "features.2.1.bias",
        "classifier.0.weight", "classifier.0.bias", "classifier.1.weight", "classifier.1.bias",
        "classifier.2.weight", "classifier.2.bias"]
    assert vgg["classifier.0.weight"].shape == (5, 6 * 4 * 4)
    transformer = build(CONFIGS["transformer-seq"]).state_dict()
    assert {"embed.weight", "pos", "blocks.1.attn.in_proj_weight", "blocks.1.attn.out_proj.weight",
            "blocks.1.mlp_in.weight", "blocks.1.mlp_out.bias", "norm.weight", "head.weight"} <= set(transformer)


def test_vgg_width_multiplier_and_bias_rules():
    bn = build(CONFIGS["vgg-cifar-half"])
    convs = [m for m in bn.modules() if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs] == [8, 8, 16, 16]
    assert all(c.bias is None for c in convs)  # BatchNorm removes a conv bias
    assert bn.classifier[0].in_features == 16 * 8 * 8
    ln = build(CONFIGS["vgg-ln-hidden"])
    assert all(m.bias is not None for m in ln.modules() if isinstance(m, nn.Conv2d))
    assert all(m.num_groups == 1 for m in ln.modules() if isinstance(m, nn.GroupNorm))


def test_resnet20_structure():
    model = build(CONFIGS["resnet20-ln-2"])
    convs = {k: m for k, m in model.named_modules() if isinstance(m, nn.Conv2d)}
    assert sum(m.kernel_size == (3, 3) for m in convs.values()) == 19
    assert sorted(k for k, m in convs.items() if m.kernel_size == (1, 1)) == [
        "stages.1.0.shortcut.0", "stages.2.0.shortcut.0"]
    assert [model.stages[i][0].conv1.out_channels for i in range(3)] == [32, 64, 128]
    assert isinstance(model.stages[0][0].shortcut, nn.Identity)
    assert all(c.bias is None for c in convs.values())
    assert model.head.in_features == 128
    x = _input(model, torch.float32, batch=2)
    with torch.no_grad():
        h = model.stem(x)
        sizes = [tuple((h := stage(h)).shape[2:]) for stage in model.stages]
    assert sizes == [(8, 8), (4, 4), (2, 2)]
    bn = build(CONFIGS["resnet20-bn"])
    assert sum(isinstance(m, nn.BatchNorm2d) for m in bn.modules()) == 19 + 2
    assert math.isclose(sum(p.numel() for p in build(CONFIGS["resnet20-cifar"]).parameters()) / 1e6, 0.27, abs_tol=0.01)


def test_transformer_block_matches_hand_written_attention():
    model = _build("transformer-seq")
    block, e, heads = model.blocks[0], 8, 2
    d = e // heads
    x = torch.randn(3, 4, e, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    h = F.layer_norm(x, (e,), block.norm1.weight, block.norm1.bias)
    q, k, v = (h @ w.T + b for w, b in zip(block.attn.in_proj_weight.chunk(3), block.attn.in_proj_bias.chunk(3),
                                          strict=True))

    def split(t):  # (batch, seq, e) -> (batch, heads, seq, d)
        return t.reshape(3, 4, heads, d).transpose(1, 2)

    a = torch.softmax(split(q) @ split(k).transpose(-1, -2) / math.sqrt(d), dim=-1) @ split(v)
    x1 = x + a.transpose(1, 2).reshape(3, 4, e) @ block.attn.out_proj.weight.T + block.attn.out_proj.bias
    m = F.gelu(F.layer_norm(x1, (e,), block.norm2.weight, block.norm2.bias) @ block.mlp_in.weight.T
               + block.mlp_in.bias)
    expected = x1 + m @ block.mlp_out.weight.T + block.mlp_out.bias
    with torch.no_grad():
        torch.testing.assert_close(block(x), expected, rtol=1e-10, atol=1e-10)


def test_transformer_tokens_are_rows_of_the_input():
    model = _build("transformer-image-rows")
    x = _input(model)
    # permuting the rows (tokens) together with the positional embedding leaves the output unchanged
    perm = torch.randperm(8, generator=torch.Generator().manual_seed(4))
    moved = build(model.config).double().eval()
    sd = model.state_dict()
    moved.load_state_dict({**sd, "pos": sd["pos"][:, perm]})
    torch.testing.assert_close(moved(x[:, :, perm]), model(x), rtol=1e-12, atol=1e-12)


def test_example_input():
    config = {"name": "vgg", "input_shape": [1, 8, 8], "num_outputs": 2}
    x = example_input(config, 5, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    assert x.shape == (5, 1, 8, 8) and x.dtype == torch.float64
    assert torch.equal(x, example_input(config, 5, generator=torch.Generator().manual_seed(0), dtype=torch.float64))
    assert example_input(config).shape == (2, 1, 8, 8)
    with pytest.raises(ConfigError, match="`batch`"):
        example_input(config, -1)
    with pytest.raises(ConfigError, match="floating point"):
        example_input(config, dtype=torch.int64)
    with pytest.raises(ConfigError, match="unknown model"):
        example_input({"name": "nope"})


def test_public_api():
    assert MODELS == ("mlp", "linear", "vgg", "resnet20", "transformer", "binary_mlp", "gpt")
    assert set(models.__all__) == {"ACTIVATIONS", "MODELS", "TOKEN_MODELS", "ReluPow", "build", "example_input",
                                   "example_for", "normalize_config"}
