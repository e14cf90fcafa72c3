"""Random numbers addressed by a key and a counter: numpy's Philox (4 x 64 bits, 10 rounds) at any counter, compiled.

A stream gives its numbers in order, so a draw depends on how many came before it. The arms market's contracts need
the opposite: a contract's row must depend on its own address (replica, year, buyer, its number among the buyer's
contracts that year) and on nothing else, so that two scenarios run on the same seed keep common random numbers
contract by contract, and one extra contract in one state does not move the draws of every later contract in the
region (docs/ODD.md §10.34). A counter-based generator gives that by construction (Salmon et al. 2011). The algorithm
is numpy's own ``Philox`` bit generator, and ``tests/test_channels.py`` checks these blocks against it word for word.
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

# Philox4x64's round multipliers and Weyl key increments (Random123; numpy's philox.h).
_M0, _M1 = np.uint64(0xD2E7470EE14C6C93), np.uint64(0xCA5A826395121157)
_W0, _W1 = np.uint64(0x9E3779B97F4A7C15), np.uint64(0xBB67AE8584CAA73B)
_S11 = np.uint64(11)
ROUNDS = 10
# numpy's Philox.random(): the top 53 bits of a word, times 2**-53.
_TO_UNIT = 1.0 / 9007199254740992.0


@intrinsic
def _mulhilo(typingctx, a, b):
    """The high and low words of the 128-bit product of two words, as one LLVM multiplication (numba has no 128-bit
    integer; four 32-bit products took twice as long)."""
    sig = types.UniTuple(types.uint64, 2)(types.uint64, types.uint64)

    def codegen(context, builder, signature, args):
        wide = ir.IntType(128)
        product = builder.mul(builder.zext(args[0], wide), builder.zext(args[1], wide))
        hi = builder.trunc(builder.lshr(product, ir.Constant(wide, 64)), ir.IntType(64))
        return context.make_tuple(builder, signature.return_type, [hi, builder.trunc(product, ir.IntType(64))])

    return sig, codegen


@njit(cache=True)
def philox_block(c0, c1, c2, c3, k0, k1, out) -> None:
    """Philox4x64-10 of counter ``(c0, c1, c2, c3)`` (``c0`` the lowest word) under key ``(k0, k1)``: four words into
    ``out[:4]`` as uniforms in [0, 1), as numpy's ``Generator(Philox(counter=c - 1, key=k)).random(4)`` gives them (its
    generator steps the counter before each block)."""
    for r in range(ROUNDS):
        if r > 0:
            k0, k1 = k0 + _W0, k1 + _W1
        hi0, lo0 = _mulhilo(c0, _M0)
        hi1, lo1 = _mulhilo(c2, _M1)
        c0, c1, c2, c3 = hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0
    out[0] = (c0 >> _S11) * _TO_UNIT
    out[1] = (c1 >> _S11) * _TO_UNIT
    out[2] = (c2 >> _S11) * _TO_UNIT
    out[3] = (c3 >> _S11) * _TO_UNIT


@njit(cache=True)
def uniforms(key: np.ndarray, a: int, b: int, c: int, out: np.ndarray, first: int = 0) -> None:
    """``len(out)`` (a multiple of 4) uniforms of address ``(a, b, c)`` under ``key`` (two words), from block
    ``first`` on: block ``j`` is Philox at counter ``(j, a, b, c)``, so distinct addresses never share a block, and a
    caller can draw an address's later blocks only when it needs them."""
    k0, k1 = key[0], key[1]
    ua, ub, uc = np.uint64(a), np.uint64(b), np.uint64(c)
    for j in range(len(out) // 4):
        philox_block(np.uint64(first + j), ua, ub, uc, k0, k1, out[4 * j:4 * j + 4])
