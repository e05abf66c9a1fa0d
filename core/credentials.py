"""Content Credentials (C2PA) read with c2pa-python, kept verbatim with one summary state.

States: ``Trusted`` (valid signature chaining to a configured trust anchor), ``Valid`` (valid
signature, signer not trusted here), ``Invalid`` (with the failure codes), ``None`` (no manifest,
or a format C2PA does not cover). Remote manifest fetching and OCSP are off: reading credentials
never touches the network. Trust anchors are configuration (``VERITY_C2PA_TRUST_ANCHORS``, a PEM
file), never built in.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from core.errors import ConfigError, display_name
from core.media import MediaInfo

State = Literal["Trusted", "Valid", "Invalid", "None"]

_BY_CODEC = {"mjpeg": "image/jpeg", "png": "image/png", "webp": "image/webp", "tiff": "image/tiff"}
_BY_CONTAINER = {"mov": "video/mp4", "wav": "audio/wav", "mp3": "audio/mpeg", "avi": "video/avi"}


class Credentials(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    state: State
    media_type: str | None
    active_manifest: str | None = None
    failure_codes: tuple[str, ...] = ()
    validation_results: dict[str, Any] | None = None
    manifest_store: dict[str, Any] | None = None
    reason: str | None = None


def media_type(info: MediaInfo) -> str | None:
    if info.video is not None and info.video.codec in _BY_CODEC and info.kind.value == "image":
        return _BY_CODEC[info.video.codec]
    return _BY_CONTAINER.get(info.container)


def read_credentials(path: Path, info: MediaInfo, trust_anchors: Path | None = None) -> Credentials:
    """Read and validate the file's C2PA manifest store, offline."""
    import c2pa

    kind = media_type(info)
    if kind is None:
        return Credentials(
            state="None",
            media_type=None,
            reason=f"C2PA reading does not cover {info.container} files",
        )
    settings: dict[str, Any] = {"verify": {"remote_manifest_fetch": False, "ocsp_fetch": False}}
    if trust_anchors is not None:
        settings["trust"] = {"trust_anchors": _read_trust_anchors(trust_anchors)}
    try:
        context = c2pa.Context(c2pa.Settings.from_dict(settings))
    except c2pa.C2paError as exc:
        if trust_anchors is None:  # nothing of the user's was parsed: a fault of ours
            raise
        # c2pa parses the anchors here: a bad one is the configuration's fault, not the media's
        problem = f"not a PEM file of certificates ({_one_line(exc)})"
        raise _bad_anchors(trust_anchors, problem) from None
    try:
        with path.open("rb") as stream:
            reader = c2pa.Reader(kind, stream, context=context)
            results = reader.get_validation_results() or {}
            store = json.loads(reader.json())
            state = str(reader.get_validation_state())
    except c2pa.C2paError as exc:
        if "ManifestNotFound" in type(exc).__name__ or "no JUMBF" in str(exc):
            return Credentials(state="None", media_type=kind, reason="no C2PA manifest")
        return Credentials(state="Invalid", media_type=kind, reason=f"unreadable manifest: {exc}")
    failures = tuple(f["code"] for f in (results.get("activeManifest") or {}).get("failure", []))
    if state not in {"Trusted", "Valid", "Invalid"}:
        state = "Invalid"
    # An untrusted signer is a failure code even when the signature itself is good: keep "Valid".
    if state == "Invalid" and failures and set(failures) <= {"signingCredential.untrusted"}:
        state = "Valid"
    return Credentials(
        state=state,
        media_type=kind,
        active_manifest=store.get("active_manifest"),
        failure_codes=failures,
        validation_results=results,
        manifest_store=store,
    )


def _read_trust_anchors(path: Path) -> str:
    """The anchors as text. The settings checked the path when they loaded; this catches what
    that cannot see (a file without read permission, binary contents, a file removed since)."""
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise _bad_anchors(path, exc.strerror or type(exc).__name__) from None
    except UnicodeDecodeError:
        raise _bad_anchors(path, "not a PEM file of certificates (not UTF-8 text)") from None


def _bad_anchors(path: Path, problem: str) -> ConfigError:
    return ConfigError(f"invalid setting c2pa_trust_anchors: {display_name(path)}: {problem}")


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__
