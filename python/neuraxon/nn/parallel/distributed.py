"""DistributedDataParallel: one model replica per process, gradients averaged in buckets while
backward is still running (torch.nn.parallel.DistributedDataParallel, over
neuraxon.distributed).

How a step goes (every rank runs the same code on its share of the batch):

1. Construction checks that every rank holds the same parameter shapes, broadcasts rank 0's
   parameters and buffers to the others, and packs the parameters that require grad into
   buckets of about `bucket_cap_mb` (25 MB; the first one 1 MB so that the first all-reduce
   starts early), in reverse order of `module.parameters()`, since backward produces the
   last layer's gradients first.
2. forward() broadcasts rank 0's buffers (BatchNorm running statistics) first when
   `broadcast_buffers` (torch's default: the statistics are per rank, rank 0's win), then
   runs the module.
3. During backward, a post-accumulate-grad hook on each parameter marks it ready once its
   gradient of this pass is complete; when every parameter of a bucket is ready, the bucket's
   gradients are copied into one flat buffer and a non-blocking all-reduce (average) of it
   starts (MPI_Iallreduce on the bucket's own memory; with backend "nccl", ncclAllReduce
   enqueued on neuraxon's CUDA stream), while backward goes on with the earlier layers.
   Buckets start strictly in order 0, 1, 2, ... on every rank (MPI and NCCL need the same
   collectives in the same order everywhere), so a bucket that is ready early waits for
   the ones before it. Each hook also tests the buckets in flight (MPI progresses a
   non-blocking collective only inside MPI calls).
4. The first hook of a backward queues a callback (autograd.queue_callback) that runs when
   backward ends: it starts any bucket not started yet, waits for all of them and writes the
   averaged gradients into each parameter's .grad. So when `loss.backward()` returns, every
   rank holds the same averaged gradients and `optimizer.step()` needs nothing special.

A parameter that got no gradient in this backward on some rank (a branch not taken) counts
as zero there: each bucket carries one extra element per parameter saying whether the rank
had a gradient for it; a parameter no rank had a gradient for keeps .grad None, as in a
single process, so torch's find_unused_parameters is not needed (it is accepted and ignored).

no_sync(): forwards run inside it skip step 3 and 4 for their backward: gradients just
accumulate locally; the first backward after leaving it averages the accumulated gradients.
Only the backward of a forward run through the wrapper (with grad enabled) communicates: a
backward through `ddp.module(...)` directly stays local, as does a second backward of the
same forward.

One backward per forward (outside no_sync) and the same sequence of forward/backward calls
on every rank, as torch requires. Only parameters that require grad at construction are
averaged. state_dict() keys carry the "module." prefix, as torch; save
`ddp.module.state_dict()` to load the weights into a plain model.
"""

from __future__ import annotations

import contextlib
import weakref
import zlib

import numpy as np

from ... import _array, autograd
from ... import distributed as dist
from ..._tensor_base import TensorBase
from ...device import cpu as _cpu
from ...dtypes import float32, int64
from ..module import Module


class _Bucket:
    """Parameters whose gradients travel in one all-reduce: each at [offset, offset + n) of the
    flat buffer, then one "had a gradient" flag per parameter."""

    def __init__(self, params: list, device) -> None:
        self.params = params
        self.offsets = []
        n = 0
        for p in params:
            self.offsets.append(n)
            n += p.numel()
        self.numel = n
        self.device = device
        self.buf = _array.empty((n + len(params),), float32, device)
        self.pending = len(params)
        self.ready = [False] * len(params)
        self.work = None

    def reset(self) -> None:
        self.pending = len(self.params)
        self.ready = [False] * len(self.params)
        self.work = None


class DistributedDataParallel(Module):
    """DistributedDataParallel(module, device_ids=None, output_device=None, dim=0,
    broadcast_buffers=True, process_group=None, bucket_cap_mb=25, find_unused_parameters=False,
    ...): see the module doc. The process group must exist (init_process_group) and `module`
    must already be on its device."""

    def __init__(
        self,
        module: Module,
        device_ids=None,
        output_device=None,
        dim: int = 0,
        broadcast_buffers: bool = True,
        process_group=None,
        bucket_cap_mb: float | None = None,
        find_unused_parameters: bool = False,
        check_reduction: bool = False,
        gradient_as_bucket_view: bool = False,
        static_graph: bool = False,
    ) -> None:
        super().__init__()
        if not dist.is_initialized():
            raise RuntimeError(
                "DistributedDataParallel needs the default process group: call "
                "neuraxon.distributed.init_process_group first"
            )
        if process_group is not None and process_group is not dist.WORLD:
            raise ValueError("DistributedDataParallel: neuraxon.distributed has only the default group")
        if dim != 0:
            raise ValueError("DistributedDataParallel: only dim=0 is supported")
        self.module = module
        self.broadcast_buffers = bool(broadcast_buffers)
        self.require_backward_grad_sync = True
        self.require_forward_param_sync = True
        self.world_size = dist.get_world_size()
        self.bucket_bytes_cap = int((25.0 if bucket_cap_mb is None else float(bucket_cap_mb)) * 1024 * 1024)
        self._params = [p for p in module.parameters() if p.requires_grad]
        self._check_same_model()
        self._broadcast([*module.parameters(), *module.buffers()])
        self._buckets = self._make_buckets()
        self._next = 0  # the next bucket to start, in order
        self._in_backward = False
        self._sync_this_backward = False  # set by a training forward, cleared when its backward is done
        self._early = 0  # buckets started by hooks (before backward ended) in this backward
        # the last synchronised backward: buckets, and how many started while backward ran
        self.last_sync_stats = {"buckets": len(self._buckets), "started_during_backward": 0}
        self._handles = []
        me = weakref.ref(self)  # the hooks must not keep the wrapper alive (__del__ removes them)
        for b in self._buckets:
            for i, p in enumerate(b.params):
                self._handles.append(p.register_post_accumulate_grad_hook(_hook(me, b, i)))

    # -- construction ----------------------------------------------------------------------------
    def _check_same_model(self) -> None:
        """Every rank must have the same parameters (count, shapes, requires_grad), else the
        buckets would not match: compare a checksum over all ranks. It travels on the
        parameters' device (the "nccl" backend takes CUDA tensors only, as torch's DDP does)."""
        desc = repr([(tuple(p.shape), p.requires_grad) for p in self.module.parameters()])
        desc += repr([(tuple(b.shape), b.dtype.name) for b in self.module.buffers()])
        dev = next((p.device for p in self.module.parameters()), _cpu)
        check = np.array([len(self._params), zlib.crc32(desc.encode())], np.int64)
        mine = TensorBase._wrap(dev.from_numpy(check), (2,), int64, dev)
        got = [_array.empty((2,), int64, dev) for _ in range(self.world_size)]
        dist.all_gather(got, mine)
        bad = [r for r, g in enumerate(got) if g.tolist() != check.tolist()]
        if bad:
            raise RuntimeError(
                f"DistributedDataParallel: rank {dist.get_rank()}'s model differs from rank(s) {bad} "
                "(parameter or buffer shapes, or requires_grad); every rank must build the same model"
            )

    @staticmethod
    def _broadcast(tensors) -> None:
        """Rank 0's values into every rank's tensors (in place: all started, then all waited)."""
        works = [dist.broadcast(t, 0, async_op=True) for t in tensors if t is not None]
        for w in works:
            w.wait()

    def _make_buckets(self) -> list:
        buckets, cur, cur_bytes, cap = [], [], 0, min(self.bucket_bytes_cap, 1024 * 1024)
        for p in reversed(self._params):
            if cur and (cur_bytes + 4 * p.numel() > cap or p.device != cur[0].device):
                buckets.append(_Bucket(cur, cur[0].device))
                cur, cur_bytes, cap = [], 0, self.bucket_bytes_cap
            cur.append(p)
            cur_bytes += 4 * p.numel()
        if cur:
            buckets.append(_Bucket(cur, cur[0].device))
        return buckets

    # -- forward --------------------------------------------------------------------------------
    def forward(self, *inputs, **kwargs):
        grad_on = autograd.is_grad_enabled()
        if self.require_forward_param_sync and self.broadcast_buffers and grad_on:
            self._broadcast(list(self.module.buffers()))
        if grad_on:
            self._sync_this_backward = self.require_backward_grad_sync
        out = self.module(*inputs, **kwargs)
        self.require_forward_param_sync = grad_on and self.require_backward_grad_sync
        return out

    @contextlib.contextmanager
    def no_sync(self):
        """Backwards of the forwards run inside do not average gradients: they accumulate
        locally, and the first synchronised backward after it averages the sum."""
        old = self.require_backward_grad_sync
        self.require_backward_grad_sync = False
        try:
            yield
        finally:
            self.require_backward_grad_sync = old

    # -- backward: hooks, buckets, the final callback -----------------------------------------------
    def _ready(self, bucket: _Bucket, i: int) -> None:
        """Parameter i of `bucket` has its gradient of this backward."""
        if not self._sync_this_backward:
            return
        if not self._in_backward:
            self._in_backward = True
            autograd.queue_callback(self._finalize)
        if bucket.ready[i]:
            return
        bucket.ready[i] = True
        bucket.pending -= 1
        if bucket.pending == 0:
            self._start_ready()
        for b in self._buckets[: self._next]:  # let MPI move the buckets in flight along
            if b.work is not None:
                b.work.is_completed()

    def _start_ready(self) -> None:
        bs = self._buckets
        while self._next < len(bs) and bs[self._next].pending == 0:
            self._start(bs[self._next])
            self._next += 1
            self._early += 1

    def _start(self, b: _Bucket) -> None:
        """Pack the bucket's gradients (zeros for a parameter without one) and its flags, and
        start the average."""
        flags = np.zeros(len(b.params), np.float32)
        for k, (p, off) in enumerate(zip(b.params, b.offsets)):
            g = p.grad
            n = p.numel()
            if g is not None:
                flags[k] = 1.0
            else:
                g = _array.zeros((n,), float32, b.device)
            _array.copy_into(b.buf, g, [n], [1], off, [1], 0)
        if b.device.type == "cpu":
            b.buf._data[b.numel :] = flags
        else:
            ft = TensorBase._wrap(b.device.from_numpy(flags), (len(flags),), float32, b.device)
            _array.copy_into(b.buf, ft, [len(flags)], [1], b.numel, [1], 0)
        b.work = dist.all_reduce(b.buf, op=dist.ReduceOp.AVG, async_op=True)

    def _finalize(self) -> None:
        """End of backward: start what is left, wait for every bucket, write the averages."""
        self._in_backward = False
        self._sync_this_backward = False
        try:
            while self._next < len(self._buckets):
                self._start(self._buckets[self._next])
                self._next += 1
            for b in self._buckets:
                b.work.wait()
                self._unpack(b)
        finally:
            self.last_sync_stats = {"buckets": len(self._buckets), "started_during_backward": self._early}
            self._next = self._early = 0
            for b in self._buckets:
                b.reset()

    @staticmethod
    def _unpack(b: _Bucket) -> None:
        if b.device.type == "cpu":
            flags = b.buf._data[b.numel :]
        else:
            flags = _array.strided_copy(b.buf, (len(b.params),), [1], b.numel)
            flags = flags.device.to_numpy(flags._data, flags.shape, flags.dtype)
        for p, off, f in zip(b.params, b.offsets, flags):
            if f == 0:  # no rank had a gradient for it: leave .grad as it is (None)
                continue
            n = p.numel()
            if p.grad is None:
                p.grad = _array.empty(p.shape, float32, b.device)
            else:
                p.grad._bump_version()
            _array.copy_into(p.grad, b.buf, [n], [1], 0, [1], off)

    def __del__(self) -> None:
        for h in getattr(self, "_handles", ()):
            h.remove()

    def extra_repr(self) -> str:
        return f"world_size={self.world_size}, buckets={len(getattr(self, '_buckets', ()))}"


def _hook(ddp_ref, bucket: _Bucket, i: int):
    def hook(p) -> None:
        ddp = ddp_ref()
        if ddp is not None:
            ddp._ready(bucket, i)

    return hook
