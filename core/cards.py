"""Model cards: what a detector version detects, what it cannot, its data and measured errors.

A card is ``card.json`` beside the detector's weights (``modalities/<modality>/weights/
<name>-<version>/``). Its metrics are written from a ``verity eval`` run by ``verity detectors
card NAME --from-eval DIR`` (never typed by hand), with the manifest's hash and the command, so
anyone can re-run the evaluation and get the same numbers. Every analysis cites the card's SHA-256.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from core.calibration import atomic_write, shipped_dir
from core.detector import DetectorSpec
from core.errors import BadInputError, DetectorError

METRIC_KEYS = (
    "n_real",
    "n_fake",
    "auc",
    "auc_ci",
    "eer",
    "cllr",
    "ece",
    "fpr",
    "fpr_ci",
    "fnr",
    "fnr_ci",
)


def card_path(spec: DetectorSpec) -> Path:
    return shipped_dir(spec) / "card.json"


def load_card(spec: DetectorSpec) -> tuple[dict[str, Any], str] | None:
    """The card and the SHA-256 of its bytes, or None when this version ships none."""
    path = card_path(spec)
    if not path.is_file():
        return None
    raw = path.read_bytes()
    try:
        card = json.loads(raw)
    except ValueError as exc:
        raise DetectorError(f"model card {path} is not JSON: {exc}") from None
    if card.get("detector") != spec.name or card.get("version") != spec.version:
        raise DetectorError(f"model card {path} describes another detector version")
    return card, hashlib.sha256(raw).hexdigest()


def metrics_from_eval(eval_dir: Path, spec: DetectorSpec) -> dict[str, Any]:
    """The card's evaluation section from an eval run's metrics.json (per media group)."""
    path = eval_dir / "metrics.json"
    if not path.is_file():
        raise BadInputError(f"{path}: no metrics.json; run `verity eval` first")
    result = json.loads(path.read_text(encoding="utf-8"))
    groups = {}
    for group, data in result["groups"].items():
        system = data["systems"].get(spec.name)
        if system is not None:
            overall = system["overall"]
            groups[group] = {k: overall.get(k) for k in METRIC_KEYS}
            groups[group]["by_category"] = {
                c: {k: m.get(k) for k in METRIC_KEYS} for c, m in system["by_category"].items()
            }
    if not groups:
        raise BadInputError(f"{path}: the run did not score {spec.name}")
    info = result.get("info", {})
    return {
        "evaluation": {
            "manifest": info.get("manifest"),
            "manifest_sha256": info.get("manifest_sha256"),
            "contents_sha256": info.get("contents_sha256"),
            "signature": info.get("signature"),
            "normalize_codec": info.get("normalize_codec"),
            "threshold_p_fake": result.get("threshold_p_fake"),
        },
        "metrics": groups,
    }


def update_card_metrics(spec: DetectorSpec, eval_dir: Path) -> Path:
    loaded = load_card(spec)
    if loaded is None:
        raise BadInputError(
            f"{spec.name} {spec.version} ships no card to update at {card_path(spec)}"
        )
    card, _ = loaded
    card.update(metrics_from_eval(eval_dir, spec))
    return atomic_write(card_path(spec), json.dumps(card, indent=1, sort_keys=True) + "\n")
