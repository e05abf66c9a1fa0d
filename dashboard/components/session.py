"""Who is signed in, the installation they act on, and the role check every page starts with.

The installation (database engine, store, registry) is opened once per server process and shared;
each page gets a view of it whose actor is the signed-in person (core.users.acting_as), so every
custody event a page causes names them.
"""

from __future__ import annotations

import streamlit as st

from core import users
from core.app import Verity
from core.config import load_settings
from core.errors import VerityError
from core.users import Account, Permission, acting_as, authenticate
from dashboard.components.text import md

ACCOUNT_KEY = "verity_account"


@st.cache_resource(show_spinner=False)
def _open(home: str, database_url: str) -> Verity:
    """One installation per (home, database) for the whole server process."""
    settings = load_settings()
    return Verity.open(settings)


def installation() -> Verity:
    settings = load_settings()
    return _open(str(settings.home), settings.effective_database_url)


def current_account() -> Account | None:
    """The signed-in account as the database holds it now (role changes and disabling apply
    on the next page), or None, which also ends the session of a disabled account."""
    account = st.session_state.get(ACCOUNT_KEY)
    if not isinstance(account, Account):
        return None
    now = users.current(installation(), account)
    if now is None:
        sign_out()
        return None
    if now != account:
        st.session_state[ACCOUNT_KEY] = now
    return now


def sign_in(name: str, password: str) -> Account | None:
    """Check the password; keep the account in this browser session. Errors are shown here.

    The lockout after repeated failures is the server's (core.users.FAILED_SIGN_INS), counted
    per account name across every browser session.
    """
    try:
        account = authenticate(installation(), name, password)
    except VerityError as exc:
        st.error(md(exc))
        return None
    st.session_state[ACCOUNT_KEY] = account
    return account


def sign_out() -> None:
    for key in list(st.session_state.keys()):
        del st.session_state[key]


def require(permission: Permission) -> tuple[Verity, Account]:
    """The installation acting as the signed-in person, or stop the page with the reason."""
    account = current_account()
    if account is None:
        st.warning("Sign in first.")
        st.stop()
        raise AssertionError("unreachable")  # st.stop raises; this keeps type checkers honest
    if not account.can(permission):
        st.error(f"{md(account.name)} ({account.role.value}) may not {permission.value}.")
        st.stop()
    return acting_as(installation(), account), account


def show_error(exc: VerityError) -> None:
    st.error(md(exc))


def flash(message: str) -> None:
    """A success message that survives the rerun that follows an action."""
    st.session_state["verity_flash"] = message


def show_flash() -> None:
    message = st.session_state.pop("verity_flash", None)
    if message:
        st.success(message)  # built by pages with md() already
