"""`neuraxon bench [op|report] [options]`: run the kernel benchmarks of bench/ (source checkout).

    neuraxon bench gemm --threads 1,2       one op (gemm, conv2d, pool2d, activation,
                                            batchnorm, lstm); options as bench/bench_<op>.py
    neuraxon bench --quick                  every op, small cases, short timing
    neuraxon bench report [--readme README.md]   the markdown table of bench/results/*.json

The benchmarks live in the repository's bench/ folder (they are not installed with the
wheel); set NEURAXON_BENCH_DIR to point at it from elsewhere.
"""

from __future__ import annotations

import importlib.util
import os
import sys

OPS = ["gemm", "conv2d", "pool2d", "activation", "batchnorm", "lstm"]


def bench_dir() -> str | None:
    """bench/ from NEURAXON_BENCH_DIR, next to this package's source tree, or the cwd."""
    here = os.path.dirname(os.path.abspath(__file__))
    for d in (os.environ.get("NEURAXON_BENCH_DIR"), os.path.join(here, "..", "..", "bench"),
              os.path.join(os.getcwd(), "bench")):
        if d and os.path.isfile(os.path.join(d, "harness.py")):
            return os.path.abspath(d)
    return None


def _load(d: str, name: str):
    if d not in sys.path:
        sys.path.insert(0, d)
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, os.path.join(d, f"{name}.py"))
    mod = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    sys.modules[name] = mod
    spec.loader.exec_module(mod)  # type: ignore[union-attr]
    return mod


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0
    d = bench_dir()
    if d is None:
        print("neuraxon bench: bench/ not found (run from a source checkout, or set "
              "NEURAXON_BENCH_DIR)", file=sys.stderr)
        return 2
    op = argv.pop(0) if argv and not argv[0].startswith("-") else None
    if op == "report":
        return _load(d, "report").main(argv)
    if op is not None and op not in OPS:
        print(f"neuraxon bench: unknown op '{op}' (one of {', '.join(OPS)}, report)", file=sys.stderr)
        return 2
    # The harness bounds the thread pools' spin-waiting through the environment (see
    # SPIN_ENV in bench/harness.py), which libgomp and OpenBLAS read when they load. By now
    # `import neuraxon` has loaded our libgomp, so run again in a fresh interpreter once.
    spin = {"GOMP_SPINCOUNT": "20000", "OPENBLAS_THREAD_TIMEOUT": "21"}
    if any(k not in os.environ for k in spin) and not os.environ.get("NEURAXON_BENCH_REEXEC"):
        env = dict(os.environ, NEURAXON_BENCH_REEXEC="1")
        for k, v in spin.items():
            env.setdefault(k, v)
        args = [sys.executable, "-m", "neuraxon", "bench", *([op] if op else []), *argv]
        sys.stdout.flush()
        os.execve(sys.executable, args, env)
    _load(d, "harness")
    for name in [op] if op else OPS:
        _load(d, f"bench_{name}").main(argv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
