"""AUC under each attack of a ``verity eval --attack`` run, per detector *and category*.

``verity eval`` reports robustness per detector over all of a group's files; a lab set mixes
families each detector is or is not meant to see (``visual.blend`` sees pasted faces, not
up-sampled photos), so the per-family rows are the ones to read when choosing where a detector's
domain ends. A family whose category holds no reals (``bench/video_calibration_set.py`` files
reals under their sources) is read against every real. Reads OUT/scores.jsonl; evidence out of a
detector's domain is left out, as in fusion.

    .venv/bin/python bench/robustness_by_category.py /tmp/ev-f94b
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

from core import metrics


def main() -> None:
    out = Path(sys.argv[1])
    rows = [json.loads(line) for line in (out / "scores.jsonl").read_text().splitlines()]
    attacks = ["clean", *dict.fromkeys(r["attack"] for r in rows if r.get("attack"))]
    cells: dict[tuple[str, str, str], list[tuple[float, int]]] = defaultdict(list)
    for r in rows:
        for name, ev in r["detectors"].items():
            if ev.get("raw") is not None and not ev.get("out_of_domain"):
                cells[(name, r["category"], r.get("attack") or "clean")].append(
                    (ev["raw"], r["label"])
                )
    print("| detector | category | " + " | ".join(attacks) + " |")
    print("|---|---|" + "---|" * len(attacks))
    for name, category in sorted({(n, c) for n, c, _ in cells}):
        if all(y == 0 for a in attacks for _, y in cells.get((name, category, a), [])):
            continue  # a category of reals only: read against each family above
        line = []
        for attack in attacks:
            got = cells.get((name, category, attack), [])
            labels = {y for _, y in got}
            if labels == {1}:  # a family without reals of its own: against every real
                same = [v for (n, _c, a), v in cells.items() if (n, a) == (name, attack)]
                got = got + [(score, y) for v in same for score, y in v if y == 0]
                labels = {y for _, y in got}
            if labels != {0, 1}:
                line.append("—")
                continue
            scores, y = np.array([s for s, _ in got]), np.array([y for _, y in got])
            line.append(f"{metrics.auc(scores, y):.3f}")
        print(f"| {name} | {category} | " + " | ".join(line) + " |")


if __name__ == "__main__":
    main()
