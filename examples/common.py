"""Shared helpers for the examples: arguments, data, train/eval loops, progress, plots, results.

Every example is ``python examples/<name>.py [--epochs N] [--device cpu|cuda] [--seed S]
[--out DIR] [--limit N]`` and also exposes ``main(argv) -> dict`` (the smoke tests call it).
Only the PyTorch-shaped neuraxon API is used: ``nx``, ``nx.nn``, ``nx.nn.functional``,
``nx.optim``, ``nx.data``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
from collections.abc import Iterable
from typing import Callable

import neuraxon as nx
import neuraxon.nn.functional as F  # noqa: F401  (re-exported for the examples)
import numpy as np
from neuraxon import nn
from neuraxon.data import MNIST, DataLoader, Dataset, FashionMNIST

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OUT = os.path.join(HERE, "..", "out", "examples")  # /out/ is git-ignored


class DataMissing(RuntimeError):
    """A data set's package is not installed (the smoke tests skip on this, and only on this)."""


# ---- arguments and setup ------------------------------------------------------------------------


def parser(description: str, epochs: int = 1, batch_size: int = 64, lr: float = 1e-3) -> argparse.ArgumentParser:
    """The common flags; an example adds its own before calling ``setup``."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--epochs", type=int, default=epochs, help="training epochs")
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--seed", type=int, default=0, help="seed for neuraxon and NumPy")
    p.add_argument("--out", default=None, help="folder for figures, checkpoints and results.json")
    p.add_argument("--limit", type=int, default=0, help="train on the first N examples only (0 = all; smoke tests)")
    p.add_argument("--batch-size", type=int, default=batch_size)
    p.add_argument("--lr", type=float, default=lr)
    p.add_argument("--log-every", type=int, default=100, help="steps between progress lines")
    return p


def setup(args: argparse.Namespace, name: str, argv: list | None = None) -> argparse.Namespace:
    """Seed everything, create --out, remember the start time and the command line."""
    args.name = name
    args.command = " ".join([f"python examples/{name}.py"] + list(sys.argv[1:] if argv is None else argv))
    args.out = os.path.abspath(args.out or os.path.join(DEFAULT_OUT, name))
    os.makedirs(args.out, exist_ok=True)
    with contextlib.suppress(FileNotFoundError):
        os.remove(os.path.join(args.out, "epochs.jsonl"))  # per-epoch log of this run only
    nx.manual_seed(args.seed)
    np.random.seed(args.seed)
    args.rng = np.random.default_rng(args.seed)
    args.t0 = time.time()
    print(
        f"[{name}] device={args.device} seed={args.seed} epochs={args.epochs} limit={args.limit or 'all'} "
        f"out={args.out}",
        flush=True,
    )
    return args


# ---- tensors <-> numpy ---------------------------------------------------------------------------


def to_numpy(t) -> np.ndarray:
    """A tensor (any device, with or without grad) as a host NumPy array."""
    if isinstance(t, np.ndarray):
        return t
    t = t.detach()
    if hasattr(t, "cpu"):
        t = t.cpu()
    return np.asarray(t.numpy())


def as_tensor(a, device="cpu", dtype=None):
    """A NumPy array (float -> float32, int -> int64) as a tensor on ``device``."""
    a = np.asarray(a)
    if dtype is None:
        a = a.astype(np.float32 if a.dtype.kind == "f" else np.int64, copy=False)
    else:
        a = a.astype(dtype, copy=False)
    if not a.flags.c_contiguous:  # (np.ascontiguousarray would turn a 0-d array into shape (1,))
        a = np.ascontiguousarray(a)
    return nx.tensor(a).to(device)


def num_params(model) -> int:
    return int(sum(int(np.prod(p.shape)) for p in model.parameters()))


# ---- data --------------------------------------------------------------------------------------


class ArrayDataset(Dataset):
    """In-memory (x, y) arrays with an optional per-sample transform (from neuraxon.data.transforms)."""

    def __init__(self, x: np.ndarray, y: np.ndarray, transform: Callable | None = None) -> None:
        self.x, self.y, self.transform = x, y, transform

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i):
        x = self.x[i]
        return (self.transform(x) if self.transform else x), self.y[i]

    def get_batch(self, idx):
        if self.transform is None:
            return self.x[idx], self.y[idx]
        return np.stack([np.asarray(self.transform(self.x[i]), dtype=np.float32) for i in idx]), self.y[idx]


_DATASETS: dict = {}


def image_arrays(which: str, train: bool, normalize: bool = True, limit: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(N, 1, 28, 28) float32 images and int64 labels of 'mnist' or 'fashion' (the first
    ``limit`` only, when > 0; only those are converted to float)."""
    key = (which, train)
    if key not in _DATASETS:
        try:
            if which == "mnist":
                _DATASETS[key] = MNIST(train=train)
            elif which == "fashion":
                _DATASETS[key] = FashionMNIST(train=train)
            else:
                raise ValueError(f"unknown image data set {which!r}")
        except (ImportError, FileNotFoundError) as e:
            raise DataMissing(f"{which}: {e}") from e
    ds = _DATASETS[key]
    raw, y = (ds.data[:limit], ds.targets[:limit]) if limit else (ds.data, ds.targets)
    x = raw.astype(np.float32)[:, None] * np.float32(1 / 255)
    if normalize:
        x = (x - np.float32(ds.mean)) * np.float32(1 / ds.std)
    return x, np.asarray(y, dtype=np.int64)


def augmentation(kind: str, which: str, seed: int = 0):
    """Per-sample transform for normalized (1, 28, 28) images: 'none', 'flip' (random
    horizontal flip) or 'flipcrop' (flip, then pad 2 pixels with the background value and crop
    back to 28x28). Returns None for 'none'."""
    if kind == "none":
        return None
    from neuraxon.data import transforms as T

    ds = FashionMNIST if which == "fashion" else MNIST
    background = float(-ds.mean / ds.std)  # a 0 pixel after normalization
    tfs = [T.RandomHorizontalFlip(0.5)]
    if kind == "flipcrop":
        tfs.append(T.RandomCrop(28, padding=2, fill=background))
    elif kind != "flip":
        raise ValueError(f"unknown augmentation {kind!r}")
    return T.Compose(tfs, seed=seed)


def image_loaders(
    args,
    which: str = "mnist",
    flatten: bool = False,
    normalize: bool = True,
    val_fraction: float = 0.0,
    transform: Callable | None = None,
    test_batch: int = 500,
):
    """Train (first --limit examples), optional validation split, and test loaders.

    With --limit the test set is cut to the same size, so smoke runs stay fast.
    Returns (train_loader, val_loader or None, test_loader).
    """
    xtr, ytr = image_arrays(which, True, normalize, args.limit)
    xte, yte = image_arrays(which, False, normalize, args.limit)
    if flatten:
        xtr, xte = xtr.reshape(len(xtr), -1), xte.reshape(len(xte), -1)
    val = None
    if val_fraction > 0:
        perm = np.random.default_rng(args.seed + 1).permutation(len(xtr))
        n_val = max(1, int(len(xtr) * val_fraction))
        vi, ti = np.sort(perm[:n_val]), np.sort(perm[n_val:])
        val = DataLoader(ArrayDataset(xtr[vi], ytr[vi]), batch_size=test_batch)
        xtr, ytr = xtr[ti], ytr[ti]
    train = DataLoader(ArrayDataset(xtr, ytr, transform), batch_size=args.batch_size, shuffle=True, seed=args.seed)
    test = DataLoader(ArrayDataset(xte, yte), batch_size=test_batch)
    return train, val, test


# ---- progress ----------------------------------------------------------------------------------


class Progress:
    """Plain-text progress: one line every ``every`` steps and one per epoch."""

    def __init__(self, name: str, epochs: int, steps: int, every: int = 100) -> None:
        self.name, self.epochs, self.steps, self.every = name, epochs, steps, max(1, every)
        self.t0 = time.time()

    def step(self, epoch: int, step: int, loss: float, extra: str = "") -> None:
        if (step + 1) % self.every == 0 or step + 1 == self.steps:
            print(
                f"  {self.name} epoch {epoch + 1}/{self.epochs} step {step + 1}/{self.steps} "
                f"loss {loss:.4f}{extra} [{time.time() - self.t0:.1f}s]",
                flush=True,
            )

    def epoch(self, epoch: int, **metrics: float) -> None:
        parts = " ".join(f"{k} {v:.4f}" for k, v in metrics.items())
        print(f"{self.name} epoch {epoch + 1}/{self.epochs} {parts} [{time.time() - self.t0:.1f}s]", flush=True)


# ---- train / eval loops ------------------------------------------------------------------------


def run_epoch(
    model,
    loader,
    loss_fn: Callable,
    device,
    opt=None,
    penalty: Callable | None = None,
    progress: Progress | None = None,
    epoch: int = 0,
    clip: float | None = None,
    step_losses: list | None = None,
) -> tuple[float, float]:
    """One pass over ``loader``; trains when ``opt`` is given. Returns (mean loss, accuracy).

    ``penalty(model)`` adds a regulariser to the training loss (the reported loss excludes it).
    Accuracy is argmax over dim 1 of the output vs integer targets.
    """
    training = opt is not None
    model.train(training)
    tot, correct, n = 0.0, 0, 0
    ctx = contextlib.nullcontext() if training else nx.no_grad()
    with ctx:
        for i, (x, y) in enumerate(loader):
            x, y = x.to(device), y.to(device)
            out = model(x)
            loss = loss_fn(out, y)
            if training:
                total = loss + penalty(model) if penalty is not None else loss
                opt.zero_grad()
                total.backward()
                if clip:
                    nn.utils.clip_grad_norm_(model.parameters(), clip)
                opt.step()
            b = int(y.shape[0])
            lv = float(loss.item())
            tot += lv * b
            n += b
            correct += int((to_numpy(out).argmax(1) == to_numpy(y)).sum())
            if step_losses is not None:
                step_losses.append(lv)
            if progress is not None:
                progress.step(epoch, i, lv, f" acc {correct / max(n, 1):.4f}")
    return tot / max(n, 1), correct / max(n, 1)


def fit(
    model,
    opt,
    train_loader,
    test_loader,
    epochs: int,
    device,
    name: str = "model",
    loss_fn: Callable | None = None,
    val_loader=None,
    scheduler=None,
    penalty: Callable | None = None,
    log_every: int = 100,
    patience: int | None = None,
    clip: float | None = None,
    log_path: str | None = None,
) -> dict:
    """Train for ``epochs`` and evaluate after each; returns a history dict.

    With ``patience`` and a ``val_loader``, training stops after ``patience`` epochs without a
    better validation loss and the best weights are restored (early stopping). With
    ``log_path`` each epoch's metrics are appended there as a JSON line (kept if a run is cut short).
    """
    loss_fn = loss_fn or nn.CrossEntropyLoss()
    hist: dict = {
        k: [] for k in ("train_loss", "train_acc", "val_loss", "val_acc", "test_loss", "test_acc", "epoch_time")
    }
    hist["step_loss"] = []
    prog = Progress(name, epochs, len(train_loader), log_every)
    best, best_state, bad = float("inf"), None, 0
    for ep in range(epochs):
        t = time.time()
        trl, tra = run_epoch(model, train_loader, loss_fn, device, opt, penalty, prog, ep, clip, hist["step_loss"])
        hist["epoch_time"].append(time.time() - t)
        if scheduler is not None:
            scheduler.step()
        hist["train_loss"].append(trl)
        hist["train_acc"].append(tra)
        m = {"train_loss": trl, "train_acc": tra}
        if val_loader is not None:
            vl, va = run_epoch(model, val_loader, loss_fn, device)
            hist["val_loss"].append(vl)
            hist["val_acc"].append(va)
            m.update(val_loss=vl, val_acc=va)
        tel, tea = run_epoch(model, test_loader, loss_fn, device)
        hist["test_loss"].append(tel)
        hist["test_acc"].append(tea)
        m.update(test_loss=tel, test_acc=tea, epoch_s=hist["epoch_time"][-1])
        prog.epoch(ep, **m)
        if log_path:
            with open(log_path, "a") as f:
                f.write(json.dumps({"model": name, "epoch": ep + 1, **m}) + "\n")
        if patience is not None and val_loader is not None:
            if hist["val_loss"][-1] < best - 1e-6:
                best, bad = hist["val_loss"][-1], 0
                best_state = {k: to_numpy(v).copy() for k, v in model.state_dict().items()}
            else:
                bad += 1
                if bad >= patience:
                    print(f"{name}: early stop after epoch {ep + 1} (best val loss {best:.4f})", flush=True)
                    hist["stopped_epoch"] = ep + 1
                    break
    if best_state is not None:
        load_arrays(model, best_state)
        hist["test_loss_best"], hist["test_acc_best"] = run_epoch(model, test_loader, loss_fn, device)
    return hist


def step_schedule(opt, epochs: int):
    """Learning rate x0.2 after 60% and again after 85% of the epochs (MultiStepLR)."""
    milestones = sorted({max(1, round(0.6 * epochs)), max(1, int(0.85 * epochs))})
    return nx.optim.lr_scheduler.MultiStepLR(opt, milestones=milestones, gamma=0.2)


def loss_drop(step_losses: list, k: int = 0) -> tuple[float, float]:
    """Mean of the first and last k step losses (k = a fifth of the steps, at least 1)."""
    s = [float(v) for v in step_losses]
    if not s:
        return float("nan"), float("nan")
    k = k or max(1, len(s) // 5)
    return float(np.mean(s[:k])), float(np.mean(s[-k:]))


def summary(hist: dict, model=None) -> dict:
    """The final metrics of a history (what goes into results.json)."""
    start, end = loss_drop(hist["step_loss"])
    r = {
        "epochs": len(hist["train_loss"]),
        "train_loss": hist["train_loss"][-1] if hist["train_loss"] else None,
        "train_acc": hist["train_acc"][-1] if hist["train_acc"] else None,
        "test_loss": hist["test_loss"][-1] if hist["test_loss"] else None,
        "test_acc": hist["test_acc"][-1] if hist["test_acc"] else None,
        "sec_per_epoch": float(np.mean(hist["epoch_time"])) if hist["epoch_time"] else None,
        "loss_start": start,
        "loss_end": end,
    }
    for k in ("test_acc_best", "test_loss_best", "stopped_epoch"):
        if k in hist:
            r[k] = hist[k]
    if model is not None:
        r["params"] = num_params(model)
    return r


# ---- checkpoints (plain .npz: no code runs on load) --------------------------------------------


def save_arrays(model, path: str) -> None:
    np.savez(path, **{k: to_numpy(v) for k, v in model.state_dict().items()})


def load_arrays(model, src) -> None:
    """Load a state dict from an .npz path or a dict of arrays into ``model`` (same device)."""
    arrays = dict(np.load(src)) if isinstance(src, str) else src
    dev = next(iter(model.parameters())).device
    model.load_state_dict({k: as_tensor(v, dev, v.dtype) for k, v in arrays.items()})


# ---- figures and results -----------------------------------------------------------------------


class _NoPlot:
    """Stands in for matplotlib.pyplot when it is not installed: every call, attribute, index
    and two-way unpacking gives itself back, so a script draws nothing and still finishes
    (its numbers and results.json are the results; the figures are extra)."""

    def __getattr__(self, name):
        return self

    def __call__(self, *args, **kwargs):
        return self

    def __getitem__(self, key):
        return self

    def __iter__(self):
        return iter((self, self))


_warned_no_plot = False


def plt():
    """matplotlib.pyplot with the file-only backend; without matplotlib (pip install ".[plot]")
    a stand-in that draws nothing, with one note on stderr."""
    global _warned_no_plot
    try:
        import matplotlib
    except ImportError:
        if not _warned_no_plot:
            print('matplotlib is not installed: figures are skipped (pip install ".[plot]")', file=sys.stderr)
            _warned_no_plot = True
        return _NoPlot()
    matplotlib.use("Agg")
    from matplotlib import pyplot

    return pyplot


def plot_curves(
    series: dict,
    path: str,
    xlabel: str = "epoch",
    ylabel: str = "loss",
    title: str = "",
    logy: bool = False,
    smooth: int = 1,
) -> str:
    """One line per entry of ``series`` (name -> list of values); saved as PNG."""
    p = plt()
    fig, ax = p.subplots(figsize=(7, 4.5))
    for name, ys in series.items():
        ys = np.asarray(ys, dtype=np.float64)
        if smooth > 1 and len(ys) >= smooth:
            ys = np.convolve(ys, np.ones(smooth) / smooth, mode="valid")
        xs = np.arange(1, len(ys) + 1)
        ax.plot(xs, ys, label=name, marker="o" if len(ys) < 30 else None)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if logy:
        ax.set_yscale("log")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    p.close(fig)
    return path


def image_grid(
    images: np.ndarray,
    path: str,
    nrow: int = 10,
    titles: Iterable[str] | None = None,
    title: str = "",
    cmap: str = "gray",
) -> str:
    """Images (N, H, W) or (N, 1, H, W) in a grid, saved as PNG."""
    images = np.asarray(images)
    if images.ndim == 4:
        images = images[:, 0]
    n = len(images)
    ncol = min(nrow, n)
    nr = -(-n // ncol)
    p = plt()
    fig, axes = p.subplots(nr, ncol, figsize=(ncol * 1.1, nr * 1.2 + 0.4), squeeze=False)
    titles = list(titles) if titles is not None else None
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < n:
            ax.imshow(images[i], cmap=cmap)
            if titles:
                ax.set_title(titles[i], fontsize=7)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    p.close(fig)
    return path


def _jsonable(o):
    if isinstance(o, dict):
        return {str(k): _jsonable(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_jsonable(v) for v in o]
    if isinstance(o, (np.floating, float)):
        return float(o)
    if isinstance(o, (np.integer, int)) and not isinstance(o, bool):
        return int(o)
    return o


def finish(args, results: dict) -> dict:
    """Print the final metrics and write them (with the run's arguments) to --out/results.json."""
    results = strip_models(dict(results))
    results["args"] = {k: v for k, v in vars(args).items() if k not in ("rng", "t0")}
    results["wall_s"] = time.time() - args.t0
    results = _jsonable(results)
    path = os.path.join(args.out, "results.json")
    with open(path, "w") as f:
        json.dump(results, f, indent=2)
    print(f"[{args.name}] results -> {path}")
    for k, v in results.items():
        if k != "args":
            print(f"  {k}: {json.dumps(v, default=str)}")
    return results


def compare(
    args,
    builders: dict,
    train,
    test,
    make_opt: Callable | None = None,
    step_lr: bool = True,
    loss_fn: Callable | None = None,
    **fit_kw,
) -> tuple[dict, dict]:
    """Train each model of ``builders`` (name -> constructor) from the same seed; returns
    (results: name -> summary, histories: name -> history). Adam(lr) by default, with the
    learning rate x0.2 after 60% and 85% of the epochs."""
    results, hists = {}, {}
    for name, build in builders.items():
        nx.manual_seed(args.seed)
        model = build().to(args.device)
        opt = make_opt(model) if make_opt else nx.optim.Adam(model.parameters(), lr=args.lr)
        sched = step_schedule(opt, args.epochs) if step_lr else None
        print(f"{name}: {num_params(model)} parameters", flush=True)
        hists[name] = fit(
            model,
            opt,
            train,
            test,
            args.epochs,
            args.device,
            name,
            loss_fn=loss_fn,
            scheduler=sched,
            log_every=args.log_every,
            log_path=os.path.join(args.out, "epochs.jsonl"),
            **fit_kw,
        )
        results[name] = summary(hists[name], model)
        results[name]["model"] = model  # removed by finish(); lets callers reuse the trained model
    return results, hists


def strip_models(results: dict) -> dict:
    return {
        k: ({kk: vv for kk, vv in v.items() if kk != "model"} if isinstance(v, dict) else v) for k, v in results.items()
    }
