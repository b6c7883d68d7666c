"""Autoencoders on MNIST: FC bottleneck, denoising, conv + max-unpooling, conv + transposed conv.

  fc          784-256-32-256-784 (sigmoid output), squared error
  denoising   the same net fed x + N(0, 0.4^2) noise, asked for the clean x (Vincent et al. 2008)
  conv_unpool conv-ReLU-maxpool x2 down to 32x7x7; the decoder max-unpools with the encoder's
              pooling indices (Zeiler & Fergus / SegNet) and convolves back
  conv_transp strided convs down, ConvTranspose2d (stride 2) up
Reports test MSE per pixel; saves reconstruction grids (recon_<name>.png: input rows, output rows).

    python examples/autoencoders.py --epochs 5
"""

from __future__ import annotations

import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common
from common import F, nn, nx, to_numpy


class FCAE(nn.Module):
    def __init__(self, code: int = 32) -> None:
        super().__init__()
        self.enc = nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, code))
        self.dec = nn.Sequential(nn.ReLU(), nn.Linear(code, 256), nn.ReLU(), nn.Linear(256, 784), nn.Sigmoid())

    def forward(self, x):
        return self.dec(self.enc(x)).reshape(x.shape[0], 1, 28, 28)


class ConvUnpoolAE(nn.Module):
    """(N,1,28,28) -> 16x14x14 -> 32x7x7 (pool indices kept) -> unpool -> 16x14x14 -> unpool -> 1x28x28."""

    def __init__(self) -> None:
        super().__init__()
        self.c1 = nn.Conv2d(1, 16, 3, padding=1)
        self.c2 = nn.Conv2d(16, 32, 3, padding=1)
        self.pool = nn.MaxPool2d(2, return_indices=True)
        self.unpool = nn.MaxUnpool2d(2)
        self.d2 = nn.Conv2d(32, 16, 3, padding=1)
        self.d1 = nn.Conv2d(16, 1, 3, padding=1)

    def forward(self, x):
        h, i1 = self.pool(F.relu(self.c1(x)))
        h, i2 = self.pool(F.relu(self.c2(h)))
        h = F.relu(self.d2(self.unpool(h, i2)))
        return nx.sigmoid(self.d1(self.unpool(h, i1)))


class ConvTransposeAE(nn.Module):
    """(N,1,28,28) -> conv s2 16x14x14 -> conv s2 32x7x7 -> convT s2 16x14x14 -> convT s2 1x28x28."""

    def __init__(self) -> None:
        super().__init__()
        self.enc = nn.Sequential(
            nn.Conv2d(1, 16, 3, stride=2, padding=1), nn.ReLU(), nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.ReLU()
        )
        self.dec = nn.Sequential(
            nn.ConvTranspose2d(32, 16, 3, stride=2, padding=1, output_padding=1),
            nn.ReLU(),
            nn.ConvTranspose2d(16, 1, 3, stride=2, padding=1, output_padding=1),
            nn.Sigmoid(),
        )

    def forward(self, x):
        return self.dec(self.enc(x))


MODELS = {"fc": FCAE, "denoising": FCAE, "conv_unpool": ConvUnpoolAE, "conv_transpose": ConvTransposeAE}


def main(argv: list | None = None) -> dict:
    p = common.parser(__doc__.splitlines()[0], epochs=5, batch_size=128, lr=2e-3)
    p.add_argument("--models", default=",".join(MODELS))
    p.add_argument("--noise", type=float, default=0.4)
    args = common.setup(p.parse_args(argv), "autoencoders", argv)
    train, _, test = common.image_loaders(args, "mnist", normalize=False)  # pixels in [0, 1]
    noise_rng = np.random.default_rng(args.seed + 7)
    results = {}
    for name in args.models.split(","):
        nx.manual_seed(args.seed)
        model = MODELS[name]().to(args.device)
        opt = nx.optim.Adam(model.parameters(), lr=args.lr)
        noisy = name == "denoising"

        def corrupt(x, noisy=noisy):
            if not noisy:
                return x
            n = noise_rng.normal(0, args.noise, size=tuple(x.shape)).astype(np.float32)
            return x + common.as_tensor(n, x.device)

        prog = common.Progress(name, args.epochs, len(train), args.log_every)
        step_losses, times = [], []
        for ep in range(args.epochs):
            model.train()
            t0 = time.time()
            for i, (x, _) in enumerate(train):
                x = x.to(args.device)
                loss = F.mse_loss(model(corrupt(x)), x)
                opt.zero_grad()
                loss.backward()
                opt.step()
                step_losses.append(float(loss.item()))
                prog.step(ep, i, step_losses[-1])
            times.append(time.time() - t0)
        model.eval()
        tot, cnt = 0.0, 0
        with nx.no_grad():
            for x, _ in test:
                x = x.to(args.device)
                tot += float(F.mse_loss(model(corrupt(x)), x).item()) * x.shape[0]
                cnt += x.shape[0]
            x = next(iter(test))[0][:10].to(args.device)
            xin = corrupt(x)
            rec = to_numpy(model(xin))
        mse = tot / cnt
        print(f"{name}: test MSE {mse:.5f}", flush=True)
        rows = [to_numpy(xin)[:, 0], rec[:, 0]] + ([to_numpy(x)[:, 0]] if noisy else [])
        common.image_grid(
            np.concatenate(rows),
            os.path.join(args.out, f"recon_{name}.png"),
            nrow=10,
            title=f"{name}: " + ("noisy input / output / clean" if noisy else "input / reconstruction"),
        )
        s, e = common.loss_drop(step_losses)
        results[name] = {
            "test_mse": mse,
            "loss_start": s,
            "loss_end": e,
            "epochs": args.epochs,
            "sec_per_epoch": float(np.mean(times)),
            "params": common.num_params(model),
        }
    return common.finish(args, results)


if __name__ == "__main__":
    main()
