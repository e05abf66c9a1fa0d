"""The dashboard's entry file and composition root: sign-in, then the pages the role allows.

Run it with ``verity dashboard``. Like core/cli, it imports ``modalities`` so that every detector
is registered from its one explicit list; pages call core and provenance services only.
"""

from __future__ import annotations

import streamlit as st

import modalities  # noqa: F401  registers the built-in detectors (composition root)
from core.users import Permission
from dashboard.components import session
from dashboard.components.text import md

PAGES = (
    # (file, title, icon, permission needed to see it in the menu)
    ("app_pages/cases.py", "Cases", ":material/folder_open:", Permission.VIEW),
    ("app_pages/case_file.py", "Case file", ":material/description:", Permission.VIEW),
    ("app_pages/analyze.py", "Analyze", ":material/troubleshoot:", Permission.ANALYZE),
    ("app_pages/register.py", "Register", ":material/verified:", Permission.REGISTER),
    ("app_pages/verify.py", "Verify", ":material/fact_check:", Permission.VERIFY),
    ("app_pages/ledger.py", "Ledger", ":material/account_tree:", Permission.VIEW),
    ("app_pages/users.py", "Users", ":material/group:", Permission.MANAGE_USERS),
)


def login_page() -> None:
    st.title("Verity")
    st.caption("Deepfake analysis with a tamper-evident chain of custody.")
    with st.form("sign-in", clear_on_submit=True):  # the password leaves the session state
        name = st.text_input("User name", key="login_name")
        password = st.text_input("Password", type="password", key="login_password")
        submitted = st.form_submit_button("Sign in", type="primary", key="sign_in")
    if submitted and session.sign_in(name, password) is not None:
        st.rerun()


st.set_page_config(page_title="Verity", page_icon=":material/policy:", layout="wide")
account = session.current_account()
if account is None:
    navigation = st.navigation([st.Page(login_page, title="Sign in", icon=":material/login:")])
else:
    allowed = [
        st.Page(path, title=title, icon=icon)
        for path, title, icon, permission in PAGES
        if account.can(permission)
    ]
    navigation = st.navigation(allowed)
    with st.sidebar:
        st.markdown(f"Signed in as **{md(account.name)}** ({account.role.value})")
        if st.button("Sign out", key="sign_out"):
            session.sign_out()
            st.rerun()
# A page entered from another page is a new opening (the case file records it as a view);
# a rerun caused by a widget on the same page is not.
st.session_state["page_entered"] = st.session_state.get("last_page") != navigation.url_path
st.session_state["last_page"] = navigation.url_path
navigation.run()
