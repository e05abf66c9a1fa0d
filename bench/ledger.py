"""Ledger micro-benchmarks with a reference measured in the same run.

- `verity hash` (core.store.sha256_file) on a 1 GiB file against coreutils `sha256sum`.
- RFC 6962 inclusion-proof verification in a tree of 100,000 leaves.
- Gas used by one anchor transaction.

    .venv/bin/python bench/ledger.py [--gib 1]
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import tempfile
import time
from pathlib import Path

from core.store import sha256_file
from provenance import merkle


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--gib", type=float, default=1.0)
    args = parser.parse_args()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, {platform.platform()}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "big.bin"
        block = os.urandom(1 << 20)
        with path.open("wb") as handle:
            for _ in range(int(args.gib * 1024)):
                handle.write(block)
        subprocess.run(["sha256sum", str(path)], check=True, capture_output=True)  # warm cache
        ref = min(
            timed(lambda: subprocess.run(["sha256sum", str(path)], check=True, capture_output=True))
            for _ in range(2)
        )
        ours = min(timed(lambda: sha256_file(path)) for _ in range(2))
    size = args.gib * 1024
    print("| measure | value |")
    print("|---|---|")
    print(f"| sha256sum, {args.gib:g} GiB (reference) | {ref:.2f} s ({size / ref:.0f} MiB/s) |")
    print(
        f"| verity hash, same file | {ours:.2f} s ({size / ours:.0f} MiB/s); "
        f"throughput ratio {ref / ours:.2f} |"
    )
    leaves = [merkle.leaf_hash(i.to_bytes(4, "big")) for i in range(100_000)]
    top = merkle.root(leaves)
    proofs = [(i, merkle.inclusion_proof(i, leaves)) for i in (0, 4_242, 50_000, 99_999)]
    runs = 2000
    t = timed(
        lambda: [
            merkle.verify_inclusion(leaves[i], i, len(leaves), p, top)
            for _ in range(runs // len(proofs))
            for i, p in proofs
        ]
    )
    print(f"| inclusion-proof verification, 100,000 leaves | {t / runs * 1e6:.1f} µs per proof |")
    from web3 import EthereumTesterProvider, Web3

    from provenance.anchor import Web3Anchor

    backend = Web3Anchor(Web3(EthereumTesterProvider()))
    record = backend.anchor(top, len(leaves))
    print(f"| gas per anchor (eth-tester, one checkpoint) | {record.receipt['gasUsed']} |")


if __name__ == "__main__":
    main()
