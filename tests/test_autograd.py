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


# -- version counter: an in-place change of a tensor saved for backward (issue 13) --------------

_INPLACE = "modified by an inplace operation"


def _x_at_w(device):
    x = nx.randn(3, 4, device=device)
    w = nx.randn(4, 2, device=device, requires_grad=True)
    return x, w, (x @ w).sum()  # matmul saves x for w's gradient


@pytest.mark.parametrize(
    "change",
    [
        lambda x: x.mul_(0),
        lambda x: x.view(12).add_(1),  # a view shares the counter with its base
        lambda x: x.reshape(2, 6).zero_(),
        lambda x: x.unsqueeze(0).squeeze(0).fill_(1.0),
        lambda x: x.detach().zero_(),
        lambda x: x.__setitem__(0, 1.0),
        lambda x: x.clamp_(0.0, 0.5),
        lambda x: x.copy_(nx.ones(3, 4, device=x.device)),
        lambda x: x.add_(1).sub_(1),  # changed and changed back: still a new version
    ],
)
def test_inplace_change_of_saved_tensor_raises(device, change):
    x, _, y = _x_at_w(device)
    change(x)
    with pytest.raises(RuntimeError, match=_INPLACE):
        y.backward()


def test_inplace_change_through_data_is_not_tracked(device):
    # as torch: .data has a version counter of its own (detach() shares it)
    x, w, y = _x_at_w(device)
    x.data.mul_(0)
    y.backward()
    assert w.grad is not None and not np.any(w.grad.cpu().numpy())


def test_version_counts_inplace_changes_of_every_alias(device):
    x = nx.zeros(3, device=device)
    assert x._version == 0
    x.add_(1)
    x[0] = 2.0
    x.view(3).mul_(2)
    v = x.reshape(1, 3)
    v.detach().fill_(5.0)
    assert x._version == v._version == 4  # torch: 4
    assert (x + 1)._version == 0
    p = nx.nn.Parameter(x)  # a Parameter over x's data shares its counter
    x.add_(1)
    assert p._version == 5


def test_saved_output_changed_under_no_grad_raises(device):
    x = nx.randn(3, device=device, requires_grad=True)
    y = x.exp()  # exp saves its output
    with nx.no_grad():
        y.mul_(2)
    with pytest.raises(RuntimeError, match=_INPLACE):
        y.sum().backward()


def test_custom_function_saved_input_changed_raises(device):
    class Twice(Function):
        @staticmethod
        def forward(ctx, a):
            ctx.save_for_backward(a)
            return a * 2

        @staticmethod
        def backward(ctx, g):
            (saved,) = ctx.saved_tensors  # reading them is what checks their versions
            return g * 2 + 0 * saved

    a = nx.randn(3, device=device, requires_grad=True)
    y = Twice.apply(a).sum()
    with nx.no_grad():
        a.mul_(3)
    with pytest.raises(RuntimeError, match=_INPLACE):
        y.backward()


def test_optimizer_step_between_forward_and_backward(device):
    # a weight saved for another input's gradient changes in step(): backward raises (torch too)
    nx.manual_seed(0)
    m = nx.nn.Sequential(nx.nn.Linear(4, 3), nx.nn.Tanh(), nx.nn.Linear(3, 1)).to(device)
    opt = nx.optim.SGD(m.parameters(), lr=0.1)
    m(nx.randn(2, 4, device=device)).sum().backward()
    loss = m(nx.randn(2, 4, device=device)).sum()
    opt.step()
    with pytest.raises(RuntimeError, match=_INPLACE):
        loss.backward()
    # torch saves only what the wanted gradients read: x @ w with x constant keeps x, not w,
    # so changing w (step, or in place under no_grad) leaves that backward valid
    w = nx.randn(4, 2, device=device, requires_grad=True)
    opt = nx.optim.SGD([w], lr=0.1)
    (nx.randn(3, 4, device=device) @ w).sum().backward()
    x = nx.randn(3, 4, device=device)
    loss = (x @ w).sum() + (x[:, :2] * w[0]).sum()
    opt.step()
    w.grad = None
    loss.backward()
    ref = np.ones((3, 2), np.float32)
    xs = x.cpu().numpy()
    np.testing.assert_allclose(
        w.grad.cpu().numpy(), xs.T @ ref + np.pad([xs[:, :2].sum(0)], ((0, 3), (0, 0))), rtol=1e-5
    )


def test_training_steps_and_retain_graph_are_unaffected(device):
    x = nx.randn(3, device=device)
    w = nx.randn(3, device=device, requires_grad=True)
    y = (x * w).sum()
    y.backward(retain_graph=True)
    y.backward()  # no change in between: fine
    np.testing.assert_allclose(w.grad.cpu().numpy(), 2 * x.cpu().numpy(), rtol=1e-6)
    y = (x * w).sum()
    y.backward(retain_graph=True)
    x.add_(1)
    with pytest.raises(RuntimeError, match=_INPLACE):
        y.backward()
    # the usual loop: forward, backward, step (parameters change after the graph is used)
    nx.manual_seed(1)
    m = nx.nn.Linear(4, 2).to(device)
    opt = nx.optim.Adam(m.parameters(), lr=0.01)
    for _ in range(3):
        opt.zero_grad()
        m(nx.randn(5, 4, device=device, requires_grad=True)).pow(2).sum().backward()
        opt.step()
    nx.nn.init.zeros_(m.weight)  # init after the graph is gone: fine
    x = nx.randn(2, 4, device=device, requires_grad=True)
    y = m(x).sum()
    nx.nn.init.ones_(m.weight)  # ... but not while a graph saved it
    with pytest.raises(RuntimeError, match=_INPLACE):
        y.backward()
