"""Command line: `neuraxon info | train | bench` (also `python -m neuraxon ...`)."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="neuraxon")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("info", help="print the build and the devices")
    sub.add_parser("bench", help="kernel benchmarks: neuraxon bench [op|report] [--threads 1,2] [--quick]",
                   add_help=False)
    args, rest = parser.parse_known_args(argv)
    if args.command == "info":
        from .info import info_lines

        print("\n".join(info_lines()))
        return 0
    if args.command == "bench":
        from .bench import main as bench_main

        return bench_main(rest)
    return 2


if __name__ == "__main__":
    sys.exit(main())
