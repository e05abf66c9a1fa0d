"""Case file: the verdict first, then why, second by second, with every provenance fact.

Opening a case file (arriving on this page, or choosing another case here) is a custody ``view``
event naming the signed-in person, written before anything is shown.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import streamlit as st

from core import casefile, services
from core.errors import CaseNotFoundError, VerityError
from core.users import Permission
from dashboard.components import cards, plots, session
from dashboard.components.text import md
from dashboard.exports import export_signed_report
from provenance import status
from provenance.lab_credentials import is_lab_output

app, account = session.require(Permission.VIEW)
st.title("Case file")


@st.cache_data(max_entries=16, show_spinner="Computing the spectrogram…")
def spectrogram(home: str, sha256: str) -> dict[str, Any] | None:
    """Stored media never changes under its hash, so its spectrogram is computed once."""
    return casefile.spectrogram(session.installation(), sha256)


cases = casefile.search_cases(app)
if not cases:
    st.info("No cases yet.")
    st.stop()
ids = [c["id"] for c in cases]
names = {c["id"]: c["name"] for c in cases}
wanted = st.query_params.get("case")
unknown = wanted is not None and wanted not in ids
chosen = st.selectbox(
    "Case",
    ids,
    index=None if unknown else ids.index(wanted) if wanted in ids else 0,
    format_func=lambda cid: names[cid],
    key="case_file_case",
    placeholder="Choose a case",
)
if chosen is None:
    # a link to a case that is not here: say so and open nothing (no view event) until a case
    # is chosen; before, the newest case was opened in its place and its view recorded
    session.show_error(CaseNotFoundError(str(wanted)))
    st.stop()
st.query_params["case"] = chosen

opening = st.session_state.get("page_entered", True) or (
    st.session_state.get("viewed_case") != chosen
)
try:
    data = casefile.open_case_file(app, chosen) if opening else casefile.case_file(app, chosen)
except VerityError as exc:
    session.show_error(exc)
    st.stop()
st.session_state["viewed_case"] = chosen

case = data["case"]
st.caption(
    f"{md(case['description']) or 'no description'} · id {case['id']} · created by "
    f"{md(case['created_by'])} · your opening of this case file is recorded in its custody log"
)
if not data["media"]:
    st.info("This case holds no media yet. Analyse files on the Analyze page.")

item: dict[str, Any] | None = None
if data["media"]:
    labels = [f"{m['media']['original_name']} ({m['media']['kind']})" for m in data["media"]]
    index = st.selectbox(
        "Media", range(len(labels)), format_func=lambda i: labels[i], key="case_file_media"
    )
    item = data["media"][index]

if item is not None:
    media = item["media"]
    analyses = item["analyses"]
    analysis = None
    if analyses:
        if len(analyses) > 1:
            pick = st.selectbox(
                "Analysis",
                range(len(analyses)),
                format_func=lambda i: (
                    f"{analyses[i]['finished_at'][:19]} UTC "
                    f"({analyses[i]['verdict']}, {analyses[i]['analysis_id'][:12]})"
                ),
                key="case_file_analysis",
            )
            analysis = analyses[pick]
        else:
            analysis = analyses[0]

    player, verdict = st.columns([1, 1])
    with player:
        try:
            path: Path | None = casefile.stored_media_path(app, media["sha256"])
        except VerityError as exc:  # altered or missing bytes are not played as the evidence
            session.show_error(exc)
            path = None
        duration = float(media["duration_s"] or 0.0) if path is not None else 0.0
        position = None
        if media["kind"] in {"video", "audio"} and duration > 0:
            position = st.slider(
                "Position (s)", 0.0, duration, 0.0, step=0.1, key="case_file_position"
            )
        if path is None:
            pass
        elif media["kind"] == "video":
            st.video(str(path), start_time=int(position or 0))
        elif media["kind"] == "audio":
            st.audio(str(path), start_time=int(position or 0))
        else:
            shown_picture = casefile.picture(app, media["sha256"])
            if shown_picture is not None:
                st.image(shown_picture)
        st.caption(
            f"{md(media['original_name'])} · {media['kind']} {media['container'] or ''} "
            f"{media['width'] or ''}{'×' if media['width'] else ''}{media['height'] or ''} · "
            f"{media['size_bytes']} bytes · sha256 {media['sha256']}"
        )
    with verdict:
        if analysis is None:
            st.info("Not analysed yet.")
        elif analysis["record_problem"]:
            st.error(  # the stored verdict and scores are not what was recorded: not drawn
                f"This analysis cannot be shown: {md(analysis['record_problem'])}"
            )
        else:
            cards.verdict_card(analysis)

    if analysis is not None and not analysis["record_problem"]:
        st.subheader("Scores")
        st.markdown("**Per modality** (weighted LLRs of its detectors, as fused)")
        st.dataframe(cards.modality_scores(analysis), hide_index=True, width="stretch")
        st.markdown("**Per detector**")
        st.dataframe(cards.detector_table(analysis), hide_index=True, width="stretch")
        cards.detector_cards(analysis)

        st.subheader("Timeline")
        if analysis["series"]:
            st.altair_chart(plots.timeline_chart(analysis["series"], position), width="stretch")
            st.caption(
                "Each bar spans the frames or segment a detector scored; the black rule "
                "is the position chosen above."
            )
        else:
            st.info("No detector produced a per-frame or per-segment series for this media.")

        if path is not None and media["kind"] in {"video", "audio"} and media.get("sample_rate"):
            with st.expander("Spectrogram with flagged segments", expanded=duration <= 300):
                spectrum = spectrogram(str(app.settings.home), media["sha256"])
                flagged = [
                    p for p in analysis["series"] if p["modality"] == "audio" and p["score"] > 0
                ]
                if spectrum is None:
                    st.info("No decodable soundtrack.")
                else:
                    st.vega_lite_chart(plots.spectrogram_spec(spectrum, flagged), width="stretch")
                    st.caption(
                        "Red: audio segments whose raw score leans fake (> 0). "
                        f"{len(flagged)} flagged."
                    )

        if media["kind"] == "video" and position is not None:
            shown = casefile.frame_at(app, media["sha256"], position)
            if shown is not None:
                picture, scores = st.columns([1, 1])
                picture.image(shown[1], caption=f"frame at {shown[0]:.2f} s")
                at_time = [
                    {
                        "detector": p["detector"],
                        "score": p["score"],
                        "span (s)": f"{p['start_s']:.2f}–{p['end_s']:.2f}",
                    }
                    for p in analysis["series"]
                    if p["start_s"] <= shown[0] < p["end_s"]
                ]
                scores.markdown("**Scores covering this frame**")
                if at_time:
                    scores.dataframe(at_time, hide_index=True, width="stretch")
                else:
                    scores.caption("No detector scored this moment.")

        st.subheader("Figures")
        try:
            figures = services.analysis_artifacts(app, analysis["analysis_id"])
        except VerityError as exc:  # a figure whose bytes no longer match its hash
            session.show_error(exc)
            figures = []
        images = [f for f in figures if f.media_type.startswith("image/")]
        if not images:
            st.caption("The detectors of this analysis attached no figures.")
        for figure in images:
            st.image(
                str(figure.path),
                caption=f"{md(figure.detector)} · {md(figure.kind)} · sha256 {figure.sha256[:16]}… "
                "(checked)",
            )

    st.subheader("Content Credentials (C2PA)")
    c2pa = item["c2pa"]
    st.markdown(
        f"State: **{c2pa.get('state', 'unknown')}**"
        + (f" ({md(c2pa['reason'])})" if c2pa.get("reason") else "")
    )
    if is_lab_output(c2pa.get("manifest_store")):
        st.warning(
            "**synthetic (lab output)**: its credentials say it was created by a trained "
            "algorithm (c2pa.created, trainedAlgorithmicMedia), e.g. by `verity lab`"
        )
    for code in c2pa.get("failure_codes", []):
        st.markdown(f"- failure: {md(code)}")
    if c2pa.get("validation_results") or c2pa.get("manifest_store"):
        with st.expander("Validation results and manifest store (verbatim)"):
            st.json(
                {
                    "validation_results": c2pa.get("validation_results"),
                    "manifest_store": c2pa.get("manifest_store"),
                }
            )

    st.subheader("Registration and anchoring")
    reg = status.registration_state(app, media["sha256"])
    if not reg["registered"]:
        st.info("Not registered in the provenance log.")
    else:
        st.markdown(
            f"Registered as leaf **#{reg['leaf_index']}** at {reg['registered_at']} by "
            f"{md(reg['registrant'])}" + (f": {md(reg['note'])}" if reg["note"] else "")
        )
        if reg["checkpoint"]:
            st.markdown(
                f"Covered by the signed checkpoint of size {reg['checkpoint']['tree_size']}"
                f" (root `{reg['checkpoint']['root_hash'][:16]}…`)"
            )
        if reg["anchor"]:
            a = reg["anchor"]
            st.success(
                f"Anchored on chain {a['chain_id']} in tx {a['tx_hash']} "
                f"(block {a['block_number']})"
            )
        else:
            st.info("Not anchored on chain yet.")

st.subheader("Chain of custody")
check = casefile.verify_case_custody(app, case["id"])
if check["ok"]:
    st.success(f"{check['message']}; head {check['head']}")
else:
    st.error(f"Custody verification failed: {md(check['message'])}")
st.dataframe(
    [
        {
            "#": e["seq"],
            "time (UTC)": e["at"],
            "actor": e["actor"],
            "action": e["action"],
            "object": (e["object_sha256"] or "")[:16],
            "details": ", ".join(
                f"{k}={v}" for k, v in sorted(e["details"].items()) if k not in {"digest"}
            ),
            "hash": e["event_hash"][:16],
        }
        for e in data["custody"]
    ],
    hide_index=True,
    width="stretch",
)

st.subheader("Report")
if not account.can(Permission.EXPORT):
    st.info("Your role may not export reports.")
elif item is not None and item["analyses"]:
    fmt = st.selectbox("Format", casefile.REPORT_FORMATS, key="report_format")
    if st.button("Export report", key="export_report"):
        try:
            filename, payload, mime, warnings = export_signed_report(app, case["id"], fmt)
        except VerityError as exc:
            session.show_error(exc)
        else:
            for warning in warnings:
                st.warning(warning)
            st.download_button("Download report", payload, file_name=filename, mime=mime)
