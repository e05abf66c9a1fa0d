"""Register (fact-checkers): put verified media in the provenance log and hand out its receipt."""

from __future__ import annotations

import streamlit as st

from core import casefile
from core.errors import VerityError
from core.uploads import ACCEPTED_TYPES, Upload, named_errors, staged
from core.users import Permission
from dashboard.components import session
from provenance import ledger, status

app, account = session.require(Permission.REGISTER)
st.title("Register verified media")
st.caption(
    "Registration appends the media's SHA-256, your name, the time, the note and its latest "
    "verdict to the signed Merkle log. The receipt lets anyone check it later without Verity."
)

source = st.radio(
    "Media", ["Already in a case", "Upload a file"], horizontal=True, key="register_source"
)
note = st.text_input("Note (why it is registered)", max_chars=2000, key="register_note")
result = None
try:
    if source == "Already in a case":
        choices = casefile.case_media_choices(app)
        if not choices:
            st.info("No media in any case yet.")
        else:
            pick = st.selectbox(
                "Media",
                range(len(choices)),
                format_func=lambda i: (
                    f"{choices[i]['original_name']} · case "
                    f"{choices[i]['case_name']} · {choices[i]['sha256'][:12]}"
                ),
                key="register_pick",
            )
            chosen = choices[pick]
            state = status.registration_state(app, chosen["sha256"])
            if state["registered"]:
                st.info(f"Already registered as leaf #{state['leaf_index']}.")
            if st.button("Register", type="primary", key="register_existing"):
                path = casefile.stored_media_path(app, chosen["sha256"])
                result = ledger.register(app, path, chosen["case_id"], note)
    else:
        cases = casefile.search_cases(app)
        case_ids = [c["id"] for c in cases]
        names = {c["id"]: c["name"] for c in cases}
        case_id = st.selectbox(
            "Case (default: the 'default' case)",
            [None, *case_ids],
            format_func=lambda cid: "default" if cid is None else names[cid],
            key="register_case",
        )
        upload = st.file_uploader("File", type=list(ACCEPTED_TYPES), key="register_file")
        if st.button("Register", type="primary", disabled=upload is None, key="register_upload"):
            assert upload is not None
            upload.seek(0)
            incoming = Upload(name=upload.name, stream=upload, size=upload.size)
            with named_errors(upload.name), staged(app, incoming) as path:
                result = ledger.register(app, path, case_id, note, original_name=upload.name)
except VerityError as exc:
    session.show_error(exc)

if result is not None:
    sha = result["record"]["media_sha256"]
    if result["new"]:
        st.success(f"Registered as leaf #{result['leaf_index']} (sha256 {sha}).")
    else:
        st.info(f"Already registered as leaf #{result['leaf_index']} (sha256 {sha}).")
    st.session_state["register_last_sha"] = sha

last = st.session_state.get("register_last_sha")
if last:
    try:
        receipt = ledger.receipt(app, last)
    except VerityError as exc:
        session.show_error(exc)
    else:
        st.download_button(
            "Download receipt",
            receipt.model_dump_json(indent=1) + "\n",
            file_name=f"{last[:16]}.receipt.json",
            mime="application/json",
            key="register_receipt",
        )
