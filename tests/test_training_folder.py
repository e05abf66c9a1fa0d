"""core.training.read_folder: a training folder's manifest, refused in one line when unreadable."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import BadInputError
from core.training import read_folder


def test_read_folder_gives_rows_and_provenance(tmp_path: Path) -> None:
    (tmp_path / "manifest.csv").write_text("\ufefffile,label\na.wav,real\n", encoding="utf-8")
    rows, provenance = read_folder(tmp_path)
    assert rows == [{"file": "a.wav", "label": "real"}]
    assert provenance["folder"] == tmp_path.name and len(provenance["manifest_sha256"]) == 64


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (None, "no manifest.csv"),
        (b"file,label\ncaf\xe9.wav,real\n", "not UTF-8"),
        (b"file,label\na.wav," + b"x" * 200_000 + b"\n", "unreadable CSV"),
    ],
)
def test_unreadable_manifests_are_bad_input(tmp_path: Path, content: bytes | None, words) -> None:
    if content is not None:
        (tmp_path / "manifest.csv").write_bytes(content)
    with pytest.raises(BadInputError, match=words):
        read_folder(tmp_path)
