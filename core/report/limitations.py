"""The limitations a report states, derived from the evidence itself wherever it can be.

A court weighs a finding by what could have made it wrong (Daubert: known error rate; SWGDE: state
the limits of the method). Four limits apply to every deepfake analysis and are always stated:
recompression, generators the detectors never saw, adversarial manipulation and out-of-domain
input. Each says whether the evidence shows that it applies here (``applies: true``), shows that it
does not (``false``), or cannot tell (``null``), and on what basis. Further entries appear only
when the evidence calls for them: uncalibrated detectors, detectors that failed or were skipped,
missing or invalid Content Credentials, a stored copy that no longer matches its hash.
"""

from __future__ import annotations

from typing import Any

LOSSY_CODECS = frozenset(
    {
        "h264",
        "hevc",
        "h265",
        "vp8",
        "vp9",
        "av1",
        "mpeg4",
        "mpeg2video",
        "mpeg1video",
        "mjpeg",
        "webp",
        "aac",
        "mp3",
        "opus",
        "vorbis",
        "ac3",
        "eac3",
        "wmav2",
    }
)
RECOMPRESSION_FINDINGS = frozenset({"video_compression", "ffmpeg_encoder", "editing_software"})


def _limitation(code: str, applies: bool | None, basis: str, text: str) -> dict[str, Any]:
    return {"code": code, "applies": applies, "basis": basis, "text": text}


def _codecs(exhibit: dict[str, Any]) -> list[str]:
    probe = exhibit.get("probe") or {}
    return [
        str(stream["codec"])
        for stream in (probe.get("video"), probe.get("audio"))
        if isinstance(stream, dict) and stream.get("codec")
    ]


def _detectors(exhibit: dict[str, Any]) -> list[dict[str, Any]]:
    return [d for a in exhibit.get("analyses", []) for d in a.get("detectors", [])]


def limitations_for(exhibit: dict[str, Any]) -> list[dict[str, Any]]:
    """Limitations of the findings on one exhibit (see the module docstring for the fields)."""
    detectors = _detectors(exhibit)
    out = [_recompression(exhibit, detectors)]
    out.append(
        _limitation(
            "unknown_generators",
            None,
            "the detectors' model cards list the generators and data they were measured on",
            "Error rates hold only for the kinds of manipulation each detector's card reports "
            "measurements for. A generator or editing method absent from that data may go "
            "undetected, so a result of 'authentic' or 'inconclusive' does not exclude "
            "manipulation.",
        )
    )
    out.append(
        _limitation(
            "adversarial_manipulation",
            None,
            "no detector used here was hardened or tested against adaptive attacks",
            "Someone who knows the detectors can strip or forge metadata, add noise, resize or "
            "re-encode to push scores toward 'authentic'. The absence of a finding is not proof "
            "of authenticity.",
        )
    )
    ood = [d for d in detectors if d.get("out_of_domain")]
    out.append(
        _limitation(
            "out_of_domain_input",
            bool(ood),
            "; ".join(f"{d['name']}: {d['out_of_domain']}" for d in ood)
            or "every detector that ran judged this input within its domain",
            "A detector given input outside what it was made for (too small, too short, no "
            "face or speech) produces no usable evidence; such results are shown but left out "
            "of the verdict.",
        )
    )
    uncalibrated = sorted(
        {d["name"] for d in detectors if d.get("status") == "ok" and not d.get("calibrated")}
    )
    if uncalibrated:
        out.append(
            _limitation(
                "uncalibrated_detectors",
                True,
                ", ".join(uncalibrated),
                "These detectors' likelihood ratios are expert priors, not fitted on labelled "
                "data; fusion down-weights them and their probabilities are not error rates.",
            )
        )
    failed = sorted(
        f"{d['name']} ({d['status']}: {d.get('reason') or 'no reason recorded'})"
        for d in detectors
        if d.get("status") != "ok"
    )
    if failed:
        out.append(
            _limitation(
                "detectors_not_applied",
                True,
                "; ".join(failed),
                "These detectors produced no evidence on this exhibit.",
            )
        )
    out.extend(_credentials(exhibit))
    store = exhibit.get("store_check") or {}
    if store.get("state") not in (None, "intact"):
        out.append(
            _limitation(
                "stored_copy_not_intact",
                True,
                str(store.get("detail")),
                "The stored working copy no longer matches the SHA-256 taken at intake; results "
                "cannot be reproduced from it.",
            )
        )
    return out


def _recompression(exhibit: dict[str, Any], detectors: list[dict[str, Any]]) -> dict[str, Any]:
    lossy = [c for c in _codecs(exhibit) if c.lower() in LOSSY_CODECS]
    flagged = sorted(
        {
            f"{d['name']}: {f.get('message') or f.get('code')}"
            for d in detectors
            for f in d.get("findings", [])
            if f.get("code") in RECOMPRESSION_FINDINGS
        }
    )
    basis = []
    if lossy:
        basis.append(f"lossy codec(s): {', '.join(lossy)}")
    basis.extend(flagged)
    return _limitation(
        "recompression",
        bool(lossy or flagged),
        "; ".join(basis) or "no lossy codec or re-encoding trace found",
        "Lossy compression and re-encoding (as by messaging apps and social platforms) erase "
        "the fine traces detectors rely on and raise their miss rate; the error rates on the "
        "cards were measured on the data they describe, not on this file's history.",
    )


def _credentials(exhibit: dict[str, Any]) -> list[dict[str, Any]]:
    c2pa = exhibit.get("c2pa") or {}
    state = c2pa.get("state")
    if state in (None, "None"):
        return [
            _limitation(
                "no_content_credentials",
                True,
                str(c2pa.get("reason") or "no C2PA manifest"),
                "The file carries no Content Credentials. Most genuine media carry none, so "
                "their absence is not evidence of manipulation, and their presence would not "
                "prove authenticity either.",
            )
        ]
    if state == "Invalid":
        codes = ", ".join(c2pa.get("failure_codes") or []) or str(c2pa.get("reason"))
        return [
            _limitation(
                "invalid_content_credentials",
                True,
                codes,
                "The file's Content Credentials do not validate: the file or its manifest "
                "changed after signing, or the manifest is malformed.",
            )
        ]
    return []
