"""Deterministic, unique, Stripe-looking object ids.

An id is derived from ``(seed, owner, seq)``: ``owner`` is 0 for the catalogue and
``customer_index + 1`` for everything in a customer's graph, ``seq`` is a per-owner
counter.  The pair is packed into 64 bits, xor-ed with a seed key and pushed through
the (bijective) splitmix64 finaliser, then written in base 62 with a fixed width
that can hold every 64-bit value.  So ids never collide within a prefix, look
random, and do not depend on how many other customers were generated.
"""

from __future__ import annotations

import hashlib

B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_M64 = (1 << 64) - 1
_SEQ_BITS = 24


def mix64(x: int) -> int:
    """splitmix64 finaliser: a bijection on 64-bit integers."""
    x &= _M64
    x ^= x >> 30
    x = (x * 0xBF58476D1CE4E5B9) & _M64
    x ^= x >> 27
    x = (x * 0x94D049BB133111EB) & _M64
    x ^= x >> 31
    return x


_B62_PAIRS = [a + b for a in B62 for b in B62]


def b62(x: int, width: int) -> str:
    """Fixed-width base 62 (two digits per step); injective for 0 <= x < 62**width."""
    out = []
    pairs = _B62_PAIRS
    for _ in range(width >> 1):
        x, r = divmod(x, 3844)
        out.append(pairs[r])
    if width & 1:
        out.append(B62[x % 62])
    return "".join(out)


def _b62_11(x: int) -> str:
    """b62(x, 11), unrolled (x < 2**64 < 62**11)."""
    p = _B62_PAIRS
    x, a = divmod(x, 3844)
    x, b = divmod(x, 3844)
    x, c = divmod(x, 3844)
    x, d = divmod(x, 3844)
    x, e = divmod(x, 3844)
    return p[a] + p[b] + p[c] + p[d] + p[e] + B62[x]


class IdFactory:
    def __init__(self, seed: int) -> None:
        h = hashlib.sha256(f"stripe-analytics-demo-ids:{seed}".encode()).digest()
        self.seedkey = int.from_bytes(h[:8], "little")
        self.tag = b62(int.from_bytes(h[8:16], "little"), 10)
        self.account_suffix = b62(int.from_bytes(h[16:24], "little"), 12)

    def body(self, owner: int, seq: int) -> str:
        if not (0 <= seq < 1 << _SEQ_BITS and 0 <= owner < 1 << (64 - _SEQ_BITS)):
            raise ValueError("id space exhausted")
        return _b62_11(mix64(((owner << _SEQ_BITS) | seq) ^ self.seedkey))

    def long(self, prefix: str, owner: int, seq: int) -> str:
        """``sub_1AbCdE<account tag>FgHiJk`` (like ``sub_1Pgc6rB7WZ01zgkWNy0Cn5nw``)."""
        b = self.body(owner, seq)
        return f"{prefix}_1{b[:5]}{self.tag}{b[5:]}"

    def short(self, prefix: str, owner: int, seq: int) -> str:
        """``cus_AbCdEfGhIjKlMn`` (14 characters, like ``cus_QXg1o8vcGmoR32``)."""
        return f"{prefix}_{self.body(owner, seq)}{self.tag[:3]}"
