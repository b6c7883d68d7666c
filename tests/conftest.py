"""Shared fixtures: the device every kernel test runs on, and the CPU ISA paths.

`dev` is parametrised over cpu and cuda once, here; cuda is skipped with a reason that
says whether the module was not built or was built and found no device. Arrays made by
`dev.out(...)` are poisoned (NaN, or a sentinel for ints) so unwritten elements fail.
"""

from __future__ import annotations

import contextlib
import os

import numpy as np
import pytest

from neuraxon import _ext

POISON_INT = -(2**40) + 7


class KernelDevice:
    """Puts NumPy arrays on a backend, makes poisoned outputs, and reads results back."""

    def __init__(self, name: str, module):
        self.name, self.k = name, module

    def __repr__(self) -> str:
        return self.name

    def put(self, x) -> object:
        x = np.ascontiguousarray(x)
        if self.name == "cpu":
            return x.copy()
        a = self.k.DeviceArray(x.size, {np.dtype(np.float32): 0, np.dtype(np.int64): 1, np.dtype(np.bool_): 2}[x.dtype])
        a.copy_from_host(x.reshape(-1))
        return a

    def out(self, shape, dtype=np.float32) -> object:
        """A poisoned output array."""
        dtype = np.dtype(dtype)
        fill = np.nan if dtype.kind == "f" else (POISON_INT if dtype.kind == "i" else True)
        return self.put(np.full(shape, fill, dtype=dtype))

    def get(self, arr, shape=None) -> np.ndarray:
        host = arr if self.name == "cpu" else arr.to_host()
        host = np.array(host, copy=True)
        return host.reshape(shape) if shape is not None else host

    @contextlib.contextmanager
    def raises(self, exc, match=None):
        """pytest.raises for an error a kernel finds in the data (a bad index, target or
        integer operand): the CPU raises in the call; CUDA reports it at the next
        synchronization (a deferred device error, csrc/cuda/check.cuh), forced here."""
        with pytest.raises(exc, match=match) as info:
            yield info
            if self.name != "cpu":
                self.k.synchronize()


def _cuda_skip_reason() -> str | None:
    if _ext.cuda is None:
        return "cuda: not built"
    if _ext.cuda.device_count() == 0:
        return f"cuda: built, no device ({_ext.cuda.unavailable_reason()})"
    return None


@pytest.fixture(autouse=True)
def _no_deferred_cuda_error_leaks():
    """A deferred device error must be raised in the test that caused it (dev.raises), not
    in whichever test synchronizes next: each test ends with a synchronize that fails it."""
    yield
    if _ext.cuda is not None and _cuda_skip_reason() is None:
        try:
            _ext.cuda.synchronize()
        except ValueError as e:
            pytest.fail(f"a deferred CUDA error leaked out of this test: {e}")


@pytest.fixture(params=["cpu", "cuda"])
def dev(request) -> KernelDevice:
    if request.param == "cuda":
        reason = _cuda_skip_reason()
        if reason:
            pytest.skip(reason)
        return KernelDevice("cuda", _ext.cuda)
    return KernelDevice("cpu", _ext.cpu)


@pytest.fixture(params=["portable", "avx2", "avx512"])
def isa(request):
    """Run a CPU test on each ISA path this machine can execute; restores the best after."""
    cpu = _ext.cpu
    order = cpu.isa_paths()
    if order.index(request.param) > order.index(cpu.isa_supported()):
        pytest.skip(f"this CPU cannot run the {request.param} path")
    before = cpu.isa()
    cpu.set_isa(request.param)
    yield request.param
    cpu.set_isa(before)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


@pytest.fixture(params=["cpu", "cuda"])
def device(request) -> str:
    """The device name ("cpu" or "cuda") for Python-level tests (Tensor, autograd,
    functional); cuda is skipped with the same reason as for `dev`."""
    if request.param == "cuda":
        reason = _cuda_skip_reason()
        if reason:
            pytest.skip(reason)
    return request.param


# ---- which CUDA kernels the run exercised ---------------------------------------------------
# With NEURAXON_CHECK_KERNEL_COVERAGE=1 (CI sets it for the emulated CUDA run), every kernel of
# the cuda module is wrapped to record that it was called, and the session fails if some
# kernel of kernel_api.inc was never called on device "cuda": a CUDA kernel no test runs is an
# untested kernel. (Off by default: a partial run, e.g. with -k, would fail it.)
_CUDA_KERNELS_CALLED: set[str] = set()
_CHECK_COVERAGE = os.environ.get("NEURAXON_CHECK_KERNEL_COVERAGE", "") not in ("", "0")


def _record_kernel_calls(module) -> None:
    for name in module.KERNELS:
        fn = getattr(module, name)

        def wrapper(*args, _fn=fn, _name=name, **kwargs):
            _CUDA_KERNELS_CALLED.add(_name)
            return _fn(*args, **kwargs)

        setattr(module, name, wrapper)


if _CHECK_COVERAGE and _ext.cuda is not None:
    _record_kernel_calls(_ext.cuda)


def _uncovered_cuda_kernels() -> list[str]:
    return sorted(set(_ext.cuda.KERNELS) - _CUDA_KERNELS_CALLED)


def pytest_terminal_summary(terminalreporter):
    if _CHECK_COVERAGE and _ext.cuda is not None:
        missing = _uncovered_cuda_kernels()
        n = len(_ext.cuda.KERNELS)
        terminalreporter.write_line(
            f"cuda kernel coverage: {n - len(missing)} of {n} kernels called on device 'cuda'"
            + (f"; NEVER CALLED: {', '.join(missing)}" if missing else "")
        )


def pytest_sessionfinish(session, exitstatus):
    if _CHECK_COVERAGE and _ext.cuda is not None and _uncovered_cuda_kernels() and exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
