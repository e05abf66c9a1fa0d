"""Robustness tables and plot of ``verity eval --attack`` (attacks in core.attacks).

For each attack, every system (detector, modality, fused; as in core.eval_report) is measured on
the attacked copies and compared with the same system on the clean files: AUC under attack and
the drop (attacked − clean; negative means the attack hurt). A system the attack cannot reach
says why instead of a number: ``n/a`` when the attack does not apply to that kind of media,
``not differentiable`` for PGD against a detector without a network it could push on.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from core import eval_report, metrics

NOT_DIFFERENTIABLE = "not differentiable"


def _aucs(records: list[dict[str, Any]], group: str) -> dict[str, dict[str, Any]]:
    out = {}
    members = [r for r in records if r["kind"] == group and r.get("status") == "ok"]
    for name, points in eval_report._systems(members).items():
        labels = np.array([p[0] for p in points], dtype=int)
        raw = np.array([p[2] for p in points], dtype=float)
        auc = metrics.auc(raw, labels) if metrics.has_both_classes(labels) else None
        out[name] = {
            "auc": auc,
            "n_real": int((labels == 0).sum()),
            "n_fake": int((labels == 1).sum()),
        }
    return out


def _pgd_reached(records: list[dict[str, Any]]) -> set[str]:
    return {
        name
        for r in records
        if r.get("status") == "ok"
        for name, d in r["detectors"].items()
        if d.get("attacked")
    }


def compute(records: list[dict[str, Any]], attacks: list[str]) -> dict[str, Any]:
    """``{"attacks": [...], "groups": {group: {system: {"clean": {...}, attack: {...}}}}}``."""
    clean = [r for r in records if r.get("attack") is None]
    result: dict[str, Any] = {"attacks": list(attacks), "groups": {}}
    result["errors"] = [
        {"file": r["file"], "attack": r["attack"], "error": r.get("error")}
        for r in records
        if r.get("attack") is not None and r.get("status") == "error"
    ]
    for group in eval_report.GROUPS:
        if not any(r["kind"] == group for r in clean):
            continue
        base = _aucs(clean, group)
        table: dict[str, dict[str, Any]] = {name: {"clean": m} for name, m in base.items()}
        for label in attacks:
            attacked = [r for r in records if r.get("attack") == label and r["kind"] == group]
            not_applicable = attacked and all(r.get("status") == "n/a" for r in attacked)
            under = _aucs(attacked, group)
            reached = _pgd_reached(attacked) if label.startswith("pgd") else None
            for name, row in table.items():
                if not_applicable:
                    row[label] = {"na": f"{label.split(':')[0]} does not apply to {group}"}
                    continue
                if reached is not None and "." in name and name not in reached:
                    row[label] = {"na": NOT_DIFFERENTIABLE}
                    continue
                m = dict(under.get(name) or {"auc": None, "n_real": 0, "n_fake": 0})
                clean_auc = row["clean"]["auc"]
                m["drop"] = None if m["auc"] is None or clean_auc is None else m["auc"] - clean_auc
                row[label] = m
        result["groups"][group] = table
    return result


def cell(m: dict[str, Any]) -> str:
    if "na" in m:
        return str(m["na"])
    if m.get("auc") is None:
        return "—"
    drop = m.get("drop")
    return f"{m['auc']:.3f}" + ("" if drop is None else f" ({drop:+.3f})")


def markdown(result: dict[str, Any], plot: Path | None) -> str:
    attacks = result["attacks"]
    lines = [
        "## Robustness",
        "",
        "AUC under each attack (in brackets: change against the clean files; negative = the "
        "attack hurt). PGD pushes fakes only, toward real, on detectors with a network.",
        "",
    ]
    for group, table in result["groups"].items():
        lines += [
            f"### {group}",
            "",
            "| system | clean | " + " | ".join(attacks) + " |",
            "|---|---|" + "---|" * len(attacks),
        ]
        for name, row in table.items():
            clean = row["clean"]
            clean_cell = "—" if clean["auc"] is None else f"{clean['auc']:.3f}"
            cells = [cell(row[a]) for a in attacks]
            lines.append(f"| {name} | {clean_cell} | " + " | ".join(cells) + " |")
        lines.append("")
    if result["errors"]:
        lines += ["Attacked copies that could not be scored:", ""]
        lines += [f"- `{e['file']}` under {e['attack']}: {e['error']}" for e in result["errors"]]
        lines.append("")
    if plot is not None:
        lines += [f"![robustness](plots/{plot.name})", ""]
    return "\n".join(lines)


def plot(result: dict[str, Any], out: Path) -> Path | None:
    """One panel per media kind: each system's AUC clean and under each attack (bars)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = {g: t for g, t in result["groups"].items() if t}
    if not groups:
        return None
    attacks = ["clean", *result["attacks"]]
    widest = max(map(len, groups.values()))
    fig, axes = plt.subplots(
        len(groups), 1, figsize=(max(7.0, 2.0 * widest), 3.6 * len(groups)), squeeze=False
    )
    width = 0.8 / len(attacks)
    for ax, (group, table) in zip(axes[:, 0], groups.items(), strict=True):
        names = list(table)
        for i, label in enumerate(attacks):
            values = [
                (table[n][label].get("auc") if label in table[n] else None) or np.nan for n in names
            ]
            ax.bar(np.arange(len(names)) + i * width, values, width, label=label)
        ax.axhline(0.5, color="grey", linestyle=":", linewidth=1)
        ax.set_xticks(np.arange(len(names)) + 0.4 - width / 2)
        ax.set_xticklabels(names, rotation=20, ha="right", fontsize=7)
        ax.set(title=f"AUC clean vs attacked · {group}", ylim=(0, 1), ylabel="AUC")
        ax.legend(fontsize=7, ncol=min(len(attacks), 6))
        ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    out.mkdir(parents=True, exist_ok=True)
    path = out / "robustness.png"
    tmp = out / ".robustness.part.png"
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    tmp.replace(path)
    return path


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.part")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def write(records: list[dict[str, Any]], attacks: list[str], out: Path) -> dict[str, Any]:
    """Add the robustness tables to metrics.json and summary.md (written by eval_report) and
    draw plots/robustness.png."""
    result = compute(records, attacks)
    figure = plot(result, out / "plots")
    metrics_path = out / "metrics.json"
    data = json.loads(metrics_path.read_text(encoding="utf-8"))
    data["robustness"] = result
    _atomic_write(metrics_path, json.dumps(data, indent=1, sort_keys=True))
    summary = out / "summary.md"
    _atomic_write(summary, summary.read_text(encoding="utf-8") + "\n" + markdown(result, figure))
    return result
