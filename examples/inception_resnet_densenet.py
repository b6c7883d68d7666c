"""Inception, ResNet and DenseNet building blocks on Fashion-MNIST (ResNet >= 93%).

Inception (Szegedy et al. 2014): parallel 1x1, 1x1->3x3, 1x1->5x5 and pool->1x1 branches
concatenated on channels, the 1x1 convolutions reducing width before the expensive ones.
ResNet (He et al. 2015): basic blocks y = relu(x + F(x)), F = conv-BN-ReLU-conv-BN, with a
1x1 strided projection when the shape changes. DenseNet (Huang et al. 2016): every layer
(BN-ReLU-conv3x3, growth k channels) sees the concatenation of all earlier ones; transitions
(BN-ReLU-conv1x1 halving channels, 2x2 average pooling) between blocks.
All three end in global average pooling + one Linear. Figure: test accuracy per epoch.

    python examples/inception_resnet_densenet.py --epochs 10
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common
from neuraxon.models import densenet, inception_net, resnet  # the architectures live in the library


def main(argv: list | None = None) -> dict:
    p = common.parser(__doc__.splitlines()[0], epochs=10, batch_size=128, lr=2e-3)
    p.add_argument("--models", default="inception,resnet,densenet")
    p.add_argument("--width", type=int, default=0, help="ResNet base width (0: 32)")
    p.add_argument("--augment", default="none", choices=["none", "flip", "flipcrop"], help="training augmentation")
    args = common.setup(p.parse_args(argv), "inception_resnet_densenet", argv)
    train, _, test = common.image_loaders(
        args, "fashion", transform=common.augmentation(args.augment, "fashion", args.seed)
    )
    res = (lambda: resnet(args.width)) if args.width else resnet
    all_ = {"inception": inception_net, "resnet": res, "densenet": densenet}
    builders = {k: all_[k] for k in args.models.split(",")}
    results, hists = common.compare(args, builders, train, test)
    common.plot_curves(
        {k: h["test_acc"] for k, h in hists.items()},
        os.path.join(args.out, "test_accuracy.png"),
        ylabel="test accuracy",
        title="Fashion-MNIST: Inception / ResNet / DenseNet",
    )
    results["target"] = {"resnet": 0.93}
    return common.finish(args, results)


if __name__ == "__main__":
    main()
