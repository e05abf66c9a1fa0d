"""Users (admins): who may sign in, with which role."""

from __future__ import annotations

import streamlit as st

from core import users
from core.errors import VerityError
from core.users import Permission, Role
from dashboard.components import session
from dashboard.components.text import md

app, account = session.require(Permission.MANAGE_USERS)
st.title("Users")
session.show_flash()
st.dataframe(users.list_users(app), hide_index=True, width="stretch")

st.subheader("Add a user")
with st.form("add-user", clear_on_submit=True):
    name = st.text_input("Name", key="user_name")
    role = st.selectbox("Role", [r.value for r in Role], key="user_role")
    password = st.text_input("Password (at least 10 characters)", type="password", key="user_pw")
    add = st.form_submit_button("Add user", key="add_user")
if add:
    try:
        created = users.add_user(app, name, users.parse_role(role), password)
    except VerityError as exc:
        session.show_error(exc)
    else:
        session.flash(f"Added {md(created['name'])} ({created['role']}).")
        st.rerun()
