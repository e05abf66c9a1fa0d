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


def spectrogram_spec(spec: dict[str, Any], flagged: list[dict[str, Any]]) -> dict[str, Any]:
    """Log-power spectrogram with the segments an audio detector leaned fake on shaded in red.

    A plain Vega-Lite spec: altair would validate every one of the thousands of cells.
    """
    cells = [
        {"t": t, "t2": t + spec["dt"], "f": f, "f2": f + spec["df"], "db": db}
        for t, column in zip(spec["times"], spec["power_db"], strict=True)
        for f, db in zip(spec["freqs"], column, strict=True)
    ]
    layers: list[dict[str, Any]] = [
        {
            "data": {"values": cells},
            "mark": "rect",
            "encoding": {
                "x": {"field": "t", "type": "quantitative", "title": "time (s)"},
                "x2": {"field": "t2"},
                "y": {"field": "f", "type": "quantitative", "title": "frequency (Hz)"},
                "y2": {"field": "f2"},
                "color": {
                    "field": "db",
                    "type": "quantitative",
                    "title": "dB",
                    "scale": {"scheme": "viridis"},
                },
            },
        }
    ]
    if flagged:
        layers.append(
            {
                "data": {"values": flagged},
                "mark": {"type": "rect", "color": "red", "opacity": 0.25},
                "encoding": {
                    "x": {"field": "start_s", "type": "quantitative"},
                    "x2": {"field": "end_s"},
                    "tooltip": [{"field": "detector"}, {"field": "score"}],
                },
            }
        )
    return {"layer": layers, "height": 220}
