"""The build: both modules expose the same kernels, info runs, CUDA state is reported."""

import importlib
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import neuraxon
from neuraxon import _ext

API = Path(__file__).resolve().parents[1] / "csrc" / "kernel_api.inc"
COMMON = API.parent / "common.h"


def test_cpu_module_exposes_every_prototype():
    names = re.findall(r"^NX_KERNEL\((\w+),", API.read_text(), flags=re.M)
    assert len(names) >= 40
    assert sorted(_ext.cpu.KERNELS) == sorted(names)
    for n in names:
        assert callable(getattr(_ext.cpu, n))


@pytest.mark.parametrize("name", ["_cuda", "_cuda_emu"])
def test_cuda_modules_match_cpu_names(name):
    # the real CUDA module and the emulated one (HIP-CPU), whichever were built: the same
    # kernel names as the CPU module, each callable
    try:
        mod = importlib.import_module(f"neuraxon.{name}")
    except ImportError as e:
        pytest.skip(f"neuraxon.{name}: not built ({e})")
    assert sorted(mod.KERNELS) == sorted(_ext.cpu.KERNELS)
    assert all(callable(getattr(mod, n)) for n in mod.KERNELS)
    assert mod.emulated == (name == "_cuda_emu")


def test_emulated_cuda_is_used_only_when_asked_for():
    assert _ext.cuda_emulated == (os.environ.get("NEURAXON_USE_CUDA_EMU", "").strip() not in ("", "0"))
    if _ext.cuda is not None:
        assert _ext.cuda.emulated == _ext.cuda_emulated == neuraxon.cuda.is_emulated()


def test_cuda_availability_is_consistent():
    avail = neuraxon.cuda.is_available()
    assert avail == (neuraxon.cuda.device_count() > 0)
    if not avail:
        assert neuraxon.cuda.unavailable_reason() != ""


def test_info_command_runs():
    out = subprocess.run([sys.executable, "-m", "neuraxon", "info"], capture_output=True, text=True, check=True).stdout
    assert "neuraxon" in out and "compiler" in out and "CUDA" in out and "OpenMP" in out
    if _ext.cuda is not None and not neuraxon.cuda.is_available():
        assert "CUDA: built" in out and "devices: none" in out
    if neuraxon.cuda.is_emulated():
        assert "CUDA: EMULATED" in out


def test_isa_override_rejects_unknown_and_unsupported():
    with pytest.raises(ValueError):
        _ext.cpu.set_isa("sse9")
    assert _ext.cpu.isa() in _ext.cpu.isa_paths()


def test_kernel_argument_errors_are_python_exceptions():
    import numpy as np

    k = _ext.cpu
    a = np.zeros((2, 3), np.float32)
    with pytest.raises(TypeError, match="dtype"):
        k.gemm_forward(np.zeros((2, 2), np.float32), a.astype(np.float64), a.T.copy(), None, 1, 2, 2, 3, False, False, 0, 0, 0, 1.0, 0.0, 0, 0.0, -1)
    with pytest.raises(ValueError, match="contiguous"):
        k.gemm_forward(np.zeros((2, 2), np.float32), np.zeros((3, 2), np.float32).T, a.T.copy(), None, 1, 2, 2, 3, False, False, 0, 0, 0, 1.0, 0.0, 0, 0.0, -1)
    with pytest.raises(TypeError, match="array or None"):
        k.gemm_forward([1.0], a, a, None, 1, 2, 2, 3, False, False, 0, 0, 0, 1.0, 0.0, 0, 0.0, -1)


def test_python_kernel_codes_equal_the_cpp_enums():
    # neuraxon._codes copies the enums of csrc/common.h by hand: every enumerator there must
    # be in _codes with the same value, and _codes must hold nothing else
    from neuraxon import _codes

    text = COMMON.read_text()
    cpp = {}
    for enum in ("DType", "Act", "BinOp", "UnOp", "RedOp", "ArgRedOp"):
        body = re.search(r"enum (?:class )?" + enum + r"\b[^{]*\{(.*?)\};", text, flags=re.S).group(1)
        body = re.sub(r"//[^\n]*", "", body)
        pairs = re.findall(r"(\w+)\s*=\s*(\d+)", body)
        assert pairs, enum
        for name, value in pairs:
            cpp[name] = int(value)
    py = {k: v for k, v in vars(_codes).items() if k.isupper()}
    assert py == cpp


def test_no_driver_is_named_as_such():
    # a machine without any NVIDIA driver got "CUDA driver version is insufficient for CUDA
    # runtime version", which reads as "update your driver"
    import os

    import neuraxon as nx
    from neuraxon import _ext

    if _ext.cuda is None or _ext.cuda_emulated or os.path.exists("/proc/driver/nvidia/version"):
        pytest.skip("needs the real CUDA module on a machine without an NVIDIA driver")
    assert not nx.cuda.is_available()
    assert nx.cuda.unavailable_reason().startswith("no NVIDIA driver on this machine")


def test_one_version():
    import re

    import neuraxon

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with open(os.path.join(root, "pyproject.toml")) as f:
        declared = re.search(r'^version = "([^"]+)"', f.read(), re.M).group(1)
    assert neuraxon.__version__ == declared
