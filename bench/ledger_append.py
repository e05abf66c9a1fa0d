"""Appending leaves to the registration log on SQLite (goal: ≥ 10,000 leaves/s).

Reference measured in the same run: inserting the same rows with no Merkle work or signature, so
the number separates the log's cost from the database's.

    .venv/bin/python bench/ledger_append.py [--leaves 100000] [--batch 1000]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import insert

from core.app import Verity
from core.canonical import canonical_json
from core.config import load_settings
from core.db import LedgerLeaf
from provenance.ledger import append_records


def records(start: int, count: int) -> list[dict]:
    return [
        {
            "schema_version": 1,
            "media_sha256": hashlib.sha256(str(i).encode()).hexdigest(),
            "kind": "image",
            "registrant": "bench",
            "registered_at": "2026-11-27T00:00:00Z",
            "case_id": None,
            "note": "",
            "verdict": None,
            "fingerprint": None,
        }
        for i in range(start, start + count)
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--leaves", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=1000)
    args = parser.parse_args()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, {platform.platform()}"
    )
    for label in ("reference: plain inserts", "ledger append_records"):
        with tempfile.TemporaryDirectory() as tmp:
            app = Verity.open(load_settings(home=Path(tmp)))
            now = datetime.now(UTC)
            started = time.perf_counter()
            for start in range(0, args.leaves, args.batch):
                batch = records(start, args.batch)
                with app.db.session() as session:
                    if label.startswith("reference"):
                        rows = [
                            {
                                "idx": start + k,
                                "media_sha256": r["media_sha256"],
                                "leaf_hash": hashlib.sha256(canonical_json(r)).hexdigest(),
                                "record": canonical_json(r).decode(),
                                "created_at": now,
                            }
                            for k, r in enumerate(batch)
                        ]
                        session.execute(insert(LedgerLeaf), rows)
                    else:
                        append_records(session, app, batch)
            elapsed = time.perf_counter() - started
            app.close()
        print(
            f"| {label}, {args.leaves} leaves in batches of {args.batch} | {elapsed:.1f} s | "
            f"{args.leaves / elapsed:,.0f} leaves/s |"
        )


if __name__ == "__main__":
    main()
