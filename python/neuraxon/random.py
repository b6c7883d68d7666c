"""The global random generator: a seed and a running Philox offset.

Every random op (rand, randn, randint, randperm, dropout, nn.init) asks `next_offset(n)`
for a (seed, offset) pair before calling a random kernel (random_uniform, random_normal,
dropout_forward/backward take (seed, offset)); the offset then advances past the counters
that op consumed, so the next op draws fresh numbers and `manual_seed(s)` replays the
whole sequence exactly, on any backend (the kernels use the same counter-based stream).

Use from other modules (e.g. dropout, init):

    seed, offset = neuraxon.random.next_offset(n)   # n = number of elements drawn
    # ... then the random kernel with (seed, offset); _array.uniform_/normal_ do both
"""

from __future__ import annotations

import threading

import numpy as np

_DEFAULT_SEED = 67280421310721  # PyTorch's default CPU seed


class Generator:
    """A (seed, offset) pair. Element i of a draw uses Philox counter offset + i // 4."""

    def __init__(self, seed: int = _DEFAULT_SEED):
        self._lock = threading.Lock()  # next_offset is a read-modify-write shared by threads
        self.manual_seed(seed)

    def manual_seed(self, seed: int) -> "Generator":
        self.seed = int(seed) & 0xFFFFFFFFFFFFFFFF
        self.offset = 0
        return self

    def initial_seed(self) -> int:
        return self.seed

    def next_offset(self, n: int) -> tuple[int, int]:
        """(seed, offset) for a draw of n elements; advances the offset past them. Atomic:
        threads drawing at once get disjoint counter ranges (which thread gets which range
        follows the order they ask in, so only a single thread's stream is reproducible)."""
        with self._lock:
            off = self.offset
            self.offset += (int(n) + 3) // 4 + 1
            return self.seed, off

    def get_state(self) -> tuple[int, int]:
        return (self.seed, self.offset)

    def set_state(self, state) -> None:
        self.seed, self.offset = int(state[0]), int(state[1])

    def numpy_rng(self) -> np.random.Generator:
        """A NumPy generator derived from the current state (advances the offset by one
        block): host-side draws (randperm) stay reproducible under manual_seed."""
        seed, off = self.next_offset(4)
        return np.random.default_rng([seed & 0xFFFFFFFF, seed >> 32, off & 0xFFFFFFFF, off >> 32])


default_generator = Generator()


def manual_seed(seed: int) -> Generator:
    """Seed the global generator (and reset its offset): random ops become reproducible."""
    return default_generator.manual_seed(seed)


def seed() -> int:
    """Seed the global generator non-deterministically; returns the seed."""
    s = int(np.random.SeedSequence().entropy) & 0xFFFFFFFFFFFFFFFF
    default_generator.manual_seed(s)
    return s


def initial_seed() -> int:
    """The seed of the global generator (set by manual_seed)."""
    return default_generator.seed


def next_offset(n: int) -> tuple[int, int]:
    """(seed, offset) for a random kernel drawing n elements from the global generator."""
    return default_generator.next_offset(n)


def get_rng_state() -> tuple[int, int]:
    """The global generator's state (seed, offset), for set_rng_state."""
    return default_generator.get_state()


def set_rng_state(state) -> None:
    """Restore the global generator to a state from get_rng_state."""
    default_generator.set_state(state)
