"""What the CLI hands out is what was recorded: damaged stores, altered rows, bad output paths."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from sqlalchemy import select, text

from core.app import Verity
from core.config import load_settings
from core.db import CustodyEvent
from tests.test_cli import run, snapshot


def _reads() -> int:
    app = Verity.open(load_settings())
    try:
        with app.db.session() as s:
            return len(s.scalars(select(CustodyEvent).where(CustodyEvent.action == "read")).all())
    finally:
        app.close()


def test_a_damaged_stored_copy_is_exit_3_and_nothing_is_filed(
    backend: str, capsys, photo: Path
) -> None:
    assert run(capsys, "case", "new", "first")[0] == 0
    code, out, _ = run(capsys, "ingest", str(photo), "--case", "first", "--json")
    assert code == 0
    sha = json.loads(out)["sha256"]
    app = Verity.open(load_settings())
    stored = app.store.path_for(sha)
    app.close()
    data = bytearray(stored.read_bytes())
    data[len(data) // 2 :] = bytes(len(data) - len(data) // 2)  # same size, other bytes
    stored.chmod(0o644)
    stored.write_bytes(bytes(data))
    assert run(capsys, "case", "new", "other")[0] == 0
    before = snapshot()
    for args in (("ingest", str(photo), "--case", "other"), ("analyze", str(photo))):
        code, _, err = run(capsys, *args)
        assert code == 3, args
        assert f"stored object {sha} is damaged" in err and len(err.strip().splitlines()) == 1
    assert snapshot() == before
    assert stored.read_bytes() == bytes(data)


def test_an_altered_verdict_is_not_shown_as_found(backend: str, capsys, photo: Path) -> None:
    code, out, _ = run(capsys, "analyze", str(photo), "--json")
    analysis_id = json.loads(out)["analysis_id"]
    assert run(capsys, "show", analysis_id)[0] == 0
    app = Verity.open(load_settings())
    with app.db.session() as s:
        s.execute(
            text("UPDATE analyses SET verdict = 'manipulated', p_fake = 0.99 WHERE id = :id"),
            {"id": analysis_id},
        )
    app.close()
    reads = _reads()
    for args in (("show", analysis_id), ("show", analysis_id, "--json")):
        code, out, err = run(capsys, *args)
        assert code == 3 and out == ""
        assert f"analysis {analysis_id} differs from what its analyze event recorded" in err
    assert _reads() == reads  # nothing was read, so no read is recorded


def test_artifacts_out_must_be_a_folder_and_figures_intact(
    home: Path, capsys, clip: Path, tmp_path: Path
) -> None:
    code, out, _ = run(capsys, "analyze", str(clip), "--json")
    analysis_id = json.loads(out)["analysis_id"]
    reads = _reads()
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    code, _, err = run(capsys, "artifacts", analysis_id, "-o", str(blocker))
    assert code == 2 and "is a file, not a folder" in err and len(err.strip().splitlines()) == 1
    code, _, err = run(capsys, "artifacts", analysis_id, "-o", str(blocker / "sub" / "dir"))
    assert code == 2 and "is not a folder" in err and len(err.strip().splitlines()) == 1
    assert _reads() == reads  # nothing was handed out, so no read is recorded
    code, out, _ = run(capsys, "artifacts", analysis_id, "-o", str(tmp_path / "figs"))
    assert code == 0 and out
    copied = sorted((tmp_path / "figs").iterdir())
    assert copied and not [p for p in copied if p.name.endswith(".part")]
    # a figure altered in the store: exit 3, and no read recorded for what was not handed out
    app = Verity.open(load_settings())
    sha = out.split("sha256:")[1].split()[0]
    stored = app.artifact_store.path_for(sha)
    app.close()
    stored.chmod(0o644)
    stored.write_bytes(stored.read_bytes() + b"\0")
    reads = _reads()
    code, _, err = run(capsys, "artifacts", analysis_id, "-o", str(tmp_path / "figs2"))
    assert code == 3 and f"object {sha} is corrupt" in err
    assert _reads() == reads and not (tmp_path / "figs2").exists()


@pytest.mark.parametrize("value", ["", ",", " , "])
def test_an_empty_detector_list_is_one_line(home: Path, capsys, photo: Path, value: str) -> None:
    code, out, err = run(capsys, "analyze", str(photo), "--detectors", value)
    assert code == 2 and out == ""
    assert err.strip() == "verity: error: --detectors needs at least one name"


def test_hash_names_the_file_as_other_commands_do(
    home: Path, capsys, photo: Path, tmp_path: Path
) -> None:
    odd = tmp_path / os.fsdecode("uni é 名 ".encode() + b"\xff.jpg")  # one invalid byte
    shutil.copy(photo, odd)
    code, out, _ = run(capsys, "hash", str(odd))
    assert code == 0
    assert out.rstrip("\n").endswith("uni é 名 \\xff.jpg")
