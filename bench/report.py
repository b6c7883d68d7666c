"""Turn bench/results/*.json into a markdown table; optionally rewrite README.md's bench section.

One row per (op, variant, shape, threads); one column pair per baseline (its median ms and
ratio = baseline / ours, > 1 means we are faster). The rate column is GFLOPS for
compute-bound ops and GB/s for memory-bound ones; % of peak compares it with the measured
ceiling (harness.py).

    python bench/report.py                      # print the table of the kernel ops' results
    python bench/report.py bench/results/gemm.json
    python bench/report.py --readme README.md   # replace the text between the markers
    python bench/report.py --tag xeon --readme README.md
        # the ISA suite (bench/run_isa_suite.sh): <op>_xeon_avx512.json beside <op>_xeon_avx2.json,
        # one column group per ISA
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"
OP_ORDER = ["gemm", "conv2d", "pool2d", "activation", "batchnorm", "lstm"]


def load(paths: list[str]) -> list[dict]:
    recs: list[dict] = []
    for p in paths:
        with open(p) as f:
            data = json.load(f)
        recs += data if isinstance(data, list) else data.get("results", [])
    # Only kernel measurements (harness.py's schema); other files in results/ (e.g. the
    # training benchmark's) keep their own formats.
    return [r for r in recs if "ms_median" in r or r.get("valid") is False and "error" in r]


def _ms(x) -> str:
    if x is None:
        return "-"
    return f"{x:.3g}" if x < 100 else f"{x:.0f}"


def table(recs: list[dict], only_best_variant: bool = False) -> str:
    """Markdown table, rows in the order the results were measured within each op."""
    baselines: list[str] = []
    for r in recs:
        b = r.get("baseline")
        if b and b not in baselines:
            baselines.append(b)
    rows: dict[tuple, dict] = {}
    for r in recs:
        key = (r["op"], r["variant"], r["shape"], r["threads"])
        row = rows.setdefault(key, {"r": r, "base": {}})
        if r.get("baseline"):
            row["base"][r["baseline"]] = (r["baseline_ms"], r["ratio"])
    if only_best_variant:  # per (op, shape, threads) keep the fastest valid variant
        best: dict[tuple, tuple] = {}
        for key, row in rows.items():
            r = row["r"]
            if not r.get("valid", True):
                continue
            k2 = (key[0], key[2], key[3])
            if k2 not in best or r["ms_median"] < rows[best[k2]]["r"]["ms_median"]:
                best[k2] = key
        rows = {k: rows[k] for k in rows if k in set(best.values())}
    order = {op: i for i, op in enumerate(OP_ORDER)}
    keys = sorted(rows, key=lambda k: (order.get(k[0], 99), list(rows).index(k)))
    head = ["op", "variant", "shape", "threads", "ours ms"]
    for b in baselines:
        head += [f"{b} ms", f"ratio vs {b}"]
    head += ["GFLOPS or GB/s", "% of peak"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for key in keys:
        row = rows[key]
        r = row["r"]
        shape = r["shape"] + (f" ({r['label']})" if r.get("label") else "")
        cells = [r["op"], r["variant"], shape, str(r["threads"])]
        if not r.get("valid", True):
            cells += ["INVALID"] + ["-"] * (2 * len(baselines) + 2)
            lines.append("| " + " | ".join(cells) + " |")
            continue
        cells.append(_ms(r["ms_median"]))
        for b in baselines:
            ms, ratio = row["base"].get(b, (None, None))
            cells += [_ms(ms), f"{ratio:.2f}x" if ratio is not None else "-"]
        if r.get("gflops") and r.get("bound", "flops") == "flops":
            rate = f"{r['gflops']:.1f} GFLOPS"
        elif r.get("gbps"):
            rate = f"{r['gbps']:.2f} GB/s"
        else:
            rate = "-"
        pct = f"{r['pct_peak']:.0f}%" if r.get("pct_peak") is not None else "-"
        cells += [rate, pct]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def summary(recs: list[dict]) -> str:
    shas = sorted({r.get("git_sha", "?") for r in recs if r.get("valid", True)})
    times = sorted(r["time_utc"] for r in recs if r.get("time_utc"))
    dev = next((r["device_name"] for r in recs if r.get("device_name")), "?")
    span = f"{times[0]} to {times[-1]}" if times else "?"
    pk = _peak_text([r for r in recs if r.get("valid", True)])
    bw = next((r["peak_gbps"] for r in recs if r.get("peak_gbps")), "?")
    loads = [r["loadavg_1min"] for r in recs if r.get("loadavg_1min") is not None]
    load = f" (1-min load average {min(loads):g} to {max(loads):g} on 2 cores)" if loads else ""
    return (f"Device: {dev}. Commit(s): {', '.join(shas)}. Measured {span}{load}. Medians of "
            "alternating samples (ours, baselines, ours, ...) in one process; ratio = "
            "baseline ms / ours ms (> 1: neuraxon is faster). % of peak: vs the FP32 FMA "
            f"{pk} or DRAM bandwidth ({bw}, 1/2 threads); see bench/harness.py.")


def train_table(recs: list[dict]) -> str:
    """Whole training steps and per-call overhead (bench_train.py's records): steps/s."""
    lines = ["| case | threads | ours steps/s | torch steps/s | ratio vs torch | ours GFLOPS | % of peak |",
             "|---|---|---|---|---|---|---|"]
    for r in sorted(recs, key=lambda r: (r["threads"], r["op"] != "train")):
        if not r.get("valid", True) or "steps_per_s" not in r:
            continue
        base = r.get("baseline_steps_per_s")
        big = r["op"] == "train" and r["shape"] != "tiny"
        def sps(v):
            return f"{v:,.0f}" if v >= 100 else f"{v:.1f}"

        lines.append(f"| {r['label']} | {r['threads']} | {sps(r['steps_per_s'])} | "
                     + (f"{sps(base)} | {r['ratio']:.2f}x" if base else "- | -")
                     + (f" | {r['gflops']:.1f} | {r['pct_peak']:.0f}% |" if big else " | - | - |"))
    times = sorted(r["time_utc"] for r in recs if r.get("time_utc"))
    loads = [r["loadavg_1min"] for r in recs if r.get("loadavg_1min") is not None]
    head = (f"Whole training steps (zero_grad, forward, loss, backward, optimizer step; batch 128) and "
            f"per-call overhead, `python bench/bench_train.py`, measured {times[0]} to {times[-1]}"
            + (f" (load {min(loads):g} to {max(loads):g})" if loads else "") + ":")
    return head + "\n\n" + "\n".join(lines)


ISAS = ("avx512", "avx2")
ISA_NAME = {"avx512": "AVX-512", "avx2": "AVX2"}


def _best(recs: list[dict]) -> dict[tuple, dict]:
    """(op, shape, threads) -> {"r": the fastest valid variant's record, "base": {baseline: ratio}}."""
    best: dict[tuple, dict] = {}
    for r in recs:
        if not r.get("valid", True) or "ms_median" not in r:
            continue
        key = (r["op"], r["shape"], r["threads"])
        cur = best.get(key)
        if cur is None or (r["variant"] != cur["r"]["variant"] and r["ms_median"] < cur["r"]["ms_median"]):
            best[key] = cur = {"r": r, "base": {}}
        if r["variant"] == cur["r"]["variant"] and r.get("baseline"):
            cur["base"][r["baseline"]] = r["ratio"]
    return best


# README's summary (--summary): these shapes of the full table (bench/RESULTS.md).
SUMMARY = {
    "train": ("mlp", "lenet", "cnnbn"),
    "gemm": ("1024x1024@1024x1024", "128x784@784x512", "64x576@576x3136", "50x500@500x4096"),
    "conv2d": ("N32 C64 56x56 K64 3x3 s1 p1 fwd", "N32 C64 56x56 K64 3x3 s1 p1 bwd_weight"),
    "lstm": ("T100 B32 I512 H512 fwd+bwd",),
    "pool2d": ("N64 C64 56x56 2x2/2 max fwd",),
    "batchnorm": ("N64 C64 HW3136 train fwd",),
    "activation": ("tanh n=16777216 fwd",),
}


def isa_table(by_isa: dict[str, list[dict]], summary: bool = False) -> str:
    """One row per (op, shape, threads), one column group per ISA path: our median ms, the
    ratios against NumPy/OpenBLAS and torch run at the same ISA, and % of that ISA's peak.
    summary: only the SUMMARY shapes."""
    if summary:
        by_isa = {isa: [r for r in rs if r["shape"] in SUMMARY.get(r["op"], ())] for isa, rs in by_isa.items()}
    best = {isa: _best(recs) for isa, recs in by_isa.items()}
    keys: list[tuple] = []
    for isa in ISAS:
        for k in best.get(isa, {}):
            if k not in keys:
                keys.append(k)
    order = {op: i for i, op in enumerate(OP_ORDER + ["train"])}
    pos = {k: i for i, k in enumerate(keys)}
    keys.sort(key=lambda k: (order.get(k[0], 99), k[2], pos[k]))
    head = ["op", "shape", "threads"]
    for isa in ISAS:
        n = ISA_NAME[isa]
        head += [f"{n} ms", f"{n} vs numpy", f"{n} vs torch", f"{n} % of peak"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for key in keys:
        first = next(best[i][key]["r"] for i in ISAS if key in best.get(i, {}))
        cells = [key[0], key[1] + (f" ({first['label']})" if first.get("label") else ""), str(key[2])]
        for isa in ISAS:
            row = best.get(isa, {}).get(key)
            if row is None:
                cells += ["-"] * 4
                continue
            r = row["r"]
            ratio = [f"{row['base'][b]:.2f}x" if b in row["base"] else "-" for b in ("numpy", "torch")]
            pct = f"{r['pct_peak']:.0f}%" if r.get("pct_peak") is not None else "-"
            cells += [_ms(r["ms_median"]), *ratio, pct]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _peak_text(rs: list[dict]) -> str:
    """'peak X GFLOPS per core' from the CEILINGS table, and the range measured around the
    runs when the records carry it (pct_peak then divides by that; see bench/harness.py)."""
    pk = next((r["peak_gflops_per_core"] for r in rs if r.get("peak_gflops_per_core")), None)
    now = [g for r in rs for g in r.get("peak_now_readings") or ()]
    if pk is None:
        return "peak ?"
    if not now:
        return f"peak {pk:g} GFLOPS per core"
    return (f"FMA peak measured around each run {min(now):.1f}-{max(now):.1f} GFLOPS per core "
            f"(% of peak divides by it; {pk:g} in the CEILINGS table)")


def isa_summary(by_isa: dict[str, list[dict]]) -> str:
    recs = [r for rs in by_isa.values() for r in rs if r.get("valid", True)]
    shas = sorted({r.get("git_sha", "?") for r in recs})
    times = sorted(r["time_utc"] for r in recs if r.get("time_utc"))
    loads = [r["loadavg_1min"] for r in recs if r.get("loadavg_1min") is not None]
    dev = next((r["device_name"] for r in recs if r.get("device_name")), "?")
    parts = []
    for isa in ISAS:
        rs = by_isa.get(isa, [])
        blas = sorted({r.get("blas_kernels") for r in rs if r.get("blas_kernels")})
        tisa = sorted({r.get("torch_isa") for r in rs if r.get("torch_isa")})
        torch_txt = f"torch with {' / '.join(tisa)}" if tisa else "torch (its engines' ISA not recorded)"
        parts.append(f"{ISA_NAME[isa]}: neuraxon's {isa} path, OpenBLAS {'/'.join(blas) or '?'} kernels, "
                     f"{torch_txt}, {_peak_text(rs)}" if rs else f"{ISA_NAME[isa]}: -")
    bw = next((r["peak_gbps"] for r in recs if r.get("peak_gbps")), "?")
    return (f"Device: {dev}. Commit(s): {', '.join(shas)}. Measured {times[0] if times else '?'} to "
            f"{times[-1] if times else '?'} (1-min load average {min(loads, default=0):g} to {max(loads, default=0):g} "
            f"on 2 cores). " + "; ".join(parts) + f"; DRAM {bw} (1/2 threads). Medians of alternating samples "
            "(ours, baselines, ours, ...) in one process; ratio = baseline ms / ours ms (> 1: neuraxon is "
            "faster), the fastest of our variants per shape. The train rows are whole training steps (zero_grad, "
            "forward, loss, backward, optimizer step; batch 128; torch only) and per-call overhead.")


def replace_section(text: str, body: str) -> str:
    """Replace what lies between the bench markers (markers kept)."""
    pat = re.compile(re.escape(BEGIN) + r".*?" + re.escape(END), re.S)
    if not pat.search(text):
        raise SystemExit(f"markers {BEGIN} ... {END} not found")
    return pat.sub(lambda _: f"{BEGIN}\n{body}\n{END}", text, count=1)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="report", description=__doc__.splitlines()[0])
    p.add_argument("files", nargs="*", help="results JSON files (default bench/results/<op>.json of the kernel ops)")
    p.add_argument("--readme", default=None, help="rewrite the marked section of this README")
    p.add_argument("--tag", default=None,
                   help="the ISA suite's files <op>_<tag>_<isa>.json: one column group per ISA")
    p.add_argument("--summary", action="store_true", help="with --tag: a few shapes per op (README's summary)")
    p.add_argument("--all-variants", action="store_true",
                   help="one row per variant (default: the fastest variant per shape)")
    args = p.parse_args(argv)
    if args.tag:
        by_isa = {
            isa: load([f for f in (os.path.join(HERE, "results", f"{op}_{args.tag}_{isa}.json")
                                   for op in OP_ORDER + ["train"]) if os.path.exists(f)])
            for isa in ISAS
        }
        if not any(by_isa.values()):
            print(f"no results files bench/results/*_{args.tag}_*.json; run bench/run_isa_suite.sh", file=sys.stderr)
            return 1
        return _emit(isa_summary(by_isa) + "\n\n" + isa_table(by_isa, args.summary), args.readme)
    # Default: the kernel benchmarks' files (other results, e.g. train.json, have their own
    # report); pass files explicitly to include anything else in harness.py's schema.
    files = args.files or [p for p in (os.path.join(HERE, "results", f"{op}.json") for op in OP_ORDER)
                           if os.path.exists(p)]
    if not files:
        print("no results files; run bench/bench_<op>.py first", file=sys.stderr)
        return 1
    recs = load(files)
    body = summary(recs) + "\n\n" + table(recs, only_best_variant=not args.all_variants)
    train = os.path.join(HERE, "results", "train.json")
    if not args.files and os.path.exists(train):
        body += "\n\n" + train_table(load([train]))
    return _emit(body, args.readme)


def _emit(body: str, readme: str | None) -> int:
    if readme:
        with open(readme) as f:
            text = f.read()
        with open(readme, "w") as f:
            f.write(replace_section(text, body))
        print(f"updated {readme}")
    else:
        print(body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
