"""Weight matching (Ainsworth et al., Git Re-Basin): coordinate descent over permutation factors.

maximise_π Σ_pairs Σ_tensors ⟨θ_A, π(θ_B)⟩. A first pass in forward order matches each factor on the
tensors whose other factors are already matched (the input side); then each step fixes every factor
but one and solves a linear assignment for it, visiting factors in random order until a full sweep
improves nothing (a factor none of whose neighbours moved since it was last solved is not solved again). The
later sweeps reuse work and stay exact: each factor's similarity is updated only where its neighbours'
permutations moved (`SimilarityCache`), and on CPU each factor's assignments are solved by SciPy on
matrices reduced by the dual potentials of its previous problem (`WarmAssignment`: the same optima,
found in fewer augmenting steps). With
several (A_t, B_t) pairs one permutation serves all of them (objectives summed): this aligns whole
training trajectories or pruning sequences at once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch
from torch import Tensor

from ..errors import ConfigError
from ..params import check_finite, check_same_structure
from ..symmetry import FactorAction, GroupElement, Spec
from ._alignment import Alignment
from ._assignment import Solver, WarmAssignment, solve
from ._similarity import SimilarityCache, factor_similarity, objective, without

__all__ = ["weight_matching", "as_pairs"]


def as_pairs(reference, other) -> list[tuple[Mapping[str, Tensor], Mapping[str, Tensor]]]:
    """[(A_t, B_t)] from two state dicts or two equally long lists of them, checked."""
    refs = list(reference) if isinstance(reference, list | tuple) else [reference]
    oths = list(other) if isinstance(other, list | tuple) else [other]
    if len(refs) != len(oths) or not refs:
        raise ConfigError(f"alignment needs as many reference as other networks, got {len(refs)} and {len(oths)}")
    for a, b in zip(refs, oths, strict=True):
        check_same_structure(a, b)
        check_finite(a, what="reference network")
        check_finite(b, what="network to align")
    return list(zip(refs, oths, strict=True))


def _value(s: Tensor, perm: Tensor) -> float:
    return float(s[torch.arange(len(perm), device=s.device), perm.to(s.device)].sum())


def _solve(s: Tensor, solver: Solver | None, key) -> Tensor:
    """π for the assignment problem `key`, on CPU; a `WarmAssignment` is told the key."""
    return (solver(s, key=key) if isinstance(solver, WarmAssignment) else solve(s, solver)).cpu()


def _step_plain(spec, name, pairs, element, solver, skip=frozenset(), cache=None) -> tuple[FactorAction, float, float]:
    others = without(element, {name})
    if cache is not None and not skip:
        s = cache(spec, name, pairs, others)
    else:
        s = factor_similarity(spec, name, pairs, others, skip=skip)
    if s is None:  # every tensor of this factor waits for a later one
        return element.actions[name], 0.0, 0.0
    perm = _solve(s, solver, (name, bool(skip)))
    return FactorAction(perm), _value(s, element.actions[name].perm), _value(s, perm)


def _step_heads(spec, name, children, pairs, element, solver):
    """Heads: cost[h, h'] = Σ_children (value of the best within-head assignment of h to h')."""
    others = without(element, {name, *children})
    h = spec.factor(name).size
    sims = {c: factor_similarity(spec, name, pairs, others, child=c) for c in children}
    cost = torch.zeros(h, h, dtype=torch.float64)
    inner: dict = {}
    for c, s in sims.items():
        d = spec.factor(c).size
        for i in range(h):
            for j in range(h):
                block = s[i * d:(i + 1) * d, j * d:(j + 1) * d]
                p = _solve(block, solver, (c, i, j))
                inner[c, i, j] = p
                cost[i, j] += _value(block, p)
    heads = _solve(cost, solver, name)
    new = {name: FactorAction(heads)}
    old_value = new_value = 0.0
    cur = element.actions[name].perm
    for c, s in sims.items():
        d = spec.factor(c).size
        new[c] = FactorAction(torch.stack([inner[c, i, int(heads[i])] for i in range(h)]))
        for i in range(h):
            old_value += _value(s[i * d:(i + 1) * d, int(cur[i]) * d:(int(cur[i]) + 1) * d],
                                element.actions[c].perm[i])
        new_value += sum(_value(s[i * d:(i + 1) * d, int(heads[i]) * d:(int(heads[i]) + 1) * d], new[c].perm[i])
                         for i in range(h))
    return new, old_value, new_value


def weight_matching(
    reference,
    other,
    spec: Spec,
    *,
    generator: torch.Generator | None = None,
    max_iter: int = 100,
    solver: Solver | None = None,
    init: GroupElement | None = None,
    tol: float = 1e-12,
    callback: Callable[[int, float], None] | None = None,
    incremental: bool = True,
) -> Alignment:
    """The permutation of `other` (a state dict, or a list sharing one permutation) closest to `reference`.

    Args:
      spec: the symmetry spec of the architecture (`spec_of`); only permutation factors are matched.
      generator: orders the factors in each sweep (default: seed 0).
      init: warm start (default: the identity).
      solver: `S -> π` for every assignment (default: a fresh `WarmAssignment` on CPU, the auction on
        CUDA); a `WarmAssignment` instance keeps potentials per factor.
      incremental: update each similarity where the other factors moved instead of recomputing it
        (the same matrices up to rounding). `solver=scipy_solver, incremental=False` is the
        unaccelerated algorithm.
    Returns:
      `Alignment` whose `.apply(other)` is the aligned network, with the objective after each sweep.
    """
    pairs = as_pairs(reference, other)
    for a, _ in pairs:
        spec.check(a)
    gen = generator if generator is not None else torch.Generator().manual_seed(0)
    if solver is None and not any(t.is_cuda for a, _ in pairs for t in a.values()):
        solver = WarmAssignment()
    element = init if init is not None else spec.identity()
    children: dict[str, list[str]] = {}
    for f in spec.factors:
        if f.parent is not None:
            children.setdefault(f.parent, []).append(f.name)
    names = [f.name for f in spec.permutation_factors]
    cache = SimilarityCache() if incremental else None
    neighbours = {name: spec.neighbours(name) for name in names}
    fresh: set[str] = set()  # solved with every tensor in view, and no neighbour has moved since

    def moved(name: str) -> None:
        fresh.difference_update(neighbours[name])
        fresh.add(name)

    if init is None:
        # forward pass: match each factor on the tensors whose other factors are already matched
        for i, name in enumerate(names):
            if name in children:
                continue
            later = frozenset(names[i + 1:]) & neighbours[name]
            action, _, _ = _step_plain(spec, name, pairs, element, solver, skip=later, cache=cache)
            if not torch.equal(action.perm, element.actions[name].perm):
                element = GroupElement(spec, {**element.actions, name: action})
                fresh.difference_update(neighbours[name])
            if not later:
                fresh.add(name)
    history = [objective(pairs, element)]
    it = 0
    for it in range(1, max_iter + 1):
        improved = False
        for i in torch.randperm(len(names), generator=gen).tolist():
            name = names[i]
            if name in fresh:  # its assignment problem is unchanged: the current permutation solves it
                continue
            if name in children:
                new, old_v, new_v = _step_heads(spec, name, children[name], pairs, element, solver)
            else:
                action, old_v, new_v = _step_plain(spec, name, pairs, element, solver, cache=cache)
                new = {name: action}
            if new_v > old_v + tol * max(1.0, abs(old_v)):
                element = GroupElement(spec, {**element.actions, **new})
                improved = True
                moved(name)
            else:
                fresh.add(name)
        history.append(objective(pairs, element))
        if callback is not None:
            callback(it, history[-1])
        if not improved:
            break
    return Alignment(element=element, method="weight", objective=tuple(history), iterations=it)
