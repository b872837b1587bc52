"""The GPT-style zoo model and its synthetic next-token task: the symmetry spec keeps the function and moves heads
as blocks with the tied embedding on the residual stream; weight matching recovers a planted group element
exactly; the Markov task follows its transition table; the alignment claim runs at its smoke budget."""

import json

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from weightspace.align import weight_matching
from weightspace.data import load
from weightspace.evaluate import evaluate
from weightspace.experiments import gpt_alignment
from weightspace.models import build, example_input
from weightspace.params import forward
from weightspace.symmetry import spec_of

CONFIG = {"name": "gpt", "input_shape": [6], "num_outputs": 5, "d_model": 8, "heads": 2, "depth": 2, "mlp_dim": 12}


@pytest.fixture(scope="module")
def gpt():
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = build(CONFIG).double().eval()
        with torch.no_grad():  # random weights of order one, so the checks are not vacuous
            for p in model.parameters():
                p.normal_()
    x = example_input(model.config, 4, generator=torch.Generator().manual_seed(1))
    return model, x, spec_of(model, x)


def test_spec_moves_heads_as_blocks_and_the_tied_embedding_with_the_stream(gpt):
    model, x, spec = gpt
    assert spec.fixed == () and set(spec.table) == set(model.state_dict())
    by = {f.name: f for f in spec.factors}
    stream = by["embed"]
    assert stream.size == 8
    for axis in [("embed.weight", 1), ("head.weight", 1), ("pos", 2), ("blocks.0.o.weight", 0),
                 ("blocks.1.fc2.weight", 0), ("norm.weight", 0), ("blocks.1.q.weight", 1)]:
        assert axis in stream.axes, axis
    for i in range(2):
        assert by[f"blocks.{i}.q.heads"].size == 2
        assert by[f"blocks.{i}.q.dims"].parent == by[f"blocks.{i}.v.dims"].parent == f"blocks.{i}.q.heads"
    assert x.dtype == torch.int64 and model(x).shape == (4, 6, 5)


@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 2**31 - 1))
def test_random_group_elements_keep_the_function(gpt, seed):
    model, x, spec = gpt
    sd = model.state_dict()
    g = spec.sample(generator=torch.Generator().manual_seed(seed))
    moved = g.apply(sd)
    assert torch.equal(moved["head.weight"], moved["embed.weight"])  # tied copies stay equal
    ref = model(x)
    with torch.no_grad():
        assert torch.allclose(forward(model, moved, x), ref, atol=1e-9 * float(ref.abs().max()), rtol=0)


def test_weight_matching_recovers_a_planted_permutation(gpt):
    model, x, spec = gpt
    sd = model.state_dict()
    planted = spec.sample(generator=torch.Generator().manual_seed(7), kinds=("permutation",))
    other = planted.apply(sd)
    assert not torch.equal(other["embed.weight"], sd["embed.weight"])
    aligned = weight_matching(sd, other, spec, generator=torch.Generator().manual_seed(0)).apply(other)
    assert all(torch.equal(aligned[k], sd[k]) for k in sd)


def test_markov_targets_follow_the_transition_table():
    data = load("markov", noise=0.0, n_train=64, n_test=16, vocab=5, seq_len=9)
    x, y = data.x_train, data.y_train
    assert data.task == "next-token" and x.dtype == y.dtype == torch.int64 and x.shape == y.shape == (64, 9)
    assert torch.equal(x[:, 1:], y[:, :-1])  # targets are the inputs shifted by one
    table = {}
    for a, b, c in zip(x[:, :-1].flatten().tolist(), x[:, 1:].flatten().tolist(), y[:, 1:].flatten().tolist(),
                       strict=True):
        assert table.setdefault((a, b), c) == c  # noise 0: the next token is a function of the previous two
    assert data.meta["ceiling"] == pytest.approx((1 / 5 + 8 * 1.0) / 9)
    again = load("markov", **data.meta["options"])
    assert torch.equal(again.x_train, x) and torch.equal(again.y_test, data.y_test)


def test_next_token_evaluation_counts_tokens():
    data = load("markov", n_train=32, n_test=16)
    model = build({"name": "gpt", "input_shape": [16], "num_outputs": 8, "d_model": 8, "heads": 2, "depth": 1})
    r = evaluate(model, data)
    with torch.no_grad():
        out = model(data.x_test)
    wrong = float((out.argmax(-1) != data.y_test).double().mean())
    assert r["error"] == pytest.approx(wrong) and r["accuracy"] == pytest.approx(1 - wrong)
    assert r["loss"] == pytest.approx(float(torch.nn.functional.cross_entropy(out.reshape(-1, 8),
                                                                              data.y_test.reshape(-1))), rel=1e-6)


def test_alignment_claim_at_smoke_budget(tmp_path):
    claim = gpt_alignment.CLAIMS[0]
    assert claim["id"] == "sharma.transformer-alignment" and claim["paper"] == "sharma"
    result = claim["run"](tmp_path, **claim["budgets"]["smoke"])
    json.dumps(result)
    assert (tmp_path / gpt_alignment.FIGURE).is_file() and result["figures"] == [gpt_alignment.FIGURE]
    (pair,) = result["measurements"]["pairs"]
    assert pair["tied_copies_equal"] and pair["aligned_function_change"] < 1e-4
    assert result["value"] == pytest.approx(pair["barrier_aligned"] / pair["barrier_naive"])


def test_hessian_vector_products_exist_and_are_symmetric(gpt):
    """Attention is written out, so the loss is twice differentiable: <u, H v> = <v, H u>."""
    from weightspace.hessian import hvp, loss_of
    from weightspace.params import tree_dot

    model, x, _ = gpt
    y = torch.roll(x, -1, dims=1)
    fn, keys = loss_of(model, x, y, loss_fn=lambda o, t: torch.nn.functional.cross_entropy(o.reshape(-1, 5),
                                                                                           t.reshape(-1)))
    params = {k: v.detach() for k, v in model.named_parameters()}
    g = torch.Generator().manual_seed(0)
    u, v = ({k: torch.randn(params[k].shape, generator=g, dtype=torch.float64) for k in keys} for _ in range(2))
    hu, hv = hvp(fn, params, u, keys), hvp(fn, params, v, keys)
    assert float(tree_dot(u, hv)) == pytest.approx(float(tree_dot(v, hu)), rel=1e-8)
