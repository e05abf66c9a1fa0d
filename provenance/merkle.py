"""RFC 6962 / RFC 9162 Merkle trees: hashes, roots, inclusion and consistency proofs.

Pure functions over bytes. ``verify_*`` return None or raise :class:`MerkleError` saying what was
expected and what was computed; they never return False, so a caller cannot forget to check.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from core.errors import VerificationError

LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
HASH_SIZE = 32


class MerkleError(VerificationError):
    """A proof does not prove what it claims."""


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(NODE_PREFIX + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two strictly smaller than n (n > 1)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def root(leaves: Sequence[bytes]) -> bytes:
    """Merkle tree hash of the given leaf hashes (the empty tree hashes to SHA-256 of nothing)."""
    n = len(leaves)
    if n == 0:
        return hashlib.sha256(b"").digest()
    level = list(leaves)
    # Bottom-up with odd nodes promoted: equal to RFC 6962's recursive definition.
    while len(level) > 1:
        nxt = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0]


def inclusion_proof(index: int, leaves: Sequence[bytes]) -> list[bytes]:
    """The audit path of leaf ``index`` in the tree of ``leaves`` (RFC 6962 §2.1.1)."""
    n = len(leaves)
    if not 0 <= index < n:
        raise ValueError(f"leaf index {index} outside a tree of size {n}")
    if n == 1:
        return []
    k = _split(n)
    if index < k:
        return [*inclusion_proof(index, leaves[:k]), root(leaves[k:])]
    return [*inclusion_proof(index - k, leaves[k:]), root(leaves[:k])]


def consistency_proof(old_size: int, leaves: Sequence[bytes]) -> list[bytes]:
    """Proof that the first ``old_size`` leaves are a prefix of ``leaves`` (RFC 6962 §2.1.2)."""
    n = len(leaves)
    if not 0 < old_size <= n:
        raise ValueError(f"old size {old_size} must be in 1..{n}")

    def subproof(m: int, tree: Sequence[bytes], complete: bool) -> list[bytes]:
        size = len(tree)
        if m == size:
            return [] if complete else [root(tree)]
        k = _split(size)
        if m <= k:
            return [*subproof(m, tree[:k], complete), root(tree[k:])]
        return [*subproof(m - k, tree[k:], False), root(tree[:k])]

    return subproof(old_size, leaves, True)


def _check_hash(value: bytes, what: str) -> None:
    if not isinstance(value, bytes) or len(value) != HASH_SIZE:
        raise MerkleError(f"{what} is not a {HASH_SIZE}-byte hash")


def root_from_inclusion(index: int, tree_size: int, leaf: bytes, proof: Sequence[bytes]) -> bytes:
    """The root that ``proof`` implies for ``leaf`` at ``index`` (RFC 9162 §2.1.3.2)."""
    if tree_size < 1 or not 0 <= index < tree_size:
        raise MerkleError(f"leaf index {index} outside a tree of size {tree_size}")
    _check_hash(leaf, "leaf hash")
    fn, sn = index, tree_size - 1
    node = leaf
    for step, sibling in enumerate(proof):
        _check_hash(sibling, f"proof element {step}")
        if sn == 0:
            raise MerkleError("inclusion proof is longer than the tree is deep")
        if fn % 2 == 1 or fn == sn:
            node = node_hash(sibling, node)
            while fn % 2 == 0 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            node = node_hash(node, sibling)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise MerkleError("inclusion proof is shorter than the tree is deep")
    return node


def _mismatch(got: bytes, expected: bytes) -> str:
    """``got…, expected …`` with as many hex digits as it takes to see them differ (16 at
    least): two roots differing only in their last digit printed as the same 16 digits."""
    a, b = got.hex(), expected.hex()
    same = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), len(a))
    shown = max(16, same + 4)
    cut = "…" if shown < max(len(a), len(b)) else ""
    return f"{a[:shown]}{cut}, expected {b[:shown]}{cut}"


def verify_inclusion(
    leaf: bytes, index: int, tree_size: int, proof: Sequence[bytes], expected_root: bytes
) -> None:
    computed = root_from_inclusion(index, tree_size, leaf, proof)
    if computed != expected_root:
        raise MerkleError(f"inclusion proof gives root {_mismatch(computed, expected_root)}")


def verify_consistency(
    old_size: int,
    new_size: int,
    old_root: bytes,
    new_root: bytes,
    proof: Sequence[bytes],
) -> None:
    """Check that the tree of ``old_size`` is a prefix of the tree of ``new_size`` (RFC 9162)."""
    if old_size < 1 or old_size > new_size:
        raise MerkleError(f"old size {old_size} must be in 1..{new_size}")
    if old_size == new_size:
        if proof:
            raise MerkleError("a consistency proof between equal sizes must be empty")
        if old_root != new_root:
            raise MerkleError("equal sizes but different roots")
        return
    if not proof:
        raise MerkleError("empty consistency proof for a tree that grew")
    for step, element in enumerate(proof):
        _check_hash(element, f"proof element {step}")
    path = list(proof)
    if old_size & (old_size - 1) == 0:  # a power of two: the old root is itself a node
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for element in path[1:]:
        if sn == 0:
            raise MerkleError("consistency proof is too long")
        if fn & 1 or fn == sn:
            fr = node_hash(element, fr)
            sr = node_hash(element, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, element)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise MerkleError("consistency proof is too short")
    if fr != old_root:
        raise MerkleError(f"proof gives old root {_mismatch(fr, old_root)}")
    if sr != new_root:
        raise MerkleError(f"proof gives new root {_mismatch(sr, new_root)}")


Frontier = list[tuple[int, bytes]]


def frontier_push(frontier: Frontier, leaf: bytes) -> Frontier:
    """Append a leaf to the compact range of perfect subtrees (sizes strictly decreasing).

    A log keeps only this frontier, O(log n) hashes, to compute the next root in O(log n).
    """
    out = [*frontier, (1, leaf)]
    while len(out) >= 2 and out[-1][0] == out[-2][0]:
        size, right = out.pop()
        _, left = out.pop()
        out.append((2 * size, node_hash(left, right)))
    return out


def frontier_root(frontier: Frontier) -> bytes:
    """The RFC 6962 root of the tree whose frontier this is."""
    if not frontier:
        return hashlib.sha256(b"").digest()
    value = frontier[-1][1]
    for _, subtree in reversed(frontier[:-1]):
        value = node_hash(subtree, value)
    return value


def verify_frontier(frontier: Frontier, tree_size: int, expected_root: bytes) -> None:
    """Check that ``frontier`` is the frontier of a tree of ``tree_size`` leaves with that root.

    A log extends its frontier instead of rehashing every leaf, so a wrong frontier would become
    the next signed root; this is the check that it still is the tree the last root was signed
    for. The subtree sizes must be the binary decomposition of ``tree_size`` (largest first).
    """
    sizes = [size for size, _ in frontier]
    bits = range(max(tree_size, 0).bit_length() - 1, -1, -1)
    expected = [1 << bit for bit in bits if tree_size >> bit & 1]
    if sizes != expected:
        raise MerkleError(
            f"frontier subtree sizes {sizes} are not those of a tree of size {tree_size}"
        )
    for step, (_, subtree) in enumerate(frontier):
        _check_hash(subtree, f"frontier element {step}")
    computed = frontier_root(frontier)
    if computed != expected_root:
        raise MerkleError(f"frontier gives root {_mismatch(computed, expected_root)}")
