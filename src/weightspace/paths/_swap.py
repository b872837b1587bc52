"""The three-segment moves joining permuted global minima (Simsek et al. 2021, section 4).

With a free unit z (zero-type: a_z = 0) in a layer, the role of unit i moves to z in three segments,
each a straight line along which f does not change:

    1. (w_z, b_z) → (w_i, b_i)            f ignores unit z since a_z = 0;
    2. (a_i, a_z) → (0, a_i)              units i and z now have equal pre-activations, a_i + a_z = const;
    3. (w_i, b_i) → any parking value      a_i = 0 now, so unit i is free.

Three moves — i → z, j → i, z → j — are nine segments from θ to π_ij θ, the point with units i and j
exchanged; the last move parks z back on its original incoming weights, so the chain ends *exactly*
on π_ij θ. At a global minimum the loss is constant (zero) along all nine segments.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor

from ..errors import ConfigError
from ..params import Params
from ..symmetry._config import check_config, check_unit, layout_of

__all__ = ["move_role", "swap_chain", "zero_form"]


def _layer(config: Mapping, layer: int, where: str):
    """(checked config, the unit view of hidden layer `layer`)."""
    config = check_config(config, where)
    return config, layout_of(config, layer, where=where)


def _is_free(params, lay, unit: int) -> bool:
    return all(bool((v == 0).all()) for v in lay.get(params, unit, "out").values())


def move_role(params: Mapping[str, Tensor], config: Mapping, layer: int, source: int, free: int, *,
              park: Tensor | None = None) -> list[Params]:
    """The three vertices after each segment of moving unit `source`'s role to the free unit `free`.

    Segments: (w_free, b_free) → (w_source, b_source); (a_source, a_free) → (0, a_source); (w_source, b_source)
    → `park` (a 1-D incoming vector laid out as `UnitLayout.vector`; default: the free unit's original one).
    `free` must have a_free = 0 exactly.
    """
    where = "move_role"
    config, lay = _layer(config, layer, where)
    check_unit(source, lay.size, where, "source")
    check_unit(free, lay.size, where, "free")
    if source == free:
        raise ConfigError(f"{where}: source and free are both unit {source}; give two different units")
    if not _is_free(params, lay, free):
        raise ConfigError(f"{where}: unit {free} is not free (its outgoing weights are not all zero); "
                          "add one with add_zero_neuron or zero them first")
    parked = lay.get(params, free, "in") if park is None else lay.unvector(params, park, "in", f"{where}: park")
    v1 = lay.set(params, free, lay.get(params, source, "in"))
    a = lay.get(v1, source, "out")
    v2 = lay.set(lay.set(v1, free, a), source, {k: torch.zeros_like(x) for k, x in a.items()})
    v3 = lay.set(v2, source, parked)
    return [v1, v2, v3]


def swap_chain(params: Mapping[str, Tensor], config: Mapping, layer: int, i: int, j: int,
               free: int) -> list[Params]:
    """The ten vertices θ, ..., π_ij θ of the nine-segment path exchanging units i and j through the free unit.

    Moves i → free, j → i, free → j (each `move_role`); intermediate free units are parked on the free
    unit's original incoming weights, so the last vertex equals π_ij θ exactly.
    """
    where = "swap_chain"
    config, lay = _layer(config, layer, where)
    for name, u in (("i", i), ("j", j), ("free", free)):
        check_unit(u, lay.size, where, name)
    if len({i, j, free}) != 3:
        raise ConfigError(f"{where}: i, j and free must be three different units, got {i}, {j}, {free}")
    home = lay.vector(params, free, "in")
    first = move_role(params, config, layer, i, free, park=home)
    second = move_role(first[-1], config, layer, j, i, park=home)
    third = move_role(second[-1], config, layer, free, j, park=home)
    return [dict(params), *first, *second, *third]


def zero_form(params: Mapping[str, Tensor], config: Mapping, layer: int, *,
              atol: float = 1e-6) -> tuple[list[Params], int, str]:
    """Move a point of the global-minima manifold onto the form with a free unit: (vertices, free unit, kind).

    kind "zero": some unit z has ||a_z|| ≤ atol·max_k ||a_k||; one vertex sets a_z = 0 exactly.
    kind "duplicate": two units k, l have ||(w_k, b_k) − (w_l, b_l)|| ≤ atol·max ||(w, b)||; one segment moves
    (a_k, a_l) → (a_k + a_l, 0), along which f changes only by the units' mismatch. Else ConfigError.
    """
    where = "zero_form"
    config, lay = _layer(config, layer, where)
    outs = torch.stack([lay.vector(params, k, "out") for k in range(lay.size)])  # (r, n_out)
    ins = torch.stack([lay.vector(params, k, "in") for k in range(lay.size)])  # (r, n_in)
    norms = outs.norm(dim=1)
    z = int(torch.argmin(norms))
    if float(norms[z]) <= atol * float(norms.max()):
        zero = {k: torch.zeros_like(v) for k, v in lay.get(params, z, "out").items()}
        return [lay.set(params, z, zero)], z, "zero"
    gaps = torch.cdist(ins, ins) + torch.eye(lay.size, dtype=ins.dtype) * torch.inf  # (r, r)
    flat = int(torch.argmin(gaps))
    k, l = divmod(flat, lay.size)
    if float(gaps[k, l]) <= atol * float(ins.norm(dim=1).max()):
        a_k, a_l = lay.get(params, k, "out"), lay.get(params, l, "out")
        merged = lay.set(params, k, {key: a_k[key] + a_l[key] for key in a_k})
        merged = lay.set(merged, l, {key: torch.zeros_like(v) for key, v in a_l.items()})
        return [merged], l, "duplicate"
    raise ConfigError(f"{where}: no unit of layer {layer} has (near-)zero outgoing weights and no two units coincide "
                      f"within atol={atol}; the point is not on a zero-type or duplicate affine subspace")
