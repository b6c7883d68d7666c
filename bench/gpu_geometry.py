"""Launch geometry of the CUDA kernels: for each benchmark shape, every kernel an op launches
with its grid, threads per block, blocks and blocks per multiprocessor, so the shape of the
work is checked without a GPU. On the emulated device (NEURAXON_USE_CUDA_EMU=1) the launches
are planned for `--sms` multiprocessors (132: an H100 SXM) and recorded without running them
(the launch log's dry mode), so full-size shapes cost nothing; on a GPU they run.

    NEURAXON_USE_CUDA_EMU=1 python bench/gpu_geometry.py [--sms 132] [--json out.json]

Blocks per SM < 1 means multiprocessors idle for that kernel (it may still be short).
"""

from __future__ import annotations

import argparse
import json
import os
import sys


def parse(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sms", type=int, default=132, help="multiprocessors to plan for (emulated device)")
    ap.add_argument("--json", help="write the launches as JSON here")
    return ap.parse_args(argv)


def cases(nx, nn):
    """(name, setup() -> run) pairs: setup makes the tensors (not logged), run is one op."""

    def mm(m, k, n):
        def setup():
            a = nx.randn(m, k, device="cuda", requires_grad=True)
            b = nx.randn(k, n, device="cuda", requires_grad=True)
            return lambda: (a @ b).sum().backward()

        return f"matmul ({m}x{k}) @ ({k}x{n}), forward + backward", setup

    def conv(N, C, H, K, R, pad):
        def setup():
            x = nx.randn(N, C, H, H, device="cuda", requires_grad=True)
            layer = nn.Conv2d(C, K, R, padding=pad).to("cuda")
            return lambda: layer(x).sum().backward()

        return f"conv2d N{N} C{C} {H}x{H} K{K} {R}x{R} pad {pad}, forward + backward", setup

    def layer(name, make, shape):
        def setup():
            x = nx.randn(*shape, device="cuda", requires_grad=True)
            m = make().to("cuda")
            return lambda: m(x).sum().backward()

        return f"{name} {shape}, forward + backward", setup

    def loss(rows, cols):
        def setup():
            x = nx.randn(rows, cols, device="cuda", requires_grad=True)
            y = nx.tensor([i % cols for i in range(rows)], device="cuda")
            return lambda: nn.functional.cross_entropy(x, y).backward()

        return f"cross_entropy ({rows}, {cols}), forward + backward", setup

    def total(n):
        def setup():
            x = nx.randn(n, device="cuda")
            return lambda: x.sum()

        return f"sum of {n} floats", setup

    def lstm(T, B, I, H):
        def setup():
            x = nx.randn(T, B, I, device="cuda", requires_grad=True)
            m = nn.LSTM(I, H).to("cuda")
            return lambda: m(x)[0].sum().backward()

        return f"LSTM layer T{T} B{B} I{I} H{H}, forward + backward", setup

    def step(name, make, x_shape, classes):
        def setup():
            model = make().to("cuda")
            opt = nx.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
            x = nx.randn(*x_shape, device="cuda")
            y = nx.tensor([i % classes for i in range(x_shape[0])], device="cuda")

            def run():
                opt.zero_grad()
                nn.functional.cross_entropy(model(x), y).backward()
                opt.step()

            run()  # momentum buffers
            return run

        return f"training step: {name} {x_shape}", setup

    return [
        mm(4096, 4096, 4096),
        mm(1024, 1024, 1024),
        mm(64, 784, 512),
        mm(2048, 4096, 512),
        mm(127, 513, 1001),
        conv(32, 64, 56, 64, 3, 1),
        conv(128, 64, 32, 64, 3, 1),
        conv(64, 3, 224, 64, 7, 3),
        conv(32, 256, 14, 256, 1, 0),
        layer("BatchNorm2d(64)", lambda: nn.BatchNorm2d(64), (32, 64, 56, 56)),
        layer("MaxPool2d(2)", lambda: nn.MaxPool2d(2), (32, 64, 56, 56)),
        layer("ReLU", nn.ReLU, (32, 64, 56, 56)),
        loss(128, 10),
        total(1 << 24),
        lstm(50, 64, 128, 256),
        step("LeNet-5", lambda: nx.models.LeNet5(), (128, 1, 28, 28), 10),
    ]


def short(kernel: str) -> str:
    return kernel.split("(")[0].strip()


def main(argv=None) -> int:
    args = parse(argv)
    os.environ.setdefault("NEURAXON_EMU_SM_COUNT", str(args.sms))  # before the stream exists
    import neuraxon as nx
    import neuraxon.models  # noqa: F401 (nx.models)
    from neuraxon import _ext, nn

    cu = _ext.cuda
    if cu is None or cu.device_count() == 0:
        print("no CUDA device (set NEURAXON_USE_CUDA_EMU=1 for the emulated one)", file=sys.stderr)
        return 1
    dry = bool(cu.emulated)
    nx.manual_seed(0)
    report = []
    for name, setup in cases(nx, nn):
        run = setup()
        nx.cuda.synchronize()
        cu.set_launch_log(True, dry)
        run()
        cu.set_launch_log(False)
        launches = cu.take_launch_log()
        sms = int(os.environ["NEURAXON_EMU_SM_COUNT"]) if dry else None
        rows = []
        for kernel, grid, threads in launches:
            blocks = grid[0] * grid[1] * grid[2]
            rows.append({"kernel": short(kernel), "grid": list(grid), "threads": threads, "blocks": blocks})
        report.append({"case": name, "launches": rows})
        print(f"\n### {name}: {len(rows)} launches")
        print("| kernel | grid | threads | blocks | blocks/SM | launches |")
        print("|---|---|---|---|---|---|")
        seen: dict = {}  # identical launches (a recurrence's steps) on one row, in first-seen order
        for r in rows:
            key = (r["kernel"], tuple(r["grid"]), r["threads"])
            seen[key] = seen.get(key, 0) + 1
        for (kernel, grid, threads), count in seen.items():
            blocks = grid[0] * grid[1] * grid[2]
            per_sm = blocks / (sms or args.sms)
            flag = " (idle SMs)" if per_sm < 1 else ""
            print(f"| {kernel} | {'x'.join(map(str, grid))} | {threads} | {blocks} | {per_sm:.2f}{flag} | {count} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"sms": args.sms, "emulated": dry, "cases": report}, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
