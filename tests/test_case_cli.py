"""``verity case show``: a case's media, verdicts and custody log, read as a recorded view."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from sqlalchemy import select, update

from core.app import Verity
from core.cli import render
from core.config import load_settings
from core.db import CustodyEvent
from tests.test_cli import run, snapshot


def _events(case_id: str) -> list[CustodyEvent]:
    app = Verity.open(load_settings())
    try:
        with app.db.session() as s:
            return list(
                s.scalars(
                    select(CustodyEvent)
                    .where(CustodyEvent.chain == case_id)
                    .order_by(CustodyEvent.seq)
                ).all()
            )
    finally:
        app.close()


def test_case_show_lists_media_verdicts_and_records_the_view(
    backend: str, capsys: pytest.CaptureFixture[str], photo: Path, tone: Path
) -> None:
    assert run(capsys, "case", "new", "Inquiry 9")[0] == 0
    code, out, err = run(capsys, "analyze", str(photo), str(tone), "--case", "Inquiry 9", "--json")
    assert code == 0, err
    analysed = {a["media"]["sha256"]: a for a in map(json.loads, out.splitlines())}

    code, out, err = run(capsys, "case", "show", "Inquiry 9", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["case"]["name"] == "Inquiry 9" and data["case"]["media_count"] == 2
    assert [item["media"]["original_name"] for item in data["media"]] == [photo.name, tone.name]
    for item in data["media"]:
        (analysis,) = item["analyses"]
        expected = analysed[item["media"]["sha256"]]
        # the same record as `verity analyze --json` gave, without the dashboard's page extras
        assert analysis == expected
    actions = [e["action"] for e in data["custody"]]
    assert actions == ["case.create", "ingest", "analyze", "ingest", "analyze", "view"]
    view = data["custody"][-1]
    assert view["details"]["via"] == "cli"
    assert sorted(view["details"]["analysis_ids"]) == sorted(
        a["analysis_id"] for a in analysed.values()
    )
    check = data["custody_verification"]
    assert check["ok"] and check["events"] == 6 and check["head"] == view["event_hash"]

    # each showing is its own recorded view; the terminal form names the files and the state
    code, out, _ = run(capsys, "case", "show", data["case"]["id"], "--last", "2")
    assert code == 0
    assert photo.name in out and tone.name in out and "intact" in out
    assert "5 earlier events" in out
    assert [e.action for e in _events(data["case"]["id"])][-2:] == ["view", "view"]


def test_unknown_case_is_exit_2_and_records_nothing(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, "case", "new", "Inquiry 10")[0] == 0
    before = snapshot()
    for ref in ("nope", "", "0" * 32):
        code, out, err = run(capsys, "case", "show", ref)
        assert code == 2 and out == ""
        assert "case" in err and len(err.strip().splitlines()) == 1
    assert snapshot() == before


def test_broken_custody_is_shown_and_exits_3(
    home: Path, capsys: pytest.CaptureFixture[str], photo: Path
) -> None:
    assert run(capsys, "case", "new", "Inquiry 11")[0] == 0
    code, out, _ = run(capsys, "ingest", str(photo), "--case", "Inquiry 11", "--json")
    assert code == 0
    case_id = json.loads(out)["case_id"]
    victim = _events(case_id)[1]
    app = Verity.open(load_settings())
    with app.db.session() as s:
        s.execute(
            update(CustodyEvent)
            .where(CustodyEvent.id == victim.id)
            .values(details=victim.details.replace('"kind":"image"', '"kind":"video"'))
        )
    app.close()
    code, out, _ = run(capsys, "case", "show", case_id, "--json")
    assert code == 3
    check = json.loads(out)["custody_verification"]
    assert check["ok"] is False and victim.id in check["message"]
    code, out, _ = run(capsys, "case", "show", case_id)
    assert code == 3 and "BROKEN" in out and victim.id in out
    # details that no longer parse at all: the log is still shown, the event named
    app = Verity.open(load_settings())
    with app.db.session() as s:
        s.execute(
            update(CustodyEvent).where(CustodyEvent.id == victim.id).values(details='{"kind": NaN}')
        )
    app.close()
    code, out, err = run(capsys, "case", "show", case_id, "--json")
    assert code == 3 and "internal error" not in err
    data = json.loads(out)
    assert data["custody"][1]["details"] == {"unreadable": '{"kind": NaN}'}
    assert victim.id in data["custody_verification"]["message"]


def test_names_are_printed_as_data_not_markup(
    home: Path,
    capsys: pytest.CaptureFixture[str],
    photo: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A file's name is data: Rich markup in it must neither restyle nor vanish from the output."""
    monkeypatch.setattr(render.out, "width", 200)  # table cells on one line each
    odd = tmp_path / "[bold red]x.jpg"
    shutil.copy(photo, odd)
    assert run(capsys, "case", "new", "[red]Inquiry[/]")[0] == 0
    code, out, _ = run(capsys, "ingest", str(odd), "--case", "[red]Inquiry[/]")
    assert code == 0 and "filed: [bold red]x.jpg sha256" in out
    code, out, err = run(capsys, "case", "show", "[red]Inquiry[/]")
    assert code == 0, err
    assert "[bold red]x.jpg" in out and "Case [red]Inquiry[/]" in out
    code, out, _ = run(capsys, "case", "list")
    assert "[red]Inquiry[/]" in out
    code, out, _ = run(capsys, "analyze", str(odd), "--detectors", "visual.metadata")
    assert code == 0 and "[bold red]x.jpg" in out
