"""The spec's unit view (`Spec.units`, `neighbours`, `producers`, `transposition`) against hand-written
tables and against the group action; group elements refuse what is not an element, with one-line errors."""

import ast
import functools
import math
from pathlib import Path

import pytest
import torch

from weightspace import models
from weightspace.errors import ConfigError, SymmetryError
from weightspace.symmetry import FactorAction, GroupElement, spec_of
from weightspace.symmetry._config import layout_of

MLP = {"name": "mlp", "input_shape": [5], "num_outputs": 3, "widths": [7, 6, 4], "activation": "relu"}
CASES = {
    "mlp": MLP,
    "mlp-tanh": {**MLP, "activation": "tanh"},
    "linear": {"name": "linear", "input_shape": [4], "num_outputs": 3, "widths": [5, 6]},
    "vgg-bn": {"name": "vgg", "input_shape": [1, 8, 8], "num_outputs": 4, "channels": [4, "M", 6],
               "norm": "batchnorm", "hidden": [5]},
    "resnet20": {"name": "resnet20", "input_shape": [1, 8, 8], "num_outputs": 3, "width": 1, "norm": "batchnorm"},
    "transformer": {"name": "transformer", "input_shape": [12], "num_outputs": 3, "seq_len": 4, "token_dim": 3,
                    "d_model": 8, "heads": 2, "depth": 1, "mlp_dim": 10},
}


@functools.cache
def _case(name):
    torch.manual_seed(0)
    model = models.build(CASES[name]).double()
    spec = spec_of(model, models.example_input(model.config, dtype=torch.float64))
    return spec, {k: v.clone() for k, v in model.state_dict().items()}


def _equal(a, b):
    return set(a) == set(b) and all(torch.equal(a[k], b[k]) for k in a)


# -- the unit view against a hand-written table ------------------------------------------------------------
@pytest.mark.parametrize("layer", [0, 1, 2])
def test_mlp_unit_k_owns_its_row_bias_and_next_column(layer):
    spec, sd = _case("mlp")
    units = spec.units(f"layers.{layer}")
    w, b, nxt = f"layers.{layer}.weight", f"layers.{layer}.bias", f"layers.{layer + 1}.weight"
    assert [(s.key, s.axis, s.start, s.stop, s.power) for s in units.slots] == [
        (w, 0, 0, units.size, 1), (b, 0, 0, units.size, 1), (nxt, 1, 0, units.size, -1)]
    assert units.size == MLP["widths"][layer] and units.stats == ()
    for k in range(units.size):
        assert _equal(units.get(sd, k, "in"), {w: sd[w][k, :], b: sd[b][k]})
        assert _equal(units.get(sd, k, "out"), {nxt: sd[nxt][:, k]})
        assert torch.equal(units.vector(sd, k, "in"), torch.cat([sd[w][k, :], sd[b][k:k + 1]]))
    assert torch.equal(units.matrix(sd, "out"), sd[nxt].T)


def test_layout_of_is_the_spec_unit_view_by_layer_index():
    spec, _ = _case("mlp")
    assert layout_of(MLP, 1, where="test") == spec.units(spec.permutation_factors[1].name)


@pytest.mark.parametrize("name", list(CASES))
def test_get_set_round_trip_and_set_is_pure(name):
    spec, sd = _case(name)
    before = {k: v.clone() for k, v in sd.items()}
    for f in spec.factors:
        units = spec.units(f.name)
        k, last = 0, units.size - 1
        assert _equal(units.set(sd, k, units.get(sd, k)), sd)
        new = {label: torch.full_like(v, 7.0) for label, v in units.get(sd, k).items()}
        moved = units.set(sd, k, new)
        assert _equal(units.get(moved, k), new)
        if last != k:  # other units keep their slices
            assert _equal(units.get(moved, last), units.get(sd, last))
    assert _equal(sd, before)


@pytest.mark.parametrize("name", list(CASES))
def test_vector_and_unvector_are_inverse(name):
    spec, sd = _case(name)
    for f in spec.factors:
        units = spec.units(f.name)
        for side in ("in", "out"):
            if not units.incoming if side == "in" else not units.outgoing:
                continue
            k = units.size - 1
            vec = units.vector(sd, k, side)
            assert _equal(units.unvector(sd, vec, side), units.get(sd, k, side))
            assert torch.equal(units.vector(units.set(sd, k, units.unvector(sd, 2 * vec, side)), k, side), 2 * vec)
            assert torch.equal(units.matrix(sd, side)[k], vec)


def _swap_by_slices(units, sd, i, j):
    a, b = units.get(sd, i), units.get(sd, j)
    return units.set(units.set(sd, i, b), j, a)


@pytest.mark.parametrize("name", list(CASES))
def test_transposition_is_an_involution_and_swaps_the_units_slices(name):
    spec, sd = _case(name)
    for f in spec.factors:
        if "permutation" not in f.kinds or f.size < 2:
            continue
        i, j = 0, f.size - 1
        g = spec.transposition(f.name, i, j)
        assert g.compose(g).is_identity() and not g.is_identity()
        assert _equal(g.apply(sd), _swap_by_slices(spec.units(f.name), sd, i, j))


def test_mlp_transposition_swaps_rows_and_columns():
    spec, sd = _case("mlp")
    moved = spec.transposition("layers.1", 2, 5).apply(sd)
    p = torch.arange(6)
    p[2], p[5] = 5, 2
    want = dict(sd, **{"layers.1.weight": sd["layers.1.weight"][p], "layers.1.bias": sd["layers.1.bias"][p],
                       "layers.2.weight": sd["layers.2.weight"][:, p]})
    assert _equal(moved, want)


# -- neighbours and producers -----------------------------------------------------------------------------
def test_neighbours_of_an_mlp_chain():
    spec, _ = _case("mlp")
    assert {f.name: spec.neighbours(f.name) for f in spec.factors} == {
        "layers.0": {"layers.1"}, "layers.1": {"layers.0", "layers.2"}, "layers.2": {"layers.1"}}


def test_neighbours_of_a_residual_group_and_of_heads():
    spec, _ = _case("resnet20")
    stream = spec.neighbours("stem.0")  # the residual stream of stage 0, tied through the skip additions
    assert {"stages.0.0.conv1", "stages.0.1.conv1", "stages.0.2.conv1"} <= stream
    assert spec.neighbours("stages.0.1.conv1") == {"stem.0"}
    tops = [f.name for f in spec.factors if f.parent is None]
    assert all((a in spec.neighbours(b)) == (b in spec.neighbours(a)) for a in tops for b in tops)
    spec, _ = _case("transformer")
    assert spec.neighbours("blocks.0.attn.qk") == spec.neighbours("blocks.0.attn.heads") == {"embed"}
    assert spec.neighbours("embed") == {"blocks.0.attn.heads", "blocks.0.mlp_in"}


def test_producers():
    spec, _ = _case("mlp")
    assert [spec.producers(f.name) for f in spec.factors] == [("layers.0",), ("layers.1",), ("layers.2",)]
    spec, _ = _case("vgg-bn")  # the convolution enters with power 0 before its BatchNorm: the norm produces
    assert spec.producers("features.0.0") == ("features.0.1",)
    spec, _ = _case("transformer")
    assert spec.producers("embed") == ("embed", "blocks.0.norm1", "blocks.0.attn.out_proj", "blocks.0.norm2",
                                       "blocks.0.mlp_out", "norm")
    assert spec.producers("blocks.0.attn.heads") == () and spec.producers("blocks.0.mlp_in") == ("blocks.0.mlp_in",)


def test_unit_view_bad_input():
    spec, sd = _case("mlp")
    units = spec.units("layers.0")
    calls = (lambda: units.get(sd, 7), lambda: units.get(sd, 0, "sideways"),
             lambda: units.unvector(sd, torch.zeros(3), "in"), lambda: units.set(sd, 0, {"nope": torch.zeros(1)}),
             lambda: units.set(sd, 0, {"layers.0.bias": torch.zeros(2)}), lambda: spec.transposition("layers.0", 0, 9))
    for call in calls:
        with pytest.raises(ConfigError) as err:
            call()
        assert "\n" not in str(err.value)
    with pytest.raises(SymmetryError, match="no factor"):
        spec.units("layers.9")


# -- validated elements -----------------------------------------------------------------------------------
def _with(spec, name, action):
    return GroupElement(spec, {**spec.identity().actions, name: action})


BAD = [
    ("mlp", lambda s: FactorAction(torch.tensor([0, 0, 2])), "not a bijection"),
    ("mlp", lambda s: FactorAction(torch.tensor([0.0, 1.0])), "integer tensor"),
    ("mlp", lambda s: _with(s, "layers.0", FactorAction(torch.arange(6))), "'layers.0': perm has shape"),
    ("mlp", lambda s: FactorAction(torch.arange(3), coeff=torch.tensor([1.0, 0.0, 2.0])), "nonzero"),
    ("mlp", lambda s: FactorAction(torch.arange(3), coeff=torch.tensor([1.0, math.nan, 2.0])), "finite"),
    ("mlp", lambda s: FactorAction(torch.arange(3), coeff=torch.ones(2)), r"shape \(3,\)"),
    ("mlp", lambda s: _with(s, "layers.1", FactorAction(torch.arange(6), coeff=-torch.ones(6, dtype=torch.float64))),
     "'layers.1': admits scale but not sign"),
    ("mlp-tanh", lambda s: _with(s, "layers.0", FactorAction(torch.arange(7), coeff=torch.full((7,), 0.5))),
     "'layers.0': admits sign but not scale"),
    ("mlp", lambda s: _with(s, "layers.0", FactorAction(torch.arange(7), matrix=torch.eye(7))), "no GL matrix"),
    ("linear", lambda s: FactorAction(torch.arange(3), matrix=torch.ones(3, 3, dtype=torch.float64)), "singular"),
    ("linear", lambda s: FactorAction(torch.arange(3), matrix=torch.eye(2, dtype=torch.float64)), r"shape \(3, 3\)"),
    ("mlp", lambda s: GroupElement(s, {k: a for k, a in s.identity().actions.items() if k != "layers.2"}),
     r"missing \['layers.2'\]"),
    ("mlp", lambda s: GroupElement(s, {**s.identity().actions, "layers.9": FactorAction(torch.arange(2))}),
     r"unknown \['layers.9'\]"),
    ("transformer", lambda s: _with(s, "blocks.0.attn.qk", FactorAction(torch.arange(4))),
     r"'blocks.0.attn.qk': perm has shape \(4,\), expected \(2, 4\)"),
    ("transformer", lambda s: FactorAction(torch.tensor([[0, 1], [1, 1]])), "not a bijection"),
]


@pytest.mark.parametrize("name, build, text", BAD, ids=[t for _, _, t in BAD])
def test_elements_are_validated_when_built(name, build, text):
    spec, _ = _case(name)
    with pytest.raises(SymmetryError, match=text) as err:
        build(spec)
    assert "\n" not in str(err.value)


def test_valid_elements_pass_and_compose():
    spec, sd = _case("linear")
    g = spec.sample(generator=torch.Generator().manual_seed(0))
    assert g.compose(g.inverse()).is_identity(atol=1e-12)
    spec, _ = _case("mlp-tanh")
    flip = _with(spec, "layers.0", FactorAction(torch.arange(7), coeff=-torch.ones(7, dtype=torch.float64)))
    assert flip.compose(flip).is_identity()


def test_reprs_are_one_line():
    spec, _ = _case("transformer")
    g = spec.sample(generator=torch.Generator().manual_seed(0))
    text = repr(g)
    assert "\n" not in text and len(text) < 200 and "Spec" not in text
    assert text.startswith("GroupElement(5 factors: embed perm") and text.endswith("non-identity: 5)")
    assert repr(spec.identity()) == "GroupElement(5 factors: identity; non-identity: 0)"
    spec, _ = _case("mlp")
    g = _with(spec, "layers.1", FactorAction(torch.tensor([1, 0, 2, 3, 4, 5]), coeff=torch.full((6,), 2.0)))
    assert repr(g) == "GroupElement(3 factors: layers.1 perm×scale; non-identity: 1)"
    assert repr(g.actions["layers.1"]) == "FactorAction(6: perm×scale)"


def test_element_module_does_not_import_the_spec_at_runtime():
    import weightspace.symmetry._element as element

    tree = ast.parse(Path(element.__file__).read_text())
    top = [n for n in tree.body if isinstance(n, ast.ImportFrom)]
    assert all(n.module not in ("_spec", "_units") for n in top)
