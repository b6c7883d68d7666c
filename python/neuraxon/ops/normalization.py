"""Batch normalization (training statistics and running averages, or eval)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .. import _array
from .. import _codes as C
from .._array import prod
from ..autograd import Function
from ..dtypes import float32
from ..ops._args import _need_float, _opt

if TYPE_CHECKING:
    from ..tensor import Tensor


class _BatchNorm(Function):
    @staticmethod
    def forward(ctx, x, weight, bias, running_mean, running_var, training, momentum, eps):
        N, Cc = x.shape[0], x.shape[1]
        HW = prod(x.shape[2:])
        out = _array.empty(x.shape, float32, x.device)
        mean = _array.empty((Cc,), float32, x.device)
        invstd = _array.empty((Cc,), float32, x.device)
        _array.run(
            "batchnorm_forward",
            x.device,
            out._data,
            mean._data,
            invstd._data,
            _opt(running_mean),
            _opt(running_var),
            x._data,
            _opt(weight),
            _opt(bias),
            N,
            Cc,
            HW,
            bool(training),
            float(momentum),
            float(eps),
        )
        ctx.save_for_backward(x, weight, mean, invstd)
        ctx.p = (N, Cc, HW, bool(training))
        return out

    @staticmethod
    def backward(ctx, g):
        x, weight, mean, invstd = ctx.saved_tensors
        N, Cc, HW, training = ctx.p
        nx_, nw, nb = ctx.needs_input_grad[:3]
        dx = _array.empty(x.shape, float32, x.device) if nx_ else None
        dw = _array.empty((Cc,), float32, x.device) if nw else None
        db = _array.empty((Cc,), float32, x.device) if nb else None
        _array.run(
            "batchnorm_backward",
            x.device,
            _opt(dx),
            _opt(dw),
            _opt(db),
            g._data,
            x._data,
            _opt(weight),
            mean._data,
            invstd._data,
            N,
            Cc,
            HW,
            training,
        )
        return dx, dw, db, None, None, None, None, None


def _check_per_channel(op: str, mismatch, input, running_mean, running_var, weight, bias) -> int:
    """The checks batch_norm and sync_batch_norm share (devices, dtypes, an (N, C, ...) input,
    per-channel tensors of C values, a wrong count raising `mismatch`); returns C."""
    _array.check_same_device(input, running_mean, running_var, weight, bias)
    _need_float(op, input, running_mean, running_var, weight, bias)
    if input.ndim < 2:
        raise ValueError(f"{op}: expected input of at least 2 dims (N, C, ...), got shape {input.shape}")
    Cc = input.shape[1]
    for name, t in (("running_mean", running_mean), ("running_var", running_var), ("weight", weight), ("bias", bias)):
        if t is not None and t.numel() != Cc:
            raise mismatch(f"{op}: {name} of shape {t.shape} does not match {Cc} channels (input shape {input.shape})")
    return Cc


def batch_norm(
    input: Tensor,
    running_mean: Tensor | None,
    running_var: Tensor | None,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    training: bool = False,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> Tensor:
    """Batch normalization over (N, C) or (N, C, *). In training the kernel updates
    running_mean/running_var in place (unbiased variance, as PyTorch)."""
    Cc = _check_per_channel("batch_norm", RuntimeError, input, running_mean, running_var, weight, bias)
    if not training and (running_mean is None or running_var is None):
        raise RuntimeError("batch_norm: running_mean and running_var must be given when training=False")
    if training and input.numel() // max(Cc, 1) <= 1:
        raise ValueError(f"Expected more than 1 value per channel when training, got input size {input.shape}")
    rm = running_mean.detach() if running_mean is not None else None
    rv = running_var.detach() if running_var is not None else None
    return _BatchNorm.apply(input, weight, bias, rm, rv, bool(training), float(momentum or 0.0), float(eps))


# ---- synchronized batch normalization (statistics over every rank's batch) --------------------------


def _local_stats(x, out, N: int, Cc: int, HW: int, eps: float):
    """This rank's per-channel mean and M2 = sum (x - mean)^2, each (C,). Two or more values
    per channel: the batchnorm kernel in training mode with momentum 1 writes the batch's own
    mean and unbiased variance into zeroed "running" stats (double, shifted sums), and
    M2 = unbiased variance * (M - 1); `out` is its scratch. One value: mean = x, M2 = 0. None:
    zeros (an empty rank adds nothing)."""
    M = N * HW
    mean = _array.zeros((Cc,), float32, x.device)
    if M >= 2:
        var = _array.zeros((Cc,), float32, x.device)
        _array.run(
            "batchnorm_forward", x.device, out._data, None, None, mean._data, var._data, x._data, None, None,
            N, Cc, HW, True, 1.0, float(eps),
        )  # fmt: skip
        return mean, _array.unary_raw(var, C.UN_AFFINE, float(M - 1), 0.0, out=var)
    if M == 1:  # x is (1, C, 1...): its C values are the means
        mean = _array.strided_copy(x, (Cc,), (1,))
    return mean, _array.zeros((Cc,), float32, x.device)


def _global_stats(x, out, N: int, Cc: int, HW: int, eps: float):
    """(total count, mean, biased variance, M2) per channel over every rank's batch. Each
    rank writes (count, mean, M2) into its own row of a zeroed (world, 1 + 2C) table and one
    SUM all-reduce of the table gathers every row exactly (the other ranks add zeros); the rows
    are then combined as Chan et al.'s parallel variance: mean = sum n_r mean_r / n,
    M2 = sum M2_r + sum n_r (mean_r - mean)^2 (no sum-of-squares cancellation). The counts are
    read on the host (the total decides the errors and the running-variance factor; on CUDA a
    copy of W numbers, after the all-reduce that MPI already staged through the host)."""
    from .. import distributed as dist

    W, r = dist.get_world_size(), dist.get_rank()
    P = 1 + 2 * Cc
    dev = x.device
    mean_r, m2_r = _local_stats(x, out, N, Cc, HW, eps)
    table = _array.zeros((W, P), float32, dev)
    _array.copy_into(table, _array.full((1,), float(N * HW), float32, dev), (1,), (1,), r * P, (1,))
    _array.copy_into(table, mean_r, (Cc,), (1,), r * P + 1, (1,))
    _array.copy_into(table, m2_r, (Cc,), (1,), r * P + 1 + Cc, (1,))
    dist.all_reduce(table, op=dist.ReduceOp.SUM)
    counts = _array.strided_copy(table, (W,), (P,)).tolist()
    total = sum(counts)
    if total == 1:
        raise ValueError(
            f"Expected more than 1 value per channel when training, got input size {tuple(x.shape)} on rank {r} "
            f"and 1 value per channel over all {W} ranks"
        )
    if total == 0:  # every rank's batch is empty: nothing to normalise (as batch_norm with M == 0)
        return 0, _array.zeros((Cc,), float32, dev), _array.full((Cc,), 1.0, float32, dev), None
    n = table[:, :1]  # (W, 1)
    means, m2s = table[:, 1 : 1 + Cc], table[:, 1 + Cc :]
    mean = (means * (n / total)).sum(0)
    d = means - mean
    m2 = m2s.sum(0) + (d * d * n).sum(0)
    return total, mean, m2 / total, m2


class _SyncBatchNorm(Function):
    """Batch normalization in training mode with the statistics of the global batch (every
    rank's (N_r, C, *) input together). Forward: global mean and biased variance (see
    _global_stats), then the batchnorm kernel in eval mode normalises with them (out = (x -
    mean) * invstd * gamma + beta). Backward: the kernel in eval mode gives gamma * invstd * dy
    and this rank's sums sum(dy) and sum(dy * xhat) (the local dbias and dweight, returned as
    they are: DDP averages parameter gradients); the sums are all-reduced and
    dx = gamma * invstd * dy - gamma * invstd * (sum dy + xhat * sum(dy * xhat)) / M
    with the global sums and count M (the second term is the kernel's eval forward with
    per-channel weight and bias), which is the gradient of the whole batch."""

    @staticmethod
    def forward(ctx, x, weight, bias, running_mean, running_var, momentum, eps):
        N, Cc = x.shape[0], x.shape[1]
        HW = prod(x.shape[2:])
        dev = x.device
        out = _array.empty(x.shape, float32, dev)
        total, mean, var, m2 = _global_stats(x, out, N, Cc, HW, eps)
        if total > 0:  # running statistics as the kernel updates them, with the global values
            if running_mean is not None:
                running_mean.mul_(1.0 - momentum).add_(mean * momentum)
            if running_var is not None:
                running_var.mul_(1.0 - momentum).add_(m2 * (momentum / (total - 1)))
        invstd = _array.empty((Cc,), float32, dev)
        _array.run(
            "batchnorm_forward", dev, out._data, None, invstd._data, mean._data, var._data, x._data,
            _opt(weight), _opt(bias), N, Cc, HW, False, 0.0, float(eps),
        )  # fmt: skip
        ctx.save_for_backward(x, weight, mean, invstd, var)
        ctx.p = (N, Cc, HW, total, float(eps))
        return out

    @staticmethod
    def backward(ctx, g):
        from .. import distributed as dist

        x, weight, mean, invstd, var = ctx.saved_tensors
        N, Cc, HW, total, eps = ctx.p
        nx_, nw, nb = ctx.needs_input_grad[:3]
        dev = x.device
        dx = _array.empty(x.shape, float32, dev) if nx_ else None
        sdyx = _array.empty((Cc,), float32, dev)  # sum dy * xhat = dweight (this rank)
        sdy = _array.empty((Cc,), float32, dev)  # sum dy = dbias (this rank)
        _array.run(
            "batchnorm_backward", dev, _opt(dx), sdyx._data, sdy._data, g._data, x._data, _opt(weight),
            mean._data, invstd._data, N, Cc, HW, False,
        )  # fmt: skip
        if nx_:
            sums = _array.empty((2, Cc), float32, dev)
            _array.copy_into(sums, sdy, (Cc,), (1,), 0, (1,))
            _array.copy_into(sums, sdyx, (Cc,), (1,), Cc, (1,))
            dist.all_reduce(sums, op=dist.ReduceOp.SUM)  # every rank: the same sums, in the same order
            if total > 0 and dx.numel():
                # -gamma * invstd / M per channel, times (sum dy, sum dy * xhat): the eval forward's
                # bias and weight, so that it writes -gamma * invstd * (sum dy + xhat * sum dy xhat) / M
                k = invstd * (-1.0 / total) if weight is None else invstd * weight.detach() * (-1.0 / total)
                coef = sums * k  # (2, C): row 0 the bias, row 1 the weight
                b2, w2 = _array.strided_copy(coef, (Cc,), (1,)), _array.strided_copy(coef, (Cc,), (1,), Cc)
                t = _array.empty(x.shape, float32, dev)
                _array.run(
                    "batchnorm_forward", dev, t._data, None, None, mean._data, var._data, x._data, w2._data,
                    b2._data, N, Cc, HW, False, 0.0, eps,
                )  # fmt: skip
                _array.binary_raw(dx, t, C.BIN_ADD, out=dx)
        return dx, (sdyx if nw else None), (sdy if nb else None), None, None, None, None


def sync_batch_norm(
    input: Tensor,
    running_mean: Tensor | None,
    running_var: Tensor | None,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> Tensor:
    """Batch normalization in training mode over the global batch: every rank of the default
    process group calls it with its own (N_r, C, *) input (N_r may differ, even be 0) and gets
    its rows of what batch_norm gives on the concatenated batch; running_mean/running_var are
    updated in place with the global statistics (unbiased variance), the same on every rank.
    Collective: every rank must call it, in the same order. Needs init_process_group."""
    _check_per_channel("sync_batch_norm", ValueError, input, running_mean, running_var, weight, bias)
    rm = running_mean.detach() if running_mean is not None else None
    rv = running_var.detach() if running_var is not None else None
    return _SyncBatchNorm.apply(input, weight, bias, rm, rv, float(momentum or 0.0), float(eps))
