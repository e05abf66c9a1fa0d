"""``verity report / verify-report / reproduce`` as an analyst and a second examiner use them."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from core import services
from core.app import Verity
from core.cli import main
from core.config import load_settings
from core.custody import Action
from core.db import CustodyEvent
from core.engine import ENGINE_VERSION
from core.report.pdf import ATTACHMENT_NAME
from provenance import ledger
from provenance.keys import KeyRing

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def _poppler(tool: str) -> str:
    found = shutil.which(tool)
    if found is None:
        if IN_CI:
            pytest.fail(f"CI=true and {tool} (Debian poppler-utils) is not installed")
        pytest.skip(f"{tool} (Debian poppler-utils) is not installed")
    return found


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _make_case(clip: Path, photo: Path) -> dict[str, str]:
    """A case 'court' with a video and a photo analysed; returns ids and hashes."""
    app = Verity.open(load_settings())
    try:
        services.create_case(app, "court", "exhibits for the hearing")
        video = services.analyze(app, clip, "court")
        image = services.analyze(app, photo, "court")
    finally:
        app.close()
    return {
        "case_id": video["case_id"],
        "video_sha": video["media"]["sha256"],
        "image_sha": image["media"]["sha256"],
        "video_analysis": video["analysis_id"],
    }


@pytest.fixture
def case_with_media(home: Path, clip: Path, photo: Path) -> dict[str, str]:
    """The case on SQLite (most tests: the report logic does not depend on the backend)."""
    return _make_case(clip, photo)


@pytest.fixture
def case_on_backend(backend: str, clip: Path, photo: Path) -> dict[str, str]:
    """The case on SQLite and on PostgreSQL."""
    return _make_case(clip, photo)


def _report_key(capsys: pytest.CaptureFixture[str]) -> str:
    code, out, _ = run(capsys, "keys", "export", "--report", "--json")
    assert code == 0
    data = json.loads(out)
    return str(data["public_keys"][data["active"]])


def _export_events() -> list[CustodyEvent]:
    app = Verity.open(load_settings())
    try:
        with app.db.session() as session:
            return list(
                session.scalars(
                    select(CustodyEvent)
                    .where(CustodyEvent.action == str(Action.EXPORT))
                    .order_by(CustodyEvent.seq)
                )
            )
    finally:
        app.close()


def test_every_format_renders_signs_and_verifies(
    case_on_backend: dict[str, str], capsys, tmp_path: Path
) -> None:
    case_with_media = case_on_backend
    key = _report_key(capsys)
    for fmt in ("json", "html", "pdf"):
        out = tmp_path / f"report.{fmt}"
        code, stdout, err = run(
            capsys, "report", "court", "--format", fmt, "-o", str(out), "--examiner", "Dr. A. Ng"
        )
        assert code == 0, err
        assert "custody event" in stdout
        assert out.is_file() and (tmp_path / f"report.{fmt}.sig").is_file()
        code, stdout, err = run(capsys, "verify-report", str(out), "--public-key", key)
        assert code == 0, stdout + err
        assert "report valid" in stdout and "is the key given" in stdout
    document = json.loads((tmp_path / "report.json").read_bytes())
    assert document["examiner"] == "Dr. A. Ng"
    shas = [e["sha256"] for e in document["exhibits"]]
    assert shas == [case_with_media["video_sha"], case_with_media["image_sha"]]
    video = document["exhibits"][0]
    assert video["acquisition"]["sha256_at_intake"] == video["sha256"]
    assert video["acquisition"]["acquired_at"].endswith("Z")
    assert [h["action"] for h in video["hash_history"]][:2] == ["ingest", "analyze"]
    assert document["custody"]["verification"]["intact"] is True
    names = {d["name"] for d in document["detectors"]}
    assert {"visual.metadata", "visual.spectrum"} <= names
    for det in document["detectors"]:  # traceable: version, weights, calibration, card
        assert {"version", "weights_sha256", "calibration_version", "card_sha256"} <= set(det)
    html = (tmp_path / "report.html").read_text()
    assert case_with_media["video_sha"] in html and "Dr. A. Ng" in html
    assert "data:image/png;base64," in html  # the video's score timeline


def test_pdf_pages_render_and_text_layer_holds_the_hashes(
    case_with_media: dict[str, str], capsys, tmp_path: Path
) -> None:
    pdftoppm, pdftotext = _poppler("pdftoppm"), _poppler("pdftotext")
    out = tmp_path / "report.pdf"
    assert run(capsys, "report", "court", "-o", str(out))[0] == 0
    subprocess.run([pdftoppm, "-r", "40", "-png", str(out), str(tmp_path / "page")], check=True)
    pages = sorted(tmp_path.glob("page-*.png"))
    assert pages and all(p.read_bytes().startswith(b"\x89PNG") for p in pages)
    text = subprocess.run(
        [pdftotext, str(out), "-"], check=True, capture_output=True, text=True
    ).stdout
    assert case_with_media["video_sha"] in text
    assert case_with_media["image_sha"] in text
    # the canonical JSON is a real PDF attachment that any PDF tool lists
    listing = subprocess.run(
        [_poppler("pdfdetach"), "-list", str(out)], capture_output=True, text=True
    )
    assert ATTACHMENT_NAME in listing.stdout


def _words(text: str) -> str:
    return " ".join(text.split())


def test_pdf_and_html_each_state_what_a_court_needs(
    case_with_media: dict[str, str], capsys, tmp_path: Path
) -> None:
    """The PDF is what is handed over, and it left out what the HTML showed: the report's scope
    (one analysis or the whole case), the engine version, each detector's findings, the card's
    own limitations and Cllr. Neither said which key signed it, nor the media's codecs,
    resolution and rates. Both now state each of these."""
    import html as html_lib

    analysis = case_with_media["video_analysis"]
    key_id = KeyRing(load_settings().keys_dir, purpose="report").active().key_id
    for fmt in ("json", "html", "pdf"):
        out = tmp_path / f"one.{fmt}"
        assert run(capsys, "report", analysis[:12], "-f", fmt, "-o", str(out))[0] == 0
    document = json.loads((tmp_path / "one.json").read_bytes())
    assert document["signing_key_id"] == key_id
    (video,) = document["exhibits"]
    findings = [f for d in video["analyses"][0]["detectors"] for f in d.get("findings", [])]
    cards = [d["card"] for d in document["detectors"] if d["card"]]
    assert findings and cards
    pdf_text = _words(
        subprocess.run(
            [_poppler("pdftotext"), str(tmp_path / "one.pdf"), "-"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    )
    page = (tmp_path / "one.html").read_text()
    page = page[: page.index('<script type="application/json"')]
    html_text = _words(html_lib.unescape(re.sub(r"<[^>]+>", " ", page)))
    wanted = [
        f"analysis {analysis}",  # the scope
        f"engine {ENGINE_VERSION}",
        f"report key {key_id}",
        "h264",
        "320×240",
        "25 fps",
        "aac",
        "16000 Hz",
        findings[0]["code"],
        _words(findings[0]["message"]),
        " ".join(cards[0]["limitations"].split()[:8]),
        "Cllr",
    ]
    for text, fmt in ((pdf_text, "pdf"), (html_text, "html")):
        missing = [w for w in wanted if w not in text]
        assert not missing, (fmt, missing)


def test_a_video_scored_by_many_detectors_over_time_still_makes_a_pdf(
    case_with_media: dict[str, str], capsys, tmp_path: Path
) -> None:
    """A talking-head video has 8 detectors with a timeline (3 audio, 2 lip-sync, 3 visual): as
    one figure it was taller than an A4 page and the PDF export failed with reportlab's
    LayoutError. The timelines now go 4 detectors to a figure, and every figure fits a page."""
    from core.report.export import render

    out = tmp_path / "report.json"
    assert run(capsys, "report", "court", "--format", "json", "-o", str(out))[0] == 0
    document = json.loads(out.read_bytes())
    analysis = document["exhibits"][0]["analyses"][0]
    template = analysis["detectors"][0]
    analysis["detectors"] = [
        {
            **template,
            "name": f"test.series_{k}",
            "series": [
                {"start_s": 2.0 * t, "end_s": 2.0 * t + 2, "score": float((t * k) % 5) - 2}
                for t in range(30)
            ],
        }
        for k in range(9)
    ]
    pdf, _ = render(document, "pdf")
    (tmp_path / "many.pdf").write_bytes(pdf)
    text = subprocess.run(
        [_poppler("pdftotext"), str(tmp_path / "many.pdf"), "-"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert "score timeline (1 of 3)" in text and "score timeline (3 of 3)" in text


def test_second_examiner_verifies_with_only_report_sig_and_key(
    case_with_media: dict[str, str], capsys, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "handed-over" / "report.pdf"
    out.parent.mkdir()
    assert run(capsys, "report", "court", "-o", str(out))[0] == 0
    code, pem_text, _ = run(capsys, "keys", "export", "--report", "--pem")
    assert code == 0 and pem_text.startswith("-----BEGIN PUBLIC KEY-----")
    (tmp_path / "handed-over" / "examiner.pem").write_text(pem_text)
    elsewhere = tmp_path / "other-machine"  # no database, no store, no keys
    monkeypatch.setenv("VERITY_HOME", str(elsewhere))
    pem = str(tmp_path / "handed-over" / "examiner.pem")
    code, stdout, err = run(capsys, "verify-report", str(out), "--public-key", pem)
    assert code == 0, stdout + err
    assert not elsewhere.exists()


def test_one_flipped_byte_fails_verification(
    case_with_media: dict[str, str], capsys, tmp_path: Path
) -> None:
    key = _report_key(capsys)
    for fmt in ("json", "html", "pdf"):
        out = tmp_path / f"r.{fmt}"
        assert run(capsys, "report", "court", "-f", fmt, "-o", str(out))[0] == 0
        data = out.read_bytes()
        for position in (0, len(data) // 3, len(data) // 2, len(data) - 2):
            changed = bytearray(data)
            changed[position] ^= 0x01
            bad = tmp_path / f"bad.{fmt}"
            bad.write_bytes(bytes(changed))
            code, stdout, err = run(
                capsys, "verify-report", str(bad), "--sig", f"{out}.sig", "--public-key", key
            )
            assert code == 3, (fmt, position)
            assert "FAIL report hash" in stdout
            assert err.strip().startswith("verity: report verification failed: report hash")
    # another key, or an altered signature file, fails too
    other = KeyRing(load_settings().keys_dir, purpose="checkpoint").active().public_hex
    code, stdout, _ = run(capsys, "verify-report", str(tmp_path / "r.pdf"), "--public-key", other)
    assert code == 3 and "FAIL signer key" in stdout
    sig = json.loads((tmp_path / "r.pdf.sig").read_text())
    sig["signature"] = ("0" if sig["signature"][0] != "0" else "1") + sig["signature"][1:]
    (tmp_path / "r.pdf.sig").write_text(json.dumps(sig))
    code, stdout, _ = run(capsys, "verify-report", str(tmp_path / "r.pdf"), "--public-key", key)
    assert code == 3 and "FAIL report signature" in stdout
    # a hostile signature file nested past the parser's recursion limit fails, not crashes
    (tmp_path / "r.pdf.sig").write_bytes(b"[" * 20_000 + b"]" * 20_000)
    code, stdout, err = run(capsys, "verify-report", str(tmp_path / "r.pdf"), "--public-key", key)
    assert code == 3 and "nested deeper than" in stdout + err and "Traceback" not in err


def test_export_is_a_custody_event_and_custody_still_verifies(
    case_on_backend: dict[str, str], capsys, tmp_path: Path
) -> None:
    case_with_media = case_on_backend
    out = tmp_path / "r.html"
    assert run(capsys, "report", "court", "-f", "html", "-o", str(out))[0] == 0
    sig = json.loads((tmp_path / "r.html.sig").read_text())
    (event,) = _export_events()
    details = json.loads(event.details)
    assert event.chain == case_with_media["case_id"]
    assert event.object_sha256 == sig["signed_sha256"] == details["report_sha256"]
    assert details["format"] == "html" and details["examiner"] == "tester@verity"
    assert details["canonical_json_sha256"] == sig["embedded_json_sha256"]
    code, stdout, err = run(capsys, "custody", "verify", "--case", "court")
    assert code == 0, err
    code, stdout, err = run(capsys, "verify-report", str(out), "--check-media")
    assert code == 0, stdout + err
    assert f"ok   export recorded: custody event #{event.seq}" in stdout
    assert "ok   custody" in stdout and "ok   media E2" in stdout


def test_check_media_fails_when_stored_bytes_change(
    case_with_media: dict[str, str], capsys, tmp_path: Path
) -> None:
    out = tmp_path / "r.json"
    assert run(capsys, "report", "court", "-f", "json", "-o", str(out))[0] == 0
    app = Verity.open(load_settings())
    stored = app.store.path_for(case_with_media["image_sha"])
    app.close()
    stored.chmod(0o600)
    stored.write_bytes(stored.read_bytes() + b"\x00")
    code, stdout, _ = run(capsys, "verify-report", str(out), "--check-media")
    assert code == 3
    assert "FAIL media E2" in stdout and "ok   report signature" in stdout


def test_single_analysis_by_prefix_and_ledger_receipt(
    case_with_media: dict[str, str], capsys, tmp_path: Path, photo: Path, clip: Path
) -> None:
    app = Verity.open(load_settings())
    try:
        ledger.register(app, clip, "court", "sent to the court")
    finally:
        app.close()
    out = tmp_path / "one.json"
    prefix = case_with_media["video_analysis"][:10]
    code, _, err = run(capsys, "report", prefix, "-f", "json", "-o", str(out))
    assert code == 0, err
    document = json.loads(out.read_bytes())
    assert document["subject"]["analysis_ids"] == [case_with_media["video_analysis"]]
    (exhibit,) = document["exhibits"]
    assert exhibit["sha256"] == case_with_media["video_sha"]
    assert exhibit["ledger"]["leaf_index"] == 0
    assert exhibit["ledger"]["tree_size"] >= 1
    assert [h["action"] for h in exhibit["hash_history"]][-1] == "register"


def test_bad_input_exits_2_with_one_line_and_writes_nothing(
    case_with_media: dict[str, str], capsys, tmp_path: Path
) -> None:
    before = len(_export_events())
    cases = [
        ("report", "no-such-case", "-o", str(tmp_path / "x.pdf")),
        ("report", "court", "-f", "docx", "-o", str(tmp_path / "x.docx")),
        ("report", "court", "-o", str(tmp_path / "missing" / "x.pdf")),
        ("report", "court", "-o", str(tmp_path / "x.pdf"), "--examiner", "bad\nname"),
        ("verify-report", str(tmp_path / "nothing.pdf")),
        ("verify-report", str(tmp_path / "x.pdf"), "--public-key", "zz"),
        ("reproduce", str(tmp_path / "nothing.pdf")),
    ]
    for args in cases:
        code, _, err = run(capsys, *args)
        assert code == 2, args
        assert err.count("\n") == 1 and err.startswith("verity: error:"), (args, err)
    assert not list(tmp_path.glob("x.*")) and not list(tmp_path.glob(".verity-report-*"))
    assert len(_export_events()) == before


def test_reproduce_matches_then_names_each_difference(
    case_with_media: dict[str, str], capsys, tmp_path: Path
) -> None:
    out = tmp_path / "r.pdf"
    assert run(capsys, "report", "court", "-o", str(out))[0] == 0
    code, stdout, err = run(capsys, "reproduce", str(out))
    assert code == 0, stdout + err
    assert "reproduced:" in stdout and "DIFF" not in stdout
    assert "2 fused verdict(s) match" in stdout and "same E1" in stdout
    assert "signature valid" in stdout
    tampered = bytearray(out.read_bytes())
    tampered[len(tampered) // 2] ^= 0x01
    (tmp_path / "t.pdf").write_bytes(bytes(tampered))
    shutil.copy(f"{out}.sig", tmp_path / "t.pdf.sig")
    code, stdout, err = run(capsys, "reproduce", str(tmp_path / "t.pdf"))
    assert code == 3 and "does not match its signature" in err
    assert run(capsys, "report", "court", "-f", "json", "-o", str(tmp_path / "r.json"))[0] == 0
    document = json.loads((tmp_path / "r.json").read_bytes())
    detectors = document["exhibits"][0]["analyses"][0]["detectors"]
    spectrum = next(d for d in detectors if d["name"] == "visual.spectrum")
    spectrum["raw_score"] += 0.5
    metadata = next(d for d in detectors if d["name"] == "visual.metadata")
    metadata["version"] = "0.9.0"
    document["exhibits"][0]["analyses"][0]["engine_version"] = "0.1.0"
    (tmp_path / "edited.json").write_text(json.dumps(document))
    code, stdout, err = run(capsys, "reproduce", str(tmp_path / "edited.json"))
    assert code == 3
    assert "raw_score differs by 0.5" in stdout
    # a difference is put beside the engine change that may explain it
    assert f"analysed by engine 0.1.0, re-run by {ENGINE_VERSION}" in stdout
    assert "detector version changed: report 0.9.0, now 1.0.0" in stdout
    assert "2 of" in err


def test_reproduce_elsewhere_says_once_per_exhibit_that_its_media_is_not_here(
    case_with_media: dict[str, str],
    capsys,
    tmp_path: Path,
    clip: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A second examiner reproduces on another installation: each exhibit it lacks is one
    line saying how to bring the original (not one "missing from the store" per detector, as if
    the store were damaged); once the file is ingested there, the report reproduces."""
    out = tmp_path / "r.json"
    assert run(capsys, "report", "court", "-f", "json", "-o", str(out))[0] == 0
    monkeypatch.setenv("VERITY_HOME", str(tmp_path / "elsewhere"))
    code, stdout, err = run(capsys, "reproduce", str(out))
    assert code == 3
    lines = [line for line in stdout.splitlines() if line.startswith("NOT RUN")]
    assert [line.split()[2] for line in lines] == ["E1:", "E2:"], stdout
    assert all("is not in this installation" in line for line in lines)
    assert "verity ingest" in lines[0] and "DIFF" not in stdout and "missing" not in stdout
    assert err.strip() == "verity: 2 exhibit(s) could not be re-run"
    assert run(capsys, "case", "new", "second")[0] == 0
    assert run(capsys, "ingest", str(clip), "--case", "second")[0] == 0
    code, stdout, err = run(capsys, "reproduce", str(out))
    assert code == 3 and stdout.count("NOT RUN") == 1 and "same E1" in stdout, stdout
    assert re.fullmatch(
        r"verity: 0 of \d+ result\(s\) differ; 1 exhibit\(s\) could not be re-run\n", err
    )


def test_a_difference_within_single_precision_rounding_is_named_so() -> None:
    """The gate stays the auditor's tolerance; the line says what a tiny difference means."""
    from core.report.reproduce import _compare

    evidence = SimpleNamespace(
        calibration_version="c1", raw_score=8.5 + 2 * 9.5367431640625e-07, llr=0.25, p_fake=0.5
    )
    reported = {"calibration_version": "c1", "raw_score": 8.5, "llr": 0.25, "p_fake": 0.5}
    (line,) = _compare(reported, evidence, tolerance=1e-6)
    assert line.startswith("raw_score differs by 1.91e-06")
    assert "2 single-precision units in the last place" in line
    evidence.raw_score, evidence.llr = 8.5, 0.75  # half a unit of LLR: no such note
    (line,) = _compare(reported, evidence, tolerance=1e-6)
    assert line == "llr differs by 0.5 (0.25 → 0.75)"


def test_hostile_names_are_escaped(home: Path, capsys, tmp_path: Path, photo: Path) -> None:
    hostile = tmp_path / '<img src=x onerror="alert(1)">&.jpg'
    shutil.copy(photo, hostile)
    app = Verity.open(load_settings())
    try:
        description = "</script><script>alert(2)</script>" + "\nvery long" * 990  # near the limit
        services.create_case(app, "<b>bold</b>", description)
        services.analyze(app, hostile, "<b>bold</b>")
    finally:
        app.close()
    for fmt in ("html", "pdf"):
        out = tmp_path / f"hostile.{fmt}"
        code, _, err = run(capsys, "report", "<b>bold</b>", "-f", fmt, "-o", str(out))
        assert code == 0, err
        assert run(capsys, "verify-report", str(out))[0] == 0
    page = (tmp_path / "hostile.html").read_text()
    assert "<img src=x" not in page and "<b>bold" not in page
    assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;&amp;.jpg" in page
    assert page.count("<script") == 1 and page.count("</script>") == 1
    assert "alert(2)" in page  # shown as text, in the escaped JSON and the description cell


def test_text_that_could_hide_or_reorder_itself_is_shown_escaped(
    home: Path, capsys, tmp_path: Path, photo: Path
) -> None:
    """A case description is free text: a RIGHT-TO-LEFT OVERRIDE in it reversed the rest of the
    cell in a browser (and vanished from the PDF), NUL and ESC went raw into the HTML. Every
    character that is not printable is shown as its escape, as file names are at intake. The
    PDF also escapes what its font cannot draw (a box that looks the same for any emoji) and
    characters beyond U+FFFF, which reportlab's text layer names wrongly (😀 copied as ὠ)."""
    pdftotext = _poppler("pdftotext")
    named = tmp_path / "exhibit \N{FIRE}\N{GRINNING FACE}.jpg"
    shutil.copy(photo, named)
    description = "paid \u202egpj.exe\u202c by\x00 wire\x1b[2J \u200bnote"
    app = Verity.open(load_settings())
    try:
        services.create_case(app, "hostile", description)
        services.analyze(app, named, "hostile")
    finally:
        app.close()
    for fmt in ("html", "pdf"):
        code, _, err = run(capsys, "report", "hostile", "-f", fmt, "-o", str(tmp_path / f"r.{fmt}"))
        assert code == 0, err
    page = (tmp_path / "r.html").read_text()
    body = page[: page.index('<script type="application/json"')]
    for raw in ("\u202e", "\u202c", "\x00", "\x1b", "\u200b"):
        assert raw not in body, repr(raw)
    assert "paid \\u202egpj.exe\\u202c by\\x00 wire\\x1b[2J \\u200bnote" in body
    assert "exhibit \N{FIRE}\N{GRINNING FACE}.jpg" in body  # a browser draws these
    text = subprocess.run(
        [pdftotext, str(tmp_path / "r.pdf"), "-"], check=True, capture_output=True, text=True
    ).stdout
    assert "paid \\u202egpj.exe\\u202c by\\x00 wire\\x1b[2J \\u200bnote" in text
    assert "exhibit \\U0001f525\\U0001f600.jpg" in text
    assert "\u1f60" not in text


def test_reproduce_builds_each_detector_as_its_analysis_recorded(
    home: Path, capsys, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An analysis made with a non-default front end (the neural VAD) records it in the result
    (`options`, part of the JSON contract and the report), and `reproduce` re-runs the detector
    that way whatever this installation's settings are now; without the record the re-run
    differs (which is what it did before options were recorded)."""
    import soundfile as sf

    from tests.modalities.audio_signals import formant_speech

    speech = tmp_path / "call.wav"
    sf.write(speech, formant_speech(8.0, seed=5), 16_000)
    assert run(capsys, "case", "new", "court")[0] == 0
    monkeypatch.setenv("VERITY_MODELS__AUDIO_VAD", "silero")
    code, out, err = run(
        capsys, "analyze", str(speech), "-c", "court", "-d", "audio.lfcc_gmm,audio.cnn", "--json"
    )
    assert code == 0, err
    detectors = {d["name"]: d for d in json.loads(out.splitlines()[0])["detectors"]}
    assert detectors["audio.lfcc_gmm"]["options"] == {"vad": "silero"}
    assert detectors["audio.cnn"]["options"] == {"vad": "silero"}
    monkeypatch.delenv("VERITY_MODELS__AUDIO_VAD")  # the installation's default again
    assert run(capsys, "report", "court", "-f", "html", "-o", str(tmp_path / "r.html"))[0] == 0
    assert "built with:</b> vad=silero" in (tmp_path / "r.html").read_text()
    assert run(capsys, "report", "court", "-f", "json", "-o", str(tmp_path / "r.json"))[0] == 0
    code, stdout, err = run(capsys, "reproduce", str(tmp_path / "r.json"))
    assert code == 0, stdout + err
    assert "DIFF" not in stdout and stdout.count("same E1") == 3  # two detectors, their fusion
    assert stdout.count("(built with vad=silero, as recorded)") == 2
    document = json.loads((tmp_path / "r.json").read_bytes())
    for det in document["exhibits"][0]["analyses"][0]["detectors"]:
        det["options"] = {}  # as a report made before options were recorded
    (tmp_path / "unrecorded.json").write_text(json.dumps(document))
    code, stdout, err = run(capsys, "reproduce", str(tmp_path / "unrecorded.json"))
    assert code == 3 and "DIFF E1" in stdout and "audio.lfcc_gmm: raw_score differs" in stdout
    document["exhibits"][0]["analyses"][0]["detectors"][0]["options"] = {"vad": "webrtc"}
    (tmp_path / "bad.json").write_text(json.dumps(document))
    code, stdout, err = run(capsys, "reproduce", str(tmp_path / "bad.json"))
    assert code == 3 and "cannot build it with the recorded options (vad=webrtc)" in stdout


def test_a_report_that_fails_before_signing_makes_no_key(home: Path, capsys, tmp_path) -> None:
    """A fresh installation's `verity report NOPE` (exit 2) left report-*.key, report-*.pub and
    report.active behind."""
    code, _, err = run(capsys, "report", "no-such-case", "-o", str(tmp_path / "x.pdf"))
    assert code == 2 and "no case" in err
    assert not (home / "keys").exists() or not list((home / "keys").glob("report*"))


def test_a_public_key_longer_than_a_file_name_is_bad_input(capsys, tmp_path: Path) -> None:
    """It was "internal error: OSError: [Errno 36] File name too long"."""
    report = tmp_path / "r.json"
    report.write_text("{}")
    code, _, err = run(capsys, "verify-report", str(report), "--public-key", "a" * 300)
    assert code == 2 and "--public-key: an Ed25519 public key is 32 bytes" in err


@pytest.mark.parametrize("value", ["inf", "-inf", "nan", "-1"])
def test_reproduce_refuses_a_tolerance_that_is_not_a_finite_number(
    value: str, capsys, tmp_path: Path
) -> None:
    """`--tolerance inf` passed click's min=0 and every score then "matched within inf"."""
    code, _, err = run(capsys, "reproduce", str(tmp_path / "r.json"), "--tolerance", value)
    assert code == 2 and "tolerance" in err.lower(), err
    if value == "inf":  # the others are click's usage errors
        assert err.count("\n") == 1 and "finite" in err, err
