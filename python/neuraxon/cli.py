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
    from .train import add_arguments as _train_arguments

    _train_arguments(sub.add_parser("train", help="train an MLP or LeNet-5 on MNIST-like data"))
    args, rest = parser.parse_known_args(argv)
    if args.command == "info":
        from .info import info_lines

        print("\n".join(info_lines()))
        return 0
    if args.command == "bench":
        from .bench import main as bench_main

        return bench_main(rest)
    if args.command == "train":
        if rest:
            parser.error(f"unrecognized arguments: {' '.join(rest)}")
        from .train import main_from_args

        return main_from_args(args)
    return 2


if __name__ == "__main__":
    sys.exit(main())
