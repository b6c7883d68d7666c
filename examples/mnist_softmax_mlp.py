"""Softmax regression and an MLP 784-512-256-10 on MNIST (targets: >= 92% and >= 98%).

Softmax regression is one Linear(784, 10) under the cross-entropy loss; the MLP adds two
ReLU hidden layers with dropout. Both train with Adam on standardised pixels.
Figures: test accuracy per epoch for both, and the softmax weights as 10 templates.

    python examples/mnist_softmax_mlp.py --epochs 10
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common
from common import to_numpy
from neuraxon.models import mlp, softmax_regression  # the architectures live in the library


def main(argv: list | None = None) -> dict:
    p = common.parser(__doc__.splitlines()[0], epochs=10, batch_size=128, lr=1e-3)
    p.add_argument("--models", default="softmax,mlp", help="comma list of: softmax, mlp")
    args = common.setup(p.parse_args(argv), "mnist_softmax_mlp", argv)
    train, _, test = common.image_loaders(args, "mnist", flatten=True)
    builders = {"softmax": softmax_regression, "mlp": lambda: mlp(dropout=0.2)}
    names = args.models.split(",")
    unknown = [n for n in names if n not in builders]
    if unknown:
        raise SystemExit(f"--models: unknown {', '.join(unknown)} (choose from softmax, mlp)")
    results, hists = common.compare(args, {n: builders[n] for n in names}, train, test)
    curves = {n: h["test_acc"] for n, h in hists.items()}
    if "softmax" in results:
        w = to_numpy(results["softmax"]["model"][-1].weight).reshape(10, 28, 28)  # Flatten, Linear
        common.image_grid(
            w,
            os.path.join(args.out, "softmax_weights.png"),
            nrow=10,
            titles=[str(i) for i in range(10)],
            title="softmax regression weights",
            cmap="RdBu",
        )
    common.plot_curves(
        curves,
        os.path.join(args.out, "test_accuracy.png"),
        ylabel="test accuracy",
        title="MNIST: softmax regression vs MLP",
    )
    results["targets"] = {"softmax": 0.92, "mlp": 0.98}
    return common.finish(args, results)


if __name__ == "__main__":
    main()
