"""core.training.read_folder: a training folder's manifest, refused in one line when unreadable
or without the columns recipes read."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import BadInputError
from core.training import read_folder


def test_read_folder_gives_rows_and_provenance(tmp_path: Path) -> None:
    (tmp_path / "manifest.csv").write_text(
        "\ufefffile,label,kind\na.wav,real,audio\n", encoding="utf-8"
    )
    rows, provenance = read_folder(tmp_path)
    assert rows == [{"file": "a.wav", "label": "real", "kind": "audio"}]
    assert provenance["folder"] == tmp_path.name and len(provenance["manifest_sha256"]) == 64


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (None, "no manifest.csv"),
        (b"file,label\ncaf\xe9.wav,real\n", "not UTF-8"),
        (b"file,label\na.wav," + b"x" * 200_000 + b"\n", "unreadable CSV"),
    ],
)
def test_unreadable_manifests_are_bad_input(
    tmp_path: Path, content: bytes | None, words: str
) -> None:
    if content is not None:
        (tmp_path / "manifest.csv").write_bytes(content)
    with pytest.raises(BadInputError, match=words):
        read_folder(tmp_path)


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"name,label,kind\na.wav,real,audio\n", "manifest.csv: no 'file' column$"),
        (b"file,label\na.wav,real\n", "manifest.csv: no 'kind' column$"),
        (b"label\nreal\n", "no 'file', 'kind' columns"),
        (b"", "no 'file', 'kind' columns"),
        (b"kind,label,file\naudio,real,a.wav\naudio\n", "data row 2 names no file"),
        (b"file,label,kind\n a ,real,audio\n,fake,audio\n", "data row 2 names no file"),
    ],
)
def test_manifests_without_the_columns_recipes_read_are_bad_input(
    tmp_path: Path, content: bytes, words: str
) -> None:
    (tmp_path / "manifest.csv").write_bytes(content)
    with pytest.raises(BadInputError, match=words):
        read_folder(tmp_path)


def test_a_recipe_may_ask_for_other_columns(tmp_path: Path) -> None:
    (tmp_path / "manifest.csv").write_text("file,label\na.wav,real\n", encoding="utf-8")
    assert read_folder(tmp_path, required=("file",))[0] == [{"file": "a.wav", "label": "real"}]
    with pytest.raises(BadInputError, match="no 'identity' column"):
        read_folder(tmp_path, required=("file", "identity"))
