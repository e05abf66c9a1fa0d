"""Verify (auditors and everyone): check a receipt and/or find media in the registration log."""

from __future__ import annotations

from typing import Any

import streamlit as st

from core.errors import VerityError
from core.uploads import ACCEPTED_TYPES, Upload, named_errors, staged
from core.users import Permission
from dashboard.components import session
from dashboard.components.text import md
from provenance import ledger
from provenance.receipts import check_receipt

app, account = session.require(Permission.VERIFY)


def _incoming(file: Any) -> Upload:
    file.seek(0)
    return Upload(name=file.name, stream=file, size=file.size)


st.title("Verify")
st.caption(
    "Upload a receipt to check its signature and inclusion proof (and the media it names, when "
    "you add the file); upload media alone to find it, or a near copy of it, in the log. "
    "Nothing uploaded here is stored."
)

receipt_file = st.file_uploader("Receipt (JSON)", type=["json"], key="verify_receipt")
media_file = st.file_uploader("Media", type=list(ACCEPTED_TYPES), key="verify_media")
pinned = st.text_input("Require the log's public key (hex, optional)", key="verify_key")
chain = app.settings.chain
on_chain = st.checkbox(
    f"Check the chain anchor on {chain.rpc_url}",
    value=False,
    disabled=chain.backend != "json-rpc",
    key="verify_on_chain",
)

if st.button("Verify", type="primary", disabled=not (receipt_file or media_file), key="verify_go"):
    try:
        if receipt_file is not None:
            data = receipt_file.getvalue()
            if media_file is not None:
                with named_errors(media_file.name), staged(app, _incoming(media_file)) as path:
                    checks = check_receipt(
                        data,
                        media=path,
                        pinned_key=pinned.strip() or None,
                        rpc_url=chain.rpc_url if on_chain else None,
                    )
            else:
                checks = check_receipt(
                    data,
                    pinned_key=pinned.strip() or None,
                    rpc_url=chain.rpc_url if on_chain else None,
                )
            for check in checks:
                icon = ":green[ok]" if check.ok else ":red[FAIL]"
                st.markdown(f"{icon} **{md(check.name)}**: {md(check.detail)}")
            if all(c.ok for c in checks):
                st.success("Receipt valid.")
            else:
                st.error(f"Receipt invalid: {md(next(c for c in checks if not c.ok).name)}.")
        if media_file is not None:
            st.subheader("Lookup in the registration log")
            with named_errors(media_file.name), staged(app, _incoming(media_file)) as path:
                found = ledger.lookup(app, path)
            if found["exact"] is not None:
                record = found["exact"]["record"]
                st.success(
                    f"Exact match: leaf #{found['exact']['leaf_index']}, registered "
                    f"{md(record.get('registered_at'))} by {md(record.get('registrant'))}."
                )
            elif found.get("fingerprint") is None:
                st.info(
                    f"Not registered; too little {found.get('kind')} for a near-copy "
                    "fingerprint (exact copies only)."
                )
            else:
                matches = [n for n in found["near"] if n["match"]]
                if matches:
                    # a face swap or re-voicing of registered media is as near as a re-encode
                    st.warning(
                        "A near copy of registered media, or an edit of it (a face swap, a "
                        "re-voicing, a re-drawing match as closely as a re-encode): the match "
                        "does not vouch for this file's content; compare it with the registered "
                        "original."
                    )
                else:
                    st.info("No registered match.")
                st.dataframe(found["near"], hide_index=True, width="stretch")
    except VerityError as exc:
        session.show_error(exc)
