"""Accounts of the dashboard: who may do what, and who did it.

Four roles: an **analyst** opens cases and analyses media; a **fact-checker** does that and also
registers verified media in the provenance log; an **auditor** reads everything and verifies, but
changes nothing; an **admin** may do all of it. Passwords are kept only as argon2id hashes
(argon2-cffi, RFC 9106 low-memory profile). A signed-in person acts through :func:`acting_as`, so
every custody event the services write names them instead of the machine's user.

>>> from core.users import Role, add_user, authenticate  # doctest: +SKIP
>>> add_user(app, "alice", Role.ANALYST, "a long passphrase")  # doctest: +SKIP
>>> authenticate(app, "alice", "a long passphrase").role  # doctest: +SKIP
<Role.ANALYST: 'analyst'>
"""

from __future__ import annotations

import dataclasses
import re
import threading
import time
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from core.app import Verity
from core.custody import Action, append_event
from core.db import User, utcnow
from core.errors import AuthenticationError, BadInputError, PermissionDeniedError

NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
MIN_PASSWORD = 10
MAX_PASSWORD = 1024

_HASHER = PasswordHasher()  # argon2id, t=3, m=64 MiB, p=4
# Verified when the name is unknown, so a wrong name costs as long as a wrong password.
_DUMMY_HASH = _HASHER.hash("verity: no such user")


class Role(StrEnum):
    ANALYST = "analyst"
    FACT_CHECKER = "fact-checker"
    AUDITOR = "auditor"
    ADMIN = "admin"


class Permission(StrEnum):
    VIEW = "view evidence"
    CREATE_CASE = "create cases"
    ANALYZE = "analyse media"
    REGISTER = "register media"
    VERIFY = "verify receipts and media"
    EXPORT = "export reports"
    MANAGE_USERS = "manage users"


GRANTS: dict[Role, frozenset[Permission]] = {
    Role.ANALYST: frozenset(
        {
            Permission.VIEW,
            Permission.CREATE_CASE,
            Permission.ANALYZE,
            Permission.VERIFY,
            Permission.EXPORT,
        }
    ),
    Role.FACT_CHECKER: frozenset(
        {
            Permission.VIEW,
            Permission.CREATE_CASE,
            Permission.ANALYZE,
            Permission.REGISTER,
            Permission.VERIFY,
            Permission.EXPORT,
        }
    ),
    Role.AUDITOR: frozenset({Permission.VIEW, Permission.VERIFY, Permission.EXPORT}),
    Role.ADMIN: frozenset(Permission),
}


@dataclass(frozen=True, slots=True)
class Account:
    """A signed-in person: what the dashboard keeps in its session (never the password)."""

    name: str
    role: Role

    def can(self, permission: Permission) -> bool:
        return permission in GRANTS[self.role]

    def require(self, permission: Permission) -> None:
        if not self.can(permission):
            raise PermissionDeniedError(self.name, self.role.value, permission.value)

    @property
    def actor(self) -> str:
        """How custody events name this person: the account and where it acted from."""
        return f"{self.name}@dashboard"


def parse_role(value: str) -> Role:
    try:
        return Role(value.strip().lower())
    except ValueError:
        known = ", ".join(r.value for r in Role)
        raise BadInputError(f"unknown role {value!r}; roles: {known}") from None


def check_name(name: str) -> str:
    if not NAME_PATTERN.fullmatch(name):
        raise BadInputError(
            "a user name is 1 to 64 characters: lower-case letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return name


def check_password(name: str, password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise BadInputError(f"a password needs at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise BadInputError(f"a password has at most {MAX_PASSWORD} characters")
    if password.strip().lower() == name:
        raise BadInputError("the password must not be the user name")


def user_json(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "name": user.name,
        "role": user.role,
        "active": user.active,
        "created_at": user.created_at.isoformat(),
        "created_by": user.created_by,
        "last_login_at": user.last_login_at.isoformat() if user.last_login_at else None,
    }


def add_user(app: Verity, name: str, role: Role, password: str) -> dict[str, Any]:
    """Create an account; its creation is an event of the global custody chain."""
    name = check_name(name.strip())
    check_password(name, password)
    hashed = _HASHER.hash(password)
    try:
        with app.db.session() as session:
            if session.scalars(select(User).where(User.name == name)).first() is not None:
                raise BadInputError(f"a user named {name!r} already exists")
            user = User(
                name=name, role=role.value, password_hash=hashed, created_by=app.settings.actor
            )
            session.add(user)
            session.flush()
            append_event(
                session,
                actor=app.settings.actor,
                action=Action.USER_ADD,
                case_id=None,
                details={"user_id": user.id, "name": name, "role": role.value},
            )
            return user_json(user)
    except IntegrityError:
        raise BadInputError(f"a user named {name!r} already exists") from None


def list_users(app: Verity) -> list[dict[str, Any]]:
    with app.db.session() as session:
        return [user_json(u) for u in session.scalars(select(User).order_by(User.name))]


def count_users(app: Verity) -> int:
    with app.db.session() as session:
        return session.execute(select(func.count()).select_from(User)).scalar_one()


MAX_FAILED = 5  # wrong passwords for one name before it is locked for LOCKOUT_S
LOCKOUT_S = 60.0


class _Failures:
    """Wrong passwords per account name, kept by the server process, not by a browser session.

    A counter in the browser's session is reset by opening a new one, which is free; this one
    is shared by every session of the server. It is in memory: a restart clears it, which costs
    an attacker a restart they cannot cause. Names that do not exist are counted the same way,
    so the lockout says nothing about which accounts exist.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_name: dict[str, tuple[int, float]] = {}

    def locked_for(self, name: str) -> float:
        """Seconds until ``name`` may try again (0 when it may now)."""
        with self._lock:
            count, last = self._by_name.get(name, (0, 0.0))
        left = LOCKOUT_S - (time.monotonic() - last)
        return left if count >= MAX_FAILED and left > 0 else 0.0

    def failed(self, name: str) -> None:
        with self._lock:
            count, last = self._by_name.get(name, (0, 0.0))
            if time.monotonic() - last >= LOCKOUT_S:
                count = 0  # an old run of failures has expired
            self._by_name[name] = (count + 1, time.monotonic())

    def succeeded(self, name: str) -> None:
        with self._lock:
            self._by_name.pop(name, None)


FAILED_SIGN_INS = _Failures()


def authenticate(app: Verity, name: str, password: str) -> Account:
    """The account for a name and password, or :class:`AuthenticationError` (same for both).

    After MAX_FAILED wrong passwords for one name, that name is refused for LOCKOUT_S seconds
    whatever the password, from any browser session (:data:`FAILED_SIGN_INS`).
    """
    name = name.strip().lower()
    wait = FAILED_SIGN_INS.locked_for(name)
    if wait > 0:
        raise AuthenticationError(f"too many failed sign-ins; wait {wait:.0f} seconds")
    try:
        account = _check_password(app, name, password)
    except AuthenticationError:
        FAILED_SIGN_INS.failed(name)
        raise
    FAILED_SIGN_INS.succeeded(name)
    return account


def current(app: Verity, account: Account) -> Account | None:
    """The account as the database holds it now: None once disabled or removed.

    A session keeps the account it signed in with; disabling it or changing its role must take
    effect on that session's next page, not when it signs out.
    """
    with app.db.session() as session:
        user = session.scalars(select(User).where(User.name == account.name)).first()
        if user is None or not user.active:
            return None
        return Account(name=user.name, role=Role(user.role))


def _check_password(app: Verity, name: str, password: str) -> Account:
    with app.db.session() as session:
        user = session.scalars(select(User).where(User.name == name)).first()
        stored = user.password_hash if user is not None and user.active else _DUMMY_HASH
        try:
            _HASHER.verify(stored, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            raise AuthenticationError() from None
        if user is None or not user.active:
            raise AuthenticationError()
        if _HASHER.check_needs_rehash(user.password_hash):
            user.password_hash = _HASHER.hash(password)
        user.last_login_at = utcnow()
        return Account(name=user.name, role=Role(user.role))


def acting_as(app: Verity, account: Account) -> Verity:
    """The same installation with ``account`` as the actor of every event the services write."""
    settings = app.settings.model_copy(update={"actor": account.actor})
    return dataclasses.replace(app, settings=settings)
