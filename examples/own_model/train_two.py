"""Train two SmallCNNs (seeds 0 and 1) with plain PyTorch and save their state dicts as a user would:
net0.pt (torch.save) and net1.safetensors (header-less safetensors).

    python examples/own_model/train_two.py OUT_FOLDER [--epochs 10] [--width 16]
"""

import argparse
import sys
from pathlib import Path

import torch
from safetensors.torch import save_file

sys.path.insert(0, str(Path(__file__).parent))
from mynet import make_data, make_model, smooth_cross_entropy  # noqa: E402


def train(seed: int, epochs: int, width: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    model = make_model(width)
    train_loader, _ = make_data()
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    for _ in range(epochs):
        for x, y in train_loader:
            opt.zero_grad()
            smooth_cross_entropy(model(x), y).backward()
            opt.step()
    return model.eval()


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("out", type=Path)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--width", type=int, default=16)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    torch.save(train(0, args.epochs, args.width).state_dict(), args.out / "net0.pt")
    save_file(train(1, args.epochs, args.width).state_dict(), str(args.out / "net1.safetensors"))
    print(f"wrote {args.out / 'net0.pt'} and {args.out / 'net1.safetensors'}")


if __name__ == "__main__":
    main()
