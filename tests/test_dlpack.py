"""DLPack (issue 15): Tensor.__dlpack__/__dlpack_device__ and neuraxon.from_dlpack, zero copy
for CPU tensors in both directions, checked with NumPy always and with torch when installed."""

from __future__ import annotations

import numpy as np
import pytest

import neuraxon as nx


def _ptr(a: np.ndarray) -> int:
    return a.__array_interface__["data"][0]


@pytest.mark.parametrize("dtype", [nx.float32, nx.int64, nx.bool])
def test_numpy_reads_a_tensor_without_a_copy(dtype):
    x = nx.tensor([[1, 0, 3], [4, 5, 0]], dtype=dtype)
    assert x.__dlpack_device__() == (1, 0)
    a = np.from_dlpack(x)
    assert a.shape == (2, 3) and a.dtype == dtype.numpy and a.tolist() == x.tolist()
    assert np.shares_memory(a, np.asarray(x))
    if dtype is not nx.bool:
        a[0, 0] = 7
        assert x[0, 0].item() == 7
        x.mul_(2)
        assert a[0, 0] == 14


def test_from_dlpack_shares_numpy_memory_and_converts_the_rest():
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    x = nx.from_dlpack(a)
    assert x.shape == (2, 3) and x.dtype is nx.float32 and _ptr(np.asarray(x)) == _ptr(a)
    a[1, 2] = -1.0
    assert x[1, 2].item() == -1.0
    x.add_(1.0)  # in-place on our side is seen by NumPy
    assert a[0, 0] == 1.0
    for arr in (np.zeros((0, 4), np.int64), np.array(True), np.array([1, 2], np.int64)):
        y = nx.from_dlpack(arr)
        assert y.shape == arr.shape and y.tolist() == arr.tolist()
    # not shareable: converted like tensor() converts data, a copy; copy=False refuses
    for arr, why in [(np.ones(3), "no float64"), (np.arange(3, dtype=np.int32), "no int32"),
                     (np.arange(6, dtype=np.float32).reshape(2, 3).T, "C-contiguous")]:  # fmt: skip
        y = nx.from_dlpack(arr)
        assert y.tolist() == arr.astype(y.dtype.numpy).tolist() and not np.shares_memory(np.asarray(y), arr)
        with pytest.raises(BufferError, match=why):
            nx.from_dlpack(arr, copy=False)
    ro = np.arange(3, dtype=np.float32)
    ro.flags.writeable = False
    y = nx.from_dlpack(ro)  # kernels write into a tensor's memory: read-only memory is copied
    assert y.tolist() == [0.0, 1.0, 2.0] and not np.shares_memory(np.asarray(y), ro)
    c = nx.from_dlpack(a, copy=True)
    assert not np.shares_memory(np.asarray(c), a) and c.tolist() == a.tolist()
    with pytest.raises(TypeError, match="__dlpack__"):
        nx.from_dlpack([1, 2, 3])


def test_a_roundtrip_through_our_own_tensor():
    x = nx.tensor([1.0, 2.0])
    y = nx.from_dlpack(x)
    y[0] = 5.0
    assert x[0].item() == 5.0


def test_tensors_that_cannot_be_exported_say_why(device):
    with pytest.raises(RuntimeError, match="require gradient"):
        nx.ones(2, requires_grad=True).__dlpack__()
    np.from_dlpack(nx.ones(2, requires_grad=True).detach())
    if device == "cuda":
        x = nx.ones(2, device="cuda")
        assert x.__dlpack_device__() == (2, 0)
        with pytest.raises(BufferError, match="cannot export a CUDA tensor"):
            x.__dlpack__()
        with pytest.raises(BufferError, match="cannot export a CUDA tensor"):
            np.from_dlpack(x)


class _FakeCudaProducer:
    def __dlpack_device__(self):
        return (2, 0)

    def __dlpack__(self, **kwargs):
        raise AssertionError("must not be asked for a capsule")


def test_a_cuda_producer_is_refused_before_its_capsule():
    with pytest.raises(BufferError, match="CUDA device.*CPU memory only"):
        nx.from_dlpack(_FakeCudaProducer())


def test_torch_shares_memory_both_ways():
    torch = pytest.importorskip("torch")
    x = nx.tensor([[1.0, 2.0], [3.0, 4.0]])
    t = torch.from_dlpack(x)
    assert t.dtype == torch.float32 and t.shape == (2, 2)
    t[0, 0] = 9.0  # a write through torch is seen by neuraxon
    assert x[0, 0].item() == 9.0
    x.add_(1.0)  # and the other way
    assert t[0, 0].item() == 10.0
    assert torch.from_dlpack(nx.arange(3)).dtype == torch.int64
    assert torch.from_dlpack(nx.tensor([True, False])).tolist() == [True, False]
    assert torch.from_dlpack(nx.tensor(3.0)).shape == () and torch.from_dlpack(nx.zeros(0, 3)).shape == (0, 3)
    assert torch.as_tensor(x).data_ptr() == t.data_ptr()  # torch.as_tensor(x) works and shares too

    tt = torch.arange(6, dtype=torch.float32).reshape(2, 3)
    y = nx.from_dlpack(tt)
    assert y.shape == (2, 3) and y.dtype is nx.float32
    tt[1, 1] = -7.0
    assert y[1, 1].item() == -7.0
    y.mul_(2.0)
    assert tt[1, 1].item() == -14.0
    assert nx.from_dlpack(torch.tensor([True])).dtype is nx.bool
    assert nx.from_dlpack(torch.arange(3)).dtype is nx.int64
    assert nx.from_dlpack(torch.ones(2, dtype=torch.float64)).dtype is nx.float32  # a converted copy
    assert nx.from_dlpack(tt.t()).tolist() == tt.t().tolist()  # a strided view: copied
    with pytest.raises(BufferError):
        nx.from_dlpack(tt.t(), copy=False)
    with pytest.raises(RuntimeError, match="require gradient"):
        torch.from_dlpack(nx.ones(2, requires_grad=True))
