"""Accounts: argon2id hashes, roles and what each may do, `verity users`, events naming people."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from core import users
from core.app import Verity
from core.custody import verify_custody
from core.db import CustodyEvent, User
from core.errors import AuthenticationError, BadInputError, PermissionDeniedError
from core.users import Account, Permission, Role

PASSWORD = "correct horse battery"


def test_add_and_authenticate(verity: Verity) -> None:
    created = users.add_user(verity, "alice", Role.ANALYST, PASSWORD)
    assert created["name"] == "alice" and created["role"] == "analyst"
    account = users.authenticate(verity, "Alice ", PASSWORD)  # names are case-insensitive
    assert account == Account("alice", Role.ANALYST)
    with verity.db.session() as s:
        row = s.scalars(select(User)).one()
        assert row.password_hash.startswith("$argon2id$")
        assert PASSWORD not in row.password_hash
        assert row.last_login_at is not None
        event = s.scalars(select(CustodyEvent).where(CustodyEvent.action == "user.add")).one()
        assert event.chain == "global" and json.loads(event.details)["role"] == "analyst"
        assert "password" not in event.details
        verify_custody(s)


def test_wrong_password_and_unknown_user_look_the_same(verity: Verity) -> None:
    users.add_user(verity, "alice", Role.ANALYST, PASSWORD)
    with pytest.raises(AuthenticationError) as wrong:
        users.authenticate(verity, "alice", PASSWORD + "x")
    with pytest.raises(AuthenticationError) as unknown:
        users.authenticate(verity, "mallory", PASSWORD)
    assert str(wrong.value) == str(unknown.value) == "unknown user or wrong password"


@pytest.mark.parametrize(
    ("name", "password", "problem"),
    [
        ("alice", "short", "at least 10"),
        ("Bad/Name", PASSWORD, "user name"),
        ("", PASSWORD, "user name"),
        ("longpassword", "longpassword", "must not be the user name"),
    ],
)
def test_bad_accounts_are_refused(verity: Verity, name: str, password: str, problem: str) -> None:
    with pytest.raises(BadInputError, match=problem):
        users.add_user(verity, name, Role.ADMIN, password)
    assert users.list_users(verity) == []


def test_duplicate_name_is_refused(verity: Verity) -> None:
    users.add_user(verity, "alice", Role.ANALYST, PASSWORD)
    with pytest.raises(BadInputError, match="already exists"):
        users.add_user(verity, "alice", Role.ADMIN, PASSWORD)
    assert [u["role"] for u in users.list_users(verity)] == ["analyst"]


def test_roles_grant_what_the_issue_says() -> None:
    auditor = Account("audrey", Role.AUDITOR)
    assert auditor.can(Permission.VIEW) and auditor.can(Permission.VERIFY)
    for denied in (Permission.ANALYZE, Permission.REGISTER, Permission.CREATE_CASE):
        assert not auditor.can(denied)
        with pytest.raises(PermissionDeniedError, match="audrey \\(auditor\\) may not"):
            auditor.require(denied)
    assert Account("a", Role.ANALYST).can(Permission.ANALYZE)
    assert not Account("a", Role.ANALYST).can(Permission.REGISTER)
    assert Account("f", Role.FACT_CHECKER).can(Permission.REGISTER)
    assert all(Account("root", Role.ADMIN).can(p) for p in Permission)
    assert not Account("f", Role.FACT_CHECKER).can(Permission.MANAGE_USERS)


def test_acting_as_names_the_person_in_custody(verity: Verity) -> None:
    from core import services

    person = users.acting_as(verity, Account("alice", Role.ANALYST))
    case = services.create_case(person, "Inquiry")
    assert case["created_by"] == "alice@dashboard"
    assert verity.settings.actor == "tester@verity"  # the shared installation is unchanged
