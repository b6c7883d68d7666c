"""SGD, momentum, Nesterov, Adagrad, Adadelta, RMSprop and Adam on the same model and data.

A 784-128-10 ReLU MLP on MNIST from the same initial weights (same seed) for every optimizer,
each at a customary learning rate. Figure: smoothed training loss per step (loss_curves.png).

    python examples/optimizers.py --epochs 2
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common
from common import nn, nx

OPTIMIZERS = {
    "sgd": lambda p: nx.optim.SGD(p, lr=0.05),
    "momentum": lambda p: nx.optim.SGD(p, lr=0.01, momentum=0.9),
    "nesterov": lambda p: nx.optim.SGD(p, lr=0.01, momentum=0.9, nesterov=True),
    "adagrad": lambda p: nx.optim.Adagrad(p, lr=0.01),
    "adadelta": lambda p: nx.optim.Adadelta(p, lr=1.0),
    "rmsprop": lambda p: nx.optim.RMSprop(p, lr=1e-3),
    "adam": lambda p: nx.optim.Adam(p, lr=1e-3),
}


def mlp() -> nn.Module:
    return nn.Sequential(nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10))


def main(argv: list | None = None) -> dict:
    p = common.parser(__doc__.splitlines()[0], epochs=2, batch_size=64)
    p.add_argument("--optimizers", default=",".join(OPTIMIZERS))
    args = common.setup(p.parse_args(argv), "optimizers", argv)
    train, _, test = common.image_loaders(args, "mnist", flatten=True)
    results, hists = {}, {}
    for name in args.optimizers.split(","):
        r, h = common.compare(
            args, {name: mlp}, train, test, make_opt=lambda m, n=name: OPTIMIZERS[n](m.parameters()), step_lr=False
        )
        results.update(r)
        hists.update(h)
    n_steps = len(next(iter(hists.values()))["step_loss"])
    common.plot_curves(
        {k: h["step_loss"] for k, h in hists.items()},
        os.path.join(args.out, "loss_curves.png"),
        xlabel="step",
        ylabel="training loss",
        title="MNIST MLP: optimizers",
        logy=True,
        smooth=max(1, min(25, n_steps // 10)),
    )
    return common.finish(args, results)


if __name__ == "__main__":
    main()
