"""Where a command is told to write: checked before any work, so that a run never does an hour
of analysis or training only to fail on its output path, and never half-writes one."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from core.errors import display_name


def creatable_problem(target: Path) -> str | None:
    """Why nothing can be created at ``target``, or None; nothing is created to find out.

    The first ancestor that exists must be a folder this process may write into.
    """
    ancestor = target.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        return f"cannot be created: {display_name(ancestor)} is not a folder"
    if not os.access(ancestor, os.W_OK | os.X_OK):
        return f"cannot be created: {display_name(ancestor)} is not writable"
    return None


def file_problem(out: Path) -> str | None:
    """Why a file cannot be written at ``out`` (atomically: a temporary file beside it, then a
    rename), or None if it can."""
    if out.is_dir():
        return "is a folder, not a file"
    if not out.exists():
        return creatable_problem(out)
    if not os.access(out.parent, os.W_OK | os.X_OK):
        return f"cannot be replaced: {display_name(out.parent)} is not writable"
    return None


def folder_problem(out: Path) -> str | None:
    """Why ``out`` cannot be, or become, a folder to write into; None if it can."""
    if not out.exists():
        return creatable_problem(out)
    if not out.is_dir():
        return "is a file, not a folder"
    if not os.access(out, os.W_OK | os.X_OK):
        return "is not writable"
    return None


def writable_folder_problem(out: Path) -> str | None:
    """Why no file can be written in the folder ``out``, or None; found by trying.

    ``folder_problem`` asks ``os.access``, which says yes to everything for root: ``/proc``
    refuses a new folder and ``/sys`` a new file all the same. So the folder is made (with its
    parents) and a file created and removed in it; folders this made are removed again, so a
    refused run leaves nothing behind."""
    if problem := folder_problem(out):
        return problem
    made = []
    missing = out
    while not os.path.lexists(missing) and missing != missing.parent:
        made.append(missing)
        missing = missing.parent
    try:
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            return f"cannot be created ({(exc.strerror or type(exc).__name__).lower()})"
        try:
            handle, probe = tempfile.mkstemp(dir=out, prefix=".verity-probe-")
            os.close(handle)
            Path(probe).unlink()
        except OSError as exc:
            return f"cannot be written into ({(exc.strerror or type(exc).__name__).lower()})"
    finally:
        for folder in made:  # deepest first
            try:
                folder.rmdir()
            except OSError:
                break
    return None


STAGING = ".staging-"  # ".{target}.staging-{pid}-{random}": a folder being written
REPLACED = ".replaced-"  # ".{target}.replaced-{pid}-{random}": the old folder, for a moment
_TEMP_SUFFIXES = (".part",)
_TEMP_PREFIXES = (".calibration-",)  # core.calibration.atomic_write's temporary files


@contextmanager
def staged_folder(target: Path) -> Iterator[Path]:
    """A hidden folder beside ``target`` to write into; it becomes ``target`` in one step when
    the block ends without error, and is removed when it raises.

    Why: a folder of files that belong together (weights, their descriptor, calibration, card) is
    never seen half-written, not even after a SIGKILL: a killed run leaves at most a hidden
    staging folder, which the next run into the same target removes. Files of an existing
    ``target`` that the block did not write are carried into the new folder (hard links where
    possible), so the swap replaces only what was rewritten. The swap renames the old folder
    aside, the new one in, and then removes the old one; a run killed between the two renames
    leaves the old folder under its hidden name, and the next run puts it back.
    """
    target = target.resolve()  # a symlinked folder: its real folder is replaced
    target.parent.mkdir(parents=True, exist_ok=True)
    _clear_stale(target)
    stage = Path(
        tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}{STAGING}{os.getpid()}-")
    )
    try:
        if target.is_dir():
            shutil.copymode(target, stage)
        else:
            umask = os.umask(0)
            os.umask(umask)
            stage.chmod(0o777 & ~umask)
        yield stage
        _swap(stage, target)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise


def _swap(stage: Path, target: Path) -> None:
    if not target.exists():
        stage.rename(target)
        return
    for entry in target.iterdir():
        if not _is_temp(entry.name) and not os.path.lexists(stage / entry.name):
            _carry(entry, stage / entry.name)
    aside = target.with_name(stage.name.replace(STAGING, REPLACED, 1))
    target.rename(aside)
    try:
        stage.rename(target)
    except BaseException:
        aside.rename(target)
        raise
    shutil.rmtree(aside, ignore_errors=True)


def _is_temp(name: str) -> bool:
    return name.startswith(_TEMP_PREFIXES) or name.endswith(_TEMP_SUFFIXES)


def _link_or_copy(source: str, dest: str) -> None:
    try:
        os.link(source, dest, follow_symlinks=False)
    except OSError:
        shutil.copy2(source, dest, follow_symlinks=False)


def _carry(entry: Path, dest: Path) -> None:
    if entry.is_dir() and not entry.is_symlink():
        shutil.copytree(entry, dest, symlinks=True, copy_function=_link_or_copy)
    else:
        _link_or_copy(str(entry), str(dest))


def _clear_stale(target: Path) -> None:
    """Remove what killed runs into ``target`` left beside it; put back an old folder that a run
    killed mid-swap had renamed aside. Folders of runs still alive are left alone."""
    leftovers = []
    for entry in target.parent.iterdir():
        for kind in (REPLACED, STAGING):
            prefix = f".{target.name}{kind}"
            if entry.name.startswith(prefix) and entry.is_dir() and not entry.is_symlink():
                pid = entry.name[len(prefix) :].split("-", 1)[0]
                if not (pid.isdigit() and _alive(int(pid))):
                    leftovers.append((kind, entry))
    for kind, entry in sorted(leftovers, key=lambda pair: pair[0] != REPLACED):
        if kind == REPLACED and not os.path.lexists(target):
            entry.rename(target)
        else:
            shutil.rmtree(entry, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # someone else's process
    return True
