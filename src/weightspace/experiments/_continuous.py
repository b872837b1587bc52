"""The measurements behind the Zhao et al. claims: one function per construction, JSON-able results.

Every function takes explicit seeds and sizes and builds its data and networks in float64; the orbit and
component studies are cached (two claims each read them) and draw no figure; the others write their figures
under `out`. `weightspace.experiments.continuous_claims` turns them into claim records.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from pathlib import Path

import torch
from safetensors.torch import save_file

from .._files import atomic_path
from ..continuous._bound import orbit_report
from ..continuous._cells import count_cells
from ..continuous._gl import sample_element
from ..continuous._grid import count_by_grid
from ..continuous._linear import (
    component_label,
    linear_config,
    linear_minimum,
    random_minimum,
    singular_loss_floor,
    teacher_of,
)
from ..continuous._path_search import count_by_path_search
from ..continuous._permutation import permutation_connection
from ..continuous._rescaling import homogeneous_teacher, rescaling_barrier
from ..counting import count_components
from ..data._linear import LINEAR_TEACHER, linear_teacher, scalar_data
from ..evaluate import evaluate
from ..io import save_params
from ..models import build, example_input
from ..params import forward
from ..paths._orbit import orbit_curve, random_generators, rotation_generator
from ..paths._string import minimum_energy_path
from ..plots import (
    plot_orbit,
    plot_paths,
    plot_rescaling,
    save_figure,
)
from ..symmetry import spec_of

__all__ = ["component_study", "orbit_study", "reproduce_permutation", "reproduce_rescaling", "save_orbit"]


def _linear(layers: int, width: int, seed: int):
    data = linear_teacher(width, seed=seed, n_train=64, n_test=64)
    model = build(linear_config(layers, width)).to(torch.float64)
    spec = spec_of(model, example_input(model.config, dtype=torch.float64))
    theta = random_minimum(layers, teacher_of(data), generator=torch.Generator().manual_seed(seed))
    return model, spec, data, theta


CIRCLE = (2.0, "layers.0")  # the plotted circular orbit: angle 2 in the (e_1, e_2) plane of the first factor


@functools.lru_cache(maxsize=1)
def orbit_study(seed: int = 0, random_orbits: int = 12, points: int = 25, search_points: int = 65,
                extra_circles: int = 3) -> dict:
    """Orbit curves of a 3-layer width-3 linear network at zero loss: loss along γ and chord, curvature bound.
    Returns {"theta", "config", "data_meta", "circle", "random_example", "rows"} (reports, not figures)."""
    model, spec, data, theta = _linear(3, 3, seed)
    x = rotation_generator(torch.tensor([1.0, 0.0, 0.0]), torch.tensor([0.0, 1.0, 0.0]), CIRCLE[0])
    circle = orbit_report(model, orbit_curve(theta, spec, {CIRCLE[1]: x}), data, points=points,
                          search_points=search_points)
    rows = [{"name": "circle", "circular": True, "scale": None, **_row(circle)}]
    main = None
    for i in range(random_orbits):
        scale = (0.3, 0.6, 1.0)[i % 3]
        gens = random_generators(spec, generator=torch.Generator().manual_seed(100 + i), scale=scale)
        report = orbit_report(model, orbit_curve(theta, spec, gens), data, points=points, search_points=search_points)
        rows.append({"name": f"random-{i}", "circular": False, "scale": scale, **_row(report)})
        if i == min(1, random_orbits - 1):
            main = report
    for j, (angle, factor) in enumerate(((0.5, "layers.0"), (1.0, "layers.1"), (3.0, "layers.1"))[:extra_circles]):
        g = torch.Generator().manual_seed(200 + j)
        xc = rotation_generator(torch.randn(3, generator=g, dtype=torch.float64),
                                torch.randn(3, generator=g, dtype=torch.float64), angle)
        report = orbit_report(model, orbit_curve(theta, spec, {factor: xc}), data, points=9,
                              search_points=search_points)
        rows.append({"name": f"circle-{angle}-{factor}", "circular": True, "scale": None, **_row(report)})
    return {"theta": theta, "config": model.config, "data_meta": {"options": data.meta["options"]},
            "generator": {CIRCLE[1]: x}, "circle": circle, "random_example": main, "rows": rows}


def save_orbit(study: dict, out: Path) -> list[str]:
    """The orbit figures and the minimum + circle generator as checkpoints (for `weightspace orbit`)."""
    save_params(study["theta"], study["config"], out / "minimum.safetensors", dataset=LINEAR_TEACHER,
                dataset_meta=study["data_meta"])
    with atomic_path(out / "circle_generator.safetensors") as tmp:
        save_file(study["generator"], str(tmp))
    save_figure(plot_orbit(study["circle"], title="circular orbit: X skew-symmetric in one plane, angle 2"),
                out / "orbit_circle.png")
    save_figure(plot_orbit(study["random_example"], title="orbit exp(tX)·θ, random X on both hidden factors"),
                out / "orbit.png")
    return ["orbit.png", "orbit_circle.png"]


def _row(r) -> dict:
    return {"curve_spread": r.curve_spread, "curve_max_loss": max(r.loss_curve), "chord_barrier": r.chord_barrier.value,
            "kappa_max": r.kappa_max, "delta": r.delta, "length": r.length, "deviation": r.deviation,
            "d_max": r.d_max, "bound_applies": r.bound_applies,
            "ratio": None if not r.d_max else r.deviation / r.d_max}


def _timed(fn: Callable, *args, **kwargs):
    t0 = time.perf_counter()
    value = fn(*args, **kwargs)
    return value, time.perf_counter() - t0


SKIP_SAMPLES = {2: 256, 3: 384, 4: 384, 5: 384, 6: 1024}  # sampled minima per path search with the skip


@functools.lru_cache(maxsize=1)
def component_study(seed: int = 0, max_layers: int = 6, sample_scale: float = 1.0, mep_steps: int = 300) -> dict:
    """Counts of components by every method, without and with the skip connection, and the ridge between them.
    Path searches sample `sample_scale` times the default number of minima; string methods run `mep_steps`
    (scalar case) and 5x that (linear teacher) steps."""
    rows = []

    def add(layers, skip, method, value, seconds, **extra):
        rows.append({"layers": layers, "skip": skip, "method": method, "value": value, "seconds": round(seconds, 3),
                     **extra})

    for layers in range(2, max_layers + 1):
        c, s = _timed(count_components, layers)
        add(layers, False, "invariant", c.value, s, width=1)
        c, s = _timed(count_components, layers, width=3)
        add(layers, False, "invariant", c.value, s, width=3)
        c, s = _timed(count_cells, layers)
        add(layers, False, "exact cells", c.value, s, width=1)
        c, s = _timed(count_cells, layers, skip=True)
        add(layers, True, "exact cells", c.value, s, width=1, pieces=len(c.pieces))
        for width in (1, 2) if layers <= 5 else (1,):
            samples = int(sample_scale * (max(128, 16 * 2 ** (layers - 1)) if width == 1 else 256))
            r, s = _timed(count_by_path_search, layers, width=width, samples=samples,
                          generator=torch.Generator().manual_seed(seed))
            add(layers, False, "path search", r.value, s, width=width, **_search(r))
        r, s = _timed(count_by_path_search, layers, skip=True, samples=int(sample_scale * SKIP_SAMPLES[layers]),
                      generator=torch.Generator().manual_seed(seed))
        add(layers, True, "path search", r.value, s, width=1, **_search(r))
        grid = {2: (401, 2.0), 3: (161, 2.0), 4: (61, 1.6), 5: (25, 1.5), 6: (15, 1.4)}[layers]
        for skip in (False, True):
            g, s = _timed(count_by_grid, layers, skip=skip, points=grid[0], radius=grid[1])
            add(layers, skip, "grid", g.value, s, width=1, points=g.points, radius=g.radius, marked=g.marked)
    ridge = []
    scalar = scalar_data()
    model = build(linear_config(3, 1)).to(torch.float64)
    one = torch.ones(1, 1, dtype=torch.float64)
    a, b = linear_minimum([one, one], one), linear_minimum([-one, -one], one)
    mep = minimum_energy_path(model, scalar, a, b, images=17, steps=mep_steps)
    ridge.append({"case": "scalar l=3, (1,1,1) -> (-1,-1,1)", "labels": [component_label(a), component_label(b)],
                  "floor": singular_loss_floor(scalar), "mep_height": mep.height})
    model2, _, data2, _ = _linear(3, 2, seed)
    g = torch.Generator().manual_seed(seed + 1)
    m = teacher_of(data2)
    ms = [random_minimum(3, m, generator=g) for _ in range(16)]
    first = ms[0]
    second = next(t for t in ms[1:] if component_label(t) != component_label(first))
    mep2 = minimum_energy_path(model2, data2, first, second, images=17, steps=5 * mep_steps, step_size=0.05)
    chord = max(evaluate(model2, data2, "train", params={k: (1 - t) * first[k] + t * second[k] for k in first})["loss"]
                for t in torch.linspace(0, 1, 101).tolist())
    ridge.append({"case": "linear teacher h=2, l=3, two sampled minima",
                  "labels": [component_label(first), component_label(second)],
                  "floor": singular_loss_floor(data2), "mep_height": mep2.height, "chord_max": chord})
    return {"rows": rows, "between_components": ridge}


def _search(r) -> dict:
    return {"samples": r.samples, "labels": r.labels, "consistent": r.consistent, "paths_found": r.paths_found,
            "pairs": r.pairs, "max_path_loss": r.max_path_loss}


def reproduce_rescaling(out: Path, *, seed: int = 0,
                        ms: tuple[float, ...] = (1.5, 2.0, 4.0, 10.0, 30.0, 100.0)) -> dict:
    """Midpoint loss of the straight path to a rescaled copy vs the closed form; canonical norms remove it."""
    rows = []
    for k in (1, 2):
        model, theta, data = homogeneous_teacher(k, seed=seed)
        for m in ms:
            for units in (None, [0]):
                r = rescaling_barrier(model, theta, data, m, units=units, points=11)
                rows.append({**{key: v for key, v in r.to_dict().items()
                                if key not in ("alphas", "loss", "closed_form", "canonical_loss")}})
                if k == 2 and units is None and (m == 4.0 or m == ms[0]):
                    example = r
    save_figure(plot_rescaling(rows), out / "rescaling.png")
    curves = {"straight path θ → θ' (measured)": (example.alphas, example.loss),
              "closed form (1 − c(α))² ‖Y‖²": (example.alphas, example.closed_form),
              "between canonical forms": (example.alphas, example.canonical_loss)}
    save_figure(plot_paths(curves, title=f"ReLU², all hidden units scaled by m = {example.m:g}",
                           ylabel="train loss summed over samples"), out / "rescaling_path.png")
    return {"rows": rows, "example": example.to_dict()}


def reproduce_permutation(out: Path, *, seed: int = 0, mep_steps: int = 1500, images: int = 33) -> dict:
    """Two minima in different components (h = 2): chord, relaxed path, and the route via an odd permutation."""
    model, spec, data, theta = _linear(3, 2, seed)
    element = sample_element(spec, generator=torch.Generator().manual_seed(seed + 7),
                             components={"layers.0": -1, "layers.1": 1}, scale=0.6)
    other = element.apply(theta)
    conn = permutation_connection(theta, other, spec)
    ts = torch.linspace(0, 1, 41).tolist()

    def loss(p):
        return evaluate(model, data, "train", params=p)["loss"]

    chord = [loss({k: (1 - t) * theta[k] + t * other[k] for k in theta}) for t in ts]
    route = [loss(conn.path(t)) for t in ts]
    mep = minimum_energy_path(model, data, theta, other, images=images, steps=mep_steps, max_move=0.02)
    floor = singular_loss_floor(data)
    with torch.no_grad():
        same_function = float((forward(model, conn.permuted, data.x_train) - forward(model, theta, data.x_train))
                              .abs().max())
    curves = {"straight chord θ_a → θ_b": (ts, chord),
              "relaxed path (string method, refined polyline)": (list(mep.refined_alphas), list(mep.refined_loss)),
              "odd permutation, then the GL⁺ path Π·θ_a → θ_b": (ts, route)}
    save_figure(plot_paths(curves, floor=floor, title=f"labels {conn.label_a} → {conn.label_b}: swap units 0, 1 "
                                                      f"of {', '.join(conn.swapped)}"), out / "permutation.png")
    return {"labels": [list(conn.label_a), list(conn.label_b)],
            "permuted_label": list(component_label(conn.permuted)), "swapped": list(conn.swapped),
            "function_change": same_function, "route_max_loss": max(route), "chord_max_loss": max(chord),
            "mep_height": mep.height, "floor": floor}
