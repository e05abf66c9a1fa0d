"""Formatting shared by the HTML and PDF renderings, so both say the same thing the same way."""

from __future__ import annotations

import json
from typing import Any

CARD_METRICS = ("n_real", "n_fake", "auc", "eer", "fpr", "fnr", "cllr")


def visible(text: str) -> str:
    """``text`` with every character that is not printable shown as its escape (``\\u202e``).

    Why: a case description is free text, and a control or format character in it acts instead
    of being read: U+202E RIGHT-TO-LEFT OVERRIDE reverses what follows it in a browser (so that
    "gpj.exe" reads "exe.jpg"), zero-width characters hide, NUL and ESC vanish or show as boxes.
    File names are escaped the same way at intake (``core.errors.display_name``). Line breaks
    and tabs stay: they are white space in both renderings.
    """
    return "".join(
        ch if ch.isprintable() or ch in "\n\t" else ch.encode("unicode_escape").decode("ascii")
        for ch in text
    )


def num(value: Any, digits: int = 3) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def interval(value: Any, digits: int = 3) -> str:
    if not value or len(value) != 2 or value[0] is None or value[1] is None:
        return "—"
    return f"[{value[0]:.{digits}f}, {value[1]:.{digits}f}]"


def rate(value: Any, ci: Any) -> str:
    """A rate (or an AUC) with its 95% interval, e.g. ``0.125 [0.02, 0.47]``."""
    if value is None:
        return "—"
    return f"{value:.3f} {interval(ci, 2)}" if ci else f"{value:.3f}"


def card_metric_rows(card: dict[str, Any] | None) -> list[dict[str, str]]:
    """One row per media group of a model card's measured metrics."""
    if not card:
        return []
    rows = []
    for group, metrics in sorted((card.get("metrics") or {}).items()):
        if not isinstance(metrics, dict):
            continue
        rows.append(
            {
                "group": str(group),
                "n": f"{num(metrics.get('n_real'))} real / {num(metrics.get('n_fake'))} fake",
                "auc": rate(metrics.get("auc"), metrics.get("auc_ci")),
                "eer": num(metrics.get("eer")),
                "fpr": rate(metrics.get("fpr"), metrics.get("fpr_ci")),
                "fnr": rate(metrics.get("fnr"), metrics.get("fnr_ci")),
                "cllr": num(metrics.get("cllr")),
            }
        )
    return rows


def card_text(card: dict[str, Any] | None, key: str) -> str:
    if not card:
        return ""
    value = card.get(key)
    return value if isinstance(value, str) else ""


def pretty_json(value: Any) -> str:
    return json.dumps(value, indent=1, sort_keys=True, ensure_ascii=False)


def compact_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(", ", ": "))


def size_line(exhibit: dict[str, Any]) -> str:
    text = f"{exhibit['kind']}, {exhibit['size_bytes']} bytes"
    if exhibit.get("duration_s") is not None:
        text += f", {num(exhibit['duration_s'])} s"
    return text


def scope_line(subject: dict[str, Any]) -> str:
    ids = subject.get("analysis_ids")
    if ids:
        return "analysis " + ", ".join(str(i) for i in ids) + " only"
    return "every analysis in the case"


def signer_line(key_id: str | None) -> str:
    if not key_id:
        return "not recorded in the document; see the signature file"
    return (
        f"report key {key_id}; the detached signature file (REPORT.sig) holds the signatures "
        "and the public key"
    )


def media_line(probe: dict[str, Any] | None) -> str:
    """What the probe measured of a file: container, and each stream's codec, size and rates."""
    if not isinstance(probe, dict):
        return "not probed"
    parts = []
    container = probe.get("container_long") or probe.get("container")
    if container:
        parts.append(f"container {container}")
    video = probe.get("video")
    if isinstance(video, dict):
        text = f"video {video.get('codec') or 'unknown codec'}"
        if video.get("width") and video.get("height"):
            text += f" {video['width']}×{video['height']}"
        if isinstance(video.get("fps"), int | float):
            text += f", {video['fps']:g} fps"
        if isinstance(video.get("frame_count"), int):
            estimated = " (estimated)" if video.get("frame_count_estimated") else ""
            text += f", {video['frame_count']} frame(s){estimated}"
        for key in ("pix_fmt", "hdr"):
            if video.get(key):
                text += f", {video[key]}"
        if video.get("display_rotation"):
            text += f", shown rotated {video['display_rotation']}°"
        if video.get("display_mirrored"):
            text += ", shown mirrored"
        if video.get("interlaced"):
            text += ", interlaced"
        parts.append(text)
    audio = probe.get("audio")
    if isinstance(audio, dict):
        text = f"audio {audio.get('codec') or 'unknown codec'}"
        if audio.get("sample_rate"):
            text += f", {audio['sample_rate']} Hz"
        if audio.get("channels"):
            text += f", {audio['channels']} channel(s)"
        parts.append(text)
    return "; ".join(parts) or "no stream found"


def ledger_line(ledger: dict[str, Any] | None) -> str:
    if not ledger:
        return "not registered in the provenance ledger"
    line = (
        f"leaf #{ledger.get('leaf_index')} of a log of {ledger.get('tree_size')}, root "
        f"{ledger.get('root_hash')}, checkpoint signed by key {ledger.get('key_id')} at "
        f"{ledger.get('checkpoint_time')}"
    )
    anchor = ledger.get("anchor")
    if anchor:
        line += (
            f"; anchored on chain {anchor.get('chain_id')} in tx {anchor.get('tx_hash')} "
            f"(block {anchor.get('block_number')})"
        )
    return line


def verdict_line(analysis: dict[str, Any]) -> str:
    text = f"{analysis['verdict']}, p_fake {num(analysis.get('p_fake'))}"
    if analysis.get("p_fake_interval"):
        text += f" (95% interval {interval(analysis['p_fake_interval'])})"
    return text
