"""Work: a collective in flight, shared by the backends (neuraxon.distributed.Work)."""

from __future__ import annotations


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
