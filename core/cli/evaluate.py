"""``verity eval``, ``verity calibrate`` and ``verity detectors show``: measuring detectors."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

from core import attacks as attack_specs
from core import calibration, cards, eval_report, eval_robustness, evaluation
from core.cli import render
from core.config import load_settings
from core.detector import REGISTRY
from core.errors import BadInputError, DetectorError, display_name, path_problem
from core.outputs import file_problem, writable_folder_problem

DEFAULT_JOBS = max(1, min(4, os.cpu_count() or 1))


def _progress_scoring(label: str) -> tuple[Any, Any]:
    progress = render.make_progress(render.err.is_terminal)
    task = progress.add_task(label, total=None)

    def report(done: int, total: int) -> None:
        progress.update(task, completed=done, total=total, description=f"{label} {done}/{total}")

    return progress, report


def _config(
    detectors: list[str] | None,
    normalize: bool,
    work: Path,
    weights: dict[str, Path] | None = None,
) -> evaluation.EvalConfig:
    settings = load_settings()
    for name in detectors or []:
        REGISTRY.spec(name)
    options = settings.models.detector_options()
    digests: dict[str, str] = {}
    for name, folder in (weights or {}).items():
        if detectors is not None and name not in detectors:
            raise BadInputError(f"--weights {name}: not among --detectors")
        digests[name] = _candidate_weights(name, folder)
        options.setdefault(name, {})["weights_dir"] = folder.resolve()
    return evaluation.EvalConfig(
        detectors=detectors,
        normalize_codec=normalize,
        work_dir=str(work),
        home=str(settings.home),
        limits=settings.limits.model_dump(),
        fusion=settings.fusion.model_dump(),
        detector_options=options,
        weights=digests,
    )


def _weights_pairs(pairs: list[str]) -> dict[str, Path]:
    out: dict[str, Path] = {}
    for pair in pairs:
        name, sep, folder = pair.partition("=")
        if not sep or not name.strip() or not folder.strip():
            raise BadInputError(f"--weights {pair!r}: expected NAME=DIR, e.g. visual.blend=./ft")
        if name.strip() in out:
            raise BadInputError(f"--weights: {name.strip()} given twice")
        out[name.strip()] = Path(folder.strip())
    return out


def _candidate_weights(name: str, folder: Path) -> str:
    """Build ``name`` once on ``folder`` (a bad folder fails here, before any scoring) and
    return the SHA-256 of the weights it loaded: it keys the resumable scores, so a candidate's
    scores never mix with the shipped weights' ones."""
    spec = REGISTRY.spec(name)
    if spec.requires is not None:
        raise BadInputError(f"--weights {name}: it ships no weights (give its {spec.requires})")
    if not folder.is_dir():
        raise BadInputError(f"--weights {name}: {display_name(folder)} is not a directory")
    try:
        detector = REGISTRY.create(name, weights_dir=folder)
    except TypeError:
        raise BadInputError(f"--weights {name}: this detector has no weights to replace") from None
    except DetectorError as exc:  # no descriptor, or weights whose hash does not match it
        raise BadInputError(f"--weights {exc}") from None
    loaded = detector.spec.weights
    if loaded is None:
        raise BadInputError(f"--weights {name}: this detector has no weights to replace")
    return loaded.sha256


def _names(detectors: str | None) -> list[str] | None:
    if detectors is None:
        return None
    names = [n.strip() for n in detectors.split(",") if n.strip()]
    if not names:
        raise BadInputError("--detectors needs at least one name")
    return names


def eval_command(
    manifest: Annotated[Path, typer.Option("--manifest", help="CSV: file,label,kind,category,...")],
    root: Annotated[Path, typer.Option("--root", help="Folder the manifest's paths start from.")],
    out: Annotated[Path, typer.Option("--out", help="Where scores, metrics and plots go.")],
    detectors: Annotated[str | None, typer.Option("--detectors", "-d")] = None,
    normalize_codec: Annotated[
        bool,
        typer.Option(
            "--normalize-codec/--no-normalize-codec",
            help="Decode every audio file to 16 kHz mono through one MP3 round trip first.",
        ),
    ] = True,
    jobs: Annotated[int, typer.Option("--jobs", "-j", min=1, max=64)] = DEFAULT_JOBS,
    attack: Annotated[
        str | None,
        typer.Option(
            "--attack",
            help="Also score under perturbations, e.g. jpeg:q=50,resize:0.5,noise:0.01,blur:1,"
            "mp3:kbps=32,lowpass:4000,h264:crf=35,pgd:eps=2/255 (see docs/architecture.md).",
        ),
    ] = None,
    weights: Annotated[
        list[str] | None,
        typer.Option(
            "--weights",
            help="NAME=DIR: score NAME with candidate weights (e.g. a `verity train --out` "
            "folder) instead of the shipped ones; repeatable.",
        ),
    ] = None,
) -> None:
    """Score every file of a labelled manifest and write metrics.json, summary.md and plots.

    Resumable: files already scored with the same detector and calibration versions (and the
    same attack) are kept.
    """
    attacks = attack_specs.parse_attacks(attack) if attack is not None else []
    rows, digest = evaluation.read_manifest(manifest, root, limits=load_settings().limits)
    if problem := writable_folder_problem(out):  # before any file is hashed or scored
        raise BadInputError(f"--out {display_name(out)}: {problem}")
    config = _config(_names(detectors), normalize_codec, out, _weights_pairs(weights or []))
    progress, report = _progress_scoring("scoring")
    with progress:
        scored = evaluation.score_manifest(
            rows, config, out / "scores.jsonl", jobs=jobs, progress=report, attacks=attacks
        )
    records = [r for r in scored if r.get("attack") is None]
    info = {
        "manifest": f"{manifest.resolve().parent.name}/{manifest.name}",
        "manifest_sha256": digest,
        "contents_sha256": evaluation.contents_sha256(records),
        "files": len(rows),
        "signature": evaluation.run_signature(config),
        "normalize_codec": normalize_codec,
    }
    result = eval_report.write_report(records, out, info, load_settings().fusion.manipulated_at)
    for group, data in result["groups"].items():
        for name, system in data["systems"].items():
            m = system["overall"]
            auc = "—" if m.get("auc") is None else f"{m['auc']:.3f} {_ci(m.get('auc_ci'))}"
            eer = "—" if m.get("eer") is None else f"{m['eer']:.3f}"
            render.out.print(
                f"{group:6} {name:24} real {m['n_real']:3} fake {m['n_fake']:3} AUC {auc} EER {eer}"
            )
    if attacks:
        labels = [a.label for a in attacks]
        robust = eval_robustness.write(scored, labels, out)
        for group, table in robust["groups"].items():
            for name, row in table.items():
                cells = "  ".join(f"{label} {eval_robustness.cell(row[label])}" for label in labels)
                render.out.print(f"{group:6} {name:24} {cells}")
        failed = [r for r in scored if r.get("attack") and r.get("status") == "error"]
        if failed:
            render.err.print(f"{len(failed)} attacked cop(ies) could not be scored")
    if result["errors"]:
        render.err.print(f"{len(result['errors'])} file(s) could not be scored; see summary.md")
    render.out.print(
        f"wrote {render.safe(out / 'summary.md')} and {render.safe(out / 'metrics.json')}"
    )


def calibrate_command(
    detector: Annotated[
        str | None, typer.Argument(help="Registered detector name (omit with --fusion).")
    ] = None,
    *,
    manifest: Annotated[Path | None, typer.Option("--manifest")] = None,
    root: Annotated[Path | None, typer.Option("--root")] = None,
    method: Annotated[str, typer.Option("--method", help="auto, platt or isotonic")] = "auto",
    out: Annotated[
        Path | None, typer.Option("--out", help="Artefact path (default: VERITY_HOME)")
    ] = None,
    normalize_codec: Annotated[bool, typer.Option("--normalize-codec/--no-normalize-codec")] = True,
    jobs: Annotated[int, typer.Option("--jobs", "-j", min=1, max=64)] = DEFAULT_JOBS,
    fusion: Annotated[
        bool, typer.Option("--fusion", help="Fit the per-modality fusion model instead.")
    ] = False,
    hold_out_by: Annotated[
        str | None,
        typer.Option(
            "--hold-out-by",
            help="category: shrink the fit by how well it held for each fake category left out.",
        ),
    ] = None,
    carry_from: Annotated[
        Path | None,
        typer.Option(
            "--carry-from",
            help="Carry this calibration file of an earlier version of the detector to its "
            "current version, unchanged (no manifest; --reason required).",
        ),
    ] = None,
    reason: Annotated[
        str | None,
        typer.Option("--reason", help="With --carry-from: how it was shown the fit still holds."),
    ] = None,
) -> None:
    """Fit raw score → calibrated LLR for one detector version on a labelled manifest.

    With --hold-out-by category, the fakes' categories are generator families: the Platt fit is
    shrunk by how well a fit without each family scored that family, so that the calibration
    claims no more for an unseen generator than it earned on the families held out.

    With --fusion, fit the logistic-regression fusion over the calibrated detectors instead
    (calibrate each detector first, on other data than the evaluation's).

    With --carry-from FILE --reason TEXT, the mapping FILE holds for an earlier version of the
    detector is written for its current version, unchanged, with where it came from and why it
    still holds (for a version whose raw scores on the fit's data did not change).
    """
    if out is not None and (problem := file_problem(out)):  # before any scoring
        raise BadInputError(f"--out {display_name(out)}: {problem}")
    if carry_from is not None:
        _carry(detector, carry_from, reason, out)
        return
    if manifest is None or root is None:
        raise BadInputError("--manifest and --root name the labelled data to calibrate on")
    if fusion:
        if detector is not None:
            raise BadInputError("--fusion fits all detectors together: give no detector name")
        _calibrate_fusion(manifest, root, out, normalize_codec, jobs)
        return
    if detector is None:
        raise BadInputError("name the detector to calibrate, or pass --fusion")
    if method not in {"auto", "platt", "isotonic"}:
        raise BadInputError(f"--method must be auto, platt or isotonic, not {method!r}")
    if hold_out_by not in {None, "category"}:
        raise BadInputError(f"--hold-out-by takes category, not {hold_out_by!r}")
    spec = REGISTRY.spec(detector)
    settings = load_settings()
    rows, digest = evaluation.read_manifest(manifest, root, limits=settings.limits)
    rows = [r for r in rows if r.kind in {k.value for k in spec.media_kinds}]
    if not rows:
        raise BadInputError(f"{display_name(manifest)}: no rows of a kind {detector} takes")
    work = settings.home / "calibration" / "work" / f"{spec.name}-{spec.version}"
    config = _config([detector], normalize_codec, work)
    progress, report = _progress_scoring(f"scoring for {detector}")
    with progress:
        records = evaluation.score_manifest(
            rows, config, work / "scores.jsonl", jobs=jobs, progress=report
        )
    raw, labels, families, kinds = [], [], [], set()
    for r in records:
        d = r.get("detectors", {}).get(detector) if r.get("status") == "ok" else None
        # out-of-domain evidence is never calibrated at analysis time, so it is not fitted on
        if d and d["status"] == "ok" and d["raw"] is not None and not d.get("out_of_domain"):
            raw.append(d["raw"])
            labels.append(r["label"])
            families.append(r["category"])
            kinds.add(r["kind"])
    data = {
        "manifest": manifest.name,
        "manifest_sha256": digest,
        "contents_sha256": evaluation.contents_sha256(records),
        "root": root.resolve().name,
    }
    artifact = calibration.fit_calibration(
        spec,
        np.asarray(raw, dtype=float),
        np.asarray(labels, dtype=int),
        data=data,
        method=method,  # type: ignore[arg-type]
        families=None if hold_out_by is None else np.asarray(families, dtype=object),
        held_out_by=hold_out_by or "category",
        # a visual score on one image and one aggregated over a video's frames differ in scale
        media_kinds=tuple(kinds) if spec.modality.value == "visual" else (),
    )
    # a visual mapping fitted on one kind of media is stored for that kind, beside the others
    only = next(iter(artifact.media_kinds)) if len(artifact.media_kinds) == 1 else None
    target = out or calibration.user_path(settings.home, spec, only)
    calibration.save(artifact, target)
    fm = artifact.fit_metrics
    render.out.print(
        f"calibrated {spec.name} {spec.version}: {artifact.version} ({artifact.method}) on "
        f"{artifact.n_real} real + {artifact.n_fake} fake; AUC {fm['auc']:.3f}, "
        f"EER {fm['eer']:.3f}, Cllr {fm['cllr']:.3f}, ECE {fm['ece']:.3f}"
    )
    if artifact.shrinkage is not None:
        sh = artifact.shrinkage
        by_family = ", ".join(f"{k} {v:.3f}" for k, v in sh.auc_by_family.items())
        render.out.print(
            f"held out by {sh.held_out_by}: AUC {by_family}; out-of-family Cllr "
            f"{sh.cllr_out_of_family:.3f} → {sh.cllr_shrunk:.3f} with s = {sh.slope:.3f}"
        )
    render.out.print(f"wrote {render.safe(target)}")


def _carry(detector: str | None, source: Path, reason: str | None, out: Path | None) -> None:
    if detector is None:
        raise BadInputError("name the detector whose calibration is carried")
    if not reason or len(reason.strip()) < 20:
        raise BadInputError(
            "--carry-from needs --reason of at least 20 characters: how it was shown the fit "
            "still holds"
        )
    if path_problem(source) is not None:
        raise BadInputError(f"{display_name(source)}: no such calibration file")
    spec = REGISTRY.spec(detector)
    earlier = calibration.load_given(source)
    artifact = calibration.carried(earlier, spec, reason.strip())
    only = next(iter(artifact.media_kinds)) if len(artifact.media_kinds) == 1 else None
    target = out or calibration.user_path(load_settings().home, spec, only)
    calibration.save(artifact, target)
    render.out.print(
        f"carried {earlier.version} ({spec.name} {earlier.detector_version}) to "
        f"{spec.name} {spec.version}: {artifact.version}"
    )
    render.out.print(f"wrote {render.safe(target)}")


def _calibrate_fusion(
    manifest: Path, root: Path, out: Path | None, normalize_codec: bool, jobs: int
) -> None:
    from core import fusion_model

    settings = load_settings()
    rows, digest = evaluation.read_manifest(manifest, root, limits=settings.limits)
    work = settings.home / "calibration" / "work" / "fusion"
    config = _config(None, normalize_codec, work)
    progress, report = _progress_scoring("scoring for fusion")
    with progress:
        records = evaluation.score_manifest(
            rows, config, work / "scores.jsonl", jobs=jobs, progress=report
        )
    data = {
        "manifest": manifest.name,
        "manifest_sha256": digest,
        "contents_sha256": evaluation.contents_sha256(records),
        "root": root.resolve().name,
    }
    model = fusion_model.fit_fusion(records, data)
    target = out or settings.home / "calibration" / "fusion.json"
    fusion_model.save(model, target)
    for name, m in model.modalities.items():
        weights = ", ".join(f"{d} {w:.2f}" for d, w in sorted(m.weights.items()))
        render.out.print(
            f"fusion {model.version} · {name}: {weights} ({m.n_real} real, {m.n_fake} fake)"
        )
    render.out.print(f"wrote {render.safe(target)}")


def show_command(
    name: Annotated[str, typer.Argument(help="Registered detector name.")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """A detector's spec, its model card with measured error rates, and its calibration."""
    spec = REGISTRY.spec(name)
    settings = load_settings()
    loaded = cards.load_card(spec)
    card = None if loaded is None else {**loaded[0], "sha256": loaded[1]}
    store = calibration.CalibrationStore(settings.home)
    in_force = store.in_force(spec)
    by_file: dict[Path, tuple[list[str], calibration.CalibrationArtifact]] = {}
    for kind, (path, cal) in in_force.items():
        by_file.setdefault(path, ([], cal))[0].append(kind)

    def described(path: Path, cal: calibration.CalibrationArtifact) -> dict[str, object]:
        return {
            "version": cal.version,
            "method": cal.method,
            "path": str(path),
            "n_real": cal.n_real,
            "n_fake": cal.n_fake,
            "data": cal.data,
            "fit_metrics": cal.fit_metrics,
            "carried_from": None if cal.carried_from is None else cal.carried_from.model_dump(),
        }

    first = next(iter(by_file.items()), None)
    data = {
        "spec": spec.model_dump(mode="json"),
        "card": card,
        # "calibration" keeps its shape (the first in force); "calibrations" names each kind's
        "calibration": None if first is None else described(first[0], first[1][1]),
        "calibrations": {kind: described(path, cal) for kind, (path, cal) in in_force.items()},
    }
    if as_json:
        render.print_json_line(data)
        return
    render.out.print(f"[bold]{spec.name}[/] {spec.version} · {spec.modality} · {spec.summary}")
    render.out.print(
        f"  media: {', '.join(sorted(k.value for k in spec.media_kinds))}; "
        f"resolution {spec.resolution}; licence {spec.licence}"
    )
    weights = spec.weights
    render.out.print(
        f"  weights: {weights.path + ' sha256 ' + weights.sha256 if weights else 'none'}"
    )
    if not by_file:
        render.out.print("  calibration: none (calibrated: false, down-weighted in fusion)")
    missing = sorted({k.value for k in spec.media_kinds} - set(in_force))
    if by_file and missing:
        render.out.print(f"  calibration for {', '.join(missing)}: none (calibrated: false)")
    for path, (kinds, cal) in by_file.items():
        render.out.print(
            f"  calibration for {', '.join(kinds)}: {cal.version} from "
            f"{cal.data.get('manifest')} ({cal.n_real} real, {cal.n_fake} fake) at {path}"
        )
        if cal.data.get("contents_sha256"):  # fits before 2026-12-07 name the manifest only
            render.out.print(f"    files scored: sha256 {cal.data['contents_sha256']}")
        if cal.shrinkage is not None:
            sh = cal.shrinkage
            render.out.print(
                f"    held out by {sh.held_out_by} ({', '.join(sh.families)}"
                + (
                    f"; real sources {', '.join(sh.real_sources)}"
                    if sh.real_sources
                    else "; reals in seeded folds"
                )
                + "): "
                f"out-of-family Cllr {sh.cllr_out_of_family:.3f} → {sh.cllr_shrunk:.3f}, "
                f"s = {sh.slope:.3f}"
            )
        if cal.carried_from is not None:
            carried = cal.carried_from
            render.out.print(
                f"    carried from {spec.name} {carried.detector_version} ({carried.version}): "
                f"{carried.reason}"
            )
    if card is None:
        render.out.print("  card: none shipped for this version")
        return
    for key in ("detects", "cannot_detect", "training_data", "calibration_data", "limitations"):
        if card.get(key):
            render.out.print(f"  {key.replace('_', ' ')}: {card[key]}")
    render.out.print(f"  card sha256 {card['sha256']}")
    evaluation_info = card.get("evaluation") or {}
    for group, m in (card.get("metrics") or {}).items():
        render.out.print(
            f"  measured on {evaluation_info.get('manifest', '?')} "
            f"(sha256 {str(evaluation_info.get('manifest_sha256', '?'))[:12]}…) · {group}: "
            f"{m['n_real']} real, {m['n_fake']} fake; AUC {_num(m.get('auc'))} "
            f"{_ci(m.get('auc_ci'))}, "
            f"EER {_num(m.get('eer'))}, Cllr {_num(m.get('cllr'))}, "
            f"FPR {_num(m.get('fpr'))} {_ci(m.get('fpr_ci'))}, FNR {_num(m.get('fnr'))} "
            f"{_ci(m.get('fnr_ci'))} at p_fake ≥ {evaluation_info.get('threshold_p_fake')}"
        )


def _num(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def _ci(pair: list[float] | None) -> str:
    return "" if not pair else f"[{pair[0]:.2f}, {pair[1]:.2f}]"


def card_command(
    name: Annotated[str, typer.Argument(help="Registered detector name.")],
    from_eval: Annotated[Path, typer.Option("--from-eval", help="Output folder of verity eval.")],
) -> None:
    """Write the measured metrics of an eval run into the detector's shipped model card."""
    spec = REGISTRY.spec(name)
    path = cards.update_card_metrics(spec, from_eval)
    render.out.print(f"updated {render.safe(path)}")
