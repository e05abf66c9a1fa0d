"""A stand-in for a write that loses a uniqueness race, for the tests of the retries."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.exc import IntegrityError


class LosesRace:
    """Calls ``real``, except that the first ``times`` calls fail as if another writer had just
    taken the same unique row (an IntegrityError on ``statement``); ``calls`` counts every call."""

    def __init__(self, real: Callable[..., object], statement: str, times: int = 1) -> None:
        self.real, self.statement, self.times, self.calls = real, statement, times, 0

    def __call__(self, *args: object, **kwargs: object) -> object:
        self.calls += 1
        if self.calls <= self.times:
            raise IntegrityError(self.statement, {}, Exception("unique constraint"))
        return self.real(*args, **kwargs)
