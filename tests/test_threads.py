"""Threads: grad mode is per thread (as PyTorch), so models trained in several threads at once
(kernels release the GIL) give the results of serial runs."""

from __future__ import annotations

import os
import threading

import neuraxon as nx
import numpy as np
import pytest
from neuraxon import nn


def test_grad_mode_is_per_thread():
    inside, release = threading.Event(), threading.Event()
    seen = {}

    def other():
        with nx.no_grad():
            seen["other_in_no_grad"] = nx.is_grad_enabled()
            inside.set()
            release.wait(5)
        seen["other_after"] = nx.is_grad_enabled()

    t = threading.Thread(target=other)
    t.start()
    assert inside.wait(5)
    # the other thread sits in no_grad; this one still records graphs
    assert nx.is_grad_enabled()
    x = nx.tensor([1.0, 2.0], requires_grad=True)
    assert (x * 2).requires_grad
    release.set()
    t.join(5)
    assert seen == {"other_in_no_grad": False, "other_after": True}
    # a new thread starts with grad mode on even when this one has it off
    with nx.no_grad():
        r = []
        t = threading.Thread(target=lambda: r.append(nx.is_grad_enabled()))
        t.start()
        t.join(5)
        assert r == [True]


def _train(seed: int, steps: int = 30) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    x = nx.tensor(rng.standard_normal((64, 20)).astype(np.float32))
    y = nx.tensor(rng.integers(0, 4, 64))
    model = nn.Sequential(nn.Linear(20, 32), nn.ReLU(), nn.Linear(32, 4))
    with nx.no_grad():  # deterministic init without touching the global generator
        for i, p in enumerate(model.parameters()):
            p.copy_(nx.tensor(np.random.default_rng(seed * 10 + i).standard_normal(p.shape).astype(np.float32) * 0.2))
    opt = nx.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    for _ in range(steps):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
    return [p.detach().numpy().copy() for p in model.parameters()]


@pytest.mark.parametrize("threads", [2, 4])
def test_models_trained_in_threads_match_serial_runs(threads):
    serial = [_train(s) for s in range(threads)]
    out: dict[int, list] = {}
    errors: list[BaseException] = []

    def work(s):
        try:
            out[s] = _train(s)
        except BaseException as e:  # surfaced below
            errors.append(e)

    ts = [threading.Thread(target=work, args=(s,)) for s in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(120)
    assert not errors, errors
    assert nx.is_grad_enabled()
    for s in range(threads):
        for a, b in zip(out[s], serial[s]):
            np.testing.assert_array_equal(a, b)


def test_threads_drawing_at_once_get_disjoint_random_streams():
    g = nx.random.Generator(123)
    got: list[tuple[int, int]] = []
    lock = threading.Lock()

    def draw():
        for _ in range(2000):
            seed, off = g.next_offset(8)  # two Philox counters each
            with lock:
                got.append(off)

    import sys

    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible: races show up
    try:
        ts = [threading.Thread(target=draw) for _ in range(4)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(30)
    finally:
        sys.setswitchinterval(old)
    assert len(got) == 8000 and len(set(got)) == 8000  # no two draws share a counter range
    assert g.offset == 8000 * 3


def test_set_num_threads_is_process_wide():
    # torch.set_num_threads holds for every thread; omp_set_num_threads alone held only for
    # the calling one, so kernels called from another Python thread kept the default.
    from neuraxon import _ext

    before = _ext.cpu.num_threads()
    try:
        nx.set_num_threads(1)
        seen = []
        t = threading.Thread(target=lambda: seen.append(_ext.cpu.num_threads()))
        t.start()
        t.join()
        assert seen == [1] and nx.get_num_threads() == 1
        nx.set_num_threads(3)
        t = threading.Thread(target=lambda: seen.append(_ext.cpu.num_threads()))
        t.start()
        t.join()
        assert seen == [1, 3]
    finally:
        nx.set_num_threads(before)


def test_openmp_spin_default_and_user_settings():
    # neuraxon shortens libgomp's spin before its threads sleep (a busy machine made 2-thread
    # steps 25x slower than 1 thread), unless the user chose a wait policy or spin count
    import subprocess
    import sys

    code = "import os, neuraxon; print(os.environ.get('GOMP_SPINCOUNT'))"
    env = {k: v for k, v in os.environ.items() if k not in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY")}
    run = lambda e: subprocess.run([sys.executable, "-c", code], env=e, capture_output=True, text=True, check=True).stdout.strip()  # noqa: E731
    assert run(env) == "3000"
    assert run({**env, "GOMP_SPINCOUNT": "500"}) == "500"
    assert run({**env, "OMP_WAIT_POLICY": "ACTIVE"}) == "None"
