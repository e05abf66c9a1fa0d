"""Where `verity train` writes: ``--out`` checked before any work, a folder of another detector or
with an unreadable card refused, and a trained folder that appears whole or not at all.

Each used to fail after training (internal error, exit 1), or to leave weights that did not match
their descriptor, calibration and card when a run was killed while writing them.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import modalities
from core.cli import main
from core.errors import BadInputError
from core.training import write_card
from modalities.audio import cnn, lfcc_gmm
from modalities.audio.training import data as audio_data
from modalities.audio.training import lfcc_gmm as lfcc_recipe
from tests.modalities.test_audio_lfcc_gmm import write_corpus
from tests.test_training_inputs import _one_error_line


def _tree(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` (hidden ones too) and its SHA-256."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def no_training(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any recipe that runs fails the test: a refusal must come before the work."""

    def boom(**kwargs: object) -> dict[str, object]:
        raise AssertionError("the recipe ran")

    for name, (_, shipped) in list(modalities.TRAINERS.items()):
        monkeypatch.setitem(modalities.TRAINERS, name, (boom, shipped))


def _train(data: Path, out: Path, detector: str = "audio.lfcc_gmm") -> int:
    return main(["train", detector, "--data", str(data), "--out", str(out), "-j", "1"])


def test_an_out_that_cannot_be_a_folder_is_refused_before_training(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], no_training: None
) -> None:
    data = write_corpus(tmp_path / "data", n=4)
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    assert _train(data, a_file) == 2
    _one_error_line(capsys, "--out", "a_file", "is a file, not a folder")
    assert _train(data, a_file / "weights") == 2
    _one_error_line(capsys, "a_file is not a folder")
    assert a_file.read_text() == "x"


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_an_unwritable_out_is_refused_before_training(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], no_training: None
) -> None:
    data = write_corpus(tmp_path / "data", n=4)
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        assert _train(data, locked / "weights") == 2
        _one_error_line(capsys, "is not writable")
    finally:
        locked.chmod(0o700)


def test_an_out_whose_card_is_not_json_is_refused_before_training(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], no_training: None
) -> None:
    data = write_corpus(tmp_path / "data", n=4)
    out = tmp_path / "out"
    out.mkdir()
    (out / "card.json").write_text("{not json")
    assert _train(data, out) == 2
    _one_error_line(capsys, "card.json", "not a readable model card")
    assert sorted(p.name for p in out.iterdir()) == ["card.json"]


def test_write_card_refuses_an_unreadable_card(tmp_path: Path) -> None:
    (tmp_path / "card.json").write_text("[1, 2")
    descriptor = {"detector": "audio.lfcc_gmm", "version": "1", "sha256": "0", "recipe": {}}
    with pytest.raises(BadInputError, match="not a readable model card"):
        write_card(tmp_path, {**descriptor, "trained_on": []}, "note")


def test_an_out_holding_another_detectors_weights_is_refused(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], no_training: None
) -> None:
    data = write_corpus(tmp_path / "data", n=4)
    out = tmp_path / "cnn-copy"
    shutil.copytree(cnn.WEIGHTS_DIR, out)
    before = _tree(out)
    assert _train(data, out) == 2
    _one_error_line(capsys, "holds the card of audio.cnn, not audio.lfcc_gmm")
    (out / "card.json").unlink()  # the descriptor alone says whose weights these are
    assert _train(data, out) == 2
    _one_error_line(capsys, "holds the weights of audio.cnn, not audio.lfcc_gmm")
    assert _tree(out) == {k: v for k, v in before.items() if k != "card.json"}


def test_a_card_of_another_detector_is_never_carried_over(tmp_path: Path) -> None:
    shutil.copy(cnn.WEIGHTS_DIR / "card.json", tmp_path / "card.json")
    descriptor = {"detector": "audio.lfcc_gmm", "version": "1", "sha256": "0", "recipe": {}}
    with pytest.raises(BadInputError, match=r"holds the card of audio\.cnn"):
        write_card(tmp_path, {**descriptor, "trained_on": []}, "note")


def test_a_crash_while_writing_leaves_the_trained_folder_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    corpus = write_corpus(tmp_path / "data", n=4)
    out = tmp_path / "weights"
    shutil.copytree(lfcc_gmm.WEIGHTS_DIR, out)
    (out / "notes.txt").write_text("kept across retraining")
    before = _tree(out)

    def crash(folder: Path, *args: object, **kwargs: object) -> Path:
        (folder / "card.json").write_text('{"half')  # a writer killed half-way
        raise RuntimeError("killed while writing the card")

    monkeypatch.setattr(audio_data, "write_card", crash)
    with pytest.raises(RuntimeError, match="killed"):
        lfcc_recipe.train([corpus], out, components=2, folds=2, jobs=1)
    assert _tree(out) == before  # weights, descriptor, calibration, card: untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "weights"]  # no staging left

    monkeypatch.undo()
    lfcc_recipe.train([corpus], out, components=2, folds=2, jobs=1)
    after = _tree(out)
    assert after["notes.txt"] == before["notes.txt"]  # files the recipe does not write stay
    assert after["lfcc_gmm.npz"] != before["lfcc_gmm.npz"]
    descriptor = json.loads((out / "weights.json").read_text())
    assert descriptor["sha256"] == after["lfcc_gmm.npz"]
    card = json.loads((out / "card.json").read_text())
    shipped = json.loads((lfcc_gmm.WEIGHTS_DIR / "card.json").read_text())
    assert card["detects"] == shipped["detects"]  # hand-written text kept for the same detector
    assert card["weights_sha256"] == descriptor["sha256"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "weights"]


KILLED_WRITER = """
import os, signal, sys
from pathlib import Path
from core.outputs import staged_folder
with staged_folder(Path(sys.argv[1])) as stage:
    (stage / "lfcc_gmm.npz").write_bytes(b"")  # the weights, half-written
    os.kill(os.getpid(), signal.SIGKILL)
"""


def test_a_killed_writer_leaves_the_target_whole_and_the_next_run_clears_its_folder(
    tmp_path: Path,
) -> None:
    from core.outputs import STAGING, staged_folder

    target = tmp_path / "weights"
    target.mkdir()
    (target / "lfcc_gmm.npz").write_bytes(b"old weights")
    killed = subprocess.run(
        [sys.executable, "-c", KILLED_WRITER, str(target)], cwd=Path.cwd(), check=False
    )
    assert killed.returncode == -9
    assert (target / "lfcc_gmm.npz").read_bytes() == b"old weights"
    left = [p.name for p in tmp_path.iterdir() if p.name != "weights"]
    assert len(left) == 1 and left[0].startswith(f".weights{STAGING}")
    with staged_folder(target) as stage:
        assert not (tmp_path / left[0]).exists()  # the dead run's folder is gone
        (stage / "lfcc_gmm.npz").write_bytes(b"new weights")
    assert (target / "lfcc_gmm.npz").read_bytes() == b"new weights"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["weights"]


def test_an_old_folder_left_aside_by_a_killed_swap_is_put_back(tmp_path: Path) -> None:
    from core.outputs import REPLACED, staged_folder

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], check=True,
                          capture_output=True, text=True).stdout.strip()  # fmt: skip
    aside = tmp_path / f".weights{REPLACED}{dead}-abc"
    aside.mkdir()
    (aside / "card.json").write_text("{}")
    target = tmp_path / "weights"
    with pytest.raises(RuntimeError), staged_folder(target):
        assert (target / "card.json").read_text() == "{}"  # restored before anything else
        raise RuntimeError("training failed")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["weights"]
