"""Deriving a symmetry spec and applying a group element vs rebasin's graph construction, same models.

Usage: python bench/spec_bench.py  (prints a Markdown table; the median of 5 runs after a warm-up).
rebasin builds its permutation graph with torchview inside `PermutationInitializer(model_a, model_b, x)`;
weightspace traces with torch.fx and propagates shapes with fake tensors in `spec_of(model, x)`.
"""

import copy
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from _timing import median_time  # noqa: E402
from weightspace.models import build, example_input  # noqa: E402
from weightspace.symmetry import spec_of  # noqa: E402

MODELS = {
    "ResNet-20x4 (BatchNorm, 32x32)": {"name": "resnet20", "input_shape": [3, 32, 32], "num_outputs": 10, "width": 4,
                                       "norm": "batchnorm"},
    "Transformer, 12 blocks (d=128, 8 heads)": {"name": "transformer", "input_shape": [64, 16], "num_outputs": 10,
                                                "seq_len": 64, "token_dim": 16, "d_model": 128, "heads": 8,
                                                "depth": 12, "mlp_dim": 256},
    "MLP 64-512-512-10": {"name": "mlp", "input_shape": [64], "num_outputs": 10, "widths": [512, 512]},
}


def rebasin_graph(model, x):
    from rebasin.permutation_initializer import PermutationInitializer

    other = copy.deepcopy(model)
    return lambda: PermutationInitializer(model, other, x)


def main() -> None:
    torch.set_num_threads(2)
    print("| model | parameters | spec_of (s) | apply element (s) | rebasin graph (s) | rebasin / spec_of |")
    print("|---|---|---|---|---|---|")
    for label, config in MODELS.items():
        torch.manual_seed(0)
        model = build(config)
        x = example_input(model.config, batch=2)
        n = sum(p.numel() for p in model.parameters())
        t_spec = median_time(lambda model=model, x=x: spec_of(model, x))
        spec = spec_of(model, x)
        g = spec.sample(generator=torch.Generator().manual_seed(0))
        sd = model.state_dict()
        t_apply = median_time(lambda g=g, sd=sd: g.apply(sd))
        try:
            t_rb = median_time(rebasin_graph(model, x))
            rb, ratio = f"{t_rb:.3f}", f"{t_rb / t_spec:.2f}"
        except Exception as err:  # noqa: BLE001 - report what rebasin does on this model
            rb, ratio = f"fails: {type(err).__name__}: {str(err).splitlines()[0][:60]}", "n/a"
        print(f"| {label} | {n:,} | {t_spec:.3f} | {t_apply:.3f} | {rb} | {ratio} |")


if __name__ == "__main__":
    main()
