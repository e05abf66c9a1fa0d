"""Is system A better than system B on the same files, beyond what the sample size allows?

Two ``verity eval`` runs over one manifest (say the shipped weights and a candidate's,
``verity eval --weights NAME=DIR``), or two systems of one run (a detector against the fused
verdict): each AUC with its 95% score interval, and the paired difference with a stratified
bootstrap interval (``core.metrics.paired_auc_difference``), on the files both scored. The
rule for replacing shipped weights ("only when the card's numbers improve") asks for the last
column to exclude zero, not for a larger point estimate.

    .venv/bin/python bench/compare_evals.py RUN_A RUN_B --group audio --system audio.lfcc_gmm
    .venv/bin/python bench/compare_evals.py RUN RUN --group video --system visual.blend \\
        --system-b fused
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

from core import metrics
from core.eval_report import GROUPS, system_scores
from core.evaluation import load_done


def clean_records(run: Path) -> list[dict[str, Any]]:
    """The run's clean (not attacked) records, the latest per file."""
    latest: dict[str, dict[str, Any]] = {}
    for record in load_done(run / "scores.jsonl").values():
        if record.get("attack") is None and record.get("status") == "ok":
            latest[record["file"]] = record
    return list(latest.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_a", type=Path)
    parser.add_argument("run_b", type=Path)
    parser.add_argument("--group", choices=GROUPS, required=True)
    parser.add_argument("--system", required=True, help="detector, modality:NAME or fused")
    parser.add_argument("--system-b", help="the system of RUN_B (default: --system)")
    parser.add_argument("--resamples", type=int, default=2000)
    args = parser.parse_args()
    name_b = args.system_b or args.system
    a = system_scores(clean_records(args.run_a), args.group, args.system)
    b = system_scores(clean_records(args.run_b), args.group, name_b)
    files = sorted(set(a) & set(b))
    if not files:
        raise SystemExit("the two systems scored no file in common")
    labels = np.array([a[f][0] for f in files])
    if any(a[f][0] != b[f][0] for f in files):
        raise SystemExit("the runs disagree on a label: not the same manifest")
    scores_a = np.array([a[f][1] for f in files])
    scores_b = np.array([b[f][1] for f in files])
    n_real, n_fake = int((labels == 0).sum()), int((labels == 1).sum())
    if not n_real or not n_fake:
        raise SystemExit("the common files hold only one class")
    print(f"{len(files)} common files ({n_real} real, {n_fake} fake); left out: "
          f"{len(a) - len(files)} only in A, {len(b) - len(files)} only in B")  # fmt: skip
    for label, name, scores in (("A", args.system, scores_a), ("B", name_b, scores_b)):
        auc = metrics.auc(scores, labels)
        low, high = metrics.auc_interval(auc, n_real, n_fake)
        print(f"{label} {name}: AUC {auc:.3f} [{low:.3f}, {high:.3f}]")
    diff, (low, high) = metrics.paired_auc_difference(
        scores_a, scores_b, labels, resamples=args.resamples
    )
    verdict = "A better" if low > 0 else "B better" if high < 0 else "no difference shown"
    print(f"A − B: {diff:+.3f} [{low:+.3f}, {high:+.3f}] (paired bootstrap, 95%): {verdict}")


if __name__ == "__main__":
    main()
