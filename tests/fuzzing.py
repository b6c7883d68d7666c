"""The hypothesis settings both fuzz files use: a fixed sequence and a small budget by default
(CI), NEURAXON_FUZZ_EXAMPLES for a longer local run, NEURAXON_FUZZ_SEED for another sequence.
No example database, no deadline (the emulated CUDA device is slow), every health check off
(the strategies draw large arrays on purpose)."""

from __future__ import annotations

import os

import hypothesis
from hypothesis import HealthCheck, settings


def fuzz_settings(default_examples: int):
    """(examples per property, the decorator that applies the settings to a @given test)."""
    examples = int(os.environ.get("NEURAXON_FUZZ_EXAMPLES", "") or default_examples)
    seed = os.environ.get("NEURAXON_FUZZ_SEED", "")
    applied = settings(
        max_examples=examples,
        derandomize=not seed,
        database=None,
        deadline=None,
        print_blob=True,
        suppress_health_check=list(HealthCheck),
    )

    def fuzz(fn):
        fn = applied(fn)
        return hypothesis.seed(int(seed))(fn) if seed else fn

    return examples, fuzz
