"""Training throughput: `weightspace.train` vs a plain PyTorch loop doing the same steps.

Usage: python bench/train_bench.py  (Markdown table; median of 3 runs). Same model, data, batch size,
optimizer (SGD + momentum, cosine schedule) and number of steps; no checkpoints written. The ratio is
plain-loop time / weightspace time (1.0 = no overhead).
"""

import math
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).parent))
import weightspace as ws  # noqa: E402
from _timing import median_time  # noqa: E402
from weightspace.models import build  # noqa: E402

CASES = {
    "digits, MLP 64-512-512-10": ("digits", {"name": "mlp", "widths": [512, 512]}),
    "MNIST-1D, MLP 40-256-256-10": ("mnist1d", {"name": "mlp", "widths": [256, 256]}),
}
EPOCHS, BATCH = 5, 64


def plain_loop(data, config):
    torch.manual_seed(0)
    cfg = {**config, "input_shape": list(data.input_shape), "num_outputs": data.num_outputs}
    model = build(cfg)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    n = len(data.x_train)
    steps = math.ceil(n / BATCH)
    total, step = EPOCHS * steps, 0
    for _ in range(EPOCHS):
        perm = torch.randperm(n)
        for i in range(steps):
            idx = perm[i * BATCH:(i + 1) * BATCH]
            for g in opt.param_groups:
                g["lr"] = 0.05 * 0.5 * (1 + math.cos(math.pi * step / total))
            loss = F.cross_entropy(model(data.x_train[idx]), data.y_train[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            step += 1
    return model


def main() -> None:
    torch.set_num_threads(2)
    print("| dataset, model | steps | plain loop (s) | weightspace.train (s) | throughput ratio (plain / ws) |")
    print("|---|---|---|---|---|")
    for label, (name, config) in CASES.items():
        data = ws.data.load(name)
        steps = EPOCHS * math.ceil(len(data.x_train) / BATCH)
        t_plain = median_time(lambda data=data, config=config: plain_loop(data, config), repeats=3)
        t_ws = median_time(lambda data=data, config=config: ws.train(config, data, epochs=EPOCHS, batch_size=BATCH),
                           repeats=3)
        print(f"| {label} | {steps} | {t_plain:.2f} | {t_ws:.2f} | {t_plain / t_ws:.2f} |")


if __name__ == "__main__":
    main()
