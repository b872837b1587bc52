"""Entropy-SGD and replicated SGD follow their papers' update rules (against the rules written out by hand on a
quadratic), SAM is the library's and takes the sharpness-aware step, and train() uses them."""

import math

import pytest
import torch

import weightspace as ws
from weightspace.data import Dataset
from weightspace.errors import ConfigError
from weightspace.optim import EntropySGD, ReplicatedSGD, make_optimizer

DT = torch.float64
A = torch.tensor([[3.0, 0.5], [0.5, 1.0]], dtype=DT)
B = torch.tensor([1.0, -2.0], dtype=DT)


def _grad(x):  # f(x) = ½ xᵀA x − bᵀx on the first tensor, ½||w||² on the second
    return A @ x - B


def _params():
    return [torch.tensor([0.7, -0.3], dtype=DT, requires_grad=True), torch.tensor([[1.5, -2.0]], dtype=DT,
                                                                                  requires_grad=True)]


def _closure(opt, params):
    def closure():
        opt.zero_grad()
        x, w = params
        loss = 0.5 * x @ A @ x - B @ x + 0.5 * (w * w).sum()
        loss.backward()
        return loss
    return closure


def test_entropy_sgd_follows_algorithm_1_of_chaudhari_et_al():
    lr, eta, L, gamma, eps, alpha, seed = 0.5, 0.1, 3, 0.7, 0.05, 0.75, 4
    params = _params()
    opt = EntropySGD(params, lr=lr, inner_lr=eta, langevin_steps=L, gamma=gamma, noise=eps, alpha=alpha, seed=seed)
    xs = [p.detach().clone() for p in params]
    gen = torch.Generator().manual_seed(seed)
    grads = (_grad, lambda w: w)
    for _ in range(3):
        opt.step(_closure(opt, params))
        xp = [x.clone() for x in xs]
        mu = [x.clone() for x in xs]
        for _ in range(L):
            for i in range(2):
                dx = grads[i](xp[i]) - gamma * (xs[i] - xp[i])
                xp[i] = xp[i] - eta * dx + math.sqrt(eta) * eps * torch.randn(xp[i].shape, generator=gen, dtype=DT)
                mu[i] = (1 - alpha) * mu[i] + alpha * xp[i]
        xs = [x - lr * gamma * (x - m) for x, m in zip(xs, mu, strict=True)]
        for p, x in zip(params, xs, strict=True):
            torch.testing.assert_close(p.detach(), x, rtol=0, atol=1e-12)
    state = opt.state_dict()  # the noise generator is part of the state: a resumed run draws the same noise
    again = _params()
    resumed = EntropySGD(again, lr=lr, inner_lr=eta, langevin_steps=L, gamma=gamma, noise=eps, alpha=alpha, seed=99)
    with torch.no_grad():
        for p, q in zip(again, params, strict=True):
            p.copy_(q)
    resumed.load_state_dict(state)
    opt.step(_closure(opt, params))
    resumed.step(_closure(resumed, again))
    assert all(torch.equal(p, q) for p, q in zip(params, again, strict=True))


def test_replicated_sgd_follows_the_update_of_the_replicated_loss():
    lr, y, g0, g1, kappa, seed = 0.1, 3, 0.4, 0.2, 0.3, 7
    params = _params()
    opt = ReplicatedSGD(params, lr=lr, replicas=y, gamma=g0, gamma_growth=g1, init_noise=kappa, seed=seed)
    gen = torch.Generator().manual_seed(seed)
    center = [p.detach().clone() for p in params]
    reps = [c.unsqueeze(0) + kappa * c.pow(2).mean().sqrt() * torch.randn((y, *c.shape), generator=gen, dtype=DT)
            for c in center]
    grads = (_grad, lambda w: w)
    for t in range(3):
        losses = [opt.step(_closure(opt, params))]
        gamma = g0 * (1 + g1) ** t
        new_center = [c - lr * gamma * (c.unsqueeze(0) - r).sum(0) for c, r in zip(center, reps, strict=True)]
        reps = [torch.stack([r[a] - lr * (grads[i](r[a]) + gamma * (r[a] - center[i])) for a in range(y)])
                for i, r in enumerate(reps)]
        center = new_center
        for p, c in zip(params, center, strict=True):
            torch.testing.assert_close(p.detach(), c, rtol=0, atol=1e-12)
        for p, r in zip(params, reps, strict=True):
            torch.testing.assert_close(opt.state[p]["replicas"], r, rtol=0, atol=1e-12)
        assert torch.isfinite(losses[0])


def test_sam_comes_from_pytorch_optimizer_and_steps_from_the_perturbed_gradient():
    from pytorch_optimizer import SAM

    rho, lr = 0.05, 0.1
    params = _params()
    opt = make_optimizer("sam", params, lr=lr, rho=rho)
    assert isinstance(opt, SAM)
    x0 = [p.detach().clone() for p in params]
    closure = _closure(opt, params)
    closure()
    ws.optim.optimizer_step(opt, closure)
    g = [_grad(x0[0]), x0[1]]
    norm = torch.sqrt(sum((v * v).sum() for v in g))
    e = [rho * v / norm for v in g]
    expected = [x0[0] - lr * _grad(x0[0] + e[0]), x0[1] - lr * (x0[1] + e[1])]
    for p, x in zip(params, expected, strict=True):  # the library's norm is accumulated in float32
        torch.testing.assert_close(p.detach(), x, rtol=0, atol=1e-8)
    assert not torch.allclose(params[0].detach(), x0[0] - lr * _grad(x0[0]), atol=1e-4)  # not plain SGD


def test_factory_refuses_unknown_names_and_options():
    with pytest.raises(ConfigError, match="unknown optimizer"):
        make_optimizer("lbfgs", _params(), lr=0.1)
    with pytest.raises(ConfigError, match="rho"):
        make_optimizer("entropy-sgd", _params(), lr=0.1, rho=0.1)
    with pytest.raises(ConfigError, match="momentum"):
        make_optimizer("replicated-sgd", _params(), lr=0.1, momentum=0.9)
    with pytest.raises(ConfigError, match="replicas"):
        ReplicatedSGD(_params(), replicas=0)


@pytest.mark.parametrize("setting", ["sam", "entropy-sgd", "replicated-sgd"])
def test_train_uses_the_optimiser_of_a_setting(setting):
    d = ws.data.load("digits")
    small = Dataset("digits-256", d.task, d.x_train[:256], d.y_train[:256], d.x_test[:64], d.y_test[:64], 10)
    r = ws.optim.train_minimiser(setting, {"name": "mlp", "widths": [16]}, small, seed=0, epochs=4, batch_size=32)
    assert r.metrics["hyperparameters"]["optimizer"] == ws.optim.SETTINGS[setting]["optimizer"]
    assert r.metrics["train"]["loss"] < 0.95 * math.log(10)  # it learned: the loss at chance is log 10
