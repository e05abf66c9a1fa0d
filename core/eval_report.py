"""Metrics, plots and the written summary of an evaluation run (see core.evaluation).

Results are grouped by media kind (image, video and audio are never pooled) and, within a group,
by system: each detector (AUC and EER on its raw score, Cllr on its LLR, ECE on its p_fake), each
modality (the weighted LLRs of its detectors summed) and the fused verdict. Error rates are those
of the product's operating point: a file counts as called fake when p_fake reaches the
``manipulated_at`` threshold, so inconclusive fakes count as misses.
"""

from __future__ import annotations

import json
import math
import platform
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from core import metrics

GROUPS = ("image", "video", "audio")


Point = tuple[int, str, float, float, float, str]


def _systems(records: list[dict[str, Any]]) -> dict[str, list[Point]]:
    """system -> [(label, category, raw, llr, p, file)] for files where the system scored."""
    systems: dict[str, list[Point]] = defaultdict(list)
    for r in records:
        if r.get("status") != "ok":
            continue
        by_modality: dict[str, float] = defaultdict(float)
        seen_modality: set[str] = set()
        for name, d in sorted(r["detectors"].items()):
            if d["status"] != "ok" or d["raw"] is None or d.get("out_of_domain"):
                continue  # out-of-domain evidence is left out of fusion, so out of metrics too
            systems[name].append((r["label"], r["category"], d["raw"], d["llr"], d["p"], r["file"]))
            if d.get("weighted_llr") is not None:
                by_modality[d["modality"]] += d["weighted_llr"]
                seen_modality.add(d["modality"])
        for modality in sorted(seen_modality):
            llr = by_modality[modality]
            p = 1 / (1 + math.exp(-llr))
            systems[f"modality:{modality}"].append(
                (r["label"], r["category"], llr, llr, p, r["file"])
            )
        fused = r["fused"]
        if fused["llr"] is not None:
            systems["fused"].append(
                (r["label"], r["category"], fused["llr"], fused["llr"], fused["p"], r["file"])
            )
    return systems


def _measure(points: list[Point], threshold: float) -> dict[str, Any]:
    labels = np.array([p[0] for p in points], dtype=int)
    raw = np.array([p[2] for p in points], dtype=float)
    llr = np.array([p[3] for p in points], dtype=float)
    prob = np.array([p[4] for p in points], dtype=float)
    out: dict[str, Any] = {"n_real": int((labels == 0).sum()), "n_fake": int((labels == 1).sum())}
    rates = metrics.error_rates(prob, labels, threshold)
    out.update(
        threshold_p_fake=threshold,
        fpr=None if math.isnan(rates.fpr) else rates.fpr,
        fpr_ci=list(rates.fpr_ci),
        fnr=None if math.isnan(rates.fnr) else rates.fnr,
        fnr_ci=list(rates.fnr_ci),
    )
    if metrics.has_both_classes(labels):
        auc = metrics.auc(raw, labels)
        out.update(
            auc=auc,
            auc_ci=list(metrics.auc_interval(auc, out["n_real"], out["n_fake"])),
            eer=metrics.eer(raw, labels)[0],
            cllr=metrics.cllr(llr, labels),
            ece=metrics.ece(prob, labels),
        )
    return out


def compute(records: list[dict[str, Any]], threshold: float) -> dict[str, Any]:
    """metrics.json content: per group, per system, overall and per category."""
    result: dict[str, Any] = {"threshold_p_fake": threshold, "groups": {}, "errors": []}
    for r in records:
        if r.get("status") != "ok":
            result["errors"].append({"file": r["file"], "error": r.get("error")})
    for group in GROUPS:
        members = [r for r in records if r["kind"] == group]
        if not members:
            continue
        systems = {}
        for name, points in sorted(_systems(members).items()):
            categories = defaultdict(list)
            for point in points:
                categories[point[1]].append(point)
            systems[name] = {
                "overall": _measure(points, threshold),
                "by_category": {c: _measure(p, threshold) for c, p in sorted(categories.items())},
            }
        result["groups"][group] = {
            "files": len(members),
            "scored": sum(1 for r in members if r.get("status") == "ok"),
            "systems": systems,
        }
    return result


def system_scores(
    records: list[dict[str, Any]], group: str, system: str
) -> dict[str, tuple[int, float]]:
    """file -> (label, raw score) of one system in one media group, where it scored the file."""
    points = _systems([r for r in records if r["kind"] == group]).get(system, [])
    return {p[5]: (p[0], p[2]) for p in points}


# ------------------------------------------------------------------------------------------ plots


def plot(records: list[dict[str, Any]], out: Path) -> list[Path]:
    """ROC, DET, reliability and score histograms per group, as PNG files."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from scipy.stats import norm

    written: list[Path] = []
    out.mkdir(parents=True, exist_ok=True)
    for group in GROUPS:
        systems = _systems([r for r in records if r["kind"] == group])
        usable = {
            name: pts
            for name, pts in systems.items()
            if metrics.has_both_classes(np.array([p[0] for p in pts]))
        }
        if not usable:
            continue
        fig, (roc_ax, det_ax, rel_ax) = plt.subplots(1, 3, figsize=(15, 4.6))
        for name, pts in usable.items():
            labels = np.array([p[0] for p in pts])
            raw = np.array([p[2] for p in pts])
            fpr, tpr, _ = metrics.roc_curve(raw, labels)
            auc = metrics.auc(raw, labels)
            low, high = metrics.auc_interval(auc, int((labels == 0).sum()), int(labels.sum()))
            roc_ax.plot(fpr, tpr, label=f"{name} (AUC {auc:.2f} [{low:.2f}, {high:.2f}])")
            clip = np.clip
            det_ax.plot(
                norm.ppf(clip(fpr, 1e-3, 1 - 1e-3)),
                norm.ppf(clip(1 - tpr, 1e-3, 1 - 1e-3)),
                label=name,
            )
            rel = metrics.reliability(np.array([p[4] for p in pts]), labels)
            rel_ax.plot([r[0] for r in rel], [r[1] for r in rel], "o-", label=name)
        roc_ax.plot([0, 1], [0, 1], ":", color="grey")
        roc_ax.set(
            title=f"ROC · {group}", xlabel="false-positive rate", ylabel="true-positive rate"
        )
        ticks = [0.01, 0.05, 0.2, 0.5, 0.8]
        det_ax.set(
            title=f"DET · {group}",
            xlabel="false-positive rate",
            ylabel="false-negative rate",
            xticks=norm.ppf(ticks),
            yticks=norm.ppf(ticks),
            xticklabels=[f"{t:.0%}" for t in ticks],
            yticklabels=[f"{t:.0%}" for t in ticks],
        )
        rel_ax.plot([0, 1], [0, 1], ":", color="grey")
        rel_ax.set(
            title=f"reliability · {group}",
            xlabel="mean p_fake",
            ylabel="fraction fake",
            xlim=(0, 1),
            ylim=(0, 1),
        )
        for ax in (roc_ax, det_ax, rel_ax):
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7)
        fig.tight_layout()
        path = out / f"{group}-curves.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)

        fig, axes = plt.subplots(1, len(usable), figsize=(4.5 * len(usable), 3.4), squeeze=False)
        for ax, (name, pts) in zip(axes[0], usable.items(), strict=True):
            raw = np.array([p[2] for p in pts])
            labels = np.array([p[0] for p in pts])
            bins = np.histogram_bin_edges(raw, bins=20)
            ax.hist(raw[labels == 0], bins=bins, alpha=0.6, label="real", color="tab:green")
            ax.hist(raw[labels == 1], bins=bins, alpha=0.6, label="fake", color="tab:red")
            ax.set(title=name, xlabel="raw score")
            ax.legend(fontsize=7)
        fig.suptitle(f"score histograms · {group}")
        fig.tight_layout()
        path = out / f"{group}-histograms.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
    return written


# ---------------------------------------------------------------------------------------- summary


def _fmt(value: float | None, digits: int = 3) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _auc(m: dict[str, Any]) -> str:
    if m.get("auc") is None:
        return "—"
    if not m.get("auc_ci"):  # a metrics.json written before AUC intervals
        return _fmt(m["auc"])
    low, high = m["auc_ci"]
    return f"{m['auc']:.3f} [{low:.2f}, {high:.2f}]"


def _rate(m: dict[str, Any], key: str) -> str:
    if m.get(key) is None:
        return "—"
    low, high = m[f"{key}_ci"]
    return f"{m[key]:.2f} [{low:.2f}, {high:.2f}]"


def summary_markdown(result: dict[str, Any], info: dict[str, Any], plots: list[Path]) -> str:
    lines = [
        "# Verity evaluation",
        "",
        f"- manifest: `{info['manifest']}` (sha256 `{info['manifest_sha256'][:16]}…`), "
        f"{info['files']} files"
        + (
            f" (contents sha256 `{info['contents_sha256'][:16]}…`)"
            if "contents_sha256" in info
            else ""
        ),
        f"- detectors: {info['signature']}",
        f"- operating point: called fake when p_fake ≥ {result['threshold_p_fake']}; "
        "FPR/FNR with Clopper-Pearson 95% intervals; AUC with 95% score intervals "
        "(Newcombe 2006)",
        f"- machine: {platform.platform()}, Python {platform.python_version()}",
        "",
    ]
    for group, data in result["groups"].items():
        lines += [f"## {group} ({data['scored']}/{data['files']} files scored)", ""]
        if not data["systems"]:
            lines += ["No registered detector takes this kind of media yet.", ""]
            continue
        lines += [
            "| system | real | fake | AUC | EER | Cllr | ECE | FPR | FNR |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for name, s in data["systems"].items():
            m = s["overall"]
            lines.append(
                f"| {name} | {m['n_real']} | {m['n_fake']} | {_auc(m)} | "
                f"{_fmt(m.get('eer'))} | {_fmt(m.get('cllr'))} | {_fmt(m.get('ece'))} | "
                f"{_rate(m, 'fpr')} | {_rate(m, 'fnr')} |"
            )
        lines += [
            "",
            "By category (fused where present):",
            "",
            "| category | system | real | fake | AUC | EER | FPR | FNR |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for name, s in data["systems"].items():
            if name != "fused" and "fused" in data["systems"]:
                continue
            for category, m in s["by_category"].items():
                lines.append(
                    f"| {category} | {name} | {m['n_real']} | {m['n_fake']} | "
                    f"{_auc(m)} | {_fmt(m.get('eer'))} | {_rate(m, 'fpr')} | "
                    f"{_rate(m, 'fnr')} |"
                )
        lines.append("")
    if result["errors"]:
        lines += ["## Files that could not be scored", ""]
        lines += [f"- `{e['file']}`: {e['error']}" for e in result["errors"]]
        lines.append("")
    if plots:
        lines += ["## Plots", ""] + [f"![{p.stem}](plots/{p.name})" for p in plots] + [""]
    return "\n".join(lines)


def write_report(
    records: list[dict[str, Any]], out: Path, info: dict[str, Any], threshold: float
) -> dict[str, Any]:
    result = compute(records, threshold)
    result["info"] = info
    plots = plot(records, out / "plots")
    (out / "metrics.json").write_text(json.dumps(result, indent=1, sort_keys=True))
    (out / "summary.md").write_text(summary_markdown(result, info, plots))
    return result
