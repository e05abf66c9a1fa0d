"""``verity lab make-fakes`` refuses bad inputs with exit code 2 and one line, before anything is
written: sources outside the data folder, an unreadable data manifest, an ``--out`` that is a
file or already holds a dataset's manifest."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from PIL import Image

from core.cli import main

HEADER = "file,label,kind,category\n"


def _files(folder: Path) -> set[Path]:
    return {p.relative_to(folder) for p in folder.rglob("*")}


@pytest.fixture
def work(tmp_path: Path) -> Path:
    """``work/data`` (one small PNG) and ``work/outside.png``, a picture beside the data folder."""
    (tmp_path / "work" / "data").mkdir(parents=True)
    Image.new("RGB", (32, 32), (120, 80, 40)).save(tmp_path / "work" / "data" / "a.png")
    Image.new("RGB", (32, 32), (20, 80, 40)).save(tmp_path / "work" / "outside.png")
    return tmp_path / "work"


def _make_fakes(data: Path, out: Path) -> int:
    return main(
        ["lab", "make-fakes", "--data", str(data), "--out", str(out), "--methods", "upsample"]
    )


def _refused(capsys: pytest.CaptureFixture[str], code: int, *words: str) -> None:
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.strip().count("\n") == 0, err
    for word in words:
        assert word in err, err


@pytest.mark.parametrize("how", ["dotdot", "absolute", "symlink", "symlink-no-manifest"])
def test_a_source_outside_the_data_folder_is_refused(
    home: Path, capsys: pytest.CaptureFixture[str], work: Path, how: str
) -> None:
    data = work / "data"
    if how.startswith("symlink"):
        os.symlink(work / "outside.png", data / "link.png")
    name = {"dotdot": "../../outside.png", "absolute": str(work / "outside.png")}.get(
        how, "link.png"
    )
    if how != "symlink-no-manifest":
        (data / "manifest.csv").write_text(f"{HEADER}a.png,real,image,x\n{name},real,image,x\n")
    out = work / "sub" / "out"
    out.parent.mkdir()
    before = _files(work)
    _refused(capsys, _make_fakes(data, out), name, "points outside the data folder")
    assert _files(work) == before  # nothing beside --out, no --out left behind


def test_an_out_that_is_a_file_is_refused(
    home: Path, capsys: pytest.CaptureFixture[str], work: Path
) -> None:
    out = work / "taken"
    out.write_bytes(b"keep me")
    _refused(capsys, _make_fakes(work / "data", out), "taken", "not a folder")
    assert out.read_bytes() == b"keep me"
    _refused(capsys, _make_fakes(work / "data", out / "below"), "taken", "not a folder")
    assert out.read_bytes() == b"keep me"


@pytest.mark.parametrize(
    "content",
    [
        HEADER.encode() + b"\xff\xfe.png,real,image,x\n",
        b"file,label\n" + b"x" * 200_000 + b",real\n",
    ],
)
def test_an_unreadable_data_manifest_is_refused(
    home: Path, capsys: pytest.CaptureFixture[str], work: Path, content: bytes
) -> None:
    manifest = work / "data" / "manifest.csv"
    manifest.write_bytes(content)
    out = work / "out"
    _refused(capsys, _make_fakes(work / "data", out), "manifest.csv")
    assert not out.exists()


def test_an_out_holding_a_manifest_is_left_alone(
    home: Path, capsys: pytest.CaptureFixture[str], work: Path
) -> None:
    out = work / "other-dataset"
    out.mkdir()
    old = b"file,label,kind\nx.png,real,image\n"
    (out / "manifest.csv").write_bytes(old)
    _refused(capsys, _make_fakes(work / "data", out), "other-dataset", "already holds a manifest")
    assert (out / "manifest.csv").read_bytes() == old and _files(out) == {Path("manifest.csv")}


def test_a_new_or_empty_out_still_works(
    home: Path, capsys: pytest.CaptureFixture[str], work: Path
) -> None:
    (work / "empty").mkdir()
    for out in (work / "new" / "out", work / "empty"):
        assert _make_fakes(work / "data", out) == 0, capsys.readouterr().err
        assert (out / "manifest.csv").is_file() and (out / "real" / "a.png").is_file()


def test_a_model_or_sample_out_in_the_way_is_refused(
    home: Path, capsys: pytest.CaptureFixture[str], work: Path
) -> None:
    folder = work / "folder.pt"
    folder.mkdir()
    args = ["lab", "gan", "train", "--data", str(work / "data"), "-o", str(folder)]
    _refused(capsys, main([*args, "--steps", "1"]), "folder.pt", "is a folder")
    sample = work / "faces"
    sample.mkdir()
    (sample / "manifest.csv").write_text("file\n")
    args = ["lab", "gan", "sample", "-m", str(work / "none.pt"), "-n", "1", "-o", str(sample)]
    _refused(capsys, main(args), "already holds a manifest")
    assert _files(folder) == set() and (sample / "manifest.csv").read_text() == "file\n"
