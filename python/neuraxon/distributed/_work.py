"""Work: a collective in flight, shared by the backends (neuraxon.distributed.Work)."""

from __future__ import annotations

import sys
import time


class Work:
    """A collective in flight (async_op=True). wait() completes it: the result is in the
    tensor afterwards. is_completed() says whether it has finished, without waiting (each call
    also lets MPI progress it). wait(timeout) raises RuntimeError past `timeout` seconds; without
    one the process group's timeout applies, past which the job is aborted."""

    def __init__(self, backend, req, finish, what: str) -> None:
        self._backend, self._req, self._finish, self._what = backend, req, finish, what
        self._done = False

    def is_completed(self) -> bool:
        if not self._done and self._backend.test(self._req):
            self._complete()
        return self._done

    def wait(self, timeout=None) -> bool:
        if not self._done:
            if timeout is not None and hasattr(timeout, "total_seconds"):
                timeout = timeout.total_seconds()
            self._backend.wait(self._req, self._what, None if timeout is None else float(timeout))
            self._complete()
        return True

    def _complete(self) -> None:
        self._done = True
        finish, self._finish = self._finish, None
        if finish is not None:
            finish()

    def __repr__(self) -> str:
        return f"<Work {self._what}: {'done' if self._done else 'in flight'}>"


def wait_polling(backend, req, what: str, timeout: float | None, *, suffix: str = "", on_timeout=None,
                 raise_always: bool = False) -> None:
    """Poll backend.test(req) until it completes (50 tight tests, then sleeps growing from 20 us
    to 1 ms). Past `timeout` seconds (the process group's timeout when None): on_timeout(limit)
    if given, then RuntimeError when the timeout was explicit (or raise_always); otherwise the
    message (naming this rank) goes to stderr and the whole job is aborted (backend.abort)."""
    test = backend.test
    if test(req):
        return
    limit = backend.timeout if timeout is None else timeout
    deadline = time.monotonic() + limit
    spins = 0
    while not test(req):
        spins += 1
        if spins > 50:
            time.sleep(min(1e-3, 2e-5 * (spins - 50)))
            if time.monotonic() > deadline:
                msg = (
                    f"neuraxon.distributed: rank {backend.rank} of {backend.size}: {what} did not complete within "
                    f"{limit:g} s (another rank failed, or never reached it){suffix}"
                )
                if on_timeout is not None:
                    on_timeout(limit)
                if timeout is not None or raise_always:
                    raise RuntimeError(msg)
                sys.stderr.write(msg + "; aborting the job\n")
                sys.stderr.flush()
                backend.abort(1)
                raise RuntimeError(msg)  # (only if the abort returned)
