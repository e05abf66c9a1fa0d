"""Learned fusion: logistic regression over calibrated LLRs, one model per modality.

Within a modality, detectors often see the same artefact and are correlated; summing their LLRs
would count that evidence twice. A per-modality logistic regression (no intercept, class-balanced,
regularised) learns how much each calibrated LLR should count. Across modalities the weighted
LLRs add: visual, audio and lip-sync evidence are treated as independent, so a missing modality
(an image has no audio) contributes exactly nothing, which is the correct likelihood ratio for
evidence that was not observed. A detector whose calibration version differs from the one the model
was fitted on falls back to the default rule weight, so a stale model never mis-weights new scores.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict

from core.canonical import sha256_canonical
from core.errors import BadInputError


class ModalityFusion(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    modality: str
    weights: dict[str, float]
    calibration_versions: dict[str, str]
    n_real: int
    n_fake: int


class FusionModel(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: Literal[1] = 1
    version: str
    modalities: dict[str, ModalityFusion]
    data: dict[str, str]
    created_at: str

    def weight(self, modality: str, detector: str, calibration_version: str | None) -> float | None:
        """The learned weight, or None when this model does not cover that exact calibration."""
        fusion = self.modalities.get(modality)
        if fusion is None or detector not in fusion.weights:
            return None
        if fusion.calibration_versions.get(detector) != calibration_version:
            return None
        return fusion.weights[detector]


def fit_fusion(records: list[dict[str, Any]], data: dict[str, str]) -> FusionModel:
    """Fit one model per modality from evaluation records (core.evaluation.score_manifest)."""
    from sklearn.linear_model import LogisticRegression

    per_modality: dict[str, dict[str, str]] = defaultdict(dict)
    for r in records:
        for name, d in (r.get("detectors") or {}).items():
            if d["status"] == "ok" and d.get("calibrated"):
                per_modality[d["modality"]][name] = d["calibration_version"]
    modalities = {}
    for modality, versions in sorted(per_modality.items()):
        names = sorted(versions)
        rows, labels = [], []
        for r in records:
            dets = r.get("detectors") or {}
            values = [
                dets[n]["llr"]
                if n in dets
                and dets[n]["status"] == "ok"
                and dets[n]["calibration_version"] == versions[n]
                else None
                for n in names
            ]
            if all(v is None for v in values):
                continue
            rows.append([0.0 if v is None else v for v in values])  # unobserved: LLR 0
            labels.append(r["label"])
        y = np.array(labels, dtype=int)
        if y.sum() < 2 or (1 - y).sum() < 2:
            continue
        model = LogisticRegression(fit_intercept=False, C=1.0, class_weight="balanced")
        model.fit(np.array(rows, dtype=float), y)
        modalities[modality] = ModalityFusion(
            modality=modality,
            weights={n: float(w) for n, w in zip(names, model.coef_[0], strict=True)},
            calibration_versions=versions,
            n_real=int((1 - y).sum()),
            n_fake=int(y.sum()),
        )
    if not modalities:
        raise BadInputError(
            "no modality has calibrated detectors with at least 2 real and 2 fake scores; "
            "calibrate the detectors first"
        )
    body = {k: v.model_dump() for k, v in modalities.items()}
    return FusionModel(
        version=f"lr-{sha256_canonical([body, data])[:12]}",
        modalities=modalities,
        data=data,
        created_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    )


def save(model: FusionModel, path: Path) -> Path:
    from core.calibration import save as save_json

    return save_json(model, path)


def load(path: Path) -> FusionModel:
    from core.calibration import load_model

    return load_model(FusionModel, path, "fusion model")
