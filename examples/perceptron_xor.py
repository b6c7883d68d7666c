"""Rosenblatt's perceptron learns AND and OR but never XOR; a 2-layer sigmoid MLP solves XOR.

The perceptron is a threshold unit y = step(w.x + b) trained by the perceptron rule
w <- w + lr * (t - y) * x, b <- b + lr * (t - y), one example at a time. It converges on
linearly separable data (AND, OR) and cycles forever on XOR. The MLP 2-H-1 with sigmoids,
trained by backprop on the squared error, separates XOR. Figure: decision boundaries.

    python examples/perceptron_xor.py [--epochs 3000] [--hidden 4] [--lr 2.0]
"""

from __future__ import annotations

import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common
from common import as_tensor, nn, nx, to_numpy

X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
GATES = {"AND": [0, 0, 0, 1], "OR": [0, 1, 1, 1], "XOR": [0, 1, 1, 0]}


def step(z):
    """The threshold unit: 1 where z > 0, else 0 (as float)."""
    return (z > 0).float()


def perceptron(x, t, lr: float = 0.1, max_epochs: int = 100, device="cpu"):
    """Perceptron rule, one example at a time; returns (w, b, epochs or None if it never converged, errors)."""
    x, t = as_tensor(x, device), as_tensor(np.asarray(t, np.float32), device)
    w = nx.zeros(2).to(device)
    b = nx.zeros(1).to(device)
    errors = []
    for ep in range(max_epochs):
        n_err = 0
        for i in range(x.shape[0]):
            xi = x[i]
            y = step((w * xi).sum() + b)
            e = t[i] - y  # in {-1, 0, 1}
            w = w + lr * e * xi
            b = b + lr * e
            n_err += int(abs(float(e.item())) > 0)
        errors.append(n_err)
        if n_err == 0:
            return w, b, ep + 1, errors
    return w, b, None, errors


class MLP(nn.Module):
    """2 -> hidden -> 1, sigmoid units throughout (the 1986 backprop setting)."""

    def __init__(self, hidden: int = 4) -> None:
        super().__init__()
        self.fc1 = nn.Linear(2, hidden)
        self.fc2 = nn.Linear(hidden, 1)

    def forward(self, x):
        return nx.sigmoid(self.fc2(nx.sigmoid(self.fc1(x))))


def main(argv: list | None = None) -> dict:
    p = common.parser(__doc__.splitlines()[0], epochs=3000, lr=2.0)
    p.add_argument("--hidden", type=int, default=4)
    p.add_argument("--perceptron-epochs", type=int, default=100)
    args = common.setup(p.parse_args(argv), "perceptron_xor", argv)
    dev = args.device
    results: dict = {"perceptron": {}}

    # 1. the perceptron rule on the three gates
    boundaries = {}
    for gate, t in GATES.items():
        w, b, conv, errors = perceptron(X, t, lr=0.1, max_epochs=args.perceptron_epochs, device=dev)
        pred = to_numpy(step(as_tensor(X, dev) @ w + b))
        acc = float((pred == np.asarray(t)).mean())
        boundaries[gate] = (to_numpy(w), float(to_numpy(b)[0]))
        status = f"converged in {conv} epochs" if conv else f"NEVER converged in {args.perceptron_epochs} epochs"
        print(f"perceptron {gate}: {status}; accuracy {acc:.2f}; errors per epoch (last 5) {errors[-5:]}")
        results["perceptron"][gate] = {
            "converged": conv is not None,
            "epochs": conv,
            "accuracy": acc,
            "last_errors": errors[-5:],
        }

    # 2. a 2-layer sigmoid MLP trained by backprop on XOR (full batch, squared error)
    model = MLP(args.hidden).to(dev)
    opt = nx.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9)
    x, t = as_tensor(X, dev), as_tensor(np.array(GATES["XOR"], np.float32)[:, None], dev)
    losses = []
    prog = common.Progress("mlp-xor", 1, args.epochs, max(args.epochs // 10, 1))
    for it in range(args.epochs):
        y = model(x)
        loss = ((y - t) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.item()))
        prog.step(0, it, losses[-1])
    with nx.no_grad():
        out = to_numpy(model(x))[:, 0]
    acc = float(((out > 0.5) == np.array(GATES["XOR"], bool)).mean())
    print(f"MLP XOR outputs {np.round(out, 3).tolist()} accuracy {acc:.2f}")
    start, end = common.loss_drop(losses)
    results["mlp_xor"] = {
        "accuracy": acc,
        "outputs": out.tolist(),
        "final_loss": losses[-1],
        "loss_start": start,
        "loss_end": end,
        "steps": args.epochs,
    }

    # figure: the three perceptron boundaries and the MLP's XOR regions
    plt = common.plt()
    g = np.linspace(-0.5, 1.5, 201, dtype=np.float32)
    gx, gy = np.meshgrid(g, g)
    grid = np.stack([gx.ravel(), gy.ravel()], 1)
    with nx.no_grad():
        mlp_z = to_numpy(model(as_tensor(grid, dev)))[:, 0].reshape(gx.shape)
    fig, axes = plt.subplots(1, 4, figsize=(15, 4))
    for ax, (gate, t) in zip(axes, list(GATES.items()) + [("XOR (MLP)", GATES["XOR"])]):
        if gate in boundaries:
            w, b = boundaries[gate]
            z = (grid @ w + b).reshape(gx.shape)
            ax.contourf(gx, gy, (z > 0).astype(float), levels=[-0.5, 0.5, 1.5], colors=["#dde", "#fdb"])
            ok = results["perceptron"][gate]["converged"]
            ax.set_title(f"perceptron {gate}: " + ("converged" if ok else "never converges"))
        else:
            ax.contourf(gx, gy, mlp_z, levels=20, cmap="coolwarm", alpha=0.7)
            ax.contour(gx, gy, mlp_z, levels=[0.5], colors="k")
            ax.set_title(f"2-layer MLP on XOR: acc {acc:.2f}")
        t = np.asarray(t)
        ax.scatter(X[:, 0], X[:, 1], c=["b" if v == 0 else "r" for v in t], s=120, edgecolors="k")
        ax.set_xlim(-0.5, 1.5)
        ax.set_ylim(-0.5, 1.5)
    fig.tight_layout()
    fig.savefig(os.path.join(args.out, "decision_boundaries.png"), dpi=100)
    plt.close(fig)
    results["figures"] = ["decision_boundaries.png"]
    return common.finish(args, results)


if __name__ == "__main__":
    main()
