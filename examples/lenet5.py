"""LeNet-5 on MNIST (target >= 99.0% test accuracy); saves the checkpoint for gan.py.

LeCun et al. 1998: conv 5x5 (6) -> pool -> conv 5x5 (16) -> pool -> 120 -> 84 -> 10,
here with ReLU and max pooling (the modern reading; ``--classic`` uses tanh and average
pooling). The input is padded to 32x32 by the first convolution, as in the paper.
Outputs: lenet5.npz (state dict as arrays), curves.png, mistakes.png, results.json.

    python examples/lenet5.py --epochs 10
"""

from __future__ import annotations

import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common
from common import nx, to_numpy
from neuraxon.models import LeNet5  # the architecture lives in the library


def load_lenet(path: str, device="cpu") -> LeNet5:
    """A trained LeNet5 from lenet5.py's checkpoint (classic flag read from results.json if present)."""
    model = LeNet5().to(device)
    common.load_arrays(model, path)
    model.eval()
    return model


def main(argv: list | None = None) -> dict:
    p = common.parser(__doc__.splitlines()[0], epochs=10, batch_size=64, lr=1e-3)
    p.add_argument("--classic", action="store_true", help="tanh + average pooling")
    args = common.setup(p.parse_args(argv), "lenet5", argv)
    train, _, test = common.image_loaders(args, "mnist")
    results, hists = common.compare(args, {"lenet5": lambda: LeNet5(classic=args.classic)}, train, test)
    model, hist = results["lenet5"]["model"], hists["lenet5"]
    ckpt = os.path.join(args.out, "lenet5.npz")
    common.save_arrays(model, ckpt)
    common.plot_curves(
        {"train": hist["train_acc"], "test": hist["test_acc"]},
        os.path.join(args.out, "curves.png"),
        ylabel="accuracy",
        title="LeNet-5 on MNIST",
    )
    # the first 30 test mistakes
    model.eval()
    wrong, labels = [], []
    with nx.no_grad():
        for x, y in test:
            pred = to_numpy(model(x.to(args.device))).argmax(1)
            yy = to_numpy(y)
            for i in np.nonzero(pred != yy)[0]:
                wrong.append(to_numpy(x)[i, 0])
                labels.append(f"{yy[i]}->{pred[i]}")
            if len(wrong) >= 30:
                break
    if wrong:
        common.image_grid(
            np.stack(wrong[:30]),
            os.path.join(args.out, "mistakes.png"),
            nrow=10,
            titles=labels[:30],
            title="LeNet-5 test mistakes (true->predicted)",
        )
    results.update(checkpoint=ckpt, target=0.99, classic=args.classic)
    return common.finish(args, results)


if __name__ == "__main__":
    main()
