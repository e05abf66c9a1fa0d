"""Training and card inputs that cannot work are refused in one line (exit 2), nothing written.

Too few groups for a grouped k-fold cross-validation, a manifest without the columns recipes read,
and an eval run's metrics.json that is not one: each used to end as an internal error (exit 1).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile

from core import cards
from core.cli import main
from core.detector import REGISTRY
from core.errors import BadInputError
from modalities.audio.training.data import LabeledAudio, check_folds

SR = 16_000


def _folder(root: Path, header: str, rows: list[str]) -> Path:
    root.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in ("real.wav", "fake.wav"):
        soundfile.write(root / name, rng.normal(0, 0.1, SR).astype(np.float32), SR)
    (root / "manifest.csv").write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return root


def _one_error_line(capsys: pytest.CaptureFixture[str], *words: str) -> str:
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert "internal error" not in lines[0]
    for word in words:
        assert word in lines[0]
    return lines[0]


@pytest.mark.parametrize("detector", ["audio.lfcc_gmm", "audio.cnn", "audio.artifacts"])
def test_one_real_and_one_fake_file_are_too_few_groups_to_cross_validate(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], detector: str
) -> None:
    tiny = _folder(
        tmp_path / "tiny",
        "file,label,kind,identity,generator",
        ["real.wav,real,audio,a,", "fake.wav,fake,audio,,g1"],
    )
    out = tmp_path / "out"
    assert main(["train", detector, "--data", str(tiny), "--out", str(out), "-j", "1"]) == 2
    _one_error_line(
        capsys, "tiny", "-fold cross-validation", "at least 2 groups each", "got 1 real file"
    )
    assert not out.exists()


def _items(spec: dict[str, tuple[int, int]]) -> list[LabeledAudio]:
    items = []
    for group, (n_real, n_fake) in spec.items():
        items += [LabeledAudio(Path(f"{group}r{i}"), 0, group, "", "d") for i in range(n_real)]
        items += [LabeledAudio(Path(f"{group}f{i}"), 1, group, "", "d") for i in range(n_fake)]
    return items


def test_a_fold_that_would_train_without_one_class_is_refused() -> None:
    # two real groups, but GroupKFold puts both into the held-out part of the second fold
    items = _items({"g0": (1, 0), "g1": (1, 0), "g2": (0, 1), "g3": (0, 3)})
    with pytest.raises(BadInputError, match=r"fold 2 .* every real group \(g0, g1\)"):
        check_folds(items, 2)
    with pytest.raises(BadInputError, match="got 3 real files in 1 group and 2 fake files"):
        check_folds(_items({"a": (3, 0), "b": (0, 1), "c": (0, 1)}), 5)
    mixed = _items({f"g{g}": (2, 2) for g in range(5)})  # every group holds both classes
    assert check_folds(mixed, 3).get_n_splits() == 3
    odd = _items({"a\nb": (1, 0), "c": (1, 0), "d": (0, 1), "e": (0, 3)})
    with pytest.raises(BadInputError, match=r"group \(a\\nb, c\)") as refused:
        check_folds(odd, 2)
    assert "\n" not in str(refused.value)


def test_a_training_manifest_without_a_file_column_is_bad_input(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = _folder(
        tmp_path / "nofile", "name,label,kind", ["real.wav,real,audio", "fake.wav,fake,audio"]
    )
    out = tmp_path / "out"
    assert main(["train", "audio.lfcc_gmm", "--data", str(data), "--out", str(out)]) == 2
    line = _one_error_line(capsys, "no 'file' column")
    assert str(data / "manifest.csv") in line
    assert not out.exists()


SPEC = REGISTRY.spec("visual.metadata")


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b'{"groups": {', "not JSON"),
        (b"{}", "'groups' is missing"),
        (b"[1]", "the file is list"),
        (b'{"groups": []}', "'groups' is list"),
        (b'{"groups": {"image": {"systems": {"visual.metadata": 3}}}}', "visual.metadata is int"),
        (
            b'{"groups": {"image": {"systems": {"visual.metadata": {"overall": {}, '
            b'"by_category": {"c": null}}}}}}',
            "category 'c' is missing",
        ),
        (b"\xff\xfe{}", "not JSON"),
        (b"[" * 100_000, "not JSON"),
    ],
)
def test_a_corrupt_eval_metrics_file_leaves_the_card_alone(
    home: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    content: bytes,
    words: str,
) -> None:
    shipped = cards.card_path(SPEC)
    shipped_digest = hashlib.sha256(shipped.read_bytes()).hexdigest()
    card = tmp_path / "card" / "card.json"  # a copy: no test writes into modalities/
    card.parent.mkdir()
    shutil.copy(shipped, card)
    before = card.read_bytes()
    monkeypatch.setattr(cards, "card_path", lambda spec: card)
    run = tmp_path / "eval"
    run.mkdir()
    (run / "metrics.json").write_bytes(content)
    assert main(["detectors", "card", SPEC.name, "--from-eval", str(run)]) == 2
    line = _one_error_line(capsys, "not a verity eval metrics file", words)
    assert f"error: {run / 'metrics.json'}: not a verity eval metrics file (" in line
    assert card.read_bytes() == before
    assert sorted(p.name for p in card.parent.iterdir()) == ["card.json"]  # no temp file left
    assert hashlib.sha256(shipped.read_bytes()).hexdigest() == shipped_digest
    assert json.loads(before)["detector"] == SPEC.name
