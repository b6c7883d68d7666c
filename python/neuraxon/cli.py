"""Command line: `neuraxon info | train | bench | run` (also `python -m neuraxon ...`)."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    from . import __version__

    parser = argparse.ArgumentParser(
        prog="neuraxon", description="neuraxon: build info, training, kernel benchmarks, multi-process runs"
    )
    parser.add_argument("--version", action="version", version=f"neuraxon {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("info", help="print the build and the devices")
    sub.add_parser("bench", help="kernel benchmarks: neuraxon bench [op|report] [--threads 1,2] [--quick]",
                   add_help=False)
    from .train import add_arguments as _train_arguments

    _train_arguments(
        sub.add_parser(
            "train",
            help="train a model of neuraxon.models (MLP, LeNet-5, VGG, ResNet, ...) on MNIST-like data",
            formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        )
    )
    run = sub.add_parser(
        "run",
        help="start N processes of a script under MPI: neuraxon run -n 2 script.py [args]",
        description="Start N ranks of `python script.py args` (or `python -m module args`) with the "
        "installed mpiexec; see neuraxon.distributed.launch.",
    )
    run.add_argument("-n", "--nproc", type=int, required=True, help="number of processes (ranks)")
    run.add_argument("--hostfile", default=None, help="MPI hostfile: the machines and their slots")
    run.add_argument("--mpiexec", default=None, help="the mpiexec to run (default: NEURAXON_MPIEXEC, the "
                     "one installed next to this Python, then PATH)")
    run.add_argument("--mpi-args", default="", help="more mpiexec arguments, as one string")
    run.add_argument("--dry-run", action="store_true", help="print the mpiexec command instead of running it")
    run.add_argument("-m", dest="module", default=None, help="run a module, as python -m")
    run.add_argument("program", nargs=argparse.REMAINDER, help="script.py and its arguments")
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

        return main_from_args(args, argv=list(sys.argv[1:] if argv is None else argv))
    if args.command == "run":
        if rest:
            parser.error(f"unrecognized arguments: {' '.join(rest)}")
        from .distributed.launch import run as launch

        program = (["-m", args.module] if args.module else []) + list(args.program)
        if not args.module and not args.program:
            parser.error("run: give a script (neuraxon run -n 2 script.py [args]) or -m module")
        return launch(args.nproc, program, args.hostfile, args.mpiexec, args.mpi_args, args.dry_run)
    return 2


if __name__ == "__main__":
    sys.exit(main())
