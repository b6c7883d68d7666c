"""neuraxon.models: every classic classifier builds, maps images to logits, trains, and rejects
input shapes it cannot take; `neuraxon train --model` offers exactly these."""

import numpy as np
import pytest

import neuraxon as nx
from neuraxon import models, train


@pytest.mark.parametrize("name", list(models.MODELS))
def test_model_forward_backward_and_a_step_lowers_the_loss(name):
    nx.manual_seed(0)
    rng = np.random.default_rng(0)
    m = models.build(name, (1, 28, 28), 10)
    assert m(nx.tensor(rng.standard_normal((2, 1, 28, 28)).astype(np.float32))).shape == (2, 10)
    side = 28 if name == "lenet" else 16  # smaller images keep the training steps cheap
    m = models.build(name, (1, side, side), 10)
    x = nx.tensor(rng.standard_normal((6, 1, side, side)).astype(np.float32))
    y = nx.tensor(rng.integers(0, 10, 6))
    opt = nx.optim.Adam(m.parameters(), lr=1e-2 if name in ("softmax", "mlp") else 3e-3)
    losses = []
    for _ in range(4):
        opt.zero_grad()
        loss = nx.nn.functional.cross_entropy(m(x), y)
        loss.backward()
        for p in m.parameters():
            assert p.grad is not None and np.isfinite(p.grad.numpy()).all(), name
        opt.step()
        losses.append(float(loss.item()))
    assert losses[-1] < losses[0], (name, losses)
    m.eval()
    assert np.isfinite(m(x).detach().numpy()).all()


@pytest.mark.parametrize("name,shape", [("vgg", (3, 32, 32)), ("alexnet", (3, 32, 32)), ("resnet", (3, 16, 16)),
                                        ("densenet", (2, 12, 12)), ("gap", (1, 20, 20)), ("mlp", (1, 8, 8)),
                                        ("softmax", (3, 5, 7)), ("inception", (1, 9, 9))])
def test_other_input_shapes_and_class_counts(name, shape):
    m = models.build(name, shape, 7)
    x = nx.tensor(np.zeros((2, *shape), np.float32))
    assert m(x).shape == (2, 7)


@pytest.mark.parametrize("name,shape", [("lenet", (1, 32, 32)), ("lenet", (1, 8, 8)), ("alexnet", (1, 12, 12)),
                                        ("vgg", (1, 7, 7)), ("resnet", (1, 28, 20)), ("mlp", (784,))])
def test_unsupported_shapes_raise_value_error(name, shape):
    with pytest.raises(ValueError, match=name):
        models.build(name, shape)


def test_unknown_model():
    with pytest.raises(ValueError, match="unknown model 'lenet6'"):
        models.build("lenet6", (1, 28, 28))


def test_train_offers_exactly_the_models():
    assert tuple(train.MODEL_NAMES) == tuple(models.MODELS)
