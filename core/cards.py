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
from core.canonical import parse_untrusted_json
from core.detector import DetectorSpec
from core.errors import BadInputError, DetectorError, display_name

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


class _NotMetrics(Exception):
    """What in an eval run's metrics.json is not the shape ``verity eval`` writes."""


def _mapping(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        raise _NotMetrics(f"{where} is missing")
    if not isinstance(value, dict):
        raise _NotMetrics(f"{where} is {type(value).__name__}, not an object")
    return value


def _metric_values(value: Any, where: str, *, required: bool = False) -> dict[str, Any]:
    """The card's metric keys of one block; ``required``: every key must be there (a value may
    be null, as ``verity eval`` writes where a metric is undefined), so that a block without the
    numbers never fills a card with nulls."""
    data = _mapping(value, where)
    missing = [k for k in METRIC_KEYS if k not in data]
    if required and missing:
        raise _NotMetrics(f"{where} lacks {', '.join(missing)}")
    return {k: data.get(k) for k in METRIC_KEYS}


def _scored_version(signature: Any, name: str) -> str | None:
    """The version of ``name`` an eval run's signature says was scored (``name=1.1.1/...``),
    or None when the signature does not say."""
    if not isinstance(signature, str):
        return None
    for part in signature.split(";"):
        if part.startswith(f"{name}="):
            return part[len(name) + 1 :].split("/", 1)[0]
    return None


def metrics_from_eval(eval_dir: Path, spec: DetectorSpec) -> dict[str, Any]:
    """The card's evaluation section from an eval run's metrics.json (per media group).

    Anything that is not the metrics file of a ``verity eval`` run (unreadable, not JSON, another
    shape) is one BadInputError naming the file, raised before the card is touched."""
    path = eval_dir / "metrics.json"
    if not path.is_file():
        raise BadInputError(f"{display_name(path)}: no metrics.json; run `verity eval` first")
    try:
        # depth measured before parsing: once py_ecc has raised the recursion limit, a deeply
        # nested file overflows the C stack inside json (a crash, not an exception)
        result = _mapping(parse_untrusted_json(path.read_bytes()), "the file")
        groups = {}
        for group, value in _mapping(result.get("groups"), "'groups'").items():
            systems = _mapping(_mapping(value, f"group {group!r}").get("systems"), "'systems'")
            if spec.name not in systems:
                continue
            system = _mapping(systems[spec.name], spec.name)
            by_category = _mapping(system.get("by_category"), f"{spec.name} 'by_category'")
            categories = {c: _metric_values(m, f"category {c!r}") for c, m in by_category.items()}
            groups[group] = _metric_values(
                system.get("overall"), f"{spec.name} 'overall'", required=True
            )
            groups[group]["by_category"] = categories
        info = _mapping(result.get("info", {}), "'info'")
    except OSError as exc:
        raise BadInputError(f"{display_name(path)}: unreadable ({exc.strerror})") from None
    except ValueError as exc:  # not UTF-8, not JSON, nested too deep
        raise BadInputError(
            f"{display_name(path)}: not a verity eval metrics file (not JSON: {exc})"
        ) from None
    except _NotMetrics as exc:
        raise BadInputError(
            f"{display_name(path)}: not a verity eval metrics file ({exc})"
        ) from None
    if not groups:
        raise BadInputError(f"{display_name(path)}: the run did not score {spec.name}")
    scored = _scored_version(info.get("signature"), spec.name)
    if scored is not None and scored != spec.version:  # another version's numbers: not its card
        raise BadInputError(
            f"{display_name(path)}: the run scored {spec.name} {display_name(scored)}, "
            f"not {spec.version}; evaluate this version again (verity eval)"
        )
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
