"""Your own CNN, DataLoaders and loss through weightspace in Python: spec, align, barrier, merge, Hessian.

    python examples/own_model/train_two.py out/own          # two state dicts, as a user saves them
    python examples/own_model/walkthrough.py out/own        # prints a JSON report
"""

import argparse
import json
import sys
from pathlib import Path

import weightspace as ws
from weightspace.align import align_pair, merge
from weightspace.critical import characterize
from weightspace.data import Splits
from weightspace.evaluate import evaluate
from weightspace.hessian import loss_of
from weightspace.io import load_checkpoint
from weightspace.paths import linear_barrier

sys.path.insert(0, str(Path(__file__).parent))
from mynet import make_data, make_model, smooth_cross_entropy  # noqa: E402


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("folder", type=Path, help="Where train_two.py wrote net0.pt and net1.safetensors.")
    parser.add_argument("--width", type=int, default=16)
    parser.add_argument("--points", type=int, default=11)
    args = parser.parse_args(argv)

    model = make_model(args.width)
    train_loader, test_loader = make_data()
    data = Splits(train_loader, test_loader)  # DataLoaders, streamed batch by batch
    # plain state dicts: the torch file is read with weights_only=True; `module` checks keys and shapes
    a = load_checkpoint(args.folder / "net0.pt")
    b = load_checkpoint(args.folder / "net1.safetensors")
    net = a.module(model)

    x_example = next(iter(train_loader))[0][:2]
    spec = ws.spec_of(net, x_example)  # the symmetry table, traced on an example batch
    alignment = align_pair("weight", net, a.params, b.params, spec=spec)
    naive = linear_barrier(net, a.params, b.params, data, points=args.points, loss_fn=smooth_cross_entropy)
    aligned = linear_barrier(net, a.params, alignment.apply(b.params), data, points=args.points,
                             loss_fn=smooth_cross_entropy)
    merged = merge([a.params, b.params], spec)
    merged_test = evaluate(net, data, "test", params=merged, loss_fn=smooth_cross_entropy)

    net64 = a.module(model).double()
    fn, keys = loss_of(net64, data, loss_fn=smooth_cross_entropy, split="train", max_batches=2)
    point = characterize(fn, {k: net64.state_dict()[k] for k in keys}, top=2)

    report = {"factors": {f.name: f.size for f in spec.factors},
              "barrier_naive": naive.barrier.value, "barrier_aligned": aligned.barrier.value,
              "merged_test": merged_test, "loss": point.loss, "gradient_norm": point.gradient_norm,
              "top_eigenvalues": [float(v) for v in point.largest]}
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
