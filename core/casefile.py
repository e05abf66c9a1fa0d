"""A case file: everything a reader of the evidence needs, in the order they need it.

The dashboard's case file shows the verdict first, then why (each detector's calibrated score and
the error rates measured on its model card), then the per-frame and per-segment series, C2PA and
the custody log with its verification. Opening a case file is itself evidence handling: it is a
``view`` event in the case's custody chain, naming the person (see :func:`open_case_file`).
Registration and anchoring state come from ``provenance`` (provenance.status): core never
imports it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import selectinload

from core import services
from core.app import Verity
from core.canonical import parse_untrusted_json
from core.cards import load_card
from core.custody import Action, append_event, recorded_digests, verify_analysis_recorded
from core.db import Analysis, Case, CaseMedia, CustodyEvent, MediaItem
from core.errors import NotFoundError, UnknownDetectorError, VerificationError
from core.results import analysis_json, media_json


def search_cases(app: Verity, query: str = "") -> list[dict[str, Any]]:
    """Cases whose name or description contains ``query`` (case-insensitive), newest first."""
    text = query.strip()
    cases = services.list_cases(app)
    if text:
        needle = text.lower()
        cases = [
            c for c in cases if needle in c["name"].lower() or needle in c["description"].lower()
        ]
    return sorted(cases, key=lambda c: c["created_at"], reverse=True)


def _series(analysis: Analysis) -> list[dict[str, Any]]:
    """Per-detector time series (frame or segment scores) kept in each result's evidence."""
    out = []
    for result in sorted(analysis.results, key=lambda r: r.position):
        evidence = result.evidence or {}
        for point in evidence.get("series", []):
            out.append(
                {
                    "detector": result.detector,
                    "modality": result.modality,
                    "start_s": point["start_s"],
                    "end_s": point["end_s"],
                    "score": point["score"],
                }
            )
    return out


def _card(app: Verity, name: str, version: str, cited: str | None) -> dict[str, Any]:
    """The detector's model card as in force now, and whether it is the one the analysis cited."""
    try:
        spec = app.registry.spec(name)
    except UnknownDetectorError:
        return {"available": False, "note": f"{name} is not installed here"}
    if spec.version != version:
        return {"available": False, "note": f"installed version is {spec.version}, not {version}"}
    loaded = load_card(spec)
    if loaded is None:
        return {"available": False, "note": f"{name} {version} ships no model card"}
    card, sha = loaded
    return {
        "available": True,
        "sha256": sha,
        "cited": cited == sha,
        "note": "" if cited == sha else "the card changed since this analysis was made",
        "detects": card.get("detects"),
        "cannot_detect": card.get("cannot_detect"),
        "limitations": card.get("limitations"),
        "metrics": card.get("metrics") or {},
    }


def _analysis_view(
    app: Verity,
    session: Any,
    analysis: Analysis,
    media: MediaItem,
    name: str,
    recorded: dict[str, Any],
) -> dict[str, Any]:
    result = analysis_json(analysis, media, name)
    try:  # a page draws the verdict large: an altered one must be named, not drawn
        verify_analysis_recorded(session, analysis, recorded)
        result["record_problem"] = None
    except VerificationError as exc:
        result["record_problem"] = str(exc)
    result["series"] = _series(analysis)
    evidence = {r.detector: r.evidence or {} for r in analysis.results}
    for det in result["detectors"]:
        det["card"] = _card(app, det["name"], det["version"], det.get("card_sha256"))
        det["artifacts"] = list(evidence.get(det["name"], {}).get("artifacts", []))
    return result


def _events(session: Any, case_id: str) -> list[dict[str, Any]]:
    rows = session.scalars(
        select(CustodyEvent).where(CustodyEvent.chain == case_id).order_by(CustodyEvent.seq)
    )
    return [
        {
            "seq": e.seq,
            "at": e.at,
            "actor": e.actor,
            "action": e.action,
            "object_sha256": e.object_sha256,
            "details": _details(e.details),
            "event_hash": e.event_hash,
        }
        for e in rows
    ]


def _details(raw: str) -> dict[str, Any]:
    """An event's details for display. Altered ones that no longer parse are shown as they are
    (the custody verification beside them names the event), never a reason not to show the log."""
    try:
        details = parse_untrusted_json(raw)
    except (TypeError, ValueError):
        details = None
    return details if isinstance(details, dict) else {"unreadable": str(raw)[:500]}


def case_file(app: Verity, case_ref: str, *, detail: bool = True) -> dict[str, Any]:
    """The case, each media item with its analyses (newest first), and the custody log.

    ``detail`` adds what a page draws (per-frame series, the cards in force, figures) to each
    analysis; without it an analysis is exactly its ``verity show --json`` form, which keeps a
    long case readable on a terminal and its JSON the size of its records.
    """
    with app.db.session() as session:
        case = services.resolve_case(session, case_ref)
        links = session.scalars(
            select(CaseMedia)
            .where(CaseMedia.case_id == case.id)
            .options(selectinload(CaseMedia.media))
            .order_by(CaseMedia.added_at)
        ).all()
        recorded = recorded_digests(session, case.id) if detail else {}
        items = []
        for link in links:
            analyses = session.scalars(
                select(Analysis)
                .where(Analysis.case_id == case.id, Analysis.media_id == link.media_id)
                .options(selectinload(Analysis.results))
                .order_by(Analysis.finished_at.desc())
            ).all()
            items.append(
                {
                    "media": media_json(link.media, link.original_name),
                    "c2pa": link.media.c2pa or {},
                    "added_at": link.added_at.isoformat(),
                    "added_by": link.added_by,
                    "analyses": [
                        _analysis_view(app, session, a, link.media, link.original_name, recorded)
                        if detail
                        else analysis_json(a, link.media, link.original_name)
                        for a in analyses
                    ],
                }
            )
        return {
            "case": services.case_json(case, len(links)),
            "media": items,
            "custody": _events(session, case.id),
        }


def open_case_file(
    app: Verity, case_ref: str, *, via: str = "dashboard", detail: bool = True
) -> dict[str, Any]:
    """Record that ``app.settings.actor`` opened the case file, then return it.

    The ``view`` event commits before anything is shown, so no one reads evidence unrecorded.
    """
    with app.db.session() as session:
        case = services.resolve_case(session, case_ref)
        analysis_ids = session.scalars(
            select(Analysis.id).where(Analysis.case_id == case.id).order_by(Analysis.finished_at)
        ).all()
        append_event(
            session,
            actor=app.settings.actor,
            action=Action.VIEW,
            case_id=case.id,
            details={"via": via, "analysis_ids": list(analysis_ids)},
        )
        case_id = case.id
    return case_file(app, case_id, detail=detail)


def verify_case_custody(app: Verity, case_id: str) -> dict[str, Any]:
    """The custody verification as data: intact with its head hash, or the first problem."""
    try:
        report = services.check_custody(app, case_id)
    except VerificationError as exc:
        return {"ok": False, "message": str(exc), "events": None, "head": None}
    return {
        "ok": True,
        "message": f"custody intact: {report.events} events",
        "events": report.events,
        "head": report.heads.get(case_id),
    }


def stored_media_path(app: Verity, sha256: str) -> Path:
    """The read-only stored copy of media filed in some case, checked against its SHA-256.

    Everything a page plays, draws or registers comes through here, so altered bytes are a
    :class:`~core.errors.StoreDamagedError`, never shown as the evidence. A page reruns on every
    click: the hash is recomputed only when the file's size, inode, modification or change time
    differ from when it last matched (altering a read-only object changes its change time,
    which no user can set back).
    """
    sha256 = sha256.strip().lower()
    with app.db.session() as session:
        known = session.scalars(select(MediaItem.id).where(MediaItem.sha256 == sha256)).first()
    if known is None or not app.store.exists(sha256):
        raise NotFoundError(f"no stored media with sha256 {sha256[:16]!r}")
    path = app.store.path_for(sha256)
    seen = path.stat()
    key = (str(path), seen.st_size, seen.st_ino, seen.st_mtime_ns, seen.st_ctime_ns)
    if _VERIFIED.get(sha256) != key:
        app.store.verify(sha256)
        _VERIFIED[sha256] = key
    return path


_VERIFIED: dict[str, tuple[str, int, int, int, int]] = {}  # sha256 -> file state when it matched


def case_media_choices(app: Verity, query: str = "") -> list[dict[str, Any]]:
    """Media filed in cases (name, case, sha256), for pickers such as the Register page."""
    with app.db.session() as session:
        stmt = (
            select(CaseMedia, Case.name)
            .join(Case, Case.id == CaseMedia.case_id)
            .options(selectinload(CaseMedia.media))
            .order_by(CaseMedia.added_at.desc())
        )
        if query.strip():
            like = f"%{query.strip()}%"
            stmt = stmt.where(or_(CaseMedia.original_name.ilike(like), Case.name.ilike(like)))
        return [
            {
                "case_id": link.case_id,
                "case_name": case_name,
                "original_name": link.original_name,
                "sha256": link.media.sha256,
                "kind": link.media.kind,
            }
            for link, case_name in session.execute(stmt).all()
        ]


SPECTROGRAM_MAX_S = 3600.0  # as much sound as the audio detectors read (audio.passages)


def spectrogram(
    app: Verity,
    sha256: str,
    *,
    max_s: float = SPECTROGRAM_MAX_S,
    n_times: int = 240,
    n_freqs: int = 64,
) -> dict[str, Any] | None:
    """A coarse log-power spectrogram of stored media's soundtrack for display (None: no audio).

    Computed on demand from the stored copy at 16 kHz, streamed 10 s at a time and pooled into at
    most ``n_times`` × ``n_freqs`` cells as it goes, so that an hour of sound costs a few seconds
    and a few megabytes, and the browser receives a few thousand numbers, not the signal. It
    spans as much as the audio detectors read (up to an hour), so that a flagged segment late in
    a long recording lies on it; a video's soundtrack is on the video's clock, as the timelines.
    """
    import math

    import numpy as np

    from core.sound import iter_audio

    path = stored_media_path(app, sha256)
    with app.db.session() as session:
        item = session.scalars(select(MediaItem).where(MediaItem.sha256 == sha256)).first()
        probed = (item.probe or {}) if item is not None else {}
    if probed.get("audio") is None:
        return None
    rate, nperseg, hop = 16_000, 512, 256
    total = min(float(probed.get("duration_s") or max_s), max_s)
    dt = max(hop / rate, total / n_times)
    n_bins = max(1, math.ceil(total / dt))
    freqs = np.fft.rfftfreq(nperseg, 1 / rate)
    f_step = max(1, math.ceil(len(freqs) / n_freqs))
    f_cut = len(freqs) // f_step * f_step
    sums = np.zeros((n_bins, f_cut // f_step))
    counts = np.zeros(n_bins)
    window = np.hanning(nperseg)
    carry, carry_at = np.zeros(0, np.float32), 0  # samples not yet framed, and where they start
    on_clock = probed.get("kind") == "video"  # the player's time, as the audio timelines
    for chunk in iter_audio(path, sample_rate=rate, max_s=max_s, on_video_clock=on_clock):
        buffer = np.concatenate([carry, chunk.samples[0]])
        count = (len(buffer) - nperseg) // hop + 1 if len(buffer) >= nperseg else 0
        if count:
            index = np.arange(nperseg)[None, :] + hop * np.arange(count)[:, None]
            power = np.abs(np.fft.rfft(buffer[index] * window, axis=1)) ** 2
            pooled = power[:, :f_cut].reshape(count, -1, f_step).mean(axis=2)
            centres = (carry_at + hop * np.arange(count) + nperseg / 2) / rate
            bins = np.minimum((centres / dt).astype(int), n_bins - 1)
            np.add.at(sums, bins, pooled)
            np.add.at(counts, bins, 1)
            carry, carry_at = buffer[hop * count :], carry_at + hop * count
        else:
            carry = buffer
    filled = counts > 0
    if not filled.any():
        return None
    db = 10 * np.log10(sums[filled] / counts[filled, None] + 1e-12)
    return {
        "times": [float(t) for t in (np.arange(n_bins) * dt)[filled]],
        "freqs": [float(f) for f in freqs[:f_cut:f_step]],
        "dt": float(dt),
        "df": float((freqs[1] - freqs[0]) * f_step),
        "power_db": [[round(float(v), 2) for v in column] for column in db],
    }


REPORT_FORMATS = ("pdf", "html", "json")
ReportExporter = Callable[[Verity, str, str], tuple[str, bytes, str]]


def picture(app: Verity, sha256: str, *, max_side: int = 1600) -> Any:
    """A stored picture's RGB pixels as the detectors saw them: upright (EXIF orientation
    applied, mirrored ones included) and at most ``max_side`` pixels on its longer side.

    Shown instead of the file's own bytes: a browser applies EXIF orientation but the dashboard
    re-encodes wide pictures without their EXIF, and cannot show TIFF or AVIF at all; this way the
    picture and the heatmaps beside it always agree."""
    from core.media import iter_frames

    path = stored_media_path(app, sha256)
    for frame in iter_frames(path, max_frames=1, max_side=max_side):
        return frame.rgb
    return None


def frame_at(
    app: Verity, sha256: str, time_s: float, *, max_side: int = 960
) -> tuple[float, Any] | None:
    """The stored video's frame shown at ``time_s`` (its time and RGB pixels, upright), or None
    for media without video. Seeks to the keyframe before and decodes forward, so long videos stay
    quick (core.media.frame_at)."""
    from core.media import frame_at as decode_frame_at

    return decode_frame_at(stored_media_path(app, sha256), time_s, max_side=max_side)
