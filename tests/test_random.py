"""random: the Philox-4x32-10 stream vs the NumPy twin (uniform bits exactly), offsets and
seeds, Box-Muller normals vs the reference and their moments, degenerate sizes, bad input."""

import numpy as np
import pytest
from neuraxon.testing import reference as ref
from neuraxon.testing.tolerances import assert_close

SIZES = [0, 1, 3, 4, 5, 17, 1000, 40003]  # 40003: the threaded path and a partial last block


def _uniform(dev, n, seed, offset, low=0.0, high=1.0):
    out = dev.out(n)
    dev.k.random_uniform(out, n, low, high, seed, offset)
    return dev.get(out)


def _normal(dev, n, seed, offset, mean=0.0, std=1.0):
    out = dev.out(n)
    dev.k.random_normal(out, n, mean, std, seed, offset)
    return dev.get(out)


@pytest.mark.parametrize(
    "ctr,key,want",
    [  # Random123 known-answer vectors for philox4x32 with 10 rounds
        ([0, 0, 0, 0], [0, 0], [0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8]),
        ([0xFFFFFFFF] * 4, [0xFFFFFFFF] * 2, [0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD]),
        (
            [0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344],
            [0xA4093822, 0x299F31D0],
            [0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1],
        ),
    ],
)
def test_philox_reference_known_answers(ctr, key, want):
    got = ref.philox4x32_10(np.array([ctr], np.uint64), tuple(key))
    np.testing.assert_array_equal(got[0], np.array(want, np.uint32))


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("seed,offset", [(0, 0), (1234, 7), (2**63 + 5, 2**32 - 2), (0xDEADBEEF12345678, 2**64 - 1)])
def test_uniform_bits_match_reference_exactly(dev, n, seed, offset):
    got = _uniform(dev, n, seed, offset)
    np.testing.assert_array_equal(got, ref.random_uniform(n, 0.0, 1.0, seed, offset).astype(np.float32))
    assert ((got >= 0) & (got < 1)).all()


def test_uniform_low_high(dev):
    got = _uniform(dev, 1001, 42, 3, -2.5, 4.0)
    assert_close(got, ref.random_uniform(1001, -2.5, 4.0, 42, 3), "elementwise")
    assert ((got >= -2.5) & (got <= 4.0)).all()
    np.testing.assert_array_equal(_uniform(dev, 5, 42, 3, 1.5, 1.5), 1.5)  # low == high


def test_offsets_and_seeds(dev):
    base = _uniform(dev, 400, 99, 0)
    np.testing.assert_array_equal(base, _uniform(dev, 400, 99, 0))  # reproducible
    # offset counts 4-element blocks: offset k starts where element 4k of offset 0 is
    np.testing.assert_array_equal(_uniform(dev, 392, 99, 2), base[8:])
    np.testing.assert_array_equal(_uniform(dev, 3, 99, 0), base[:3])  # a prefix is a prefix
    other = _uniform(dev, 400, 99, 100)
    assert np.mean(other == base) < 0.01  # a different offset gives a different stream
    assert np.mean(_uniform(dev, 400, 100, 0) == base) < 0.01  # a different seed too
    assert np.mean(_uniform(dev, 400, 99 + 2**32, 0) == base) < 0.01  # the seed's high word counts
    # the counter's high word: blocks 2^32 - 1 and 2^32 differ from blocks 2^32 - 1 and 0
    wide = _uniform(dev, 8, 5, 2**32 - 1)
    np.testing.assert_array_equal(wide[4:], _uniform(dev, 4, 5, 2**32))
    assert not np.array_equal(wide[4:], _uniform(dev, 4, 5, 0))


@pytest.mark.parametrize("n", SIZES)
def test_normal_matches_reference(dev, n):
    got = _normal(dev, n, 2024, 11, mean=0.5, std=2.0)
    assert_close(got, ref.random_normal(n, 0.5, 2.0, 2024, 11), "transcendental")


def test_normal_moments_and_pairing(dev):
    z = _normal(dev, 200_003, 7, 0).astype(np.float64)
    assert abs(z.mean()) < 0.01 and abs(z.var() - 1) < 0.02
    assert abs(np.mean(z**3)) < 0.03 and abs(np.mean(z**4) - 3) < 0.1
    assert np.isfinite(z).all() and np.abs(z).max() < 6  # u1 in (0, 1]: r <= sqrt(48 ln 2)
    # element 4b+2j is r cos(theta), 4b+2j+1 is r sin(theta): the pair's radius comes from word 2j
    w = ref.philox_words(8, 7, 0)
    r2 = -2 * np.log(((w[[0, 2, 4, 6]] >> 8).astype(np.float64) + 1) * 2.0**-24)
    np.testing.assert_allclose(z[0:8:2] ** 2 + z[1:8:2] ** 2, r2, rtol=1e-5)
    shifted = _normal(dev, 1000, 7, 0, mean=-3.0, std=0.25)
    assert_close(shifted, -3.0 + 0.25 * z[:1000], "elementwise")
    np.testing.assert_array_equal(_normal(dev, 9, 7, 0, mean=1.0, std=0.0), 1.0)


def test_random_bad_input(dev):
    k = dev.k
    with pytest.raises(ValueError, match="low <= high"):
        k.random_uniform(dev.out(4), 4, 1.0, 0.0, 0, 0)
    with pytest.raises(ValueError, match="low <= high"):
        k.random_uniform(dev.out(4), 4, float("nan"), 1.0, 0, 0)
    with pytest.raises(ValueError, match="std >= 0"):
        k.random_normal(dev.out(4), 4, 0.0, -1.0, 0, 0)
    with pytest.raises(ValueError, match="'out' has 4 elements, expected 5"):
        k.random_uniform(dev.out(4), 5, 0.0, 1.0, 0, 0)
    with pytest.raises(ValueError, match="must be >= 0"):
        k.random_normal(dev.out(4), -4, 0.0, 1.0, 0, 0)
    with pytest.raises(TypeError, match="int64"):
        k.random_uniform(dev.out(4, np.int64), 4, 0.0, 1.0, 0, 0)
    with pytest.raises(TypeError):  # negative seeds do not convert to uint64
        k.random_uniform(dev.out(4), 4, 0.0, 1.0, -1, 0)


def test_streams_same_bits_for_any_thread_count(dev):
    if dev.name != "cpu":
        pytest.skip("OpenMP threads are a CPU matter")
    before = dev.k.num_threads()
    runs = []
    x = np.ones(50_001, np.float32)
    try:
        for threads in (1, 3):
            dev.k.set_num_threads(threads)
            drop = dev.out(x.size)
            dev.k.dropout_forward(drop, dev.put(x), x.size, 0.3, 8, 9)
            runs.append([_uniform(dev, 50_001, 8, 9), _normal(dev, 50_001, 8, 9), dev.get(drop)])
    finally:
        dev.k.set_num_threads(before)
    for u, v in zip(*runs):
        np.testing.assert_array_equal(u, v)
