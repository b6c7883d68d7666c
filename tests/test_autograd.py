"""autograd: deep chains, accumulation, retain_graph, grad modes, errors, custom Functions."""

import numpy as np
import pytest

import neuraxon as nx
from neuraxon.autograd import Function


def test_chain_of_10000_ops_backward(device):
    x = nx.tensor([1.0, 2.0], device=device, requires_grad=True)
    y = x
    for _ in range(10_000):
        y = y * 1.0001
    y.sum().backward()
    np.testing.assert_allclose(x.grad.cpu().numpy(), [1.0001**10_000] * 2, rtol=1e-3)


def test_gradients_accumulate_into_leaves(device):
    x = nx.tensor([1.0, -2.0, 3.0], device=device, requires_grad=True)
    (x * x).sum().backward()
    (3 * x).sum().backward()
    np.testing.assert_allclose(x.grad.cpu().numpy(), 2 * np.array([1.0, -2.0, 3.0]) + 3)


def test_shared_subexpression_and_diamond(device):
    x = nx.tensor([0.5, 1.5], device=device, requires_grad=True)
    a = x.exp()
    y = a * a + a  # a used twice
    y.sum().backward()
    e = np.exp([0.5, 1.5])
    np.testing.assert_allclose(x.grad.cpu().numpy(), 2 * e * e + e, rtol=1e-5)


def test_same_tensor_both_operands_and_grads_do_not_alias(device):
    a = nx.tensor([1.0, 2.0], device=device, requires_grad=True)
    b = nx.tensor([3.0, 4.0], device=device, requires_grad=True)
    (a + b).sum().backward()
    a.grad.add_(1.0)  # a.grad and b.grad must be distinct buffers
    np.testing.assert_allclose(b.grad.cpu().numpy(), [1.0, 1.0])
    c = nx.tensor([2.0], device=device, requires_grad=True)
    (c * c).backward()
    np.testing.assert_allclose(c.grad.cpu().numpy(), [4.0])


def test_backward_twice_needs_retain_graph(device):
    x = nx.tensor([1.0, 2.0], device=device, requires_grad=True)
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(x.grad.cpu().numpy(), [4.0, 8.0])
    z = (x.exp() * 2).sum()
    z.backward()
    with pytest.raises(RuntimeError, match="second time"):
        z.backward()


def test_non_scalar_backward_needs_gradient(device):
    x = nx.tensor([1.0, 2.0], device=device, requires_grad=True)
    y = x * 2
    with pytest.raises(RuntimeError, match="scalar outputs"):
        y.backward()
    y.backward(nx.tensor([1.0, 10.0], device=device))
    np.testing.assert_allclose(x.grad.cpu().numpy(), [2.0, 20.0])
    with pytest.raises(RuntimeError, match="does not require grad"):
        nx.tensor([1.0], device=device).sum().backward()


def test_no_grad_and_enable_grad_context_and_decorators(device):
    x = nx.tensor([1.0], device=device, requires_grad=True)
    with nx.no_grad():
        y = x * 2
        assert not y.requires_grad and y.grad_fn is None
        with nx.enable_grad():
            assert (x * 2).requires_grad
    assert nx.is_grad_enabled()

    @nx.no_grad()
    def f(t):
        return t * 3

    @nx.no_grad
    def g(t):
        return t * 3

    @nx.set_grad_enabled(False)
    def h(t):
        return t * 3

    assert nx.is_grad_enabled()  # decorating must not switch the mode
    assert not f(x).requires_grad and not g(x).requires_grad and not h(x).requires_grad
    assert nx.is_grad_enabled()
    with nx.set_grad_enabled(False):
        assert not (x * 2).requires_grad
    assert (x * 2).requires_grad
    nx.set_grad_enabled(False)
    assert not nx.is_grad_enabled()
    nx.set_grad_enabled(True)
    assert nx.is_grad_enabled()


def test_detach_requires_grad_and_leaf_flags(device):
    x = nx.tensor([1.0, 2.0], device=device, requires_grad=True)
    y = x * 2
    assert x.is_leaf and not y.is_leaf and y.grad_fn is not None
    d = y.detach()
    assert d.is_leaf and not d.requires_grad
    assert nx.zeros(2, device=device).requires_grad_().requires_grad
    with pytest.raises(RuntimeError, match="floating point"):
        nx.tensor([1, 2], device=device).requires_grad_()
    with pytest.raises(RuntimeError, match="in-place"):
        x.add_(1.0)
    with nx.no_grad():
        x.add_(1.0)
    np.testing.assert_allclose(x.detach().cpu().numpy(), [2.0, 3.0])


def test_unused_branch_and_int_outputs(device):
    x = nx.tensor([[3.0, 1.0], [0.0, 5.0]], device=device, requires_grad=True)
    v, i = x.max(1)
    assert i.dtype is nx.int64 and not i.requires_grad
    v.sum().backward()
    np.testing.assert_allclose(x.grad.cpu().numpy(), [[1, 0], [0, 1]])


def test_custom_function():
    class Cube(Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x * x

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            assert ctx.needs_input_grad == (True,)
            return g * 3 * x * x

    x = nx.tensor([1.0, 2.0], requires_grad=True)
    Cube.apply(x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [3.0, 12.0])


def test_autograd_grad_and_retain_grad():
    x = nx.tensor([1.0, 2.0], requires_grad=True)
    y = x * x
    y.retain_grad()
    z = (y * 3).sum()
    (gx,) = nx.autograd.grad(z, x, retain_graph=True)
    np.testing.assert_allclose(gx.numpy(), [6.0, 12.0])
    assert x.grad is None
    z.backward()
    np.testing.assert_allclose(y.grad.numpy(), [3.0, 3.0])
    with pytest.raises(RuntimeError, match="not have been used"):
        nx.autograd.grad((x * 2).sum(), [x, nx.tensor([1.0], requires_grad=True)])


def test_backward_frees_saved_tensors():
    x = nx.tensor([1.0, 2.0], requires_grad=True)
    y = (x.exp() * x).sum()
    node = y.grad_fn
    y.backward()
    with pytest.raises(RuntimeError, match="second time"):
        y.backward()
    assert node is not None


def test_graph_without_backward_is_freed_without_gc():
    import gc
    import weakref

    x = nx.tensor([1.0, 2.0, 3.0], requires_grad=True)
    gc.disable()
    try:
        y = nx.functional.softmax(x.exp(), 0) * 2  # softmax saves its own output
        refs = [weakref.ref(y), weakref.ref(y.grad_fn)]
        del y
        assert all(r() is None for r in refs)
    finally:
        gc.enable()
