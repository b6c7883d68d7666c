"""Gradient hooks for code that acts while backward runs: Tensor.register_post_accumulate_grad_hook
and autograd.queue_callback (what DistributedDataParallel launches its all-reduces from)."""

from __future__ import annotations

import neuraxon as nx
import pytest
from neuraxon import autograd, nn


def test_post_accumulate_hook_runs_once_after_all_contributions():
    w = nx.tensor([1.0, 2.0, 3.0], requires_grad=True)
    seen = []
    h = w.register_post_accumulate_grad_hook(lambda t: seen.append(t.grad.tolist()))
    # w feeds three ops: the hook sees the sum of the three contributions, once
    y = (w * 2).sum() + (w * w).sum() + w.sum()
    y.backward()
    assert seen == [[5.0, 7.0, 9.0]]
    # the second backward accumulates onto .grad; the hook sees the accumulated value
    (w * 1).sum().backward()
    assert seen == [[5.0, 7.0, 9.0], [6.0, 8.0, 10.0]]
    h.remove()
    (w * 1).sum().backward()
    assert len(seen) == 2
    h.remove()  # twice is harmless
    assert autograd._post_hooks_live[0] >= 0


def test_post_accumulate_hook_order_follows_backward_and_root_leaf():
    lin1, lin2 = nn.Linear(3, 4), nn.Linear(4, 2)
    order = []
    hs = [
        p.register_post_accumulate_grad_hook(lambda t, n=n: order.append(n))
        for n, p in [("w1", lin1.weight), ("b1", lin1.bias), ("w2", lin2.weight), ("b2", lin2.bias)]
    ]
    lin2(lin1(nx.randn(5, 3)).relu()).sum().backward()
    assert sorted(order) == ["b1", "b2", "w1", "w2"]
    assert order.index("w2") < order.index("w1") and order.index("b2") < order.index("b1")
    for h in hs:
        h.remove()
    # a leaf that is itself the root
    x = nx.tensor(2.0, requires_grad=True)
    got = []
    h = x.register_post_accumulate_grad_hook(lambda t: got.append(t.grad.item()))
    x.backward()
    assert got == [1.0]
    h.remove()


def test_post_accumulate_hook_not_run_by_autograd_grad_and_runs_with_inputs():
    w = nx.tensor([1.0, 2.0], requires_grad=True)
    v = nx.tensor([3.0, 4.0], requires_grad=True)
    seen = []
    h = w.register_post_accumulate_grad_hook(lambda t: seen.append("w"))
    (g,) = autograd.grad((w * w).sum(), [w])
    assert seen == [] and w.grad is None and g.tolist() == [2.0, 4.0]
    (w * v).sum().backward(inputs=[w])
    assert seen == ["w"] and v.grad is None
    h.remove()


def test_post_accumulate_hook_when_a_backward_returns_none():
    class HalfGrad(autograd.Function):
        @staticmethod
        def forward(ctx, a, b):
            return a + b

        @staticmethod
        def backward(ctx, g):
            return g, None  # b gets nothing through this edge

    w = nx.tensor([1.0], requires_grad=True)
    seen = []
    h = w.register_post_accumulate_grad_hook(lambda t: seen.append(t.grad.tolist()))
    (HalfGrad.apply(w, w) * 3).sum().backward()
    assert seen == [[3.0]]
    h.remove()


def test_post_accumulate_hook_rejects_non_leaf_and_no_grad():
    x = nx.tensor([1.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="non-leaf"):
        (x * 2).register_post_accumulate_grad_hook(lambda t: None)
    with pytest.raises(RuntimeError, match="doesn't require gradient"):
        nx.tensor([1.0]).register_post_accumulate_grad_hook(lambda t: None)


def test_queue_callback_runs_after_every_gradient_is_accumulated():
    lin = nn.Linear(3, 2)
    events = []

    def final():
        # every .grad is complete here
        events.append(("final", lin.weight.grad is not None, lin.bias.grad is not None))

    def hook(t):
        events.append("hook")
        if len(events) == 1:
            autograd.queue_callback(final)
            autograd.queue_callback(lambda: autograd.queue_callback(lambda: events.append("chained")))

    hs = [p.register_post_accumulate_grad_hook(hook) for p in lin.parameters()]
    lin(nx.randn(4, 3)).sum().backward()
    assert events == ["hook", "hook", ("final", True, True), "chained"]
    for h in hs:
        h.remove()
    with pytest.raises(RuntimeError, match="during a backward"):
        autograd.queue_callback(lambda: None)


def test_queue_callback_dropped_when_backward_raises():
    class Boom(autograd.Function):
        @staticmethod
        def forward(ctx, a):
            return a * 1

        @staticmethod
        def backward(ctx, g):
            raise ValueError("boom")

    w = nx.tensor([1.0], requires_grad=True)
    ran = []
    h = w.register_hook(lambda g: autograd.queue_callback(lambda: ran.append(1)))
    with pytest.raises(ValueError, match="boom"):
        (w + Boom.apply(w)).sum().backward()
    assert ran == [] and autograd._callbacks.stack == []
    h.remove()
