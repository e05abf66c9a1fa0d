"""The verdict card and the detector tables of a case file, drawn from the analysis JSON."""

from __future__ import annotations

import math
from typing import Any

import streamlit as st

from dashboard.components.text import md

VERDICT_TEXT = {
    "manipulated": ("red", "Manipulated", "The calibrated evidence says it was manipulated."),
    "authentic": ("green", "Authentic", "The calibrated evidence says this file is authentic."),
    "inconclusive": (
        "orange",
        "Inconclusive",
        "The evidence does not support either conclusion; the reasons are listed below.",
    ),
}


def _p(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def verdict_card(result: dict[str, Any]) -> None:
    # a verdict outside the three is an altered row: shown as text, never as Markdown
    colour, title, meaning = VERDICT_TEXT.get(
        result["verdict"], ("gray", md(str(result["verdict"])), "")
    )
    with st.container(border=True):
        st.markdown(f"### Verdict: :{colour}[{title}]")
        st.write(meaning)
        left, middle, right = st.columns(3)
        left.metric(
            "p_fake",
            _p(result["p_fake"]),
            help="Probability the file is manipulated, "
            "at even prior odds, from the fused calibrated evidence.",
        )
        interval = result.get("p_fake_interval")
        middle.markdown(
            "**95% interval**  \n"
            + ("—" if not interval else f"{interval[0]:.3f} – {interval[1]:.3f}"),
            help="From the calibrations' bootstrap: how far p_fake could move.",
        )
        thresholds = result["fusion"].get("thresholds", {})
        right.metric(
            "thresholds",
            f"{thresholds.get('authentic_at', '—')} / {thresholds.get('manipulated_at', '—')}",
            help="authentic at or below / manipulated at or above",
        )
        reasons = result.get("inconclusive_reasons") or []
        if reasons:
            st.markdown("**Why inconclusive**")
            for reason in reasons:
                st.markdown(f"- {md(reason)}")
        other = [r for r in result["fusion"]["reasons"] if r not in reasons]
        for reason in other:
            st.caption(md(reason))
        st.caption(
            f"fusion rule {result['fusion']['rule']} · engine {result['engine_version']} · "
            f"analysed by {md(result['actor'])} at {result['finished_at'][:19]} UTC · "
            f"analysis {result['analysis_id']}"
        )


def modality_scores(result: dict[str, Any]) -> list[dict[str, Any]]:
    """Per modality: the weighted LLR sum of its detectors and the p_fake it alone implies."""
    modality_of = {d["name"]: d["modality"] for d in result["detectors"]}
    sums: dict[str, float] = {}
    for c in result.get("contributions", []):
        modality = modality_of.get(c["detector"], "?")
        sums[modality] = sums.get(modality, 0.0) + c["weight"] * c["llr"]
    rows = [
        {"modality": m, "fused LLR": llr, "p_fake (this modality alone)": 1 / (1 + math.exp(-llr))}
        for m, llr in sorted(sums.items())
    ]
    return rows


def detector_table(result: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for d in result["detectors"]:
        rows.append(
            {
                "detector": d["name"],
                "version": d["version"],
                "status": d["status"] if d["status"] == "ok" else f"{d['status']}: {d['reason']}",
                "raw score": d["raw_score"],
                "p_fake": d["p_fake"],
                "calibrated": "yes" if d["calibrated"] else "no (expert prior)",
                "weight in fusion": d["fusion_weight"],
                "out of domain": d.get("out_of_domain") or "",
                "weights sha256": (d["weights_sha256"] or "none")[:16],
                "built with": ", ".join(
                    f"{k}={v}" for k, v in sorted((d.get("options") or {}).items())
                ),
            }
        )
    return rows


def _rate(value: Any, ci: Any) -> str:
    if value is None:
        return "—"
    if ci:
        return f"{value:.3f} [{ci[0]:.3f}, {ci[1]:.3f}]"
    return f"{value:.3f}"


def card_metrics(card: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for group, m in sorted((card.get("metrics") or {}).items()):
        rows.append(
            {
                "media": group,
                "real / fake": f"{m.get('n_real')} / {m.get('n_fake')}",
                "AUC [95% CI]": _rate(m.get("auc"), m.get("auc_ci")),
                "EER": m.get("eer"),
                "false positive rate [95% CI]": _rate(m.get("fpr"), m.get("fpr_ci")),
                "false negative rate [95% CI]": _rate(m.get("fnr"), m.get("fnr_ci")),
            }
        )
    return rows


def detector_cards(result: dict[str, Any]) -> None:
    for d in result["detectors"]:
        card = d.get("card") or {}
        with st.expander(f"{d['name']} {d['version']}: error-rate card and findings"):
            if d.get("summary"):
                st.markdown(md(d["summary"]))
            for finding in d.get("findings", []):
                st.markdown(f"- {md(finding['message'])} (LLR {finding['llr']:+.2f})")
            if not card.get("available"):
                st.info(md(card.get("note") or "no model card"))
                continue
            if card.get("note"):
                st.warning(md(card["note"]))
            table = card_metrics(card)
            if not table:
                st.info("The card has no measured error rates yet.")
            else:
                st.dataframe(table, hide_index=True, width="stretch")
            for label, key in (("Detects", "detects"), ("Cannot detect", "cannot_detect")):
                value = card.get(key)
                if value:
                    st.markdown(
                        f"**{label}:** "
                        + md(", ".join(value) if isinstance(value, list) else value)
                    )
            st.caption(f"card sha256 {card.get('sha256')}")
