"""Reports that fail closed: strict signatures, failed exports, malformed or altered reports."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, update
from sqlalchemy.orm import Session

from core.app import Verity
from core.config import load_settings
from core.db import Analysis, CustodyEvent
from core.engine import ENGINE_VERSION
from core.report import export as export_mod
from core.report.reproduce import report_problem
from tests.test_cli import snapshot
from tests.test_report_cli import _export_events, _report_key, case_with_media, run

__all__ = ["case_with_media"]  # a fixture, imported for the tests below


def test_a_signature_file_is_read_as_strictly_as_a_receipt(
    case_with_media: dict[str, str], capsys, tmp_path: Path
) -> None:
    """Every field of the form ``sign_report`` writes, and nothing else: a lenient reader would
    let a file claim what it does not (a PDF's signature that says it is for HTML, a second
    public key, ``true`` for a schema number)."""
    key = _report_key(capsys)
    out = tmp_path / "r.json"
    assert run(capsys, "report", "court", "-f", "json", "-o", str(out))[0] == 0
    sig_path = tmp_path / "r.json.sig"
    good = sig_path.read_text()
    assert run(capsys, "verify-report", str(out), "--public-key", key)[0] == 0
    sig = json.loads(good)
    for label, text in (
        ("schema true", good.replace('"schema_version":1', '"schema_version":true')),
        ("unknown field", json.dumps({**sig, "comment": "x"})),
        ("format", json.dumps({**sig, "format": "pdf"})),
        ("no format", json.dumps({k: v for k, v in sig.items() if k != "format"})),
        ("upper case", json.dumps({**sig, "signature": sig["signature"].upper()})),
        (
            "two keys",
            good.replace('"public_key":', '"public_key":"' + "0" * 64 + '","public_key":'),
        ),
    ):
        assert text != good, label
        sig_path.write_text(text)
        code, stdout, err = run(capsys, "verify-report", str(out), "--public-key", key)
        assert code == 3, label
        assert "FAIL" in stdout and "Traceback" not in err, label
    sig_path.write_text(good)


def _leftovers(folder: Path) -> list[Path]:
    return sorted(folder.glob(".verity-report-*"))


def test_a_failed_export_leaves_the_earlier_report_and_signature_as_they_were(
    case_with_media: dict[str, str], capsys, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A report already handed over is evidence: an export to the same name that fails, before
    or after the new files were moved into place (the custody event's commit is last), leaves
    the earlier report and its signature byte for byte, and no temporary file."""
    folder = tmp_path / "rep"
    folder.mkdir()
    out, sig = folder / "s.json", folder / "s.json.sig"
    assert run(capsys, "report", "court", "-f", "json", "-o", str(out))[0] == 0
    report_bytes, sig_bytes = out.read_bytes(), sig.read_bytes()
    before = len(_export_events())

    def unchanged() -> None:
        assert out.read_bytes() == report_bytes and sig.read_bytes() == sig_bytes
        assert _leftovers(folder) == []
        assert len(_export_events()) == before

    # a directory where the signature goes: refused before anything is written
    sig.rename(folder / "kept")
    sig.mkdir()
    code, _, err = run(capsys, "report", "court", "-f", "json", "-o", str(out))
    assert code == 2 and err.count("\n") == 1, err
    assert err.startswith(f"verity: error: {sig}: is a directory"), err
    assert out.read_bytes() == report_bytes and _leftovers(folder) == []
    sig.rmdir()

    # the same directory appearing only after the report was moved into place
    real_append = export_mod.append_event

    def directory_appears(session: Session, **kwargs: Any) -> CustodyEvent:
        sig.mkdir()
        return real_append(session, **kwargs)

    monkeypatch.setattr(export_mod, "append_event", directory_appears)
    code, _, err = run(capsys, "report", "court", "-f", "json", "-o", str(out))
    assert code == 1 and "IsADirectoryError" in err, err
    assert out.read_bytes() == report_bytes and _leftovers(folder) == []
    assert len(_export_events()) == before
    sig.rmdir()
    (folder / "kept").rename(sig)

    # the custody event's commit fails after both files were moved into place
    def commit_fails(session: Session, **kwargs: Any) -> CustodyEvent:
        def boom(_session: Session) -> None:
            raise RuntimeError("database went away at commit")

        event.listen(session, "before_commit", boom)
        return real_append(session, **kwargs)

    monkeypatch.setattr(export_mod, "append_event", commit_fails)
    code, _, err = run(capsys, "report", "court", "-f", "html", "-o", str(out))
    assert code == 1 and "database went away at commit" in err, err
    unchanged()

    # the custody event cannot even be appended
    def append_fails(session: Session, **kwargs: Any) -> CustodyEvent:
        raise RuntimeError("database went away")

    monkeypatch.setattr(export_mod, "append_event", append_fails)
    code, _, err = run(capsys, "report", "court", "-f", "pdf", "-o", str(out))
    assert code == 1 and "database went away" in err, err
    unchanged()

    # and a good export still replaces both files
    monkeypatch.setattr(export_mod, "append_event", real_append)
    assert run(capsys, "report", "court", "-f", "html", "-o", str(out))[0] == 0
    assert out.read_bytes() != report_bytes and sig.read_bytes() != sig_bytes
    assert _leftovers(folder) == [] and len(_export_events()) == before + 1
    assert run(capsys, "verify-report", str(out))[0] == 0


_DETECTOR = {
    "name": "visual.spectrum",
    "status": "ok",
    "version": "1.0.0",
    "weights_sha256": None,
    "calibration_version": None,
    "raw_score": 0.5,
    "llr": 0.0,
    "p_fake": 0.5,
    "options": {},
}
_ANALYSIS = {
    "analysis_id": "a" * 32,
    "verdict": "inconclusive",
    "p_fake": 0.5,
    "llr": 0.0,
    "engine_version": ENGINE_VERSION,
    "fusion": {"rule": "weighted-llr-sum-v2", "thresholds": {}},
    "detectors": [_DETECTOR],
}
_EXHIBIT = {
    "exhibit_id": "E1",
    "sha256": "0" * 64,
    "original_name": "clip.mp4",
    "media_id": "m" * 32,
    "analyses": [_ANALYSIS],
}
_REPORT = {"report_type": "verity.forensic-report", "case": {"id": "c"}, "exhibits": [_EXHIBIT]}


def _with(path: tuple[str | int, ...], value: object) -> object:
    """A copy of ``_REPORT`` with the field at ``path`` set to ``value`` (removed for ...)."""
    document = json.loads(json.dumps(_REPORT))
    target = document
    for key in path[:-1]:
        target = target[key]
    if value is ...:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return document


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        ({"report_type": "verity.forensic-report"}, "no case"),
        ([_REPORT], "not a JSON object"),
        (_with(("case", "id"), 7), "case.id is not a string"),
        (_with(("exhibits",), ...), "no exhibits"),
        (_with(("exhibits",), "abc"), "exhibits is not a list"),
        (_with(("exhibits", 0), "abc"), "exhibits[0] is not an object"),
        (
            {**_REPORT, "exhibits": [{"sha256": "zz"}]},
            "no exhibits[0].exhibit_id",
        ),
        (_with(("exhibits", 0, "sha256"), "zz"), "exhibits[0].sha256 is not a SHA-256"),
        (_with(("exhibits", 0, "analyses"), ...), "no exhibits[0].analyses"),
        (
            _with(("exhibits", 0, "analyses", 0, "verdict"), "fake"),
            "exhibits[0].analyses[0].verdict is not one of",
        ),
        (
            _with(("exhibits", 0, "analyses", 0, "verdict"), ["manipulated"]),
            "exhibits[0].analyses[0].verdict is not one of",
        ),
        (
            _with(("exhibits", 0, "analyses", 0, "p_fake"), "0.9"),
            "exhibits[0].analyses[0].p_fake is not a number or null",
        ),
        (
            _with(("exhibits", 0, "analyses", 0, "fusion"), ...),
            "no exhibits[0].analyses[0].fusion",
        ),
        (
            _with(("exhibits", 0, "analyses", 0, "fusion", "thresholds"), {"manipulated_at": 2}),
            "exhibits[0].analyses[0].fusion.thresholds are not valid",
        ),
        (
            _with(("exhibits", 0, "analyses", 0, "detectors", 0, "raw_score"), "high"),
            "exhibits[0].analyses[0].detectors[0].raw_score is not a number or null",
        ),
        (
            _with(("exhibits", 0, "analyses", 0, "detectors", 0, "options"), {"vad": 1}),
            "exhibits[0].analyses[0].detectors[0].options is not an object of strings",
        ),
        (
            _with(("exhibits", 0, "analyses", 0, "detectors", 0, "status"), ...),
            "no exhibits[0].analyses[0].detectors[0].status",
        ),
    ],
)
def test_reproduce_names_what_a_malformed_report_lacks(
    home: Path, capsys, tmp_path: Path, document: object, problem: str
) -> None:
    """A report without its signature may be anything: what reproduce reads is checked before
    anything runs, so a hole is bad input named in one line, not an internal error halfway."""
    assert report_problem(_REPORT) is None  # each case above breaks exactly one thing
    report = tmp_path / "bad.json"
    report.write_text(json.dumps(document))
    before = snapshot()
    code, stdout, err = run(capsys, "reproduce", str(report))
    assert code == 2, stdout + err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert err.startswith(f"verity: error: {report}: not a Verity report ({problem}"), err
    assert snapshot() == before  # nothing read, nothing recorded in custody


def test_reproduce_names_a_verdict_altered_before_the_export(
    case_with_media: dict[str, str], capsys, tmp_path: Path
) -> None:
    """Detector scores that match say nothing of a verdict changed in the database: the fused
    result is recomputed from the re-run detectors, by the rule and thresholds recorded."""
    analysis_id = case_with_media["video_analysis"]
    out = tmp_path / "r.json"
    assert run(capsys, "report", analysis_id, "-f", "json", "-o", str(out))[0] == 0
    code, stdout, err = run(capsys, "reproduce", str(out))
    assert code == 0, stdout + err
    assert "same E1" in stdout and "fusion: verdict" in stdout
    assert stdout.rstrip().endswith("and 1 fused verdict(s) match")
    reported = json.loads(out.read_bytes())["exhibits"][0]["analyses"][0]
    forged = "authentic" if reported["verdict"] == "manipulated" else "manipulated"
    app = Verity.open(load_settings())
    try:
        with app.db.session() as session:
            session.execute(
                update(Analysis)
                .where(Analysis.id == analysis_id)
                .values(verdict=forged, p_fake=0.99)
            )
    finally:
        app.close()
    tampered = tmp_path / "t.json"
    code, _, err = run(capsys, "report", analysis_id, "-f", "json", "-o", str(tampered))
    assert code == 0  # signed as found: the report itself states the broken chain
    assert "warning: the case's custody chain does not verify" in err and analysis_id in err
    verification = json.loads(tampered.read_bytes())["custody"]["verification"]
    assert verification["intact"] is False and analysis_id in verification["problem"]
    code, stdout, err = run(capsys, "reproduce", str(tampered))
    assert code == 3, stdout + err
    assert f"fusion: verdict differs: report {forged}, now {reported['verdict']}" in stdout
    assert "fused p_fake differs by" in stdout and "(0.99 → " in stdout
    assert stdout.count("DIFF") == 1 and err.startswith("verity: 1 of "), stdout + err
    # a rule this installation cannot apply is named, not silently replaced by its own
    document = json.loads(out.read_bytes())
    document["exhibits"][0]["analyses"][0]["fusion"]["rule"] = "lr-fusion-v1:elsewhere"
    (tmp_path / "rule.json").write_text(json.dumps(document))
    code, stdout, _ = run(capsys, "reproduce", str(tmp_path / "rule.json"))
    assert code == 3 and "fusion rule lr-fusion-v1:elsewhere cannot be applied here" in stdout


def test_an_export_never_replaces_a_file_that_is_not_a_verity_report(
    case_with_media: dict[str, str], capsys, tmp_path: Path
) -> None:
    """``-o`` names where the report goes; a file already there is replaced only when it is an
    earlier Verity report (and its ``.sig`` a Verity signature). Anything else (an analyst's
    notes, a typo that names an exhibit, the stored working copy in the content store, whose
    read-only mode a rename ignores) is refused before anything is written or recorded."""
    settings = load_settings()
    stored = settings.objects_dir
    (stored_object,) = stored.rglob(case_with_media["image_sha"])
    notes = tmp_path / "notes.pdf"
    notes.write_bytes(b"%PDF-1.4 not a report, the examiner's own notes")
    page = tmp_path / "page.html"
    page.write_text("<!DOCTYPE html><html><body>someone else's page</body></html>")
    sig_only = tmp_path / "new.json"
    (tmp_path / "new.json.sig").write_text('{"kept": "not a Verity signature"}')
    before = len(_export_events())
    for target in (stored_object, notes, page, sig_only):
        kept = {
            p: p.read_bytes()
            for p in (target, target.with_name(target.name + ".sig"))
            if p.exists()
        }
        code, _, err = run(capsys, "report", "court", "-f", "json", "-o", str(target))
        assert code == 2, (target, err)
        assert err.count("\n") == 1 and "not a Verity report" in err, err
        assert {p: p.read_bytes() for p in kept} == kept
        assert not target.with_name(target.name + ".sig").exists() or target == sig_only
        assert _leftovers(target.parent) == []
    assert len(_export_events()) == before
    app = Verity.open(settings)
    try:
        app.store.verify(case_with_media["image_sha"])  # the evidence is still there, intact
    finally:
        app.close()
    # an earlier report of the same name is still replaced, whatever its format was
    out = tmp_path / "r.pdf"
    assert run(capsys, "report", "court", "-f", "json", "-o", str(out))[0] == 0
    assert run(capsys, "report", "court", "-f", "pdf", "-o", str(out))[0] == 0
    assert run(capsys, "verify-report", str(out))[0] == 0


def test_a_report_signed_again_by_another_key_fails(
    case_with_media: dict[str, str], capsys, tmp_path: Path
) -> None:
    """Anyone can sign a report's bytes with a key of their own and hand it over as theirs; the
    report now names the key that signed it, and a signature by any other key is refused."""
    from core.canonical import canonical_json
    from core.report import embedded_json, sign_report
    from provenance.keys import KeyRing

    other = KeyRing(tmp_path / "other-keys", purpose="report").active()
    for fmt in ("json", "pdf"):
        out = tmp_path / f"r.{fmt}"
        assert run(capsys, "report", "court", "-f", fmt, "-o", str(out))[0] == 0
        data = out.read_bytes()
        named = json.loads(embedded_json(data))["signing_key_id"]
        assert named == json.loads((tmp_path / f"r.{fmt}.sig").read_text())["key_id"]
        resigned = sign_report(data, fmt, embedded_json(data), other)
        (tmp_path / f"r.{fmt}.sig").write_bytes(canonical_json(resigned))
        code, stdout, _ = run(capsys, "verify-report", str(out), "--public-key", other.public_hex)
        assert code == 3, stdout
        assert f"names report key {named}" in stdout


def test_an_export_whose_figures_are_gone_or_altered_says_so_now(
    case_with_media: dict[str, str], capsys, tmp_path: Path
) -> None:
    """A figure the evidence cites that is no longer in the artifact store, or whose bytes no
    longer hash to its SHA-256, is left out of the report with a caption saying why; the
    examiner exporting it must hear of it then, not find it later on page 40."""
    app = Verity.open(load_settings())
    try:
        heatmaps = sorted(app.artifact_store.list_hashes())
        assert len(heatmaps) >= 2, "the photo and the clip each have visual.blend heatmaps"
        app.artifact_store.path_for(heatmaps[0]).unlink()
        altered = app.artifact_store.path_for(heatmaps[1])
        altered.chmod(0o644)
        altered.write_bytes(altered.read_bytes() + b"\0")
    finally:
        app.close()
    for fmt in ("pdf", "html"):
        code, stdout, err = run(
            capsys, "report", "court", "-f", fmt, "-o", str(tmp_path / f"r.{fmt}")
        )
        assert code == 0 and "wrote" in stdout, err
        warnings = [line for line in err.splitlines() if line.startswith("verity: warning:")]
        assert len(warnings) == 1, err
        assert "2 figure(s) left out" in warnings[0], warnings
        assert heatmaps[0][:12] in warnings[0] and "not in this installation" in warnings[0]
        assert heatmaps[1][:12] in warnings[0] and "altered" in warnings[0]
    code, _, err = run(capsys, "report", "court", "-f", "json", "-o", str(tmp_path / "r.json"))
    assert code == 0 and "warning" not in err  # a JSON report carries no figures
