"""Global-average-pooling classifier and Class Activation Maps (Zhou et al. 2016).

The net ends conv -> global average pool -> Linear(C, 10), so the class score is
s_c = sum_k w_ck * mean_xy f_k(x, y) and the map M_c(x, y) = sum_k w_ck f_k(x, y) shows
where the evidence for class c lies. The maps (7x7) are upsampled bilinearly to 28x28 and
saved as heat maps over the inputs (cam.png).

    python examples/gap_cam.py --epochs 5 [--data fashion|mnist]
"""

from __future__ import annotations

import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common
from common import nx, to_numpy
from neuraxon.models import GapNet  # the architecture lives in the library


def upsample_bilinear(m: np.ndarray, size: int) -> np.ndarray:
    """(N, h, w) -> (N, size, size), align_corners=False style."""
    _, h, w = m.shape
    ys = np.clip((np.arange(size) + 0.5) * h / size - 0.5, 0, h - 1)
    xs = np.clip((np.arange(size) + 0.5) * w / size - 0.5, 0, w - 1)
    y0, x0 = np.floor(ys).astype(int), np.floor(xs).astype(int)
    y1, x1 = np.minimum(y0 + 1, h - 1), np.minimum(x0 + 1, w - 1)
    wy, wx = (ys - y0)[None, :, None], (xs - x0)[None, None, :]
    top = m[:, y0][:, :, x0] * (1 - wx) + m[:, y0][:, :, x1] * wx
    bot = m[:, y1][:, :, x0] * (1 - wx) + m[:, y1][:, :, x1] * wx
    return top * (1 - wy) + bot * wy


def class_activation_maps(model: GapNet, x, classes: np.ndarray) -> np.ndarray:
    """CAMs (N, 28, 28) for the given class of each input, each scaled to [0, 1]."""
    model.eval()
    with nx.no_grad():
        f = to_numpy(model.features(x))  # (N, C, h, w)
    w = to_numpy(model.fc.weight)[classes]  # (N, C)
    cam = np.einsum("nc,nchw->nhw", w, f)
    cam = upsample_bilinear(cam, x.shape[-1])
    cam -= cam.min(axis=(1, 2), keepdims=True)
    return cam / np.maximum(cam.max(axis=(1, 2), keepdims=True), 1e-8)


def main(argv: list | None = None) -> dict:
    p = common.parser(__doc__.splitlines()[0], epochs=5, batch_size=128, lr=2e-3)
    p.add_argument("--data", default="fashion", choices=["fashion", "mnist"])
    args = common.setup(p.parse_args(argv), "gap_cam", argv)
    train, _, test = common.image_loaders(args, args.data)
    results, _ = common.compare(args, {"gapnet": GapNet}, train, test)
    model = results["gapnet"]["model"]
    x, y = next(iter(test))
    x, y = x[:16].to(args.device), to_numpy(y)[:16]
    with nx.no_grad():
        pred = to_numpy(model(x)).argmax(1)
    cams = class_activation_maps(model, x, pred)
    imgs = to_numpy(x)[:, 0]
    names = common.FashionMNIST.classes if args.data == "fashion" else [str(i) for i in range(10)]
    plt = common.plt()
    fig, axes = plt.subplots(2, 16, figsize=(20, 3.2))
    for i in range(16):
        axes[0, i].imshow(imgs[i], cmap="gray")
        axes[0, i].set_title(f"{names[y[i]][:7]}", fontsize=7)
        axes[1, i].imshow(imgs[i], cmap="gray")
        axes[1, i].imshow(cams[i], cmap="jet", alpha=0.5)
        axes[1, i].set_title(f"CAM {names[pred[i]][:7]}", fontsize=7)
        for a in axes[:, i]:
            a.axis("off")
    fig.tight_layout()
    fig.savefig(os.path.join(args.out, "cam.png"), dpi=100)
    plt.close(fig)
    results["figures"] = ["cam.png"]
    return common.finish(args, results)


if __name__ == "__main__":
    main()
