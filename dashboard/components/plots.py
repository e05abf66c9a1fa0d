"""Time plots of a case file (Vega-Lite through altair, which Streamlit ships with)."""

from __future__ import annotations

from typing import Any

import altair as alt


def _data(rows: list[dict[str, Any]]) -> Any:
    return alt.Data(values=rows)  # type: ignore[no-untyped-call]


def timeline_chart(series: list[dict[str, Any]], position_s: float | None) -> Any:
    """Per-frame / per-segment scores, one row per detector (each on its own scale), with the
    chosen player position drawn as a vertical rule."""
    rows = [
        {**point, "mid_s": (point["start_s"] + point["end_s"]) / 2, "position_s": position_s}
        for point in series
    ]
    base = alt.Chart(_data(rows))
    segments = base.mark_rule(strokeWidth=6, opacity=0.8).encode(
        x=alt.X("start_s:Q", title="time (s)"),
        x2="end_s:Q",
        y=alt.Y("score:Q", title="score (higher leans fake)"),
        color=alt.Color("modality:N"),
        tooltip=["detector:N", "start_s:Q", "end_s:Q", "score:Q"],
    )
    line = base.mark_line(point=True, strokeDash=[3, 3], opacity=0.6).encode(
        x="mid_s:Q", y="score:Q", color="modality:N"
    )
    layers: list[Any] = [segments, line]
    if position_s is not None:
        layers.append(base.mark_rule(color="black").encode(x="position_s:Q"))
    return (
        alt.layer(*layers)
        .properties(height=140, width=720)
        .facet(row=alt.Row("detector:N", title=None))
        .resolve_scale(y="independent")
    )


def spectrogram_chart(spec: dict[str, Any], flagged: list[dict[str, Any]]) -> Any:
    """Log-power spectrogram with the segments a detector leaned fake on shaded in red."""
    cells = [
        {"t": t, "t2": t + spec["dt"], "f": f, "f2": f + spec["df"], "db": db}
        for t, column in zip(spec["times"], spec["power_db"], strict=True)
        for f, db in zip(spec["freqs"], column, strict=True)
    ]
    heat = (
        alt.Chart(_data(cells))
        .mark_rect()
        .encode(
            x=alt.X("t:Q", title="time (s)"),
            x2="t2:Q",
            y=alt.Y("f:Q", title="frequency (Hz)"),
            y2="f2:Q",
            color=alt.Color("db:Q", title="dB", scale=alt.Scale(scheme="viridis")),
        )
    )
    layers: list[Any] = [heat]
    if flagged:
        shade = alt.Chart(_data(flagged)).mark_rect(color="red", opacity=0.25)
        layers.append(shade.encode(x="start_s:Q", x2="end_s:Q", tooltip=["detector:N", "score:Q"]))
    return alt.layer(*layers).properties(height=220)
