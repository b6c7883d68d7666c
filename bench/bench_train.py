"""Whole training steps and per-call framework overhead: neuraxon vs PyTorch CPU.

Cases (batch 128, float32, cross-entropy):
  mlp    784-512-256-10, ReLU, SGD momentum 0.9
  lenet  LeNet-5 (conv6 5x5 p2, relu, maxpool2, conv16 5x5, relu, maxpool2, fc120, fc84, fc10), SGD momentum
  cnnbn  conv32 3x3 p1-bn-relu-pool, conv64 3x3 p1-bn-relu-pool, fc10 on 1x28x28, Adam
Overhead cases:
  add1   a + b on one-element tensors (no grad)
  tiny   Linear(10, 10), batch 4: zero_grad, forward, cross-entropy, backward, SGD-momentum step

One training step = zero_grad, forward, loss, backward, optimizer step, as a user writes it.
Ours and torch start from the same weights; validation runs a few steps of each from the same
start on the same batch and requires the losses to agree (rel 2e-3) before timing. The harness
times ours and torch alternating (A B A B ...). Each record carries `steps_per_s` (ours) and
`baseline_steps_per_s` besides the harness fields (ratio > 1: we are faster).

    python bench/bench_train.py [--threads 1,2] [--quick] [--filter mlp]
"""

from __future__ import annotations

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness

harness.ensure_importable()
import neuraxon as nx
import numpy as np

B = 128


# ---- model definitions (the same layer list for both frameworks) ------------------------


def _layers(lib, name):
    nn = lib.nn
    if name == "mlp":
        return [nn.Flatten(), nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 256), nn.ReLU(), nn.Linear(256, 10)]
    if name == "lenet":
        return [
            nn.Conv2d(1, 6, 5, padding=2),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(6, 16, 5),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(16 * 5 * 5, 120),
            nn.ReLU(),
            nn.Linear(120, 84),
            nn.ReLU(),
            nn.Linear(84, 10),
        ]
    if name == "cnnbn":
        return [
            nn.Conv2d(1, 32, 3, padding=1),
            nn.BatchNorm2d(32),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1),
            nn.BatchNorm2d(64),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(64 * 7 * 7, 10),
        ]
    if name == "tiny":
        return [nn.Linear(10, 10)]
    raise ValueError(name)


def _optim(lib, name, params):
    if name == "cnnbn":
        return lib.optim.Adam(params, lr=1e-3)
    return lib.optim.SGD(params, lr=0.01, momentum=0.9)


def _flops(name):
    """Flops of one step's products: forward, weight gradient and input gradient of every
    layer with weights (2 * batch * multiply-adds each), less the first layer's input gradient
    (the batch does not require grad, so neither side computes it)."""
    if name == "mlp":
        macs = [784 * 512, 512 * 256, 256 * 10]
    elif name == "lenet":
        macs = [6 * 25 * 28 * 28, 16 * 6 * 25 * 10 * 10, 400 * 120, 120 * 84, 84 * 10]
    elif name == "cnnbn":
        macs = [32 * 9 * 28 * 28, 64 * 32 * 9 * 14 * 14, 64 * 49 * 10]
    else:
        macs = [10 * 10]
    batch = 4 if name == "tiny" else B
    return 2.0 * batch * (3 * sum(macs) - macs[0])


class Trainer:
    """One model + optimizer + fixed batch in one framework; step() runs one training step."""

    def __init__(self, lib, name, batch=B):
        self.lib = lib
        self.model = lib.nn.Sequential(*_layers(lib, name))
        self.model.train()
        self.opt = _optim(lib, name, list(self.model.parameters()))
        self.loss_fn = lib.nn.CrossEntropyLoss()
        rng = np.random.default_rng(1)
        shape = (batch, 10) if name == "tiny" else (batch, 1, 28, 28)
        self.xn = rng.standard_normal(shape).astype(np.float32)
        self.yn = rng.integers(0, 10, size=batch).astype(np.int64)
        self.x = lib.tensor(self.xn)
        self.y = lib.tensor(self.yn)

    def step(self):
        self.opt.zero_grad()
        loss = self.loss_fn(self.model(self.x), self.y)
        loss.backward()
        self.opt.step()
        return loss

    def params(self):
        return [np.array(p.detach().numpy()) for p in self.model.parameters()]

    def load(self, arrays):
        for p, a in zip(self.model.parameters(), arrays):
            with self.lib.no_grad():
                p.copy_(self.lib.tensor(a))


def make_check(ours: Trainer, theirs: Trainer, steps: int = 3):
    """Both start from the same weights and batch; their losses must agree step by step."""

    def check(_v):
        w0 = theirs.params()
        ours.load(w0)
        lo = [float(ours.step().item()) for _ in range(steps)]
        lt = [float(theirs.step().item()) for _ in range(steps)]
        for a, b in zip(lo, lt):
            assert abs(a - b) <= 2e-3 * max(1.0, abs(b)), f"loss ours {lo} vs torch {lt}"

    return check


def make_cases(args) -> list[harness.Case]:
    torch = harness.try_torch()
    cases = []
    names = ["mlp", "lenet", "cnnbn", "tiny"]
    for name in names:
        batch = 4 if name == "tiny" else B
        ours = Trainer(nx, name, batch)
        base, check = {}, None
        if torch is not None:
            theirs = Trainer(torch, name, batch)
            base = {"torch": theirs.step}
            check = make_check(ours, theirs)
        label = f"{name} train step" + (" Linear(10,10) b4 SGD-momentum" if name == "tiny" else f" b{batch}")
        cases.append(
            harness.Case(
                op="train",
                shape=name,
                label=label,
                ours={"step": ours.step},
                baselines=base,
                check=check,
                flops=_flops(name),
                bound="flops",
                min_time=0.5 if name != "cnnbn" else 1.0,
            )
        )
    # one-element add, no grad
    a, b = nx.tensor([1.0]), nx.tensor([2.0])
    base = {}
    if torch is not None:
        ta, tb = torch.tensor([1.0]), torch.tensor([2.0])
        base = {"torch": lambda: ta + tb}

    def check_add(_v):
        assert float((a + b).item()) == 3.0

    cases.append(
        harness.Case(
            op="overhead",
            shape="add1",
            label="a + b, one element",
            ours={"add": lambda: a + b},
            baselines=base,
            check=check_add,
            flops=1,
            bound="flops",
            min_time=0.3,
        )
    )
    return cases


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def rss_records(steps: int, name: str = "mlp") -> list[dict]:
    """RSS growth over `steps` training steps after 50 warm-up steps, ours and torch (1 thread)."""
    torch = harness.try_torch()
    harness.set_threads(1)
    out = []
    for lib in [nx] + ([torch] if torch is not None else []):
        t = Trainer(lib, name)
        for _ in range(50):
            t.step()
        r0 = _rss()
        peak = r0
        for i in range(steps):
            t.step()
            if i % 100 == 99:
                peak = max(peak, _rss())
        r1 = _rss()
        out.append(
            {
                "op": "memory",
                "variant": "rss",
                "framework": "neuraxon" if lib is nx else "torch",
                "shape": name,
                "steps": steps,
                "rss_start_mb": r0 / 2**20,
                "rss_end_mb": r1 / 2**20,
                "rss_peak_mb": peak / 2**20,
                "rss_growth_mb": (r1 - r0) / 2**20,
                "device": "cpu",
                "threads": 1,
                "git_sha": harness.git_sha(),
                "valid": True,
                "time_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            }
        )
        del t
    return out


def main(argv=None):
    recs = harness.main("train", make_cases, argv)
    args = harness.parse_args("train", argv)
    if not args.child and not args.filter and os.path.exists("/proc/self/statm"):
        for r in rss_records(200 if args.quick else 2000):
            print(
                f"memory {r['framework']:<9} {r['shape']} {r['steps']} steps: RSS {r['rss_start_mb']:.1f} -> "
                f"{r['rss_end_mb']:.1f} MB (growth {r['rss_growth_mb']:+.1f} MB, peak {r['rss_peak_mb']:.1f})"
            )
            recs.append(r)
    for r in recs:
        if r.get("valid") and r.get("ms_median"):
            r["steps_per_s"] = 1e3 / r["ms_median"]
            if r.get("baseline_ms"):
                r["baseline_steps_per_s"] = 1e3 / r["baseline_ms"]
    if recs and not args.child and args.out != "-":
        import json

        out = args.out or os.path.join(harness.RESULTS, "train.json")
        with open(out, "w") as f:
            f.write("[\n" + ",\n".join(json.dumps(r, sort_keys=True) for r in recs) + "\n]\n")
    print("\nsteps/s (ours vs torch):")
    for r in recs:
        if r.get("valid") and r.get("baseline_ms"):
            print(
                f"  {r['shape']:<6} {r['threads']}T  ours {1e3 / r['ms_median']:10.1f}  torch "
                f"{1e3 / r['baseline_ms']:10.1f}  ratio {r['ratio']:.2f} (best-vs-best {r['ratio_min']:.2f})"
            )
    return recs


if __name__ == "__main__":
    main()
