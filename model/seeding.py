"""numpy's ``SeedSequence`` for a batch of stream keys, compiled, and PCG64 generators seeded from it.

A batch of 64 replicas hashed 64 seed sequences for the noise streams and 64 more for the contract keys, each a
Python object whose construction and ``generate_state`` cost about 10 us: a fifth of drawing the replicas' raw noise.
The hash (O'Neill's ``seed_seq_fe``, as numpy implements it) is a few dozen 32-bit multiplications a key, here for
all keys in one compiled call; ``tests/test_seeding.py`` holds every word equal to numpy's ``SeedSequence`` and every
generator equal to ``np.random.PCG64(SeedSequence(...))``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numba import njit

POOL_SIZE = 4  # numpy's DEFAULT_POOL_SIZE
_INIT_A, _MULT_A = np.uint64(0x43B0D7E5), np.uint64(0x931E8875)
_INIT_B, _MULT_B = np.uint64(0x8B51F9DD), np.uint64(0x58F38DED)
_MIX_L, _MIX_R = np.uint64(0xCA01F9DD), np.uint64(0x4973F715)
_SHIFT = np.uint64(16)
_MASK32 = (1 << 32) - 1
_MASK128 = (1 << 128) - 1
# PCG64's 128-bit LCG multiplier (numpy's pcg64.h, PCG_DEFAULT_MULTIPLIER_128).
_PCG_MULT = (2549297995355413924 << 64) + 4865540595714422341


def _words(value: int) -> list[int]:
    """A non-negative integer as numpy's seed sequences read it: 32-bit words, least significant first (0 as one
    word)."""
    if value < 0:
        raise ValueError(f"seed: {value} is negative; allowed: a non-negative integer")
    words = [value & _MASK32] if value == 0 else []
    while value > 0:
        words.append(value & _MASK32)
        value >>= 32
    return words


def entropy(root_seed: int, spawn_key: Sequence[int]) -> list[int]:
    """The words a ``SeedSequence(entropy=root_seed, spawn_key=spawn_key)`` mixes into its pool: the root's words,
    padded with zeros to the pool's size when there is a spawn key, then the key's."""
    run = _words(root_seed)
    spawn = [w for v in spawn_key for w in _words(int(v))]
    if spawn and len(run) < POOL_SIZE:
        run += [0] * (POOL_SIZE - len(run))
    return run + spawn


# The hash in 64-bit integers, each product and shift taken modulo 2**32 (numba widens 32-bit arithmetic).
_M32 = np.uint64(_MASK32)


@njit(cache=True)
def _hashmix(value, hash_const):
    """One word through the entropy hash; ``hash_const`` (one word, in place) advances."""
    value ^= hash_const[0]
    hash_const[0] = (hash_const[0] * _MULT_A) & _M32
    value = (value * hash_const[0]) & _M32
    return value ^ (value >> _SHIFT)


@njit(cache=True)
def _mix(x, y):
    result = (_MIX_L * x - _MIX_R * y) & _M32
    return result ^ (result >> _SHIFT)


@njit(cache=True)
def _states(words, lengths, n_words):
    """Each row's ``generate_state(n_words, np.uint32)``: row ``r``'s entropy is ``words[r, :lengths[r]]``."""
    n_keys = words.shape[0]
    out = np.empty((n_keys, n_words), dtype=np.uint32)
    pool = np.empty(POOL_SIZE, dtype=np.uint64)
    hash_const = np.empty(1, dtype=np.uint64)
    for r in range(n_keys):
        length = lengths[r]
        hash_const[0] = _INIT_A
        for i in range(POOL_SIZE):
            pool[i] = _hashmix(words[r, i] if i < length else np.uint64(0), hash_const)
        for i_src in range(POOL_SIZE):
            for i_dst in range(POOL_SIZE):
                if i_src != i_dst:
                    pool[i_dst] = _mix(pool[i_dst], _hashmix(pool[i_src], hash_const))
        for i_src in range(POOL_SIZE, length):
            for i_dst in range(POOL_SIZE):
                pool[i_dst] = _mix(pool[i_dst], _hashmix(words[r, i_src], hash_const))
        state_const = _INIT_B
        for i in range(n_words):
            value = pool[i % POOL_SIZE] ^ state_const
            state_const = (state_const * _MULT_B) & _M32
            value = (value * state_const) & _M32
            out[r, i] = value ^ (value >> _SHIFT)
    return out


def generate_states(keys: Sequence[tuple[int, Sequence[int]]], n_words: int) -> np.ndarray:
    """(keys, n_words) uint64: each ``SeedSequence(entropy=root, spawn_key=key).generate_state(n_words, np.uint64)``
    for the (root, spawn key) pairs ``keys``."""
    rows = [entropy(root, key) for root, key in keys]
    words = np.zeros((len(rows), max(map(len, rows), default=0)), dtype=np.uint64)
    for r, row in enumerate(rows):
        words[r, :len(row)] = row
    lengths = np.array([len(row) for row in rows], dtype=np.int64)
    # Pairs of 32-bit words read little-endian, as numpy converts them.
    return _states(words, lengths, 2 * n_words).astype("<u4").view("<u8").astype(np.uint64)


def pcg64_state(words: np.ndarray) -> dict:
    """The state of ``np.random.PCG64`` seeded with a seed sequence whose ``generate_state(4, np.uint64)`` is
    ``words``: the first two words the initial state, the last two the stream (``pcg64_set_seed``, then
    ``pcg_setseq_128_srandom_r``)."""
    w = [int(x) for x in words]
    initstate, initseq = (w[0] << 64) | w[1], (w[2] << 64) | w[3]
    inc = ((initseq << 1) | 1) & _MASK128
    state = inc  # one step from zero
    state = (state + initstate) & _MASK128
    state = (state * _PCG_MULT + inc) & _MASK128
    return {"bit_generator": "PCG64", "state": {"state": state, "inc": inc}, "has_uint32": 0, "uinteger": 0}
