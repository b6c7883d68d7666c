"""DataLoader: batches of a Dataset as neuraxon tensors, optionally shuffled and prefetched."""

from __future__ import annotations

import numbers
import queue
import threading
from typing import Any, Callable, Iterable, Iterator, Sequence

import numpy as np

from ..tensor_functions import stack
from ._convert import _as_tensor, _is_tensor, _rng
from .dataset import Dataset


def default_convert(batch: Any) -> Any:
    """Already-stacked arrays (from Dataset.get_batch) to tensors, keeping the structure."""
    if isinstance(batch, np.ndarray):
        return _as_tensor(batch)
    if isinstance(batch, tuple):
        return tuple(default_convert(b) for b in batch)
    if isinstance(batch, list):
        return [default_convert(b) for b in batch]
    if isinstance(batch, dict):
        return {k: default_convert(v) for k, v in batch.items()}
    return batch


def default_collate(batch: Sequence[Any]) -> Any:
    """Stack a list of samples into a batch, as torch's default_collate.

    tensors and arrays are stacked along a new first axis; Python ints become an int64
    tensor, floats a float32 tensor (torch: float64; float32 is neuraxon's working dtype),
    bools a bool tensor; strings stay a list; tuples, lists and dicts are collated field by
    field.
    """
    if len(batch) == 0:
        raise ValueError("default_collate: empty batch")
    elem = batch[0]
    if _is_tensor(elem):
        return stack(list(batch), 0)
    if isinstance(elem, (np.ndarray, np.generic)) and not isinstance(elem, (np.str_, np.bytes_)):
        return _as_tensor(np.stack([np.asarray(b) for b in batch]))
    if isinstance(elem, bool):
        return _as_tensor(np.array(batch, dtype=np.bool_))
    if isinstance(elem, numbers.Integral):
        return _as_tensor(np.array(batch, dtype=np.int64))
    if isinstance(elem, numbers.Real):
        return _as_tensor(np.array(batch, dtype=np.float32))
    if isinstance(elem, (str, bytes)):
        return list(batch)
    if isinstance(elem, dict):
        return {k: default_collate([b[k] for b in batch]) for k in elem}
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):  # namedtuple
        return type(elem)(*(default_collate(list(s)) for s in zip(*batch)))
    if isinstance(elem, (tuple, list)):
        n = len(elem)
        if any(len(b) != n for b in batch):
            raise RuntimeError("each element in list of batch should be of equal size")
        out = [default_collate(list(s)) for s in zip(*batch)]
        return tuple(out) if isinstance(elem, tuple) else out
    raise TypeError(f"default_collate: batch must contain tensors, arrays, numbers, dicts or lists; found {type(elem)}")


def _batch_fn(ds) -> Callable | None:
    fn = getattr(ds, "get_batch", None)
    return fn if callable(fn) else None


class DataLoader:
    """Iterates a Dataset in batches.

    DataLoader(dataset, batch_size=1, shuffle=False, sampler=None, num_workers=0,
    collate_fn=None, drop_last=False, generator=None, seed=None, prefetch_factor=2).
    Shuffling draws a fresh permutation every epoch from a NumPy generator seeded by
    ``seed`` (or ``generator``: a numpy Generator or an int), so runs are repeatable.
    ``num_workers > 0`` prepares batches in one background thread (not processes),
    ``prefetch_factor * num_workers`` batches ahead. With the default collation and a
    dataset that has ``get_batch`` (TensorDataset, MNIST, ...), a batch is one fancy
    index per field instead of one ``__getitem__`` per sample.
    """

    def __init__(
        self,
        dataset: Dataset,
        batch_size: int | None = 1,
        shuffle: bool = False,
        sampler: Iterable[int] | None = None,
        num_workers: int = 0,
        collate_fn: Callable | None = None,
        drop_last: bool = False,
        generator=None,
        seed: int | None = None,
        prefetch_factor: int = 2,
        pin_memory: bool = False,
        batch_sampler: Iterable[Sequence[int]] | None = None,
        timeout: float = 0,
        worker_init_fn: Callable | None = None,
        persistent_workers: bool = False,
    ) -> None:
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError(
                    "batch_sampler option is mutually exclusive with batch_size, shuffle, sampler, and drop_last"
                )
            batch_size = None
        self.batch_sampler = batch_sampler
        if batch_size is not None and (not isinstance(batch_size, int) or batch_size <= 0):
            raise ValueError(f"batch_size should be a positive integer value, but got batch_size={batch_size}")
        if sampler is not None and shuffle:
            raise ValueError("sampler option is mutually exclusive with shuffle")
        if num_workers < 0:
            raise ValueError("num_workers option should be non-negative")
        self.dataset = dataset
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.sampler = sampler
        self.num_workers = num_workers
        self.collate_fn = collate_fn
        self.drop_last = drop_last
        self.prefetch_factor = prefetch_factor
        self._rng = _rng(generator, seed)

    def _indices(self) -> np.ndarray:
        if self.sampler is not None:
            return np.fromiter((int(i) for i in self.sampler), dtype=np.int64)
        n = len(self.dataset)
        return self._rng.permutation(n) if self.shuffle else np.arange(n, dtype=np.int64)

    def __len__(self) -> int:
        if self.batch_sampler is not None:
            return len(self.batch_sampler)  # type: ignore[arg-type]
        n = len(self.sampler) if self.sampler is not None else len(self.dataset)  # type: ignore[arg-type]
        if self.batch_size is None:
            return n
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def _batches(self) -> Iterator[Any]:
        if self.batch_sampler is not None:
            fast = _batch_fn(self.dataset) if self.collate_fn is None else None
            for chunk in self.batch_sampler:
                chunk = np.asarray(list(chunk), dtype=np.int64)
                out = fast(chunk) if fast is not None else NotImplemented
                if out is not NotImplemented:
                    yield default_convert(out)
                else:
                    yield (self.collate_fn or default_collate)([self.dataset[int(i)] for i in chunk])
            return
        idx = self._indices()
        if self.batch_size is None:  # no batching: samples one by one, converted
            for i in idx:
                yield (self.collate_fn or default_convert)(self.dataset[int(i)])
            return
        bs = self.batch_size
        stop = (len(idx) // bs) * bs if self.drop_last else len(idx)
        fast = _batch_fn(self.dataset) if self.collate_fn is None else None
        for start in range(0, stop, bs):
            chunk = idx[start : start + bs]
            if fast is not None:
                out = fast(chunk)
                if out is not NotImplemented:
                    yield default_convert(out)
                    continue
                fast = None
            samples = [self.dataset[int(i)] for i in chunk]
            yield (self.collate_fn or default_collate)(samples)

    def __iter__(self) -> Iterator[Any]:
        if self.num_workers <= 0:
            return self._batches()
        return _Prefetcher(self._batches(), max(1, self.prefetch_factor * self.num_workers))


class _Prefetcher:
    """Runs a batch generator in a daemon thread, a bounded queue ahead of the consumer.

    The thread holds only the queue and the stop event (not this object), so a consumer that
    stops early (``break``) drops the last reference, ``__del__`` sets the event and the
    thread ends instead of waiting forever on a full queue."""

    _DONE = object()

    def __init__(self, gen: Iterator[Any], depth: int) -> None:
        self._q: queue.Queue = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=_prefetch_run, args=(gen, self._q, self._stop), daemon=True)
        self._thread.start()

    def __iter__(self) -> "_Prefetcher":
        return self

    def __next__(self) -> Any:
        ok, item = self._q.get()
        if not ok:
            raise item
        if item is _Prefetcher._DONE:
            raise StopIteration
        return item

    def __del__(self) -> None:
        self._stop.set()


def _prefetch_run(gen: Iterator[Any], q: queue.Queue, stop: threading.Event) -> None:
    def put(msg) -> bool:
        while not stop.is_set():
            try:
                q.put(msg, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    try:
        for item in gen:
            if not put((True, item)):
                return
        put((True, _Prefetcher._DONE))
    except BaseException as e:  # re-raised in the consumer
        put((False, e))
