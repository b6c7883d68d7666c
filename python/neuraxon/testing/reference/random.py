"""Reference Philox-4x32-10 streams (csrc/philox.h) in NumPy: random_uniform, random_normal.

Element i of a call with (seed, offset) is word i % 4 of Philox block b = offset + i // 4,
counter (lo32(b), hi32(b), 0, 0), key (lo32(seed), hi32(seed)). The uniform bits match the
kernels exactly; normals match to libm accuracy (the float32 steps are mimicked).
"""

from __future__ import annotations

import numpy as np

__all__ = ["philox4x32_10", "philox_words", "random_normal", "random_uniform", "uniform_from_words"]

_M0, _M1 = np.uint64(0xD2511F53), np.uint64(0xCD9E8D57)
_W0, _W1 = 0x9E3779B9, 0xBB67AE85
_MASK32 = np.uint64(0xFFFFFFFF)
_TWO_M24 = 2.0**-24


def philox4x32_10(ctr: np.ndarray, key: tuple[int, int]) -> np.ndarray:
    """ctr (k, 4) uint32 counters, key (k0, k1) -> (k, 4) uint32 words after 10 rounds."""
    c = [np.asarray(ctr, np.uint64)[:, j] & _MASK32 for j in range(4)]
    k0, k1 = int(key[0]) & 0xFFFFFFFF, int(key[1]) & 0xFFFFFFFF
    for _ in range(10):
        p0 = _M0 * c[0]  # 32x32 -> 64-bit products are exact in uint64
        p1 = _M1 * c[2]
        hi0, lo0 = p0 >> np.uint64(32), p0 & _MASK32
        hi1, lo1 = p1 >> np.uint64(32), p1 & _MASK32
        c = [hi1 ^ c[1] ^ np.uint64(k0), lo1, hi0 ^ c[3] ^ np.uint64(k1), lo0]
        k0, k1 = (k0 + _W0) & 0xFFFFFFFF, (k1 + _W1) & 0xFFFFFFFF
    return np.stack(c, axis=1).astype(np.uint32)


def philox_words(n: int, seed: int, offset: int) -> np.ndarray:
    """The n uint32 words of the stream (seed, offset), element i = word i % 4 of block offset + i // 4."""
    nb = (n + 3) // 4
    blocks = (np.uint64(offset) + np.arange(nb, dtype=np.uint64)) if nb else np.zeros(0, np.uint64)
    seed = int(seed) & 0xFFFFFFFFFFFFFFFF
    ctr = np.zeros((nb, 4), np.uint64)
    ctr[:, 0] = blocks & _MASK32
    ctr[:, 1] = blocks >> np.uint64(32)
    words = philox4x32_10(ctr, (seed & 0xFFFFFFFF, seed >> 32))
    return words.reshape(-1)[:n]


def uniform_from_words(words: np.ndarray) -> np.ndarray:
    """(word >> 8) * 2^-24 in [0, 1), float64 (exactly representable in float32)."""
    return (np.asarray(words, np.uint32) >> np.uint32(8)).astype(np.float64) * _TWO_M24


def random_uniform(n: int, low: float, high: float, seed: int, offset: int) -> np.ndarray:
    """low + (high - low) * u, float64."""
    u = uniform_from_words(philox_words(n, seed, offset))
    return float(low) + (float(high) - float(low)) * u


def random_normal(n: int, mean: float, std: float, seed: int, offset: int) -> np.ndarray:
    """Box-Muller per word pair: element 4b+2j gets r cos(theta), 4b+2j+1 gets r sin(theta)."""
    nb = (n + 3) // 4
    w = philox_words(4 * nb, seed, offset).reshape(nb, 2, 2)  # (block, pair j, word in pair)
    u1 = ((w[..., 0] >> np.uint32(8)).astype(np.float64) + 1.0) * _TWO_M24  # (0, 1]
    u2 = uniform_from_words(w[..., 1]).astype(np.float32)
    theta = (np.float32(2 * np.pi) * u2).astype(np.float64)  # float32 product, as the kernels
    r = np.sqrt(-2.0 * np.log(u1))
    z = np.stack([r * np.cos(theta), r * np.sin(theta)], axis=-1)  # (block, pair, cos|sin)
    return float(mean) + float(std) * z.reshape(-1)[:n]
