"""Binary networks: sign weights and activations with straight-through gradients, their permutation x sign-flip
symmetry in the spec, the canonical form (one point per orbit), Hamming distances after alignment, and local energy
as the error increase after flipping weights."""

import functools
import itertools
import math

import pytest
import torch

import weightspace as ws
from weightspace.data import Dataset
from weightspace.errors import ConfigError
from weightspace.evaluate import evaluate
from weightspace.models import build
from weightspace.models._binary import BinaryLinear, Sign
from weightspace.params import forward
from weightspace.quotient import (
    align_to,
    binary_local_energy,
    canonical_form,
    geodesic,
    hamming_distance,
    quotient_distance,
    quotient_of,
)

pytestmark = pytest.mark.usefixtures("one_thread")

CONFIG = {"name": "binary_mlp", "input_shape": [16], "num_outputs": 4, "widths": [6, 5]}


@functools.cache
def _case(seed: int = 0):
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = build(CONFIG).double().eval()
    return model, quotient_of(model)


def _x(n=64, seed=3):
    return torch.randn(n, 16, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))


def test_forward_is_the_sign_network():
    model, _ = _case()
    w = [torch.sign(layer.weight) for layer in model.layers]
    x = _x()
    h = torch.sign(x @ w[0].T / 4)
    h = torch.sign(h @ w[1].T / math.sqrt(6))
    with torch.no_grad():
        assert torch.allclose(model(x), h @ w[2].T / math.sqrt(5), atol=1e-14, rtol=0)


def test_straight_through_gradients():
    z = torch.tensor([-2.0, -0.5, 0.3, 1.0, 1.7], dtype=torch.float64, requires_grad=True)
    Sign()(z).sum().backward()
    assert torch.equal(z.grad, torch.tensor([0.0, 1.0, 1.0, 0.0, 0.0], dtype=torch.float64))  # 1{|z| < 1}
    layer = BinaryLinear(3, 2).double()
    x = torch.randn(5, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    layer(x).sum().backward()
    assert torch.allclose(layer.weight.grad, x.sum(0).expand(2, 3) / math.sqrt(3), atol=1e-14, rtol=0)


def test_spec_has_permutations_and_sign_flips_and_they_keep_the_function():
    model, q = _case()
    assert [(f.name, f.kinds) for f in q.spec.factors] == [("layers.0", ("permutation", "sign")),
                                                           ("layers.1", ("permutation", "sign"))]
    x = _x()
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        y = model(x)
        for _ in range(100):
            g = q.spec.sample(generator=gen)
            assert torch.allclose(forward(model, g.apply(model.state_dict()), x), y, atol=1e-12, rtol=0)


def test_canonical_form_is_one_point_per_orbit():
    model, q = _case()
    theta = model.state_dict()
    c = canonical_form(model, quotient=q)
    assert all(bool((v.abs() == 1).all()) for v in c.values())
    again = canonical_form(model, c, quotient=q)
    assert all(torch.equal(again[k], c[k]) for k in c)
    with torch.no_grad():
        assert torch.allclose(forward(model, c, _x()), model(_x()), atol=1e-12, rtol=0)
    gen = torch.Generator().manual_seed(2)
    for _ in range(100):  # permutations x sign flips, and any positive rescaling of the latent weights
        moved = q.spec.sample(generator=gen).apply(theta)
        moved = {k: v * (0.1 + torch.rand(v.shape, generator=gen, dtype=v.dtype)) for k, v in moved.items()}
        cm = canonical_form(model, moved, quotient=q)
        assert all(torch.equal(cm[k], c[k]) for k in c)


def test_hamming_distance_after_alignment():
    model, q = _case()
    theta = model.state_dict()
    g = q.spec.sample(generator=torch.Generator().manual_seed(4))
    assert hamming_distance(model, theta, g.apply(theta), quotient=q) == 0
    ref, aligned = align_to(model, g.apply(theta), theta, quotient=q)
    assert all(torch.equal(ref[k], aligned[k]) for k in ref)
    flipped = canonical_form(model, quotient=q)
    flipped["layers.0.weight"][2, 5] *= -1  # one weight of unit 2: cos = 1 − 2/16 for that unit
    n = sum(v.numel() for v in theta.values())
    d = quotient_distance(model, theta, flipped, quotient=q)
    assert d.hamming == 1 / n
    assert d.normalized == pytest.approx((1 / 16) / d.units, abs=1e-15)  # (1 − cos)/2 is the unit's Hamming fraction
    far = hamming_distance(model, theta, _case(1)[0].state_dict(), quotient=q)
    assert far == _aligned_hamming_count(model, _case(1)[0]) / n


def _aligned_hamming_count(model_a, model_b) -> int:
    """The Hamming count of the documented alignment, by brute force: layer by layer, the permutation of B's
    units maximising Σ_i |⟨a_i, b_π(i)⟩| over incoming sign rows, unit i flipped when ⟨a_i, b_π(i)⟩ < 0."""
    a = [torch.sign(layer.weight.detach()) for layer in model_a.layers]
    b = [torch.sign(layer.weight.detach()) for layer in model_b.layers]
    for i in range(len(a) - 1):
        s = a[i] @ b[i].T
        scores = sorted((sum(abs(float(s[r, c])) for r, c in enumerate(perm)), perm)
                        for perm in itertools.permutations(range(len(s))))
        best, perm = scores[-1]
        assert scores[-2][0] < best  # a unique optimum, so the count does not depend on tie-breaking
        perm = list(perm)
        match = s[torch.arange(len(s)), perm]
        assert bool((match != 0).all())  # and no sign left undecided
        sign = torch.sign(match)
        b[i] = sign[:, None] * b[i][perm]
        b[i + 1] = b[i + 1][:, perm] * sign[None, :]
    return sum(int((u != v).sum()) for u, v in zip(a, b, strict=True))


def _toy_data(model) -> Dataset:
    x = _x(200, seed=5)
    with torch.no_grad():
        y = _case(7)[0](x).argmax(1)
    return Dataset("toy", "classification", x[:100], y[:100], x[100:], y[100:], 4)


def test_binary_local_energy_flips_each_weight_with_probability_p():
    # one binary layer 16 -> 2 with rows −1 and +1 on the one-hot inputs e_j, all labelled 1: logits
    # (sign W_0j, sign W_1j)/4 predict 1 (first maximum on ties) only while neither weight of column j flipped,
    # so δE is the fraction of the 16 columns with a flip: mean 1 − (1 − p)², variance q(1 − q)/16 per draw
    d, samples = 16, 50
    model = build({"name": "binary_mlp", "input_shape": [d], "num_outputs": 2, "widths": []}).double().eval()
    with torch.no_grad():
        model.layers[0].weight.copy_(torch.tensor([[-1.0] * d, [1.0] * d], dtype=torch.float64))
    x, y = torch.eye(d, dtype=torch.float64), torch.ones(d, dtype=torch.long)
    data = Dataset("onehot", "classification", x, y, x[:2], y[:2], 2)
    ps = [0.0, 0.2, 1.0]
    le = binary_local_energy(model, None, data, ps, samples=samples, generator=torch.Generator().manual_seed(0))
    assert le.base == 0.0
    assert (le.local_energy[0], le.stderr[0], le.local_energy[2], le.stderr[2]) == (0.0, 0.0, 1.0, 0.0)
    q = 1 - (1 - 0.2) ** 2
    sd = math.sqrt(q * (1 - q) / d / samples)
    assert abs(le.local_energy[1] - q) <= 4 * sd, (le.local_energy, q)
    assert 0.7 < le.stderr[1] / sd < 1.4, (le.stderr, sd)


def test_binary_local_energy():
    model, q = _case()
    data = _toy_data(model)
    le = binary_local_energy(model, None, data, [0.0, 0.2, 1.0], samples=5, quotient=q)
    assert le.local_energy[0] == 0 and le.stderr[0] == 0
    # p = 1 flips every weight: the hidden layers' signs alternate (two layers: unchanged), the logits negate
    with torch.no_grad():
        worst = (model(data.x_train).argmin(1) != data.y_train).double().mean()
    assert le.local_energy[2] == pytest.approx(float(worst) - evaluate(model, data, "train")["error"])
    assert le.stderr[2] == 0 and le.stderr[1] >= 0
    with pytest.raises(ConfigError, match="samples"):
        binary_local_energy(model, None, data, [0.1], samples=0, quotient=q)
    with pytest.raises(ConfigError, match=r"\[0, 1\]"):
        binary_local_energy(model, None, data, [1.5], quotient=q)


def test_binary_refusals():
    model, q = _case()
    theta = model.state_dict()
    with pytest.raises(ConfigError, match="method='cosine'"):
        align_to(model, theta, theta, method="weight", quotient=q)
    with pytest.raises(ConfigError, match="no continuous geodesic"):
        geodesic(model, theta, theta, quotient=q)
    mlp = build({"name": "mlp", "input_shape": [4], "num_outputs": 2, "widths": [3]})
    with pytest.raises(ConfigError, match="not a binary network"):
        hamming_distance(mlp, mlp.state_dict(), mlp.state_dict())


def test_trains_with_the_straight_through_estimator():
    result = ws.train({"name": "binary_mlp", "widths": [64]}, "digits", epochs=3, optimizer="adam", lr=0.01, seed=0)
    assert result.metrics["test"]["error"] < 0.5  # chance: 0.9
