"""Weight initialisation: the same MLP from zero, small random, Xavier and He initial weights.

A 784-256-256-256-10 ReLU MLP on MNIST, plain SGD. Zero init leaves every hidden unit
identical with zero gradient (the symmetry is never broken) so it stays at chance; small
random weights (N(0, 0.01^2)) shrink the signal layer by layer and start slowly; Xavier
(Glorot & Bengio 2010) and He (He et al. 2015) keep the activation variance and train at once.
Figure: training loss per step (init_curves.png).

    python examples/weight_init.py --epochs 3
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common
from common import nn, nx

INITS = {
    "zero": lambda w: nn.init.zeros_(w),
    "small_random": lambda w: nn.init.normal_(w, 0.0, 0.01),
    "xavier": lambda w: nn.init.xavier_uniform_(w),
    "he": lambda w: nn.init.kaiming_normal_(w, nonlinearity="relu"),
}


def mlp(init: str, hidden: int = 256, depth: int = 3) -> nn.Module:
    layers, cin = [], 784
    for _ in range(depth):
        layers += [nn.Linear(cin, hidden), nn.ReLU()]
        cin = hidden
    layers.append(nn.Linear(cin, 10))
    model = nn.Sequential(*layers)
    for m in model:
        if isinstance(m, nn.Linear):
            INITS[init](m.weight)
            nn.init.zeros_(m.bias)
    return model


def main(argv: list | None = None) -> dict:
    p = common.parser(__doc__.splitlines()[0], epochs=3, batch_size=64, lr=0.05)
    args = common.setup(p.parse_args(argv), "weight_init", argv)
    train, _, test = common.image_loaders(args, "mnist", flatten=True)
    builders = {name: (lambda n=name: mlp(n)) for name in INITS}
    results, hists = common.compare(
        args, builders, train, test, make_opt=lambda m: nx.optim.SGD(m.parameters(), lr=args.lr), step_lr=False
    )
    common.plot_curves(
        {k: h["step_loss"] for k, h in hists.items()},
        os.path.join(args.out, "init_curves.png"),
        xlabel="step",
        ylabel="training loss",
        title="MLP on MNIST: initialisation",
        smooth=max(1, min(20, len(hists["zero"]["step_loss"]) // 10)),
    )
    results["chance"] = 0.1
    return common.finish(args, results)


if __name__ == "__main__":
    main()
