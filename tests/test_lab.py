"""``verity lab make-fakes``: fakes from real media, each labelled synthetic at birth (signed
C2PA ``c2pa.created`` / trainedAlgorithmicMedia, ledger leaf with ``synthetic: true``), with a
manifest that ``verity eval`` reads."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core import evaluation
from core.cli import main
from core.config import MediaLimits
from core.credentials import read_credentials
from core.media import probe
from core.samples import write_tone
from provenance.lab_credentials import TRAINED_ALGORITHMIC, is_lab_output


@pytest.fixture
def real_folder(tmp_path: Path, photo: Path) -> Path:
    folder = tmp_path / "reals"
    (folder / "faces").mkdir(parents=True)
    shutil.copyfile(photo, folder / "faces" / "astronaut.jpg")
    write_tone(folder / "speech.wav", seconds=2.0)
    return folder


def test_make_fakes_labels_every_output(home: Path, capsys, tmp_path: Path, real_folder: Path):
    out = tmp_path / "lab"
    code = main(
        ["lab", "make-fakes", "--data", str(real_folder), "--out", str(out), "--limit", "1"]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "made 3 fake(s) (1 copy_synthesis, 1 self_blend, 1 upsample)" in captured.out
    with (out / "manifest.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    fakes = [r for r in rows if r["label"] == "fake"]
    reals = [r for r in rows if r["label"] == "real"]
    assert {r["category"] for r in fakes} == {
        "lab_self_blend",
        "lab_upsample",
        "lab_copy_synthesis",
    }
    assert {r["file"] for r in reals} == {"real/faces/astronaut.jpg", "real/speech.wav"}
    assert not list(out.rglob(".*part*"))
    # usable by verity eval as is
    manifest_rows, _ = evaluation.read_manifest(out / "manifest.csv", out)
    assert len(manifest_rows) == 5

    blended = next(r for r in fakes if r["category"] == "lab_self_blend")
    original = np.asarray(Image.open(real_folder / "faces" / "astronaut.jpg").convert("RGB"))
    pixels = np.asarray(Image.open(out / blended["file"]).convert("RGB"))
    changed = np.abs(pixels.astype(int) - original).max(axis=2) > 12
    ys, xs = np.nonzero(changed)
    # the seam sits on the face (upper middle of the astronaut photo), not everywhere
    assert 0 < changed.mean() < 0.2 and 0 < np.median(ys) < 300 and 100 < np.median(xs) < 350

    for row in fakes:
        path = out / row["file"]
        credentials = read_credentials(path, probe(path, MediaLimits()))
        assert credentials.state == "Valid", (row["file"], credentials)
        assert credentials.failure_codes == ("signingCredential.untrusted",)
        assert is_lab_output(credentials.manifest_store)
        text = json.dumps(credentials.manifest_store)
        assert "c2pa.created" in text and TRAINED_ALGORITHMIC in text
        assert main(["lookup", str(path), "--json"]) == 0
        found = json.loads(capsys.readouterr().out)
        record = found["exact"]["record"]
        assert record["synthetic"] is True
        assert record["generator"]["method"].startswith(row["generator"].split(":", 1)[1][:8])
    # the real copies carry no credentials and are not registered
    real = out / "real" / "faces" / "astronaut.jpg"
    assert read_credentials(real, probe(real, MediaLimits())).state == "None"
    assert (home / "keys" / "lab" / "key.pem").stat().st_mode & 0o077 == 0

    # same seed: the same pixels again; the lab's key is made once and reused
    key = (home / "keys" / "lab" / "key.pem").read_bytes()
    again = tmp_path / "again"
    args = [
        "--data",
        str(real_folder),
        "--out",
        str(again),
        "--limit",
        "1",
        "--methods",
        "upsample",
    ]
    assert main(["lab", "make-fakes", *args]) == 0
    upsampled = next(r for r in fakes if r["category"] == "lab_upsample")["file"]
    assert np.array_equal(
        np.asarray(Image.open(out / upsampled)), np.asarray(Image.open(again / upsampled))
    )
    assert (home / "keys" / "lab" / "key.pem").read_bytes() == key


def test_bad_input_is_one_line(home: Path, capsys, tmp_path: Path, real_folder: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    for args, words in (
        (["--data", str(tmp_path / "none")], "not a directory"),
        (["--data", str(real_folder), "--methods", "nosuch"], "unknown nosuch"),
        (["--data", str(empty)], "no real"),
        (["--data", str(real_folder), "--case", "no such case"], "no case with id or name"),
    ):
        out = tmp_path / "out-bad"
        assert main(["lab", "make-fakes", "--out", str(out), *args]) == 2
        err = capsys.readouterr().err
        assert words in err and err.strip().count("\n") == 0
        assert not out.exists()
    assert not (home / "keys" / "lab").exists()  # an unknown case made the lab's key first


def test_tts_fakes_are_machine_speech_paired_with_a_real(
    home: Path, capsys, tmp_path: Path, real_folder: Path
) -> None:
    if any(shutil.which(p) is None for p in ("espeak-ng", "flite", "text2wave")):
        pytest.skip("the Debian TTS engines are not installed (.ci/run installs them)")
    out = tmp_path / "lab-tts"
    args = ["lab", "make-fakes", "--data", str(real_folder), "--out", str(out), "--methods", "tts"]
    assert main(args) == 0, capsys.readouterr().err
    assert "made 1 fake(s) (1 tts)" in capsys.readouterr().out
    rows = list(csv.DictReader((out / "manifest.csv").open()))
    fake = next(r for r in rows if r["label"] == "fake")
    assert fake["category"] == "lab_tts" and fake["source_file"] == "speech.wav"
    assert fake["generator"].split(":")[:2] == ["verity-lab", "tts"]
    info = probe(out / fake["file"], MediaLimits())
    assert info.audio is not None and info.audio.sample_rate == 16_000
    assert (info.duration_s or 0) > 2.0  # sentences, not the 2 s tone it was paired with
    credentials = read_credentials(out / fake["file"], info)
    assert credentials.state == "Valid" and is_lab_output(credentials.manifest_store)
    assert main(["lookup", str(out / fake["file"]), "--json"]) == 0
    generator = json.loads(capsys.readouterr().out)["exact"]["record"]["generator"]
    assert generator["method"].startswith("tts:") and len(generator["text"]) > 20
    # the text output says so too (the README promises it; it said only "exact match")
    assert main(["lookup", str(out / fake["file"])]) == 0
    line = capsys.readouterr().out
    assert "exact match" in line and f"registered as SYNTHETIC ({generator['method']})" in line


def test_tts_without_engines_fails_before_writing(
    home: Path, capsys, tmp_path: Path, real_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(shutil, "which", lambda program: None)
    out = tmp_path / "lab-none"
    args = ["lab", "make-fakes", "--data", str(real_folder), "--out", str(out), "--methods", "tts"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "apt-get install" in err and err.strip().count("\n") == 0
    assert not out.exists()


def test_a_run_that_fails_part_way_takes_back_what_it_wrote(
    home: Path, tmp_path: Path, real_folder: Path
) -> None:
    from modalities import lab

    out = tmp_path / "lab-broken"
    published: list[str] = []

    def label(payload: bytes, suffix: str, generator: dict) -> bytes:
        return payload

    def register(path: Path, relative: str, generator: dict) -> None:
        if published:  # the second registration fails (a ledger that went away, say)
            raise RuntimeError("ledger unavailable")
        published.append(relative)

    with pytest.raises(RuntimeError, match="ledger unavailable"):
        lab.make_fakes(
            real_folder, out, methods=["self_blend", "upsample"], limit=None, seed=0,
            label=label, register=register,
        )  # fmt: skip
    assert published and not out.exists()  # the first fake and its real copy went with it
    keep = tmp_path / "lab-kept"
    (keep / "notes").mkdir(parents=True)
    (keep / "notes" / "mine.txt").write_text("the user's own file")
    published.clear()
    with pytest.raises(RuntimeError):
        lab.make_fakes(
            real_folder, keep, methods=["self_blend", "upsample"], limit=None, seed=0,
            label=label, register=register,
        )  # fmt: skip
    assert sorted(p.relative_to(keep).as_posix() for p in keep.rglob("*")) == [
        "notes",
        "notes/mine.txt",
    ]


def test_ctrl_c_while_signing_stops_the_run(
    home: Path, photo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Ctrl+C that arrives while c2pa's native code reads the picture through its Python
    callbacks was swallowed by ctypes (the callback's KeyboardInterrupt is "ignored"), and
    `lab make-fakes` went on to exit 0. It is held until signing returns, and then raised."""
    import io
    import os
    import signal
    import types

    from provenance import lab_credentials

    class InterruptedWhileRead(io.BytesIO):
        def seek(self, *args: int) -> int:
            if not getattr(self, "interrupted", False):
                self.interrupted = True
                os.kill(os.getpid(), signal.SIGINT)  # Ctrl+C inside c2pa's seek callback
            return super().seek(*args)

    monkeypatch.setattr(lab_credentials, "io", types.SimpleNamespace(BytesIO=InterruptedWhileRead))
    with pytest.raises(KeyboardInterrupt):
        lab_credentials.sign_synthetic(
            photo.read_bytes(), ".jpg", keys_dir=home / "keys", title="t", generator={"m": 1}
        )
