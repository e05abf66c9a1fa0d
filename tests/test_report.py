"""core.report pieces: limitations from evidence, figures, atomic export, keys and key formats."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from core import services
from core.app import Verity
from core.cli import main
from core.config import load_settings
from core.db import CustodyEvent
from core.errors import BadInputError
from core.report import export as export_mod
from core.report import export_report, load_public_key, sign_report, verify_report
from core.report.figures import report_figures
from core.report.limitations import limitations_for
from core.store import ContentStore
from provenance.keys import KeyRing


def _exhibit(**overrides: Any) -> dict[str, Any]:
    exhibit: dict[str, Any] = {
        "exhibit_id": "E1",
        "probe": {"video": {"codec": "png"}, "audio": None},
        "c2pa": {"state": "Valid", "failure_codes": []},
        "store_check": {"state": "intact", "detail": "ok"},
        "analyses": [
            {
                "analysis_id": "a" * 32,
                "detectors": [
                    {
                        "name": "visual.spectrum",
                        "version": "1.0.0",
                        "status": "ok",
                        "calibrated": True,
                        "out_of_domain": None,
                        "findings": [],
                        "series": [],
                        "artifacts": [],
                    }
                ],
            }
        ],
    }
    exhibit.update(overrides)
    return exhibit


def _by_code(limitations: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {lim["code"]: lim for lim in limitations}


def test_the_four_limits_are_always_stated_with_their_basis() -> None:
    limits = _by_code(limitations_for(_exhibit()))
    assert {
        "recompression",
        "unknown_generators",
        "adversarial_manipulation",
        "out_of_domain_input",
    } <= set(limits)
    assert limits["recompression"]["applies"] is False  # lossless PNG, no re-encoding finding
    assert limits["out_of_domain_input"]["applies"] is False
    assert limits["unknown_generators"]["applies"] is None
    assert "no_content_credentials" not in limits and "uncalibrated_detectors" not in limits


def test_limitations_follow_the_evidence_flags() -> None:
    exhibit = _exhibit(
        probe={"video": {"codec": "h264"}, "audio": {"codec": "aac"}},
        c2pa={"state": "None", "reason": "no C2PA manifest"},
        store_check={"state": "altered", "detail": "object x is corrupt"},
    )
    det = exhibit["analyses"][0]["detectors"][0]
    det.update(
        calibrated=False,
        out_of_domain="below the minimum resolution of 128×128 pixels",
        findings=[{"code": "video_compression", "message": "video compression blurs traces"}],
    )
    exhibit["analyses"][0]["detectors"].append(
        {"name": "audio.lfcc_gmm", "status": "error", "reason": "boom", "findings": []}
    )
    limits = _by_code(limitations_for(exhibit))
    assert limits["recompression"]["applies"] is True
    assert "h264, aac" in limits["recompression"]["basis"]
    assert "video compression blurs traces" in limits["recompression"]["basis"]
    assert limits["out_of_domain_input"]["applies"] is True
    assert "128×128" in limits["out_of_domain_input"]["basis"]
    assert limits["uncalibrated_detectors"]["basis"] == "visual.spectrum"
    assert "audio.lfcc_gmm (error: boom)" in limits["detectors_not_applied"]["basis"]
    assert limits["no_content_credentials"]["applies"] is True
    assert limits["stored_copy_not_intact"]["basis"] == "object x is corrupt"


def test_figures_draw_series_and_embed_only_intact_artifacts(tmp_path: Path) -> None:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(buffer, format="PNG")
    store = ContentStore(tmp_path / "artifacts")
    good = store.put_stream(io.BytesIO(buffer.getvalue())).sha256
    missing = hashlib.sha256(b"never stored").hexdigest()
    exhibit = _exhibit()
    det = exhibit["analyses"][0]["detectors"][0]
    det["series"] = [
        {"start_s": 0.0, "end_s": 1.0, "score": -1.0},
        {"start_s": 1.0, "end_s": 2.0, "score": 2.0},
    ]
    det["artifacts"] = [
        {"kind": "heatmap", "sha256": good, "media_type": "image/png"},
        {"kind": "spectrogram", "sha256": missing, "media_type": "image/png"},
    ]
    figures = report_figures({"exhibits": [exhibit]}, store.path_for)
    timeline, heatmap, spectrogram = figures
    assert timeline.png is not None and timeline.png.startswith(b"\x89PNG")
    assert heatmap.png == buffer.getvalue()
    assert spectrogram.png is None and "not in this installation" in spectrogram.caption
    stored = store.path_for(good)  # alter the stored heatmap: it is named, not shown
    stored.chmod(0o600)
    stored.write_bytes(b"\x89PNG tampered")
    _, altered, _ = report_figures({"exhibits": [exhibit]}, store.path_for)
    assert altered.png is None and "altered" in altered.caption


class _FailingSigner:
    key_id = "0" * 16
    public_hex = "00" * 32

    def sign(self, message: bytes) -> bytes:
        raise RuntimeError("hardware token unplugged")


def _events(app: Verity) -> int:
    with app.db.session() as session:
        return session.execute(select(func.count()).select_from(CustodyEvent)).scalar_one()


def test_export_is_all_or_nothing(
    home: Path, photo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = Verity.open(load_settings())
    try:
        services.create_case(app, "court-x")
        services.analyze(app, photo, "court-x")
        before = _events(app)
        out = tmp_path / "out" / "r.pdf"
        out.parent.mkdir()
        with pytest.raises(RuntimeError):
            export_report(app, "court-x", "pdf", out, _FailingSigner())

        def broken_event(*args: Any, **kwargs: Any) -> Any:
            raise RuntimeError("database went away")

        monkeypatch.setattr(export_mod, "append_event", broken_event)
        signer = KeyRing(app.settings.keys_dir, purpose="report").active()
        with pytest.raises(RuntimeError):
            export_report(app, "court-x", "html", out, signer)
        assert list(out.parent.iterdir()) == []  # no report, no .sig, no temporary file
        assert _events(app) == before
        with pytest.raises(BadInputError):
            export_report(app, "court-x", "txt", out, signer)
    finally:
        app.close()


def test_report_keys_are_their_own_ring(home: Path, capsys) -> None:
    keys = load_settings().keys_dir
    checkpoint = KeyRing(keys).active()
    report = KeyRing(keys, purpose="report").active()
    assert checkpoint.key_id != report.key_id
    assert (keys / "active").read_text().strip() == checkpoint.key_id  # old layout kept
    assert set(KeyRing(keys).public_keys()) == {checkpoint.key_id}
    assert set(KeyRing(keys, purpose="report").public_keys()) == {report.key_id}
    assert main(["keys", "export", "--report", "--pem"]) == 0
    pem = capsys.readouterr().out
    assert pem.startswith("-----BEGIN PUBLIC KEY-----")
    raw = bytes.fromhex(report.public_hex)
    assert load_public_key(pem) == raw == load_public_key(report.public_hex)
    (home / "key.pem").write_text(pem)
    assert load_public_key(str(home / "key.pem")) == raw
    for bad in ("zz", "00" * 31, "-----BEGIN PUBLIC KEY-----\nxx\n-----END PUBLIC KEY-----"):
        with pytest.raises(BadInputError):
            load_public_key(bad)


def test_json_signature_ties_formats_to_one_document(home: Path) -> None:
    signer = KeyRing(load_settings().keys_dir, purpose="report").active()
    document = {"report_type": "verity.forensic-report", "schema_version": 1, "x": "é"}
    data = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    raw = data.encode()
    sig = sign_report(raw, "json", raw, signer)
    checks, verified = verify_report(raw, json.dumps(sig).encode())
    assert all(c.ok for c in checks) and verified == document
    spaced = json.dumps(document).encode()  # same data, not canonical: refused
    sig = sign_report(spaced, "json", spaced, signer)
    checks, verified = verify_report(spaced, json.dumps(sig).encode())
    assert verified is None
    assert [c.name for c in checks if not c.ok] == ["embedded document"]
