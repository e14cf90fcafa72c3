"""The compiled seed sequences equal numpy's word for word, and the generators seeded from them equal numpy's."""

from __future__ import annotations

import zlib

import numpy as np
import pytest

from model import seeding
from model.model import CONTRACT_KEY, DRIVER_STREAM, NOISE_STREAM, stream_generators, stream_seed, stream_states

# Roots of one word, of the word's edges, and of several words (numpy splits them into 32-bit words).
ROOTS = (0, 1, 8128, 20240103, 2**32 - 1, 2**32, 2**40 + 5, 2**64 + 3, 2**100 + 17)


def _keys(n: int) -> list[tuple[int, tuple[int, ...]]]:
    rng = np.random.default_rng(20261207)
    keys = [(root, (int(rng.integers(0, 5000)), int(rng.integers(0, 2**31)), zlib.crc32(name.encode())))
            for root in ROOTS for name in (NOISE_STREAM, CONTRACT_KEY, DRIVER_STREAM, "order") for _ in range(n)]
    # No spawn key (the root is not padded), zeros, and spawn-key words of more than one word.
    return [*keys, (5, ()), (0, (0, 0, 0)), (3, (2**33, 1)), (2**32 + 1, (7,))]


@pytest.mark.parametrize("n_words", [1, 2, 4, 5])
def test_states_equal_numpys_seed_sequence(n_words):
    keys = _keys(6)
    got = seeding.generate_states(keys, n_words)
    assert got.shape == (len(keys), n_words) and got.dtype == np.uint64
    for (root, key), words in zip(keys, got, strict=True):
        want = np.random.SeedSequence(entropy=root, spawn_key=key).generate_state(n_words, np.uint64)
        assert np.array_equal(words, want), (root, key)


def test_pcg64_state_equals_numpys_seeding():
    keys = _keys(3)
    bits = np.random.PCG64(0)
    for (root, key), words in zip(keys, seeding.generate_states(keys, 4), strict=True):
        bits.state = seeding.pcg64_state(words)
        assert bits.state == np.random.PCG64(np.random.SeedSequence(entropy=root, spawn_key=key)).state


def test_stream_generators_and_keys_equal_the_streams_of_stream_seed():
    keys = [(8128, 0, 3), (8128, 2, 3), (2**40, 7, 0), (0, 0, 0), (8128, 0, 3)]
    for (root, d, s), rng in zip(keys, stream_generators(keys, NOISE_STREAM), strict=True):
        want = np.random.Generator(np.random.PCG64(stream_seed(root, d, s, NOISE_STREAM)))
        assert np.array_equal(rng.random(50), want.random(50))
        assert np.array_equal(rng.standard_normal(7), want.standard_normal(7))
    expected = np.array([stream_seed(root, d, s, CONTRACT_KEY).generate_state(2, np.uint64) for root, d, s in keys])
    assert np.array_equal(stream_states(keys, CONTRACT_KEY, 2), expected)


def test_a_negative_seed_is_refused_with_its_value():
    with pytest.raises(ValueError, match="seed: -1 is negative; allowed: a non-negative integer"):
        seeding.generate_states([(-1, (0, 0))], 2)
