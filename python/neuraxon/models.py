"""The classic image classifiers, built from `neuraxon.nn` (as torchvision.models, small).

Each builder returns an `nn.Module` mapping (N, in_channels, H, W) images to (N, num_classes)
logits. The sizes are those of the examples (examples/, issue 6) for 1x28x28 MNIST /
Fashion-MNIST; `build(name, in_shape, num_classes)` is what `neuraxon train --model NAME` uses.

    softmax     softmax regression: Flatten + Linear
    mlp         Flatten, Linear 512, ReLU, Linear 256, ReLU, Linear (optional dropout)
    lenet       LeNet-5 (LeCun et al. 1998): conv6 5x5 p2, pool, conv16 5x5, pool, fc 120-84;
                ReLU + max pooling, or tanh + average pooling with classic=True (28x28 only)
    vgg         VGG-style (Simonyan & Zisserman 2014): three stages of two 3x3 conv-BN-ReLU
                and a 2x2 max pool, channels w, 2w, 4w; dropout classifier
    alexnet     AlexNet-style (Krizhevsky et al. 2012): 5x5/2 first conv, ReLU, overlapping 3x3/2
                max pooling, dropout classifier
    inception   GoogLeNet-style (Szegedy et al. 2015) Inception blocks (1x1, 1x1-3x3, 1x1-5x5,
                pool-1x1 branches concatenated), global average pooling
    resnet      ResNet-style (He et al. 2016) basic blocks with identity / projection shortcuts
    densenet    DenseNet-style (Huang et al. 2017) dense blocks (growth rate) and transitions
    gap         all-convolutional features + global average pooling + one Linear: the network
                whose class activation maps (Zhou et al. 2016) examples/gap_cam.py draws
"""

from __future__ import annotations

from . import functional as F
from . import nn
from .ops.movement import cat

__all__ = [
    "MODELS",
    "BasicBlock",
    "DenseLayer",
    "GapNet",
    "Inception",
    "LeNet5",
    "alexnet",
    "build",
    "densenet",
    "inception_net",
    "mlp",
    "resnet",
    "softmax_regression",
    "vgg",
]


def softmax_regression(in_features: int = 784, num_classes: int = 10) -> nn.Module:
    return nn.Sequential(nn.Flatten(), nn.Linear(in_features, num_classes))


def mlp(in_features: int = 784, num_classes: int = 10, hidden=(512, 256), dropout: float = 0.0) -> nn.Module:
    layers, n = [nn.Flatten()], in_features
    for h in hidden:
        layers += [nn.Linear(n, h), nn.ReLU()] + ([nn.Dropout(dropout)] if dropout > 0 else [])
        n = h
    return nn.Sequential(*layers, nn.Linear(n, num_classes))


class LeNet5(nn.Module):
    """(N, C, 28, 28) -> (N, num_classes)."""

    def __init__(self, in_channels: int = 1, num_classes: int = 10, classic: bool = False) -> None:
        super().__init__()
        act = nn.Tanh if classic else nn.ReLU
        pool = nn.AvgPool2d if classic else nn.MaxPool2d
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 6, 5, padding=2),
            act(),
            pool(2, 2),  # 6 x 28 x 28 -> 6 x 14 x 14
            nn.Conv2d(6, 16, 5),
            act(),
            pool(2, 2),  # 16 x 10 x 10 -> 16 x 5 x 5
        )
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(16 * 5 * 5, 120), act(), nn.Linear(120, 84), act(), nn.Linear(84, num_classes)
        )

    def forward(self, x):
        return self.classifier(self.features(x))


def _conv_bn_relu(cin: int, cout: int, k: int, stride: int = 1) -> list:
    return [nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]


def conv_bn(cin: int, cout: int, k: int, stride: int = 1) -> nn.Sequential:
    """Conv k x k ('same' padding, no bias) + BatchNorm + ReLU."""
    return nn.Sequential(*_conv_bn_relu(cin, cout, k, stride))


def vgg(width: int = 32, in_channels: int = 1, num_classes: int = 10, in_size: int = 28) -> nn.Module:
    """Three stages (w, 2w, 4w channels), each two conv-BN-ReLU and a 2x2 max pool
    (28 -> 14 -> 7 -> 3), then Dropout 0.3, Linear 256, ReLU, Dropout 0.3, Linear."""
    layers, cin, s = [], in_channels, in_size
    for cout in (width, 2 * width, 4 * width):
        layers += _conv_bn_relu(cin, cout, 3) + _conv_bn_relu(cout, cout, 3) + [nn.MaxPool2d(2)]
        cin, s = cout, s // 2
    if s < 1:
        raise ValueError(f"vgg: a {in_size}x{in_size} input is too small for three 2x2 poolings")
    return nn.Sequential(
        *layers,
        nn.Flatten(),
        nn.Dropout(0.3),
        nn.Linear(cin * s * s, 256),
        nn.ReLU(),
        nn.Dropout(0.3),
        nn.Linear(256, num_classes),
    )


def alexnet(in_channels: int = 1, num_classes: int = 10, in_size: int = 28) -> nn.Module:
    """conv 64 5x5/2 p2 (28 -> 14), max pool 3/2 (-> 6), conv 128, conv 128, max pool 3/2 (-> 2),
    Dropout 0.5, Linear 512, ReLU, Dropout 0.5, Linear."""
    s = (in_size + 4 - 5) // 2 + 1  # the first conv
    s = ((s - 3) // 2 + 1 - 3) // 2 + 1  # two 3/2 poolings
    if s < 1:
        raise ValueError(f"alexnet: a {in_size}x{in_size} input is too small")
    return nn.Sequential(
        nn.Conv2d(in_channels, 64, 5, stride=2, padding=2),
        nn.ReLU(),
        nn.MaxPool2d(3, stride=2),
        nn.Conv2d(64, 128, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(128, 128, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(3, stride=2),
        nn.Flatten(),
        nn.Dropout(0.5),
        nn.Linear(128 * s * s, 512),
        nn.ReLU(),
        nn.Dropout(0.5),
        nn.Linear(512, num_classes),
    )


class Inception(nn.Module):
    """(N, cin, H, W) -> (N, c1 + c3 + c5 + cp, H, W): 1x1 | 1x1 (r3) -> 3x3 | 1x1 (r5) -> 5x5 |
    3x3/1 max pool -> 1x1, concatenated along channels."""

    def __init__(self, cin: int, c1: int, r3: int, c3: int, r5: int, c5: int, cp: int) -> None:
        super().__init__()
        self.b1 = conv_bn(cin, c1, 1)
        self.b3 = nn.Sequential(conv_bn(cin, r3, 1), conv_bn(r3, c3, 3))
        self.b5 = nn.Sequential(conv_bn(cin, r5, 1), conv_bn(r5, c5, 5))
        self.bp = nn.Sequential(nn.MaxPool2d(3, stride=1, padding=1), conv_bn(cin, cp, 1))

    def forward(self, x):
        return cat([self.b1(x), self.b3(x), self.b5(x), self.bp(x)], 1)


def inception_net(in_channels: int = 1, num_classes: int = 10) -> nn.Module:
    return nn.Sequential(
        conv_bn(in_channels, 32, 3),
        Inception(32, 16, 16, 32, 8, 8, 8),
        nn.MaxPool2d(2),  # 64 x 14 x 14
        Inception(64, 32, 32, 48, 8, 24, 24),
        nn.MaxPool2d(2),  # 128 x 7 x 7
        Inception(128, 48, 48, 64, 12, 32, 32),  # 176 x 7 x 7
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(176, num_classes),
    )


class BasicBlock(nn.Module):
    """relu(x + BN(conv(relu(BN(conv(x)))))), a 1x1 projection shortcut when the stride or the
    width changes."""

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


def resnet(width: int = 32, in_channels: int = 1, num_classes: int = 10) -> nn.Module:
    """A ResNet-10-ish for 28x28: stem, four basic blocks over three stages (28 -> 14 -> 7),
    global average pooling, Linear."""
    w = width
    return nn.Sequential(
        conv_bn(in_channels, w, 3),
        BasicBlock(w, w),
        BasicBlock(w, 2 * w, 2),
        BasicBlock(2 * w, 2 * w),
        BasicBlock(2 * w, 4 * w, 2),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(4 * w, num_classes),
    )


class DenseLayer(nn.Module):
    """x -> cat(x, conv3x3(relu(bn(x)))), adding `growth` channels."""

    def __init__(self, cin: int, growth: int) -> None:
        super().__init__()
        self.bn = nn.BatchNorm2d(cin)
        self.conv = nn.Conv2d(cin, growth, 3, padding=1, bias=False)

    def forward(self, x):
        return cat([x, self.conv(F.relu(self.bn(x)))], 1)


def densenet(growth: int = 12, layers: int = 4, in_channels: int = 1, num_classes: int = 10) -> nn.Module:
    """Stem conv (2*growth channels), three dense blocks of `layers` layers, transitions (BN, ReLU,
    1x1 conv halving the channels, 2x2 average pool) between them, BN-ReLU-GAP-Linear."""
    c = 2 * growth
    mods = [nn.Conv2d(in_channels, c, 3, padding=1, bias=False)]
    for i in range(3):
        mods.append(nn.Sequential(*[DenseLayer(c + j * growth, growth) for j in range(layers)]))
        c += layers * growth
        if i < 2:
            mods.append(nn.Sequential(nn.BatchNorm2d(c), nn.ReLU(), nn.Conv2d(c, c // 2, 1, bias=False), nn.AvgPool2d(2)))
            c //= 2
    mods += [nn.BatchNorm2d(c), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, num_classes)]
    return nn.Sequential(*mods)


class GapNet(nn.Module):
    """features (conv-BN-ReLU x2, pool, x2, pool, x1: 4w channels at 1/4 resolution) -> global
    average pooling -> Linear. The class activation map of class k is sum_c fc.weight[k, c] *
    features[c] (upsampled to the input)."""

    def __init__(self, width: int = 32, in_channels: int = 1, num_classes: int = 10) -> None:
        super().__init__()
        w = width
        self.features = nn.Sequential(
            *_conv_bn_relu(in_channels, w, 3),
            *_conv_bn_relu(w, w, 3),
            nn.MaxPool2d(2),
            *_conv_bn_relu(w, 2 * w, 3),
            *_conv_bn_relu(2 * w, 2 * w, 3),
            nn.MaxPool2d(2),
            *_conv_bn_relu(2 * w, 4 * w, 3),
        )
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(4 * w, num_classes)

    def forward(self, x):
        return self.fc(self.gap(self.features(x)).flatten(1))


# name -> builder(in_shape (C, H, W), num_classes)
MODELS = {
    "softmax": lambda shape, k: softmax_regression(shape[0] * shape[1] * shape[2], k),
    "mlp": lambda shape, k: mlp(shape[0] * shape[1] * shape[2], k),
    "lenet": lambda shape, k: LeNet5(shape[0], k),
    "vgg": lambda shape, k: vgg(32, shape[0], k, shape[1]),
    "alexnet": lambda shape, k: alexnet(shape[0], k, shape[1]),
    "inception": lambda shape, k: inception_net(shape[0], k),
    "resnet": lambda shape, k: resnet(32, shape[0], k),
    "densenet": lambda shape, k: densenet(12, 4, shape[0], k),
    "gap": lambda shape, k: GapNet(32, shape[0], k),
}
_NEEDS = {  # minimum square image side per model (0: any shape)
    "lenet": 28,
    "vgg": 8,
    "alexnet": 13,
    "inception": 4,
    "resnet": 4,
    "densenet": 4,
    "gap": 4,
}


def build(name: str, in_shape, num_classes: int = 10) -> nn.Module:
    """The model `name` (a key of MODELS) for inputs of shape in_shape = (C, H, W)."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose from {', '.join(MODELS)}")
    shape = tuple(int(s) for s in in_shape)
    if len(shape) != 3:
        raise ValueError(f"{name}: expected an image shape (C, H, W), got {shape}")
    need = _NEEDS.get(name, 0)
    if need and (shape[1] != shape[2] or shape[1] < need or (name == "lenet" and shape[1] != 28)):
        want = "C x 28 x 28" if name == "lenet" else f"square images of side >= {need} as"
        raise ValueError(f"{name} expects {want} inputs, the data has {'x'.join(map(str, shape))}")
    return MODELS[name](shape, num_classes)
