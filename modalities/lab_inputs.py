"""Checks on what ``verity lab make-fakes`` (and ``lab gan sample``) are given, made before
anything is written: the data folder's manifest is readable, each source stays inside the data
folder, and the output folder is a folder that holds no other dataset's manifest."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from core.errors import BadInputError, display_name
from core.outputs import creatable_problem, folder_problem


def manifest_rows(manifest: Path) -> list[tuple[int, dict[str, Any]]]:
    """The rows of a data folder's ``manifest.csv`` with their line numbers (header = line 1);
    a file that is not UTF-8 CSV is bad input naming it. Values: None in a short row."""
    try:
        with manifest.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.DictReader(handle)
            return [(reader.line_num, row) for row in reader]
    except UnicodeDecodeError:
        raise BadInputError(f"{display_name(manifest)}: not UTF-8 text (a CSV manifest)") from None
    except csv.Error as exc:
        raise BadInputError(f"{display_name(manifest)}: malformed CSV: {exc}") from None


def check_model_out(out: Path, fmt: str) -> None:
    """A trainer's ``-o`` names a model file, not a folder. An existing file is replaced only
    when it is a lab model of the same kind (``fmt``, an earlier run's): anything else there
    (a report, a dataset, another generator's model) is someone's work, and is refused before
    training rather than overwritten after it."""
    from modalities.lab_models import stored_format

    if out.is_dir():
        raise BadInputError(f"{display_name(out)}: is a folder; give the model file's name")
    if out.exists() or out.is_symlink():
        found = stored_format(out)
        if found != fmt:
            what = "another lab model ({found})" if found else "not a lab model"
            raise BadInputError(
                f"{display_name(out)}: already exists and is {what.format(found=found)}; "
                "choose a new file name (only an earlier model of this kind is replaced)"
            )
    if problem := creatable_problem(out):
        raise BadInputError(f"{display_name(out)}: {problem}")


def check_out(out: Path) -> None:
    """``out`` is a new folder, or an existing one that holds no ``manifest.csv`` yet: a run
    never overwrites another dataset's manifest nor fails half-way on a file in the way."""
    if problem := folder_problem(out):
        raise BadInputError(f"{display_name(out)}: {problem}")
    manifest = out / "manifest.csv"
    if manifest.exists() or manifest.is_symlink():
        raise BadInputError(
            f"{display_name(out)}: already holds a manifest.csv (another dataset?); "
            "choose an empty or new folder"
        )
