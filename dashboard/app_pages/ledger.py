"""Ledger: the registration log's checkpoints, their chain anchors, and a full audit."""

from __future__ import annotations

import streamlit as st

from core.users import Permission
from dashboard.components import session
from dashboard.components.text import md
from provenance import status

app, account = session.require(Permission.VIEW)
st.title("Ledger")

audit = status.audit_result(app)
if audit["ok"]:
    root = audit["root"] or "empty"
    st.success(
        f"Ledger intact: {audit['leaves']} leaves, {audit['checkpoints']} checkpoints, root {root}"
    )
else:
    st.error(f"Audit failed: {md(audit['message'])}")

st.subheader("Signed checkpoints (newest first)")
checkpoints = status.checkpoints(app)
if checkpoints:
    st.dataframe(checkpoints, hide_index=True, width="stretch")
else:
    st.info("No checkpoint yet: nothing has been registered.")

st.subheader("Chain anchors")
anchors = status.anchors(app)
if anchors:
    st.dataframe(anchors, hide_index=True, width="stretch")
else:
    st.info("No checkpoint is anchored on chain yet (`verity ledger anchor`).")
