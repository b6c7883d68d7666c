"""neuraxon.save / neuraxon.load: round trips of nested structures, module and optimizer
state, and clear errors on damaged files (never pickle)."""

from __future__ import annotations

import io
import math
import zipfile

import neuraxon as nx
import numpy as np
import pytest
from neuraxon import nn, optim


def test_round_trip_nested(tmp_path, rng):
    obj = {
        "w": nx.tensor(rng.standard_normal((3, 4)).astype(np.float32)),
        "idx": nx.tensor(np.arange(5)),
        "mask": nx.tensor(np.array([True, False])),
        "arr": np.arange(6, dtype=np.int32).reshape(2, 3),
        "nums": [1, 2.5, -0.0, True, None, "text", float("nan"), float("inf")],
        "tup": (1, (2, "x")),
        3: "int key",
        2.5: "float key",
        "nested": {"deep": [{"t": nx.tensor(np.float32(7.0))}]},
        "empty": nx.tensor(np.zeros((0, 3), np.float32)),
    }
    path = tmp_path / "obj.npz"
    nx.save(obj, path)
    back = nx.load(path)
    assert set(back) == set(obj)
    np.testing.assert_array_equal(back["w"].numpy(), obj["w"].numpy())
    assert back["w"].dtype == nx.float32 and back["idx"].dtype == nx.int64 and back["mask"].dtype == nx.bool
    assert isinstance(back["arr"], np.ndarray) and back["arr"].dtype == np.int32
    assert back["nums"][:6] == [1, 2.5, -0.0, True, None, "text"]
    assert math.isnan(back["nums"][6]) and back["nums"][7] == math.inf
    assert isinstance(back["nums"][0], int) and isinstance(back["nums"][1], float)
    assert back["tup"] == (1, (2, "x")) and back[3] == "int key" and back[2.5] == "float key"
    assert back["nested"]["deep"][0]["t"].shape == () and back["nested"]["deep"][0]["t"].item() == 7.0
    assert back["empty"].shape == (0, 3)


def test_requires_grad_and_file_objects():
    buf = io.BytesIO()
    t = nx.tensor(np.ones(3, np.float32), requires_grad=True)
    nx.save([t], buf)
    buf.seek(0)
    (back,) = nx.load(buf)
    assert back.requires_grad and back.is_leaf


def test_module_and_optimizer_state(tmp_path, rng):
    nx.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3), nn.Linear(3, 2))
    opt = optim.Adam(model.parameters(), lr=0.01)
    x = nx.tensor(rng.standard_normal((5, 4)).astype(np.float32))
    model(x).sum().backward()
    opt.step()
    nx.save({"model": model.state_dict(), "opt": opt.state_dict()}, tmp_path / "ckpt.npz")
    ck = nx.load(tmp_path / "ckpt.npz")
    model2 = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3), nn.Linear(3, 2))
    model2.load_state_dict(ck["model"])
    opt2 = optim.Adam(model2.parameters(), lr=0.5)
    opt2.load_state_dict(ck["opt"])
    model.eval(), model2.eval()
    np.testing.assert_array_equal(model(x).detach().numpy(), model2(x).detach().numpy())
    assert opt2.param_groups[0]["lr"] == 0.01
    assert int(ck["model"]["1.num_batches_tracked"].item()) == 1


def test_rejects_unsupported_objects(tmp_path):
    with pytest.raises(TypeError, match="cannot save an object of type"):
        nx.save({"f": lambda: 1}, tmp_path / "x.npz")
    with pytest.raises(TypeError, match="object arrays"):
        nx.save(np.array([{}, 1], dtype=object), tmp_path / "x.npz")
    with pytest.raises(TypeError, match="dict key"):
        nx.save({(1, 2): 3}, tmp_path / "x.npz")


def test_corrupt_files_raise_clear_errors(tmp_path):
    path = tmp_path / "ok.npz"
    nx.save({"w": nx.tensor(np.arange(1000, dtype=np.float32))}, path)
    data = path.read_bytes()
    trunc = tmp_path / "trunc.npz"
    trunc.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="not a valid neuraxon checkpoint"):
        nx.load(trunc)
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"this is not a zip file at all")
    with pytest.raises(ValueError, match="not a valid neuraxon checkpoint"):
        nx.load(garbage)
    # a flipped byte inside the array data: the zip CRC check catches it
    flipped = bytearray(data)
    pos = data.find(b"\x00\x00\x80\x3f")  # 1.0f somewhere in the array payload
    flipped[pos + 3] ^= 0xFF
    bad = tmp_path / "flipped.npz"
    bad.write_bytes(bytes(flipped))
    with pytest.raises(ValueError, match="not a valid neuraxon checkpoint"):
        nx.load(bad)
    # a plain .npz without our structure entry
    plain = tmp_path / "plain.npz"
    np.savez(plain, a=np.zeros(3))
    with pytest.raises(ValueError, match="no __neuraxon__ entry"):
        nx.load(plain)
    # an npz whose structure entry would need pickle is refused, not unpickled
    evil = tmp_path / "evil.npz"
    with zipfile.ZipFile(evil, "w") as zf:
        b = io.BytesIO()
        np.save(b, np.array([{"x": 1}], dtype=object), allow_pickle=True)
        zf.writestr("__neuraxon__.npy", b.getvalue())
    with pytest.raises(ValueError, match="not a valid neuraxon checkpoint"):
        nx.load(evil)
    with pytest.raises(FileNotFoundError):
        nx.load(tmp_path / "missing.npz")


def test_map_location(tmp_path):
    nx.save(nx.tensor([1.0, 2.0]), tmp_path / "t.npz")
    t = nx.load(tmp_path / "t.npz", map_location="cpu")
    assert t.device.type == "cpu" and t.numpy().tolist() == [1.0, 2.0]


def _checkpoint(path, meta: dict, members: dict, compress=zipfile.ZIP_STORED):
    """A hand-made archive: the structure entry `meta` and .npy members."""
    import json

    with zipfile.ZipFile(path, "w", compression=compress) as zf:
        for name, arr in {**members, "__neuraxon__": np.array(json.dumps(meta))}.items():
            b = io.BytesIO()
            np.save(b, arr, allow_pickle=False)
            zf.writestr(name + ".npy", b.getvalue())


def test_malformed_structures_raise_the_documented_error(tmp_path):
    base = {"format": "neuraxon-npz", "version": 1}
    roots = [
        {"t": "tensor", "i": 7},  # missing member
        {"t": "tensor", "i": "x"},  # index not a number
        {"t": "tensor"},  # no index
        {"t": "tuple"},  # no items
        {"t": "dict", "items": 3},  # items not a list
        {"t": "float", "v": [1]},  # value not a number
        {"t": "tensor", "i": 10**30},  # huge index
        {"t": "nonsense"},
    ]
    for k, root in enumerate(roots):
        p = tmp_path / f"m{k}.npz"
        _checkpoint(p, {**base, "root": root}, {"a0": np.zeros(2, np.float32)})
        with pytest.raises(ValueError, match="not a valid neuraxon checkpoint"):
            nx.load(p)


def test_a_member_that_would_expand_hugely_is_refused(tmp_path):
    # 256 MiB of zeros deflate to ~250 KiB: load must refuse before allocating it
    p = tmp_path / "bomb.npz"
    _checkpoint(p, {"format": "neuraxon-npz", "version": 1, "root": {"t": "tensor", "i": 0}},
                {"a0": np.zeros(64 << 20, np.float32)}, compress=zipfile.ZIP_DEFLATED)
    assert p.stat().st_size < 2 << 20
    with pytest.raises(ValueError, match="would expand"):
        nx.load(p)


def test_concurrent_saves_leave_a_whole_checkpoint_and_no_temporary_files(tmp_path):
    import threading

    path = tmp_path / "ckpt.npz"
    payloads = [{"w": nx.tensor(np.full(200_000, float(i), np.float32)), "i": i} for i in range(4)]
    errors = []

    def writer(obj):
        try:
            for _ in range(5):
                nx.save(obj, path)
        except BaseException as e:  # surfaced below
            errors.append(e)

    ts = [threading.Thread(target=writer, args=(o,)) for o in payloads]
    for t in ts:
        t.start()
    for t in ts:
        t.join(60)
    assert not errors
    got = nx.load(path)  # one writer's whole file
    assert float(got["w"][0].item()) == float(got["i"]) and got["w"].shape == (200_000,)
    assert sorted(x.name for x in tmp_path.iterdir()) == ["ckpt.npz"]


def test_a_failed_save_keeps_the_old_checkpoint(tmp_path):
    path = tmp_path / "ckpt.npz"
    nx.save({"w": nx.tensor([1.0, 2.0])}, path)
    with pytest.raises(TypeError):
        nx.save({"w": object()}, path)  # unsupported: nothing written
    assert nx.load(path)["w"].tolist() == [1.0, 2.0]
    assert sorted(x.name for x in tmp_path.iterdir()) == ["ckpt.npz"]
