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
from common import F, nn, nx


def conv_bn(cin: int, cout: int, k: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2, bias=False), nn.BatchNorm2d(cout), nn.ReLU()
    )


class Inception(nn.Module):
    """(N, cin, H, W) -> (N, c1 + c3 + c5 + cp, H, W)."""

    def __init__(self, cin: int, c1: int, r3: int, c3: int, r5: int, c5: int, cp: int) -> None:
        super().__init__()
        self.b1 = conv_bn(cin, c1, 1)
        self.b3 = nn.Sequential(conv_bn(cin, r3, 1), conv_bn(r3, c3, 3))
        self.b5 = nn.Sequential(conv_bn(cin, r5, 1), conv_bn(r5, c5, 5))
        self.bp = nn.Sequential(nn.MaxPool2d(3, stride=1, padding=1), conv_bn(cin, cp, 1))

    def forward(self, x):
        return nx.cat([self.b1(x), self.b3(x), self.b5(x), self.bp(x)], 1)


def inception_net() -> nn.Module:
    return nn.Sequential(
        conv_bn(1, 32, 3),
        Inception(32, 16, 16, 32, 8, 8, 8),
        nn.MaxPool2d(2),  # 64 x 14 x 14
        Inception(64, 32, 32, 48, 8, 24, 24),
        nn.MaxPool2d(2),  # 128 x 7 x 7
        Inception(128, 48, 48, 64, 12, 32, 32),  # 176 x 7 x 7
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(176, 10),
    )


class BasicBlock(nn.Module):
    """relu(x + BN(conv(relu(BN(conv(x)))))), projection shortcut when stride or width change."""

    def __init__(self, cin: int, cout: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = None
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + (x if self.shortcut is None else self.shortcut(x)))


def resnet(width: int = 32) -> nn.Module:
    """A ResNet-10-ish for 28x28: stem, 4 basic blocks over 3 stages (28 -> 14 -> 7)."""
    w = width
    return nn.Sequential(
        conv_bn(1, w, 3),
        BasicBlock(w, w),
        BasicBlock(w, 2 * w, 2),
        BasicBlock(2 * w, 2 * w),
        BasicBlock(2 * w, 4 * w, 2),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(4 * w, 10),
    )


class DenseLayer(nn.Module):
    """x -> cat(x, conv3x3(relu(bn(x)))) adding ``growth`` channels."""

    def __init__(self, cin: int, growth: int) -> None:
        super().__init__()
        self.bn = nn.BatchNorm2d(cin)
        self.conv = nn.Conv2d(cin, growth, 3, padding=1, bias=False)

    def forward(self, x):
        return nx.cat([x, self.conv(F.relu(self.bn(x)))], 1)


def dense_block(cin: int, layers: int, growth: int) -> tuple[nn.Sequential, int]:
    mods = [DenseLayer(cin + i * growth, growth) for i in range(layers)]
    return nn.Sequential(*mods), cin + layers * growth


def transition(cin: int) -> tuple[nn.Sequential, int]:
    cout = cin // 2
    return nn.Sequential(nn.BatchNorm2d(cin), nn.ReLU(), nn.Conv2d(cin, cout, 1, bias=False), nn.AvgPool2d(2)), cout


def densenet(growth: int = 12, layers: int = 4) -> nn.Module:
    c = 2 * growth
    mods = [nn.Conv2d(1, c, 3, padding=1, bias=False)]
    for i in range(3):
        block, c = dense_block(c, layers, growth)
        mods.append(block)
        if i < 2:
            t, c = transition(c)
            mods.append(t)
    mods += [nn.BatchNorm2d(c), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, 10)]
    return nn.Sequential(*mods)


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
