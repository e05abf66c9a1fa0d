"""provenance.merkle against RFC 6962 test vectors and the rejections transparency logs test."""

from __future__ import annotations

import hashlib

import pytest

from provenance.merkle import (
    MerkleError,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    root,
    verify_consistency,
    verify_inclusion,
)

# The leaves and roots used by certificate-transparency-go and Trillian's RFC 6962 tests.
VECTOR_LEAVES = [
    b"",
    b"\x00",
    b"\x10",
    b"\x20\x21",
    b"\x30\x31",
    b"\x40\x41\x42\x43",
    b"\x50\x51\x52\x53\x54\x55\x56\x57",
    b"\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f",
]
VECTOR_ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]


def leaves(n: int) -> list[bytes]:
    return [leaf_hash(i.to_bytes(4, "big")) for i in range(n)]


def test_rfc6962_roots() -> None:
    hashed = [leaf_hash(x) for x in VECTOR_LEAVES]
    for size, expected in enumerate(VECTOR_ROOTS, start=1):
        assert root(hashed[:size]).hex() == expected
    assert root([]) == hashlib.sha256(b"").digest()


@pytest.mark.parametrize("size", [*range(1, 71), 1024, 5050])
def test_every_inclusion_proof_verifies_and_tampering_fails(size: int) -> None:
    tree = leaves(size)
    top = root(tree)
    indices = range(size) if size <= 70 else [0, 1, size // 3, size // 2, size - 2, size - 1]
    for index in indices:
        proof = inclusion_proof(index, tree)
        verify_inclusion(tree[index], index, size, proof, top)
        with pytest.raises(MerkleError):
            verify_inclusion(tree[index], index, size, proof, leaf_hash(b"other root"))
        if proof:
            bad = list(proof)
            bad[0] = bytes([bad[0][0] ^ 1]) + bad[0][1:]
            with pytest.raises(MerkleError):
                verify_inclusion(tree[index], index, size, bad, top)
            with pytest.raises(MerkleError):
                verify_inclusion(tree[index], index, size, proof[:-1], top)
        with pytest.raises(MerkleError):
            verify_inclusion(tree[index], index, size, [*proof, top], top)
        if size > 1:
            other = (index + 1) % size
            with pytest.raises(MerkleError):
                verify_inclusion(tree[other], index, size, proof, top)


@pytest.mark.parametrize("size", [*range(1, 71), 1024, 5050])
def test_consistency_proofs(size: int) -> None:
    tree = leaves(size)
    new_root = root(tree)
    olds = range(1, size + 1) if size <= 70 else [1, 2, 7, 8, 9, size // 2, size - 1, size]
    for old in olds:
        old_root = root(tree[:old])
        proof = consistency_proof(old, tree)
        verify_consistency(old, size, old_root, new_root, proof)
        if old < size:
            with pytest.raises(MerkleError):
                verify_consistency(old, size, old_root, new_root, [])  # empty proof for growth
            with pytest.raises(MerkleError):
                verify_consistency(old, size, leaf_hash(b"x"), new_root, proof)
            with pytest.raises(MerkleError):
                verify_consistency(old, size, old_root, leaf_hash(b"x"), proof)
            bad = list(proof)
            bad[-1] = bytes([bad[-1][0] ^ 1]) + bad[-1][1:]
            with pytest.raises(MerkleError):
                verify_consistency(old, size, old_root, new_root, bad)


def test_consistency_edge_rejections() -> None:
    tree = leaves(8)
    with pytest.raises(MerkleError, match="old size"):
        verify_consistency(9, 8, root(tree), root(tree), [])
    with pytest.raises(MerkleError, match="must be empty"):
        verify_consistency(8, 8, root(tree), root(tree), [root(tree)])
    with pytest.raises(MerkleError, match="different roots"):
        verify_consistency(8, 8, root(tree), root(tree[:7]), [])
    with pytest.raises(MerkleError, match="hash"):
        verify_consistency(3, 8, root(tree[:3]), root(tree), [b"short"])


def test_inclusion_input_rejections() -> None:
    tree = leaves(4)
    with pytest.raises(MerkleError, match="outside"):
        verify_inclusion(tree[0], 4, 4, [], root(tree))
    with pytest.raises(MerkleError, match="outside"):
        verify_inclusion(tree[0], 0, 0, [], root(tree))
    with pytest.raises(MerkleError, match="hash"):
        verify_inclusion(b"abc", 0, 4, inclusion_proof(0, tree), root(tree))
    with pytest.raises(ValueError):
        inclusion_proof(5, tree)


def test_frontier_gives_the_same_roots() -> None:
    from provenance.merkle import frontier_push, frontier_root

    tree = leaves(300)
    frontier: list = []
    for size in range(1, 301):
        frontier = frontier_push(frontier, tree[size - 1])
        assert frontier_root(frontier) == root(tree[:size])
        assert sum(s for s, _ in frontier) == size and len(frontier) == bin(size).count("1")


def test_verify_frontier_accepts_the_log_and_names_what_differs() -> None:
    from provenance.merkle import frontier_push, verify_frontier

    tree = leaves(11)
    frontier: list = []
    for leaf in tree:
        frontier = frontier_push(frontier, leaf)
    verify_frontier(frontier, 11, root(tree))  # subtrees of 8, 2 and 1
    verify_frontier([], 0, root([]))
    with pytest.raises(MerkleError, match="gives root"):
        verify_frontier([*frontier[:-1], (1, b"\0" * 32)], 11, root(tree))
    for wrong, size in (
        (frontier[:-1], 11),  # a subtree missing
        (frontier, 12),  # another size
        ([frontier[1], frontier[0], frontier[2]], 11),  # out of order
    ):
        with pytest.raises(MerkleError, match="subtree sizes"):
            verify_frontier(wrong, size, root(tree))
    with pytest.raises(MerkleError, match="not a 32-byte hash"):
        verify_frontier([(8, b"\0"), (2, b"\0" * 32), (1, b"\0" * 32)], 11, root(tree))


def test_roots_that_differ_late_are_shown_until_they_differ() -> None:
    """Two roots differing in their last digit were printed as the same 16 digits."""
    leaves = [leaf_hash(bytes([i])) for i in range(3)]
    tree_root = root(leaves)
    late = tree_root[:-1] + bytes([tree_root[-1] ^ 1])
    proof = inclusion_proof(1, leaves)
    with pytest.raises(MerkleError) as caught:
        verify_inclusion(leaves[1], 1, 3, proof, late)
    got, expected = (
        str(caught.value).removeprefix("inclusion proof gives root ").split(", expected ")
    )
    assert got == tree_root.hex() and expected == late.hex()  # whole: they differ in the last digit
    early = bytes([tree_root[0] ^ 0xFF]) + tree_root[1:]
    with pytest.raises(
        MerkleError, match=rf"root {tree_root.hex()[:16]}…, expected {early.hex()[:16]}…$"
    ):
        verify_inclusion(leaves[1], 1, 3, proof, early)
