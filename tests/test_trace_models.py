"""The tracer on models it used to crash on: nn.MultiheadAttention with unpacked outputs and a small
decoder-only transformer (token embedding, positional parameter, causal heads by hand, tied head).
Each spec keeps the function under random elements of every admitted kind and actually moves weights;
a rule that fails turns into a fixed layer with its reason, never into a traceback."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from weightspace.errors import SymmetryError
from weightspace.params import forward
from weightspace.symmetry import spec_of
from weightspace.symmetry._rules_functions import FUNCTIONS

TOL = 1e-9


class UnpackedMHA(nn.Module):
    """`out, _ = mha(x, x, x)` straight on the input, then a Linear (the input's axis stays put)."""

    def __init__(self, d=4, heads=2, batch_first=True, embed=False, need_weights=True):
        super().__init__()
        self.need_weights = need_weights
        self.embed = nn.Linear(3, d) if embed else None
        self.mha = nn.MultiheadAttention(d, heads, batch_first=batch_first)
        self.fc = nn.Linear(d, 2)

    def forward(self, x):
        if self.embed is not None:
            x = self.embed(x)
        out, _ = self.mha(x, x, x, need_weights=self.need_weights)
        return self.fc(out)


class Decoder(nn.Module):
    """Token embedding + positional parameter, one pre-LN causal block (heads by view/transpose), tied head."""

    def __init__(self, vocab=7, seq=5, d=8, heads=2, mlp=12, sdpa=False, functional_head=False):
        super().__init__()
        self.heads, self.sdpa, self.functional_head = heads, sdpa, functional_head
        self.emb = nn.Embedding(vocab, d)
        self.pos = nn.Parameter(torch.randn(1, seq, d) * 0.1)
        self.ln1, self.ln2, self.lnf = nn.LayerNorm(d), nn.LayerNorm(d), nn.LayerNorm(d)
        self.q, self.k, self.v, self.o = (nn.Linear(d, d) for _ in range(4))
        self.fc1, self.fc2 = nn.Linear(d, mlp), nn.Linear(mlp, d)
        if not functional_head:
            self.head = nn.Linear(d, vocab, bias=False)
            self.head.weight = self.emb.weight  # tied: the state dict lists it twice
        self.register_buffer("mask", torch.tril(torch.ones(seq, seq)).bool())

    def forward(self, idx):
        b, t = idx.shape
        x = self.emb(idx) + self.pos[:, :t]
        h = self.ln1(x)
        q, k, v = (f(h).view(b, t, self.heads, -1).transpose(1, 2) for f in (self.q, self.k, self.v))
        if self.sdpa:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:
            att = (q @ k.transpose(-2, -1)) / q.shape[-1] ** 0.5
            att = att.masked_fill(~self.mask[:t, :t], float("-inf"))
            y = torch.softmax(att, dim=-1) @ v
        x = x + self.o(y.transpose(1, 2).contiguous().view(b, t, -1))
        x = x + self.fc2(F.gelu(self.fc1(self.ln2(x))))
        h = self.lnf(x)
        return F.linear(h, self.emb.weight) if self.functional_head else self.head(h)


def _randomise(model, gen):
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=gen, dtype=p.dtype))


def _check_kept(model, x, spec, seeds=5):
    model.eval()
    ref = model(x)
    for seed in range(seeds):
        g = spec.sample(generator=torch.Generator().manual_seed(seed))
        for out in (g.apply_module(model).eval()(x), forward(model, g.apply(model.state_dict()), x)):
            assert float((out - ref).abs().max()) <= TOL * float(ref.abs().max())


def _moves(spec, sd, names):
    """Some permutation of one of `names` changes the state dict (a non-trivial action)."""
    for seed in range(10):
        g = spec.sample(generator=torch.Generator().manual_seed(seed), kinds=("permutation",))
        if any(not torch.equal(g.actions[n].perm, torch.arange(spec.factor(n).size).expand_as(g.actions[n].perm))
               for n in names):
            moved = g.apply(sd)
            return any(not torch.equal(moved[k], sd[k]) for k in sd if sd[k].is_floating_point())
    return False


@pytest.mark.parametrize("batch_first", [True, False])
@pytest.mark.parametrize("embed, need_weights", [(False, True), (True, True), (True, False)])
@torch.no_grad()
def test_unpacked_multihead_attention_keeps_the_function_and_moves_heads(batch_first, embed, need_weights):
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    model = UnpackedMHA(batch_first=batch_first, embed=embed, need_weights=need_weights).double()
    _randomise(model, gen)
    x = torch.randn(2, 5, 3 if embed else 4, generator=gen, dtype=torch.float64)
    spec = spec_of(model, x)
    assert spec.fixed == ()
    by = {f.name: f for f in spec.factors}
    assert by["mha.heads"].size == 2 and by["mha.qk"].parent == "mha.heads" and by["mha.v"].parent == "mha.heads"
    assert ("fc.weight", 1) in by["mha.out_proj"].axes
    _check_kept(model, x, spec)
    assert _moves(spec, model.state_dict(), ["mha.heads", "mha.out_proj"])


@pytest.mark.parametrize("sdpa", [False, True])
@pytest.mark.parametrize("functional_head", [False, True])
@torch.no_grad()
def test_decoder_with_tied_head_shares_the_residual_permutation(sdpa, functional_head):
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(1)
    model = Decoder(sdpa=sdpa, functional_head=functional_head).double()
    _randomise(model, gen)
    idx = torch.randint(0, 7, (3, 5), generator=gen)
    spec = spec_of(model, idx)
    sd = model.state_dict()
    assert set(spec.table) == set(sd) and spec.fixed == ()
    by = {f.name: f for f in spec.factors}
    stream = by["emb"]
    assert stream.size == 8 and "permutation" in stream.kinds
    # embedding columns, positional parameter, every residual write and the tied head share one permutation
    for axis in [("emb.weight", 1), ("pos", 2), ("o.weight", 0), ("fc2.weight", 0), ("ln1.weight", 0),
                 ("lnf.weight", 0), ("q.weight", 1)]:
        assert axis in stream.axes, axis
    if not functional_head:
        assert ("head.weight", 1) in stream.axes
    assert spec.table["emb.weight"][0] is None  # vocabulary rows are indexed by tokens: they stay put
    assert by["q.heads"].size == 2 and by["q.dims"].parent == "q.heads" and by["v.dims"].parent == "q.heads"
    _check_kept(model, idx, spec)
    assert _moves(spec, sd, ["emb", "q.heads"])
    g = spec.sample(generator=torch.Generator().manual_seed(3))
    moved = g.apply(sd)
    assert not torch.equal(moved["emb.weight"], sd["emb.weight"])
    if not functional_head:
        assert torch.equal(moved["head.weight"], moved["emb.weight"])  # tied copies stay equal


class Boom(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b, self.c = nn.Linear(4, 5), nn.Linear(5, 6), nn.Linear(6, 2)

    def forward(self, x):
        return self.c(torch.relu(self.b(torch.tanh(self.a(x)))))


@torch.no_grad()
def test_a_failing_rule_fixes_what_it_touches_with_the_reason(monkeypatch):
    def boom(st, node):
        raise RuntimeError("boom")

    monkeypatch.setitem(FUNCTIONS, torch.relu, boom)
    torch.manual_seed(0)
    model = Boom().double()
    x = torch.randn(3, 4, dtype=torch.float64)
    spec = spec_of(model, x)
    assert [f.name for f in spec.factors] == ["a"]
    assert [f.name for f in spec.fixed] == ["b"]
    assert "could not be followed: boom" in spec.fixed[0].reason
    _check_kept(model, x, spec)
    with pytest.raises(SymmetryError, match="boom"):
        spec_of(model, x, strict=True)


class NonPersistentScale(nn.Module):
    """A buffer outside the state dict multiplies the hidden units: they cannot be permuted."""

    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Linear(3, 4), nn.Linear(4, 2)
        self.register_buffer("s", torch.arange(1.0, 5.0), persistent=False)

    def forward(self, x):
        return self.b(torch.relu(self.a(x)) * self.s)


@torch.no_grad()
def test_a_tensor_outside_the_state_dict_fixes_its_units():
    model = NonPersistentScale().double()
    x = torch.randn(3, 3, dtype=torch.float64)
    spec = spec_of(model, x)
    assert spec.factors == () and [f.name for f in spec.fixed] == ["a"]
    assert "not in the state dict" in spec.fixed[0].reason
    _check_kept(model, x, spec)


@torch.no_grad()
def test_a_failing_resolver_leaves_everything_fixed_with_the_reason(monkeypatch):
    def boom(st, shapes):
        raise KeyError("boom")

    monkeypatch.setattr("weightspace.symmetry._trace.resolve", boom)
    model = Boom().double()
    x = torch.randn(3, 4, dtype=torch.float64)
    spec = spec_of(model, x)
    assert spec.factors == () and set(spec.table) == set(model.state_dict())
    assert [f.name for f in spec.fixed] == ["Boom"] and "could not be resolved" in spec.fixed[0].reason
    with pytest.raises(SymmetryError, match="could not be resolved"):
        spec_of(model, x, strict=True)
