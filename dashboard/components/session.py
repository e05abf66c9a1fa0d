"""Who is signed in, the installation they act on, and the role check every page starts with.

The installation (database engine, store, registry) is opened once per server process and shared;
each page gets a view of it whose actor is the signed-in person (core.users.acting_as), so every
custody event a page causes names them.
"""

from __future__ import annotations

import time

import streamlit as st

from core.app import Verity
from core.config import load_settings
from core.errors import VerityError
from core.users import Account, Permission, acting_as, authenticate
from dashboard.components.text import md

ACCOUNT_KEY = "verity_account"
FAILED_KEY = "verity_failed_logins"
MAX_FAILED = 5
LOCKOUT_S = 60.0


@st.cache_resource(show_spinner=False)
def _open(home: str, database_url: str) -> Verity:
    """One installation per (home, database) for the whole server process."""
    settings = load_settings()
    return Verity.open(settings)


def installation() -> Verity:
    settings = load_settings()
    return _open(str(settings.home), settings.effective_database_url)


def current_account() -> Account | None:
    account = st.session_state.get(ACCOUNT_KEY)
    return account if isinstance(account, Account) else None


def sign_in(name: str, password: str) -> Account | None:
    """Check the password; keep the account in this browser session. Errors are shown here."""
    failed = st.session_state.get(FAILED_KEY, (0, 0.0))
    if failed[0] >= MAX_FAILED and time.monotonic() - failed[1] < LOCKOUT_S:
        st.error(f"Too many failed sign-ins; wait {LOCKOUT_S:.0f} seconds.")
        return None
    try:
        account = authenticate(installation(), name, password)
    except VerityError as exc:
        st.session_state[FAILED_KEY] = (failed[0] + 1, time.monotonic())
        st.error(md(exc))
        return None
    st.session_state.pop(FAILED_KEY, None)
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
