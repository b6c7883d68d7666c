"""Regularisation on a small training set: L2, L1, dropout, early stopping, augmentation.

An over-sized MLP (784-512-512-10) trained on --train-size MNIST examples overfits: train
accuracy reaches ~100% while test accuracy lags. Each method narrows that gap:
  l2         weight_decay in the optimizer (the gradient of lambda/2 ||w||^2; --adamw: decoupled, AdamW)
  l1         lambda * sum |w| added to the loss (drives weights to exactly small values)
  dropout    nn.Dropout(0.5) after each hidden layer
  early_stop stop when the loss on a held-out validation split (20%) stops improving; keep the best
  augment    random rotation, translation and scaling (neuraxon.data.transforms) of each sample
Figures: test accuracy per epoch, and the train/test gap per method (gap.png).

    python examples/regularization.py --epochs 40 --train-size 1000
"""

from __future__ import annotations

import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common
from common import nn, nx
from neuraxon.data import transforms as T


def mlp(dropout: float = 0.0, input_dropout: float = 0.0) -> nn.Module:
    layers, cin = ([nn.Dropout(input_dropout)] if input_dropout else []), 784
    for _ in range(2):
        layers += [nn.Linear(cin, 512), nn.ReLU()] + ([nn.Dropout(dropout)] if dropout else [])
        cin = 512
    return nn.Sequential(*layers, nn.Linear(cin, 10))


class Flatten28:
    """(1, 28, 28) sample -> (784,) after the image transforms."""

    def __init__(self, tf) -> None:
        self.tf = tf

    def __call__(self, x):
        return np.asarray(self.tf(np.asarray(x).reshape(1, 28, 28)), np.float32).reshape(-1)


def l1_penalty(lam: float):
    def penalty(model):
        total = None
        for name, p in model.named_parameters():
            if name.endswith("weight"):
                t = p.abs().sum()
                total = t if total is None else total + t
        return total * lam

    return penalty


def main(argv: list | None = None) -> dict:
    p = common.parser(__doc__.splitlines()[0], epochs=40, batch_size=64, lr=1e-3)
    p.add_argument("--train-size", type=int, default=1000, help="training examples (--limit, if set, wins)")
    p.add_argument("--methods", default="none,l2,l1,dropout,early_stop,augment")
    p.add_argument("--patience", type=int, default=5)
    p.add_argument("--l2", type=float, default=5e-3, help="weight_decay of the l2 run")
    p.add_argument(
        "--adamw", action="store_true", help="l2 run: decoupled weight decay (AdamW) instead of L2 in the Adam gradient"
    )
    p.add_argument("--l1", type=float, default=2e-5, help="lambda of the l1 run")
    p.add_argument("--dropout", type=float, default=0.5, help="dropout probability after each hidden layer")
    p.add_argument("--input-dropout", type=float, default=0.0, help="dropout on the input pixels of the dropout run")
    args = common.setup(p.parse_args(argv), "regularization", argv)
    if not args.limit:
        args.limit = args.train_size
    results, hists = {}, {}
    aug = Flatten28(T.Compose([T.RandomAffine(12, translate=(0.1, 0.1), scale=(0.9, 1.1))], seed=args.seed))
    for method in args.methods.split(","):
        nx.manual_seed(args.seed)
        train, val, test = common.image_loaders(
            args,
            "mnist",
            flatten=True,
            val_fraction=0.2 if method == "early_stop" else 0.0,
            transform=aug if method == "augment" else None,
        )
        if method == "dropout":
            model = mlp(args.dropout, args.input_dropout).to(args.device)
        else:
            model = mlp().to(args.device)
        wd = args.l2 if method == "l2" else 0.0
        adam = nx.optim.AdamW if (args.adamw and method == "l2") else nx.optim.Adam
        opt = adam(model.parameters(), lr=args.lr, weight_decay=wd)
        hist = common.fit(
            model,
            opt,
            train,
            test,
            args.epochs,
            args.device,
            method,
            val_loader=val,
            penalty=l1_penalty(args.l1) if method == "l1" else None,
            patience=args.patience if method == "early_stop" else None,
            log_every=args.log_every,
        )
        r = common.summary(hist, model)
        if "test_acc_best" in r:  # early stopping: report the restored best weights
            r["test_acc"] = r["test_acc_best"]
        # the gap is measured in eval mode on the clean (un-augmented) training examples
        clean, _, _ = common.image_loaders(
            args, "mnist", flatten=True, val_fraction=0.2 if method == "early_stop" else 0.0
        )
        r["train_loss"], r["train_acc"] = common.run_epoch(model, clean, nn.CrossEntropyLoss(), args.device)
        r["gap"] = r["train_acc"] - r["test_acc"]
        results[method], hists[method] = r, hist
        print(f"{method}: train acc {r['train_acc']:.4f} test acc {r['test_acc']:.4f} gap {r['gap']:.4f}", flush=True)
    common.plot_curves(
        {k: h["test_acc"] for k, h in hists.items()},
        os.path.join(args.out, "test_accuracy.png"),
        ylabel="test accuracy",
        title=f"MNIST, {args.limit} training examples",
    )
    plt = common.plt()
    fig, ax = plt.subplots(figsize=(7, 4))
    names = list(results)
    ax.bar(names, [results[n]["gap"] for n in names], color=["gray"] + ["tab:blue"] * (len(names) - 1))
    ax.set_ylabel("train accuracy - test accuracy")
    ax.set_title("generalisation gap per method")
    fig.tight_layout()
    fig.savefig(os.path.join(args.out, "gap.png"), dpi=100)
    plt.close(fig)
    return common.finish(args, results)


if __name__ == "__main__":
    main()
