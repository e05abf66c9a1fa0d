"""One error tree for Verity.

The library raises these; only the CLI and the dashboard render them. Every error carries the exit
code the CLI uses for it (2 for bad input, 3 for a failed verification, 1 for everything else) and a
message a user can act on. Messages never contain tracebacks or raw bytes of hostile file names:
callers pass names through :func:`display_name` first.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_BAD_INPUT = 2
EXIT_VERIFICATION_FAILED = 3


def display_name(path: str | os.PathLike[str] | bytes) -> str:
    """Render a path for messages and storage, whatever bytes it holds.

    File names on Linux are bytes; a name with invalid UTF-8 arrives in Python with surrogate
    escapes, which cannot be printed or stored in PostgreSQL. Invalid bytes become ``\\xNN`` and
    control characters are escaped so that a hostile name cannot forge extra output lines.
    """
    raw = os.fsencode(path)
    text = raw.decode("utf-8", errors="backslashreplace")
    return "".join(
        ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in text
    )


class VerityError(Exception):
    """Root of every error Verity raises on purpose."""

    exit_code = EXIT_INTERNAL

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message

    def __reduce__(self) -> tuple[Any, ...]:
        """Rebuild from the finished message, not through the subclass's ``__init__``.

        Errors cross process boundaries (training and evaluation pools): the default pickling
        calls ``cls(*args)``, which fails for a ``MediaError(path, problem)`` and took the
        whole pool down (BrokenProcessPool) instead of naming the file.
        """
        return (_rebuild_error, (type(self), self.message), self.__dict__)


def _rebuild_error(cls: type[VerityError], message: str) -> VerityError:
    error = cls.__new__(cls)
    VerityError.__init__(error, message)
    return error


class ConfigError(VerityError):
    """The configuration is invalid; nothing was done."""

    exit_code = EXIT_BAD_INPUT


class BadInputError(VerityError):
    """Something the user gave us is wrong: a file, an id, an option."""

    exit_code = EXIT_BAD_INPUT


class MediaError(BadInputError):
    """A media file cannot be used; the message names the file and the problem."""

    def __init__(self, path: str | os.PathLike[str] | bytes, problem: str) -> None:
        self.path = display_name(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class UnsupportedMediaError(MediaError):
    """The file is not a video, audio or image Verity can decode."""


class MediaLimitError(MediaError):
    """The file exceeds a configured limit (size, pixels, duration)."""


class NotFoundError(BadInputError):
    """An id or name given by the user does not exist."""


MIN_ID_PREFIX = 8  # hex digits: tables print the first 8 of a 32-digit id


def _id_hint(ref: str) -> str:
    """Why a short hex id found nothing: a prefix is only looked up from 8 digits on."""
    text = ref.strip().lower()
    if 0 < len(text) < MIN_ID_PREFIX and all(ch in "0123456789abcdef" for ch in text):
        return f" (a prefix needs at least {MIN_ID_PREFIX} hex digits)"
    return ""


class CaseNotFoundError(NotFoundError):
    def __init__(self, ref: str) -> None:
        super().__init__(f"no case with id or name {display_name(ref)!r}")


class AnalysisNotFoundError(NotFoundError):
    def __init__(self, ref: str) -> None:
        super().__init__(f"no analysis with id {display_name(ref)!r}{_id_hint(ref)}")


class AuthenticationError(BadInputError):
    """A name and password did not match an active account (never says which part was wrong)."""

    def __init__(self, message: str = "unknown user or wrong password") -> None:
        super().__init__(message)


class PermissionDeniedError(BadInputError):
    """The signed-in user's role does not allow the action."""

    def __init__(self, user: str, role: str, action: str) -> None:
        super().__init__(f"{display_name(user)} ({role}) may not {action}")


class JobNotFoundError(NotFoundError):
    def __init__(self, ref: str) -> None:
        super().__init__(f"no job with id {display_name(ref)!r}{_id_hint(ref)}")


class TransientError(VerityError):
    """A failure that may pass if the same work is tried again (a database or broker that is
    briefly unreachable, a lost race for a custody position). Only these are retried by jobs:
    retrying anything else could run work twice or hide a bug."""


class BrokerError(VerityError):
    """The job broker cannot be reached or refused a message."""


class DetectorError(VerityError):
    """A detector failed or cannot be built."""


class UnknownDetectorError(DetectorError):
    exit_code = EXIT_BAD_INPUT

    def __init__(self, name: str, known: list[str]) -> None:
        super().__init__(f"unknown detector {name!r}; known: {', '.join(known) or 'none'}")


class DuplicateDetectorError(DetectorError):
    def __init__(self, name: str) -> None:
        super().__init__(f"detector {name!r} is already registered")


class StoreError(VerityError):
    """The content-addressed store is damaged or cannot be written."""


class DatabaseError(VerityError):
    """The database cannot be opened or is at the wrong schema revision."""


class ProvenanceError(VerityError):
    """The ledger, its keys or a receipt cannot be used."""


class VerificationError(VerityError):
    """A tamper-evidence check failed; the message names what is broken."""

    exit_code = EXIT_VERIFICATION_FAILED


class StoreDamagedError(StoreError, VerificationError):
    """A stored object is missing or no longer hashes to its name: evidence was altered (exit 3)."""


class CustodyChainBrokenError(VerificationError):
    def __init__(self, chain: str, seq: int, event_id: str, problem: str) -> None:
        self.chain = chain
        self.seq = seq
        self.event_id = event_id
        self.problem = problem
        super().__init__(
            f"custody chain {chain!r} is broken at event #{seq} (id {event_id}): {problem}"
        )


class CustodyRecordMismatchError(VerificationError):
    """A custody event and the row it recorded disagree, or the row is gone.

    The chain itself still links: the database's rows were edited or removed after the event
    vouched for them, which only comparing the two can notice.
    """

    def __init__(self, case_id: str, seq: int, event_id: str, action: str, problem: str) -> None:
        self.case_id = case_id
        self.seq = seq
        self.event_id = event_id
        self.problem = problem
        super().__init__(f"case {case_id}: {action} event #{seq} (id {event_id}) {problem}")


def first_validation_problem(exc: Any, whole: str) -> str:
    """``where: what`` of a pydantic ValidationError's first error, ``whole`` naming the
    object itself when the error has no location: one line a person can act on."""
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or whole
    return f"{where}: {first['msg']}"


def path_problem(path: Path) -> str | None:
    """Say why ``path`` cannot be read as a regular file, or None when it can be tried.

    One ``stat``, every failure a reason: ``Path.exists()`` raises for a name too long for the
    file system, a folder that may not be searched or a symlink loop, which reached users as
    an internal error."""
    try:
        mode = path.stat().st_mode
    except (FileNotFoundError, NotADirectoryError):
        return "no such file"
    except OSError as exc:
        return (exc.strerror or type(exc).__name__).lower()
    if stat.S_ISDIR(mode):
        return "is a directory, not a file"
    if not stat.S_ISREG(mode):
        return "is not a regular file"
    return None
