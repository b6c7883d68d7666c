"""What `neuraxon run` starts on every rank: `python -m neuraxon.distributed._child script.py
args...` (or `-m module args...`) runs the program as `python script.py args...` would, and
turns a rank's failure into the end of the whole job: an uncaught exception (KeyboardInterrupt
included) or a non-zero sys.exit() prints the rank and aborts the MPI job (MPI_Abort). Without
it, a rank leaving early makes MPI_Finalize wait for the others, which wait for it in a
collective until the process group's timeout.
"""

from __future__ import annotations

import os
import runpy
import sys
import traceback


def main(argv: list[str]) -> None:
    if not argv or argv == ["-m"]:
        sys.exit("usage: python -m neuraxon.distributed._child (script.py | -m module) [args...]")
    from . import _abort_job

    try:
        if argv[0] == "-m":
            sys.argv = argv[1:]
            runpy.run_module(argv[1], run_name="__main__", alter_sys=True)
        else:
            sys.argv = list(argv)
            sys.path[0] = os.path.dirname(os.path.abspath(argv[0]))
            runpy.run_path(argv[0], run_name="__main__")
    except SystemExit as e:
        if e.code not in (None, 0):
            _abort_job(f"exited with status {e.code!r}", code=e.code if isinstance(e.code, int) else 1)
        raise
    except BaseException as e:
        tb = e.__traceback__
        while tb is not None and _ours(tb.tb_frame.f_code.co_filename):  # the user's frames only
            tb = tb.tb_next
        _abort_job(f"raised an uncaught {type(e).__name__}", "".join(traceback.format_exception(type(e), e, tb)))
        raise


def _ours(filename: str) -> bool:
    return filename == __file__ or "runpy" in filename


if __name__ == "__main__":
    main(sys.argv[1:])
