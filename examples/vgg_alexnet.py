"""VGG-style and AlexNet-style convolutional networks on 28x28 Fashion-MNIST (VGG >= 92%).

VGG (Simonyan & Zisserman 2014): stacks of 3x3 convolutions + batch norm + ReLU, 2x2 max
pooling between stages, channels doubling. AlexNet (Krizhevsky et al. 2012): a large
strided first kernel, ReLU, overlapping 3x3/2 max pooling and dropout in the classifier.
Figure: test accuracy per epoch of both.

    python examples/vgg_alexnet.py --epochs 10
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common
from neuraxon.models import alexnet, vgg  # the architectures live in the library


def main(argv: list | None = None) -> dict:
    p = common.parser(__doc__.splitlines()[0], epochs=10, batch_size=128, lr=1e-3)
    p.add_argument("--models", default="vgg,alexnet")
    p.add_argument("--width", type=int, default=0, help="VGG base width (0: 32)")
    p.add_argument("--augment", default="none", choices=["none", "flip", "flipcrop"], help="training augmentation")
    args = common.setup(p.parse_args(argv), "vgg_alexnet", argv)
    train, _, test = common.image_loaders(
        args, "fashion", transform=common.augmentation(args.augment, "fashion", args.seed)
    )
    builders = {k: v for k, v in {"vgg": (lambda: vgg(args.width)) if args.width else vgg, "alexnet": alexnet}.items() if k in args.models.split(",")}
    results, hists = common.compare(args, builders, train, test)
    common.plot_curves(
        {k: h["test_acc"] for k, h in hists.items()},
        os.path.join(args.out, "test_accuracy.png"),
        ylabel="test accuracy",
        title="Fashion-MNIST: VGG-style vs AlexNet-style",
    )
    results["target"] = {"vgg": 0.92}
    return common.finish(args, results)


if __name__ == "__main__":
    main()
