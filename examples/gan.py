"""A GAN on MNIST (MLP or DCGAN), judged by the LeNet-5 of lenet5.py.

Goodfellow et al. 2014 with the non-saturating generator loss: D minimises
BCE(D(x), 1) + BCE(D(G(z)), 0), G minimises BCE(D(G(z)), 1); Adam(2e-4, betas 0.5/0.999)
for both (Radford et al. 2015). ``--arch dcgan`` uses strided (transposed) convolutions with
batch norm. Saves a grid of samples from fixed noise after every epoch (samples_epNN.png).
Then draws 1,000 samples and reports the fraction that the LeNet-5 trained by lenet5.py
(``--lenet``, default its --out checkpoint) classifies with confidence > 0.9, and the
class histogram of those samples (a mode-collapse check).

    python examples/lenet5.py --epochs 10 && python examples/gan.py --epochs 20
"""

from __future__ import annotations

import copy
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common
from common import F, as_tensor, nn, nx, to_numpy

Z = 64


def mlp_gan() -> tuple[nn.Module, nn.Module]:
    g = nn.Sequential(
        nn.Linear(Z, 256),
        nn.LeakyReLU(0.2),
        nn.Linear(256, 512),
        nn.LeakyReLU(0.2),
        nn.Linear(512, 784),
        nn.Tanh(),
        nn.Unflatten(1, (1, 28, 28)),
    )
    d = nn.Sequential(
        nn.Flatten(),
        nn.Linear(784, 512),
        nn.LeakyReLU(0.2),
        nn.Dropout(0.3),
        nn.Linear(512, 256),
        nn.LeakyReLU(0.2),
        nn.Dropout(0.3),
        nn.Linear(256, 1),
    )
    return g, d


def dcgan(width: int = 64, classes: int = 0) -> tuple[nn.Module, nn.Module]:
    """G: z -> (2w, 7, 7) -> (w, 14, 14) -> (1, 28, 28); D mirrors it with strided convs.
    classes > 0: conditional (the one-hot label joins z, and D's input as constant planes)."""
    w = width
    g = nn.Sequential(
        nn.Linear(Z + classes, 2 * w * 7 * 7),
        nn.Unflatten(1, (2 * w, 7, 7)),
        nn.BatchNorm2d(2 * w),
        nn.ReLU(),
        nn.ConvTranspose2d(2 * w, w, 4, stride=2, padding=1),
        nn.BatchNorm2d(w),
        nn.ReLU(),  # 14
        nn.ConvTranspose2d(w, 1, 4, stride=2, padding=1),
        nn.Tanh(),
    )  # 28
    d = nn.Sequential(
        nn.Conv2d(1 + classes, w, 4, stride=2, padding=1),
        nn.LeakyReLU(0.2),  # 14
        nn.Conv2d(w, 2 * w, 4, stride=2, padding=1),
        nn.BatchNorm2d(2 * w),
        nn.LeakyReLU(0.2),  # 7
        nn.Flatten(),
        nn.Linear(2 * w * 7 * 7, 1),
    )
    return g, d


class Conditional(nn.Module):
    """A conditional GAN network (Mirza & Osindero 2014): net(cat(input, label)), the one-hot
    label (N, 10) appended to G's noise, or to D's image as 10 constant planes."""

    def __init__(self, net: nn.Module, image: bool) -> None:
        super().__init__()
        self.net, self.image = net, image

    def forward(self, x, onehot):
        if self.image:
            onehot = onehot[:, :, None, None].expand(-1, -1, x.shape[2], x.shape[3])
        return self.net(nx.cat([x, onehot], 1))


def labels_onehot(y: np.ndarray, device):
    return as_tensor(np.eye(10, dtype=np.float32)[y], device)


def update_average(avg: nn.Module, model: nn.Module, decay: float) -> None:
    """avg <- decay * avg + (1 - decay) * model, parameters and batch-norm statistics alike."""
    with nx.no_grad():
        for a, m in zip(avg.parameters(), model.parameters()):
            a.lerp_(m, 1.0 - decay)
        for (_, a), (_, m) in zip(avg.named_buffers(), model.named_buffers()):
            if a.dtype == m.dtype and a.is_floating_point():
                a.lerp_(m, 1.0 - decay)
            else:
                a.copy_(m)


def noise(n: int, rng, device):
    return as_tensor(rng.standard_normal((n, Z)).astype(np.float32), device)


def judge(samples: np.ndarray, lenet_path: str, device, wanted: np.ndarray | None = None) -> dict:
    """samples (N,1,28,28) in [-1, 1] -> LeNet-5 confidence statistics (and, for a
    conditional GAN, how often LeNet-5's class is the requested one)."""
    from lenet5 import load_lenet
    from neuraxon.data.datasets import MNIST_MEAN, MNIST_STD

    model = load_lenet(lenet_path, device)
    x = ((samples + 1) / 2 - MNIST_MEAN) / MNIST_STD
    probs = []
    with nx.no_grad():
        for s in range(0, len(x), 250):
            probs.append(to_numpy(F.softmax(model(as_tensor(x[s : s + 250], device)), dim=1)))
    pr = np.concatenate(probs)
    conf = pr.max(1)
    extra = {}
    if wanted is not None:
        extra["fraction_requested_class"] = float((pr.argmax(1) == wanted).mean())
        extra["fraction_confident_0.9_and_requested"] = float(((conf > 0.9) & (pr.argmax(1) == wanted)).mean())
    return {
        **extra,
        "fraction_confident_0.9": float((conf > 0.9).mean()),
        "mean_confidence": float(conf.mean()),
        "class_histogram": np.bincount(pr.argmax(1), minlength=10).tolist(),
        "n": len(pr),
    }


def main(argv: list | None = None) -> dict:
    p = common.parser(__doc__.splitlines()[0], epochs=20, batch_size=128, lr=2e-4)
    p.add_argument("--arch", default="mlp", choices=["mlp", "dcgan"])
    p.add_argument("--lenet", default=os.path.join(common.DEFAULT_OUT, "lenet5", "lenet5.npz"))
    p.add_argument("--n-judge", type=int, default=1000)
    p.add_argument(
        "--stop-at", type=float, default=0.0, help="stop after the epoch whose LeNet judge reaches this fraction (0: never)"
    )
    p.add_argument("--width", type=int, default=64, help="DCGAN base channel count (G 2w -> w, D w -> 2w)")
    p.add_argument(
        "--real-label", type=float, default=1.0, help="one-sided label smoothing: D's target for real images (e.g. 0.9)"
    )
    p.add_argument(
        "--ema",
        type=float,
        default=0.0,
        help="also keep an exponential moving average of G's weights with this decay (e.g. 0.999); "
        "samples, the judge and generator.npz then use the averaged G (Yazici et al. 2019)",
    )
    p.add_argument(
        "--conditional",
        action="store_true",
        help="DCGAN conditioned on the digit label (G gets z and the one-hot label, D the image and "
        "10 label planes); the judge draws 100 samples per class and also reports how often "
        "LeNet-5 sees the requested digit",
    )
    p.add_argument(
        "--generator", default=None, help="start G from this generator.npz (with --epochs 0: only judge it)"
    )
    args = common.setup(p.parse_args(argv), "gan", argv)
    train, _, _ = common.image_loaders(args, "mnist", normalize=False)
    dev, rng = args.device, args.rng
    if args.conditional and args.arch != "dcgan":
        raise SystemExit("--conditional needs --arch dcgan")
    classes = 10 if args.conditional else 0
    g, d = mlp_gan() if args.arch == "mlp" else dcgan(args.width, classes)
    if classes:
        g, d = Conditional(g, image=False), Conditional(d, image=True)
    g, d = g.to(dev), d.to(dev)
    if args.generator:
        common.load_arrays(g, args.generator)
    opt_g = nx.optim.Adam(g.parameters(), lr=args.lr, betas=(0.5, 0.999))
    opt_d = nx.optim.Adam(d.parameters(), lr=args.lr, betas=(0.5, 0.999))
    g_avg = copy.deepcopy(g) if args.ema else g  # the generator that is sampled, judged and saved

    def call(net, x, onehot):  # net(x), or net(x, onehot) when conditional
        return net(x, onehot) if classes else net(x)

    def draw(net, z, start=0):  # samples; a conditional G draws digits start, start+1, ... mod 10
        n = int(z.shape[0])
        return call(net, z, labels_onehot((start + np.arange(n)) % 10, dev) if classes else None)

    wanted = (np.arange(args.n_judge) % 10) if classes else None  # the judge's requested digits
    fixed = noise(50, np.random.default_rng(args.seed + 1), dev)
    judge_rng = np.random.default_rng(args.seed + 2)
    judge_z = [noise(min(250, args.n_judge - k), judge_rng, dev) for k in range(0, args.n_judge, 250)]
    per_epoch_judge: list = []
    per_epoch_judge_raw: list = []
    prog = common.Progress(f"gan-{args.arch}", args.epochs, len(train), args.log_every)
    d_losses, g_losses, times, figs = [], [], [], []
    for ep in range(args.epochs):
        g.train()
        d.train()
        t0 = time.time()
        for i, (x, y) in enumerate(train):
            real = x.to(dev) * 2 - 1
            n = int(real.shape[0])
            real_y = labels_onehot(to_numpy(y).astype(np.int64), dev) if classes else None
            fake_y = labels_onehot(rng.integers(0, 10, n), dev) if classes else None
            ones = as_tensor(np.ones((n, 1), np.float32), dev)
            real_t = as_tensor(np.full((n, 1), args.real_label, np.float32), dev)
            zeros = as_tensor(np.zeros((n, 1), np.float32), dev)
            fake = call(g, noise(n, rng, dev), fake_y)
            d_loss = F.binary_cross_entropy_with_logits(
                call(d, real, real_y), real_t
            ) + F.binary_cross_entropy_with_logits(call(d, fake.detach(), fake_y), zeros)
            opt_d.zero_grad()
            d_loss.backward()
            opt_d.step()
            g_loss = F.binary_cross_entropy_with_logits(call(d, fake, fake_y), ones)
            opt_g.zero_grad()
            g_loss.backward()
            opt_g.step()
            if args.ema:
                update_average(g_avg, g, args.ema)
            d_losses.append(float(d_loss.item()))
            g_losses.append(float(g_loss.item()))
            prog.step(ep, i, d_losses[-1], f" g_loss {g_losses[-1]:.4f}")
        times.append(time.time() - t0)
        g.eval()
        g_avg.eval()
        with nx.no_grad():
            s = to_numpy(draw(g_avg, fixed))
        figs.append(
            common.image_grid(
                (s + 1) / 2,
                os.path.join(args.out, f"samples_ep{ep + 1:02d}.png"),
                nrow=10,
                title=f"{args.arch} GAN, epoch {ep + 1}",
            )
        )
        metrics = {}
        if os.path.exists(args.lenet):  # progress only: the reported judge below uses fresh samples
            with nx.no_grad():
                s = np.concatenate([to_numpy(draw(g_avg, z, 250 * k)) for k, z in enumerate(judge_z)])
            jr = judge(s, args.lenet, dev, wanted)
            per_epoch_judge.append(jr["fraction_confident_0.9"])
            metrics["judge_0.9"] = jr["fraction_confident_0.9"]
            if args.ema:  # the raw (last-step) generator too, to show what the average adds
                with nx.no_grad():
                    s = np.concatenate([to_numpy(draw(g, z, 250 * k)) for k, z in enumerate(judge_z)])
                per_epoch_judge_raw.append(judge(s, args.lenet, dev)["fraction_confident_0.9"])
                metrics["judge_0.9_raw"] = per_epoch_judge_raw[-1]
        prog.epoch(
            ep,
            d_loss=float(np.mean(d_losses[-len(train) :])),
            g_loss=float(np.mean(g_losses[-len(train) :])),
            epoch_s=times[-1],
            **metrics,
        )
        common.save_arrays(g_avg, os.path.join(args.out, "generator.npz"))
        if args.stop_at and per_epoch_judge and per_epoch_judge[-1] >= args.stop_at:
            print(f"judge reached {per_epoch_judge[-1]:.3f} >= --stop-at {args.stop_at}: stopping", flush=True)
            break
    if not times:  # --epochs 0: a grid of the loaded generator's samples instead of loss curves
        g.eval()
        with nx.no_grad():
            s = to_numpy(draw(g, fixed))
        figs.append(
            common.image_grid((s + 1) / 2, os.path.join(args.out, "samples.png"), nrow=10, title=f"{args.arch} GAN")
        )
    if times:
        common.plot_curves(
            {"D": d_losses, "G": g_losses},
            os.path.join(args.out, "losses.png"),
            xlabel="step",
            ylabel="BCE",
            title="GAN losses",
            smooth=max(1, min(50, len(d_losses) // 10)),
        )
    ds, de = common.loss_drop(d_losses)
    results = {
        "gan": {
            "arch": args.arch,
            "epochs": len(times),
            "sec_per_epoch": float(np.mean(times)) if times else None,
            "generator": args.generator,
            "d_loss_start": ds,
            "d_loss_end": de,
            "g_loss_end": common.loss_drop(g_losses)[1],
            "ema": args.ema,
            "conditional": bool(classes),
            "judge_per_epoch": per_epoch_judge,
            "judge_per_epoch_raw_generator": per_epoch_judge_raw,
        },
        "figures": [os.path.basename(f) for f in figs] + (["losses.png"] if times else []),
    }
    with nx.no_grad():
        samples = np.concatenate(
            [to_numpy(draw(g_avg, noise(min(250, args.n_judge - s), rng, dev), s)) for s in range(0, args.n_judge, 250)]
        )
    if os.path.exists(args.lenet):
        results["lenet_judge"] = judge(samples, args.lenet, dev, wanted)
        print(f"LeNet-5 judge: {results['lenet_judge']}", flush=True)
    else:
        results["lenet_judge"] = None
        print(f"no LeNet-5 checkpoint at {args.lenet}: run examples/lenet5.py first (or pass --lenet)", flush=True)
    return common.finish(args, results)


if __name__ == "__main__":
    main()
