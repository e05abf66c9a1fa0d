"""Cases: find a case, open its case file, or create one (analysts, fact-checkers, admins)."""

from __future__ import annotations

import streamlit as st

from core import casefile, services
from core.errors import VerityError
from core.users import Permission
from dashboard.components import session
from dashboard.components.text import md

app, account = session.require(Permission.VIEW)
st.title("Cases")
session.show_flash()

query = st.text_input("Search cases", placeholder="name or description", key="case_search")
cases = casefile.search_cases(app, query)
if not cases:
    st.info("No case matches." if query.strip() else "No cases yet.")
for case in cases:
    with st.container(border=True):
        left, right = st.columns([4, 1])
        left.markdown(f"**{md(case['name'])}**  \n{md(case['description']) or '—'}")
        left.caption(
            f"{case['media_count']} media · created {case['created_at'][:19]} UTC "
            f"by {md(case['created_by'])} · id {case['id']}"
        )
        right.page_link(
            "app_pages/case_file.py", label="Open case file", query_params={"case": case["id"]}
        )

if account.can(Permission.CREATE_CASE):
    st.subheader("New case")
    with st.form("new-case", clear_on_submit=True):
        name = st.text_input("Name", max_chars=services.MAX_CASE_NAME, key="new_case_name")
        description = st.text_area(
            "Description", max_chars=services.MAX_CASE_DESCRIPTION, key="new_case_description"
        )
        create = st.form_submit_button("Create case", key="create_case")
    if create:
        try:
            created = services.create_case(app, name, description)
        except VerityError as exc:
            session.show_error(exc)
        else:
            session.flash(f"Created case {md(created['name'])} (id {created['id']}).")
            st.rerun()
