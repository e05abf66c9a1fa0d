"""The dashboard's pages, driven with Streamlit's AppTest: sign-in, roles, analysis, case file,
registration, verification and the ledger, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import streamlit as st
from argon2 import PasswordHasher
from PIL import Image
from sqlalchemy import select, update
from streamlit.testing.v1 import AppTest

from core import casefile, services, users
from core.app import Verity
from core.config import load_settings
from core.db import CustodyEvent
from core.users import Account, Role, add_user
from dashboard.components import cards, session
from dashboard.components.text import md
from provenance import ledger

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "dashboard" / "app.py")
PAGES = ROOT / "dashboard" / "app_pages"
PASSWORD = "a long enough password"
ROLE_USERS = {Role.ANALYST: "ana", Role.FACT_CHECKER: "fran", Role.AUDITOR: "audrey"}
ROLE_USERS[Role.ADMIN] = "root"
VISIBLE = {
    Role.ANALYST: {"cases", "case_file", "analyze", "verify", "ledger"},
    Role.FACT_CHECKER: {"cases", "case_file", "analyze", "register", "verify", "ledger"},
    Role.AUDITOR: {"cases", "case_file", "verify", "ledger"},
    Role.ADMIN: {"cases", "case_file", "analyze", "register", "verify", "ledger", "users"},
}
TITLES = {
    "cases": "Cases",
    "case_file": "Case file",
    "analyze": "Analyze",
    "register": "Register verified media",
    "verify": "Verify",
    "ledger": "Ledger",
    "users": "Users",
}


@pytest.fixture(autouse=True)
def _fresh_lockouts(monkeypatch: pytest.MonkeyPatch) -> None:
    """The server's failed sign-in counts live in the process; each test is its own server.

    Pages are tested here, not password hashing (tests/test_users.py keeps the real argon2id
    cost): a cheap hasher saves about a second per test on the four accounts made below."""
    monkeypatch.setattr(users, "FAILED_SIGN_INS", users._Failures())
    monkeypatch.setattr(users, "_HASHER", PasswordHasher(time_cost=1, memory_cost=1024))


def _installation() -> Iterator[Verity]:
    app = Verity.open(load_settings())
    for role, name in ROLE_USERS.items():  # the accounts the sessions below are signed in as
        add_user(app, name, role, PASSWORD)
    yield app
    app.close()
    session._open.clear()  # the next test's VERITY_HOME gets its own installation
    st.cache_data.clear()


@pytest.fixture
def installation(home: Path) -> Iterator[Verity]:
    """On SQLite: page rendering and role checks do not depend on the database."""
    yield from _installation()


@pytest.fixture
def both(backend: str, home: Path) -> Iterator[Verity]:
    """On SQLite and PostgreSQL: the flows that write evidence."""
    yield from _installation()


def signed_in(role: Role) -> AppTest:
    """A session signed in as ``role`` (the password check itself is test_sign_in's)."""
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state[session.ACCOUNT_KEY] = Account(ROLE_USERS[role], role)
    at.run()
    assert not at.exception, at.exception
    return at


def go(at: AppTest, page: str) -> AppTest:
    at.switch_page(str(PAGES / f"{page}.py"))
    at.run()
    assert not at.exception, at.exception
    return at


def texts(at: AppTest, kind: str) -> list[str]:
    return [str(e.value) for e in getattr(at, kind)]


def events(app: Verity, action: str) -> list[CustodyEvent]:
    with app.db.session() as s:
        return list(s.scalars(select(CustodyEvent).where(CustodyEvent.action == action)))


def test_sign_in(both: Verity) -> None:
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert texts(at, "title") == ["Verity"]
    at.text_input(key="login_name").set_value("ana")
    at.text_input(key="login_password").set_value(PASSWORD + "!")
    at.button(key="sign_in").click().run()
    assert texts(at, "error") == ["unknown user or wrong password"]
    assert session.ACCOUNT_KEY not in at.session_state
    at.text_input(key="login_name").set_value("ana")
    at.text_input(key="login_password").set_value(PASSWORD)
    at.button(key="sign_in").click().run()
    assert not at.exception
    assert texts(at, "title") == ["Cases"]
    assert "login_password" not in at.session_state  # the typed password is not kept
    assert "Signed in as **ana** (analyst)" in texts(at, "markdown")
    at.button(key="sign_out").click().run()
    assert texts(at, "title") == ["Verity"]


def test_repeated_failures_lock_the_account_in_every_session(installation: Verity) -> None:
    """The count is the server's: a fresh browser session (free to open) does not reset it."""
    at = AppTest.from_file(APP, default_timeout=60).run()
    for _ in range(users.MAX_FAILED):
        at.text_input(key="login_name").set_value("ana")
        at.text_input(key="login_password").set_value("wrong password!")
        at.button(key="sign_in").click().run()
    fresh = AppTest.from_file(APP, default_timeout=60).run()
    fresh.text_input(key="login_name").set_value("ana")
    fresh.text_input(key="login_password").set_value(PASSWORD)
    fresh.button(key="sign_in").click().run()  # even the right password waits out the lockout
    assert any("too many failed sign-ins" in e for e in texts(fresh, "error"))
    assert session.ACCOUNT_KEY not in fresh.session_state
    # another account is not locked by ana's failures
    fresh.text_input(key="login_name").set_value("fran")
    fresh.text_input(key="login_password").set_value(PASSWORD)
    fresh.button(key="sign_in").click().run()
    assert fresh.session_state[session.ACCOUNT_KEY].name == "fran"


def test_a_disabled_or_demoted_account_loses_access_on_its_next_page(
    installation: Verity,
) -> None:
    from core.db import User

    at = go(signed_in(Role.ADMIN), "users")
    assert texts(at, "title") == ["Users"]
    with installation.db.session() as s:
        s.execute(update(User).where(User.name == "fran").values(role=Role.AUDITOR.value))
    fran = signed_in(Role.FACT_CHECKER)  # the session still says fact-checker
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        fran.switch_page(str(PAGES / "register.py"))  # the menu is the auditor's
    page = AppTest.from_file(str(PAGES / "register.py"), default_timeout=60)
    page.session_state[session.ACCOUNT_KEY] = Account("fran", Role.FACT_CHECKER)
    page.run()  # and the page itself reads the role now
    assert texts(page, "error") == ["fran (auditor) may not register media."]
    with installation.db.session() as s:
        s.execute(update(User).where(User.name == "root").values(active=False))
    at.run()
    assert session.ACCOUNT_KEY not in at.session_state
    assert texts(at, "title") == ["Verity"]  # back at the sign-in page


@pytest.mark.parametrize("role", list(Role))
def test_each_role_sees_only_its_pages(installation: Verity, photo: Path, role: Role) -> None:
    services.analyze(installation, photo, None)
    at = signed_in(role)
    for page, title in TITLES.items():
        if page in VISIBLE[role]:
            assert texts(go(at, page), "title") == [title]
        else:
            with pytest.raises(ValueError, match="Could not find a navigation page"):
                at.switch_page(str(PAGES / f"{page}.py"))


@pytest.mark.parametrize(
    ("page", "role", "action"),
    [
        ("analyze", Role.AUDITOR, "analyse media"),
        ("register", Role.AUDITOR, "register media"),
        ("register", Role.ANALYST, "register media"),
        ("users", Role.FACT_CHECKER, "manage users"),
    ],
)
def test_pages_check_the_role_themselves(
    installation: Verity, page: str, role: Role, action: str
) -> None:
    """Even when reached directly, a page refuses a role it does not serve and draws nothing."""
    at = AppTest.from_file(str(PAGES / f"{page}.py"), default_timeout=60)
    at.session_state[session.ACCOUNT_KEY] = Account(ROLE_USERS[role], role)
    at.run()
    assert texts(at, "error") == [f"{ROLE_USERS[role]} ({role.value}) may not {action}."]
    assert len(at.file_uploader) == 0 and len(at.button) == 0


def test_pages_need_a_signed_in_person(installation: Verity) -> None:
    at = AppTest.from_file(str(PAGES / "case_file.py"), default_timeout=60).run()
    assert texts(at, "warning") == ["Sign in first."]
    assert events(installation, "view") == []


def test_analyst_analyses_and_reads_the_case_file(both: Verity, clip: Path, photo: Path) -> None:
    installation = both
    at = go(signed_in(Role.ANALYST), "analyze")
    at.text_input(key="analyze_new_case").set_value("Inquiry 7")
    at.file_uploader(key="analyze_files").set_value(
        [
            ("clip.mp4", clip.read_bytes(), "video/mp4"),
            ("photo.jpg", photo.read_bytes(), "image/jpeg"),
        ]
    )
    at.run()
    at.button(key="analyze_run").click().run()
    assert not at.exception and texts(at, "error") == []
    (case,) = [c for c in services.list_cases(installation) if c["name"] == "Inquiry 7"]
    assert case["media_count"] == 2 and case["created_by"] == "ana@dashboard"
    stored = casefile.case_file(installation, case["id"])["media"]
    clip_result = next(m for m in stored if m["media"]["original_name"] == "clip.mp4")
    (analysis,) = clip_result["analyses"]
    done = texts(at, "success")
    assert len(done) == 2
    assert done[0] == f"clip.mp4: **{analysis['verdict']}** (p_fake {analysis['p_fake']:.3f})"

    at = go(at, "case_file")
    assert at.query_params["case"] == case["id"]
    markdown = texts(at, "markdown")
    colour, title, _ = cards.VERDICT_TEXT[analysis["verdict"]]
    assert f"### Verdict: :{colour}[{title}]" in markdown
    for reason in analysis["inconclusive_reasons"]:
        assert f"- {md(reason)}" in markdown
    assert f"{analysis['p_fake']:.3f}" in [str(m.value) for m in at.metric]
    (interval,) = [m for m in markdown if m.startswith("**95% interval**")]
    low, high = (float(x) for x in interval.split("\n")[1].split(" – "))
    assert low - 5e-4 <= analysis["p_fake"] <= high + 5e-4  # shown to 3 decimals
    assert len(at.get("vega_lite_chart")) >= 2  # timeline and spectrogram
    assert any(s.startswith("custody intact") for s in texts(at, "success"))
    (view,) = events(installation, "view")
    assert view.actor == "ana@dashboard" and view.chain == case["id"]

    at.slider(key="case_file_position").set_value(1.0).run()  # a rerun is not a new opening
    assert len(events(installation, "view")) == 1
    frames = [
        img.caption
        for e in at.get("image")
        for img in e.proto.imgs
        if img.caption.startswith("frame at")
    ]
    assert frames == ["frame at 1.00 s"]  # the frame at the chosen position (figures follow)
    assert "Scores covering this frame" in " ".join(texts(at, "markdown"))
    at.selectbox(key="case_file_media").set_value(1).run()
    assert len(events(installation, "view")) == 1
    go(go(at, "cases"), "case_file")  # coming back is
    assert len(events(installation, "view")) == 2
    # the case: create, 2 ingest, 2 analyze, 2 view; the global chain: the 4 accounts added
    assert services.check_custody(installation).events == 7 + len(ROLE_USERS)


def test_a_rejected_upload_says_why_and_stores_nothing(
    installation: Verity, text_as_mp4: Path
) -> None:
    at = go(signed_in(Role.ANALYST), "analyze")
    at.text_input(key="analyze_new_case").set_value("Inquiry 8")
    at.file_uploader(key="analyze_files").set_value(
        ("notes.mp4", text_as_mp4.read_bytes(), "video/mp4")
    )
    at.run()
    at.button(key="analyze_run").click().run()
    (error,) = texts(at, "error")
    assert error.startswith("notes.mp4: ") and error.endswith("nothing was stored for this file.")
    assert installation.store.list_hashes() == []
    assert not list((installation.settings.home / "uploads").iterdir())
    # the new case is made with the first file filed in it: none was, so no empty case is left
    assert services.list_cases(installation) == [] and events(installation, "case.create") == []


def test_a_new_case_is_made_once_for_a_batch_whose_first_file_is_refused(
    installation: Verity, text_as_mp4: Path, photo: Path, tone: Path
) -> None:
    at = go(signed_in(Role.ANALYST), "analyze")
    at.text_input(key="analyze_new_case").set_value("Inquiry 10")
    at.file_uploader(key="analyze_files").set_value(
        [
            ("notes.mp4", text_as_mp4.read_bytes(), "video/mp4"),
            ("a.jpg", photo.read_bytes(), "image/jpeg"),
            ("b.wav", tone.read_bytes(), "audio/wav"),
        ]
    )
    at.run()
    at.button(key="analyze_run").click().run()
    assert len(texts(at, "error")) == 1 and len(texts(at, "success")) == 2
    (case,) = services.list_cases(installation)
    assert case["name"] == "Inquiry 10" and case["media_count"] == 2
    assert len(events(installation, "case.create")) == 1


def test_a_batch_of_empty_files_creates_no_case(installation: Verity) -> None:
    at = go(signed_in(Role.ANALYST), "analyze")
    at.text_input(key="analyze_new_case").set_value("Inquiry 9")
    at.file_uploader(key="analyze_files").set_value(
        [("empty.png", b"", "image/png"), ("empty.jpg", b"", "image/jpeg")]
    )  # (a wrong extension is refused by the upload widget itself)
    at.run()
    at.button(key="analyze_run").click().run()
    errors = texts(at, "error")
    assert [e.split(":")[0] for e in errors] == ["empty.png", "empty.jpg"]
    assert all(e.endswith("nothing was stored for this file.") for e in errors)
    assert [c for c in services.list_cases(installation) if c["name"] == "Inquiry 9"] == []
    assert events(installation, "case.create") == []


def test_fact_checker_registers_then_anyone_verifies(both: Verity, photo: Path) -> None:
    installation = both
    analysed = services.analyze(installation, photo, None)
    at = go(signed_in(Role.FACT_CHECKER), "register")
    at.text_input(key="register_note").set_value("matches the photographer's original")
    at.button(key="register_existing").click().run()
    assert not at.exception
    assert texts(at, "success") == [
        f"Registered as leaf #0 (sha256 {analysed['media']['sha256']})."
    ]
    assert len(at.get("download_button")) == 1
    (event,) = events(installation, "register")
    assert event.actor == "fran@dashboard"

    receipt = ledger.receipt(installation, analysed["media"]["sha256"])
    at = go(signed_in(Role.AUDITOR), "verify")
    at.file_uploader(key="verify_receipt").set_value(
        ("r.json", receipt.model_dump_json().encode(), "application/json")
    )
    at.file_uploader(key="verify_media").set_value(("p.jpg", photo.read_bytes(), "image/jpeg"))
    at.run()
    at.button(key="verify_go").click().run()
    assert not at.exception
    assert "Receipt valid." in texts(at, "success")
    assert any(s.startswith("Exact match: leaf #0") for s in texts(at, "success"))

    tampered = json.loads(receipt.model_dump_json())
    tampered["record"]["note"] = "something else"
    at.file_uploader(key="verify_receipt").set_value(
        ("r.json", json.dumps(tampered).encode(), "application/json")
    )
    at.run()
    at.button(key="verify_go").click().run()
    assert texts(at, "error") == ["Receipt invalid: inclusion proof."]

    at = go(at, "ledger")
    assert texts(at, "success")[0].startswith("Ledger intact: 1 leaves, 1 checkpoints")


def test_cases_page_creates_and_searches(installation: Verity) -> None:
    at = signed_in(Role.ANALYST)
    at.text_input(key="new_case_name").set_value("Inquiry 9")
    at.text_area(key="new_case_description").set_value("from the newsroom")
    at.button(key="create_case").click().run()
    assert any("Created case Inquiry 9" in s for s in texts(at, "success"))
    at.text_input(key="case_search").set_value("NEWSROOM").run()
    assert any(m.startswith("**Inquiry 9**") for m in texts(at, "markdown"))
    at.text_input(key="case_search").set_value("absent").run()
    assert texts(at, "info") == ["No case matches."]
    auditor = signed_in(Role.AUDITOR)
    assert len(auditor.text_input) == 1  # search only: no form to create cases


def test_admin_adds_a_user(installation: Verity) -> None:
    at = go(signed_in(Role.ADMIN), "users")
    at.text_input(key="user_name").set_value("newbie")
    at.selectbox(key="user_role").set_value("auditor")
    at.text_input(key="user_pw").set_value(PASSWORD)
    at.button(key="add_user").click().run()
    assert texts(at, "success") == ["Added newbie (auditor)."]


def test_case_file_exports_a_signed_report(installation: Verity, photo: Path) -> None:
    services.analyze(installation, photo, None)
    at = go(signed_in(Role.AUDITOR), "case_file")
    at.button(key="export_report").click().run()
    assert len(at.get("download_button")) == 1


def test_an_export_with_a_figure_gone_warns_the_examiner(installation: Verity, photo: Path) -> None:
    """The report captions a figure the store lost; the page's examiner is told at export."""
    from dashboard.exports import export_signed_report

    result = services.analyze(installation, photo, None)
    (heatmap,) = installation.artifact_store.list_hashes()
    installation.artifact_store.path_for(heatmap).unlink()
    *_, warnings = export_signed_report(installation, result["case_id"], "html")
    assert len(warnings) == 1 and "1 figure(s) left out" in warnings[0], warnings
    assert heatmap in warnings[0]


def test_exported_zip_holds_a_report_that_verifies(installation: Verity, photo: Path) -> None:
    import io
    import zipfile

    from core.report import verify_report
    from dashboard.exports import export_signed_report

    result = services.analyze(installation, photo, None)
    name, payload, mime, warnings = export_signed_report(installation, result["case_id"], "json")
    assert warnings == []
    assert name.endswith(".zip") and mime == "application/zip"
    with zipfile.ZipFile(io.BytesIO(payload)) as archive:
        names = sorted(archive.namelist())
        assert len(names) == 2 and names[1] == names[0] + ".sig"
        report, sig = archive.read(names[0]), archive.read(names[1])
    assert result["media"]["sha256"] in report.decode()
    checks, document = verify_report(report, sig, None)
    assert checks and all(check.ok for check in checks) and document is not None
    assert events(installation, "export")


def test_untrusted_names_are_shown_as_text(installation: Verity, photo: Path) -> None:
    """A file or case name cannot smuggle markdown (links, images that call out) into the page."""
    hostile = "![t](http://tracker.invalid/p.png)[x](http://x.invalid).jpg"
    at = go(signed_in(Role.ANALYST), "analyze")
    at.text_input(key="analyze_new_case").set_value("**bold** [case](http://x.invalid)")
    at.file_uploader(key="analyze_files").set_value((hostile, photo.read_bytes(), "image/jpeg"))
    at.run()
    at.button(key="analyze_run").click().run()
    (done,) = texts(at, "success")
    assert done.startswith(r"\!\[t\]\(http:")  # escaped: shown literally, never fetched
    at = go(at, "cases")
    assert any(m.startswith(r"**\*\*bold\*\* \[case\]") for m in texts(at, "markdown"))


# remark-gfm's autolink literals as Streamlit's markdown bundle applies them after parsing
# (mdast-util-gfm-autolink-literal): escaping does not stop them, only the text itself can
GFM_URL = re.compile(r"(https?://|www(?=\.))([-.\w]+)([^ \t\r\n]*)", re.IGNORECASE)
GFM_EMAIL = re.compile(r"(?:^|(?<=[\s\W]))([-.\w+]+)@([-\w]+(?:\.[-\w]+)+)")


@pytest.mark.parametrize(
    "name",
    [
        "https://login.evil.example/x.jpg",
        "see WWW.evil.example.png",
        "ask a.b@evil.example.wav",
        "photo@2x.png",
        "http://a.b/c](http://d.e).mp4",
    ],
)
def test_bare_addresses_in_names_are_not_links(name: str) -> None:
    shown = md(name)
    assert not GFM_URL.search(shown) and not GFM_EMAIL.search(shown)
    assert shown.replace("\u2060", "").replace("\\", "") == name  # the same text to the eye


def test_names_that_are_no_links_are_left_alone() -> None:
    """An account (``ana@dashboard``: no dot, no e-mail link) keeps its exact characters, so
    that what a reader copies from the page is what was recorded."""
    for name in ("ana@dashboard", "www", "http: notes", "clip_www", "report 12:30"):
        assert "\u2060" not in md(name), name


def test_fact_checker_registers_an_upload(installation: Verity, tone: Path) -> None:
    at = go(signed_in(Role.FACT_CHECKER), "register")
    at.radio(key="register_source").set_value("Upload a file").run()
    at.file_uploader(key="register_file").set_value(("tone.wav", tone.read_bytes(), "audio/wav"))
    at.run()
    at.button(key="register_upload").click().run()
    assert not at.exception and texts(at, "error") == []
    assert texts(at, "success")[0].startswith("Registered as leaf #0")
    (item,) = casefile.case_media_choices(installation)
    assert item["original_name"] == "tone.wav" and item["case_name"] == "default"
    assert not list((installation.settings.home / "uploads").iterdir())


def test_case_file_shows_the_checked_figures(installation: Verity, tmp_path: Path) -> None:
    import soundfile

    from tests.modalities.test_audio_frontend import SR, voiced

    speech = tmp_path / "speech.flac"
    soundfile.write(speech, voiced(3.0, seed=2), SR)
    services.analyze(installation, speech, None, detectors=["audio.lfcc_gmm"])
    at = go(signed_in(Role.AUDITOR), "case_file")
    assert not at.exception
    images = [e for e in at.main.children.values() if type(e).__name__ == "Image"]
    captions = [img.caption for e in images for img in e.proto.imgs]
    assert any(
        c.startswith("audio.lfcc") and "spectrogram" in c and "(checked)" in c for c in captions
    )


def test_altered_records_and_bytes_are_named_not_shown(
    installation: Verity, photo: Path, tone: Path
) -> None:
    """A verdict edited in the database is not drawn as the verdict; stored bytes altered in
    place are neither played nor registered."""
    from core.db import Analysis

    analysed = services.analyze(installation, photo, None)
    with installation.db.session() as s:
        s.execute(
            update(Analysis)
            .where(Analysis.id == analysed["analysis_id"])
            .values(verdict="[click](https://evil.example)", p_fake=0.01)
        )
    at = go(signed_in(Role.AUDITOR), "case_file")
    errors = texts(at, "error")
    assert any(
        e.startswith("This analysis cannot be shown:") and "differs from what its analyze" in e
        for e in errors
    ), errors
    assert not any("Verdict:" in m for m in texts(at, "markdown"))

    stored = installation.store.path_for(analysed["media"]["sha256"])
    stored.chmod(0o644)
    stored.write_bytes(stored.read_bytes()[:-10] + bytes(10))  # same size, other bytes
    at = go(signed_in(Role.AUDITOR), "case_file")
    assert any("is corrupt" in e for e in texts(at, "error"))
    assert not [e for e in at.main.children.values() if type(e).__name__ == "Image"]
    at = go(signed_in(Role.FACT_CHECKER), "register")
    at.button(key="register_existing").click().run()
    assert any("is corrupt" in e for e in texts(at, "error"))
    assert events(installation, "register") == []


@pytest.mark.parametrize("link", ["0" * 32, "' OR 1=1 --", "x" * 5000, ""])
def test_a_link_to_an_unknown_case_opens_no_other_case(
    installation: Verity, photo: Path, link: str
) -> None:
    """It opened the newest case instead, and recorded a view of it in its custody chain."""
    services.create_case(installation, "Case A", "")
    services.create_case(installation, "Case B", "")
    at = signed_in(Role.ANALYST)
    at.query_params["case"] = link
    at = go(at, "case_file")
    (error,) = texts(at, "error")
    assert error.startswith("no case with id or name")
    assert events(installation, "view") == [] and at.query_params["case"] == link
    (case_b,) = [c for c in services.list_cases(installation) if c["name"] == "Case B"]
    at.selectbox(key="case_file_case").set_value(case_b["id"]).run()  # choosing one opens it
    assert texts(at, "error") == [] and at.query_params["case"] == case_b["id"]
    (view,) = events(installation, "view")
    assert view.chain == case_b["id"]


def test_case_file_shows_lab_outputs_as_synthetic(installation: Verity, photo: Path) -> None:
    from provenance.lab_credentials import sign_synthetic

    signed = photo.parent / "lab-output.jpg"
    signed.write_bytes(
        sign_synthetic(
            photo.read_bytes(), ".jpg", keys_dir=installation.settings.keys_dir,
            title="upsample", generator={"method": "upsample:bilinear"},
        )
    )  # fmt: skip
    case = services.create_case(installation, "Lab", "")
    services.ingest(installation, signed, case["id"])
    at = signed_in(Role.ANALYST)
    at.query_params["case"] = case["id"]
    at = go(at, "case_file")
    (warning,) = [w for w in texts(at, "warning") if "synthetic" in w]
    assert warning.startswith("**synthetic (lab output)**")


def test_a_near_match_on_the_verify_page_does_not_vouch_for_the_file(
    installation: Verity, photo: Path, tmp_path: Path
) -> None:
    """A face swap of registered media matches as closely as a re-encode: the page must not call
    the upload a re-encoded, resized, cropped or trimmed copy."""
    ledger.register(installation, photo, None)
    smaller = tmp_path / "small.jpg"
    Image.open(photo).convert("RGB").reduce(2).save(smaller, quality=60)
    at = go(signed_in(Role.AUDITOR), "verify")
    at.file_uploader(key="verify_media").set_value(
        ("small.jpg", smaller.read_bytes(), "image/jpeg")
    )
    at.run()
    at.button(key="verify_go").click().run()
    assert not at.exception
    (warning,) = texts(at, "warning")
    assert "or an edit of it" in warning and "does not vouch" in warning
