"""Where a command is told to write: checked before any work, so that a run never does an hour
of analysis or training only to fail on its output path, and never half-writes one."""

from __future__ import annotations

import os
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


def folder_problem(out: Path) -> str | None:
    """Why ``out`` cannot be, or become, a folder to write into; None if it can."""
    if not out.exists():
        return creatable_problem(out)
    if not out.is_dir():
        return "is a file, not a folder"
    if not os.access(out, os.W_OK | os.X_OK):
        return "is not writable"
    return None
