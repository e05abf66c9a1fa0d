"""Analyze: upload one or more files, file them in a case and analyse them, with live progress."""

from __future__ import annotations

import streamlit as st

from core import casefile, services
from core.errors import VerityError
from core.uploads import ACCEPTED_TYPES, Upload
from core.users import Permission
from dashboard import runner
from dashboard.components import session
from dashboard.components.progress import StreamlitProgressHook
from dashboard.components.text import md

app, account = session.require(Permission.ANALYZE)
st.title("Analyze")
limit = app.settings.limits.upload_limit_bytes
st.caption(
    f"Video, audio or images up to {limit / 1e6:.0f} MB each. Files are stored by their SHA-256; "
    "their names are kept only as labels."
)

NEW_CASE = "__new__"
cases = casefile.search_cases(app)
options = [NEW_CASE] + [c["id"] for c in cases]
names = {c["id"]: c["name"] for c in cases}
case_choice = st.selectbox(
    "Case",
    options,
    index=1 if cases else 0,
    format_func=lambda cid: "New case…" if cid == NEW_CASE else names[cid],
    key="analyze_case",
)
new_case_name = ""
if case_choice == NEW_CASE:
    new_case_name = st.text_input("New case name", key="analyze_new_case")

files = st.file_uploader(
    "Media files",
    type=list(ACCEPTED_TYPES),
    accept_multiple_files=True,
    max_upload_size=max(1, int(limit // 1_000_000)),
    key="analyze_files",
)

if st.button("Analyze", type="primary", disabled=not files, key="analyze_run"):
    case_ref: services.CaseRef = case_choice
    if case_choice == NEW_CASE:
        # created with the first file filed in it: a batch of which nothing can be filed leaves
        # no empty case behind
        try:
            case_ref = services.NewCase(new_case_name, "created on the Analyze page").checked()
            services.check_case_name_free(app, case_ref.name)
        except VerityError as exc:
            session.show_error(exc)
            st.stop()
    case_id: str | None = None
    done = []
    for upload in files or []:
        bar = st.progress(0.0, text=f"{md(upload.name)}: waiting")
        hook = StreamlitProgressHook(bar, md(upload.name))
        upload.seek(0)
        try:
            result = runner.run_analysis(
                app, Upload(name=upload.name, stream=upload, size=upload.size), case_ref, hook
            )
        except VerityError as exc:
            if isinstance(case_ref, services.NewCase):  # filed before it failed? then it is
                case_id = services.find_case_id(app, case_ref.name)  # in the new case
                case_ref = case_id or case_ref
            bar.empty()
            stored = (
                "the file was filed in the case, but no analysis was stored"
                if getattr(exc, "filed", False)
                else "nothing was stored for this file"
            )
            st.error(f"{md(exc)} — {stored}.")
            continue
        bar.progress(1.0, text=f"{md(upload.name)}: done")
        case_ref = case_id = result["case_id"]
        done.append(result)
        p = "—" if result["p_fake"] is None else f"{result['p_fake']:.3f}"
        st.success(f"{md(upload.name)}: **{result['verdict']}** (p_fake {p})")
    if done:
        st.session_state["analyze_last_case"] = case_id
if st.session_state.get("analyze_last_case"):
    st.page_link(
        "app_pages/case_file.py",
        label="Open the case file",
        icon=":material/description:",
        query_params={"case": st.session_state["analyze_last_case"]},
    )
