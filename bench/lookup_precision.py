"""How often unrelated pictures come within `verity lookup`'s near-copy threshold of each other.

Every pair of N pictures of different people from ../shared/train-corpus (LFW grey crops, AAF
aligned colour faces, Faces94 studio portraits; same-identity pairs left out) is compared as
`verity lookup` compares a query with a registered picture (``provenance.fingerprint``: the
query as it is against every stored crop window, and the other way round). The pHash windows are
compared as 64-bit integers with a vectorised popcount, which gives exactly
``fingerprint.distance`` (checked on a sample of pairs below), for the 400,000 pairs of 900
pictures in about a minute.

    .venv/bin/python bench/lookup_precision.py --root ../shared/train-corpus

Reference in the same run: the distribution of distances itself (quantiles) and the share of
pairs at or under each candidate threshold; a pair at distance 0 may be a duplicate inside the
data set (AAF holds a few), so the closest pairs are printed to be looked at.
"""

from __future__ import annotations

import argparse
import csv
import random
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.media import MediaKind
from provenance.fingerprint import IMAGE_MATCH_BITS, distance, fingerprint

GROUPS = (("faces/lfw_gray/", 500), ("faces/aaf/", 300), ("faces/faces94/", 100))


def _popcount(x: np.ndarray) -> np.ndarray:
    count = np.zeros(x.shape, np.uint64)
    x = x.copy()
    for _ in range(64):
        count += x & np.uint64(1)
        x >>= np.uint64(1)
    return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path("../shared/train-corpus"))
    parser.add_argument("--seed", type=int, default=20261208)
    args = parser.parse_args()
    rows = list(csv.DictReader((args.root / "manifest.csv").open(encoding="utf-8")))
    rng = random.Random(args.seed)  # noqa: S311  a reproducible sample, not a secret
    pick = []
    for prefix, n in GROUPS:
        group = [r for r in rows if r["file"].startswith(prefix)]
        pick += rng.sample(group, min(n, len(group)))
    started = time.time()
    prints = [fingerprint(args.root / r["file"], MediaKind.IMAGE) for r in pick]
    print(f"{len(prints)} fingerprints in {time.time() - started:.0f} s")
    windows = max(len(p["windows"]) for p in prints)
    table = np.array(
        [
            [int(h, 16) for h in p["windows"]]
            + [int(p["windows"][0], 16)] * (windows - len(p["windows"]))
            for p in prints
        ],
        dtype=np.uint64,
    )
    whole = table[:, 0]
    labels = [(r["file"].split("/")[1], r["identity"]) for r in pick]
    found: list[tuple[int, int, int]] = []
    for i in range(len(pick)):
        query_whole = _popcount(np.bitwise_xor(whole[i], table[i + 1 :])).min(axis=1)
        query_windows = _popcount(np.bitwise_xor(table[i][None, :], whole[i + 1 :, None])).min(
            axis=1
        )
        nearest = np.minimum(query_whole, query_windows)
        found += [
            (int(d), i, j)
            for d, j in zip(nearest, range(i + 1, len(pick)), strict=True)
            if labels[i] != labels[j]
        ]
    for d, i, j in rng.sample(found, 200):  # the vectorised form is the library's rule
        assert d == distance(prints[i], prints[j]) == distance(prints[j], prints[i])
    values = np.array([d for d, _, _ in found])
    print(f"{len(values)} pairs of different people")
    print("quantiles:", {q: float(np.quantile(values, q)) for q in (0, 1e-4, 1e-3, 1e-2, 0.5)})
    for limit in (8, 10, IMAGE_MATCH_BITS, 14, 16):
        share = float((values <= limit).mean())
        print(f"at or under {limit} bits: {(values <= limit).sum()} pairs ({100 * share:.2f} %)")
    by_group = Counter(
        tuple(sorted((labels[i][0], labels[j][0]))) for d, i, j in found if d <= IMAGE_MATCH_BITS
    )
    print(f"within the threshold ({IMAGE_MATCH_BITS} bits), by source pair: {dict(by_group)}")
    for d, i, j in sorted(found)[:6]:
        print(f"  {d:2d} bits  {pick[i]['file']}  {pick[j]['file']}")


if __name__ == "__main__":
    main()
