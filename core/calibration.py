"""Calibration: raw detector scores to log-likelihood ratios, fitted on labelled data, versioned.

A calibration artefact belongs to one detector version. It maps the detector's raw score to a
natural-log likelihood ratio (fake vs. real) with a class-balanced fit, so the LLR does not depend
on how many fakes the calibration set happened to hold. Two mappings: Platt (logistic, two
parameters, regularised, the default because it generalises) and isotonic (monotone, used only with
at least ``ISOTONIC_MIN_PER_CLASS`` examples of each class). Either way the artefact keeps
bootstrap replicates of the Platt fit, from which analyses report a 95% interval on the LLR.

A calibration set of generator families and real sources (``verity calibrate --hold-out-by
category``) is fitted so that it holds for a family and a source it never saw: each family's fakes
and each source's reals are scored by a Platt fit made without them, and a second, bounded
logistic fit on those held-out LLRs shrinks the mapping by as much as it over-claimed
(``LLR = s·(a·raw + b) + t`` with ``0 ≤ s ≤ 1``; core.family_holdout). A detector whose ranking
does not carry from one family to the next is shrunk towards LLR 0: it says it knows little
instead of claiming what the families it was fitted on showed. Why: Verity is used on generators
no calibration set holds.

Artefacts live beside the shipped weights (``modalities/<modality>/weights/<name>-<version>/
calibration.json``, or ``calibration-<kind>.json`` for a mapping fitted on one kind of media, such
as a visual detector's video scores) or, when an installation calibrates with its own data, in
``$VERITY_HOME/calibration/``, which takes precedence.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Literal, TypeVar

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from core import family_holdout
from core.canonical import parse_untrusted_json, sha256_canonical
from core.detector import DetectorSpec, Evidence, sigmoid
from core.errors import BadInputError, DetectorError, display_name, first_validation_problem
from core.family_holdout import FamilyShrinkage
from core.platt import LLR_LIMIT, PlattParams, balanced_weights, fit_platt

if TYPE_CHECKING:
    from core.fusion_model import FusionModel

M = TypeVar("M", bound=BaseModel)
ISOTONIC_MIN_PER_CLASS = 50
BOOTSTRAP_REPLICATES = 200
ARTEFACT_SCHEMA = 1

Method = Literal["platt", "isotonic"]


class CarriedCalibration(BaseModel):
    """Where a carried mapping was fitted, and why it still holds for the new version."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    detector_version: str
    version: str
    reason: str = Field(min_length=20)


class CalibrationArtifact(BaseModel):
    """A fitted mapping for one detector version, with where its data came from."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: Literal[1] = 1
    detector: str
    detector_version: str
    weights_sha256: str | None = Field(
        default=None, description="the weights the fit was made for (None: the version's own)"
    )
    version: str = Field(description="method plus a hash of the fit: cited in every result")
    method: Method
    platt: PlattParams
    isotonic_x: tuple[float, ...] = ()
    isotonic_llr: tuple[float, ...] = ()
    bootstrap: tuple[PlattParams, ...] = ()
    shrinkage: FamilyShrinkage | None = Field(
        default=None, description="family-held-out shrinkage folded into platt (None: not fitted)"
    )
    n_real: int
    n_fake: int
    media_kinds: tuple[str, ...] = Field(
        default=(), description="kinds of media fitted on; applied to those only (empty: any)"
    )
    data: dict[str, str] = Field(description="manifest name and SHA-256, root folder name")
    fit_metrics: dict[str, float]
    created_at: str
    carried_from: CarriedCalibration | None = Field(
        default=None, description="the fit made for an earlier detector version (None: its own)"
    )

    def llr(self, raw: float | np.ndarray) -> np.ndarray:
        x = np.asarray(raw, dtype=float)
        if self.method == "isotonic":
            value = np.interp(x, self.isotonic_x, self.isotonic_llr)
        else:
            value = self.platt.llr(x)
        return np.asarray(np.clip(value, -LLR_LIMIT, LLR_LIMIT), dtype=float)

    def llr_interval(self, raw: float, level: float = 0.95) -> tuple[float, float]:
        """Percentile interval of the LLR over bootstrap refits, centred on this mapping."""
        centre = float(self.llr(raw))
        if not self.bootstrap:
            return (centre, centre)
        base = float(self.platt.llr(np.asarray(raw)))
        shifts = np.array([b.llr(np.asarray(raw)) - base for b in self.bootstrap], dtype=float)
        low, high = np.percentile(shifts, [(1 - level) / 2 * 100, (1 + level) / 2 * 100])
        return (
            float(np.clip(centre + low, -LLR_LIMIT, LLR_LIMIT)),
            float(np.clip(centre + high, -LLR_LIMIT, LLR_LIMIT)),
        )

    def covers(self, kind: str) -> bool:
        """Whether this calibration was fitted on media of this kind (or on any kind)."""
        return not self.media_kinds or kind in self.media_kinds

    def apply(self, evidence: Evidence) -> Evidence:
        """The detector's evidence with this calibration's LLR, p_fake and interval."""
        if evidence.detector != self.detector or evidence.version != self.detector_version:
            raise DetectorError(
                f"calibration {self.version} is for {self.detector} {self.detector_version}, "
                f"not {evidence.detector} {evidence.version}"
            )
        llr = float(self.llr(evidence.raw_score))
        return evidence.model_copy(
            update={
                "llr": llr,
                "p_fake": sigmoid(llr),
                "llr_interval": self.llr_interval(evidence.raw_score),
                "calibrated": True,
                "calibration_version": self.version,
            }
        )


def fit_calibration(
    spec: DetectorSpec,
    raw: np.ndarray,
    labels: np.ndarray,
    *,
    data: dict[str, str],
    method: Method | Literal["auto"] = "auto",
    seed: int = 0,
    families: np.ndarray | None = None,
    held_out_by: str = "category",
    media_kinds: tuple[str, ...] = (),
) -> CalibrationArtifact:
    """Fit a calibration for ``spec`` from raw scores and 0/1 labels (1 = fake).

    With ``families`` (each fake's generator family, each real's source) the Platt mapping is
    shrunk by how well it held for families and sources left out of its fit; isotonic
    mappings are not offered then, since their steps are exactly what does not carry over.
    ``media_kinds`` restricts where it applies: a detector's raw score on an image (one frame)
    and on a video (a top-k mean over frames) are not on the same scale.
    """
    from sklearn.isotonic import IsotonicRegression

    from core import metrics

    raw = np.asarray(raw, dtype=float)
    labels = np.asarray(labels, dtype=int)
    n_fake, n_real = int(labels.sum()), int((1 - labels).sum())
    if n_fake < 2 or n_real < 2:
        raise BadInputError(
            f"calibration needs at least 2 real and 2 fake scores; got {n_real} real, {n_fake} fake"
        )
    if families is not None:
        families = np.asarray([str(f) for f in families], dtype=object)
        if method == "isotonic":
            raise BadInputError("holding out families fits a Platt mapping, not isotonic")
        method = "platt"
    if method == "auto":
        method = "isotonic" if min(n_fake, n_real) >= ISOTONIC_MIN_PER_CLASS else "platt"
    if method == "isotonic" and min(n_fake, n_real) < ISOTONIC_MIN_PER_CLASS:
        raise BadInputError(
            f"isotonic calibration needs {ISOTONIC_MIN_PER_CLASS} examples per class"
        )
    shrinkage, folds = None, None
    if families is not None:
        platt, shrinkage, families, folds = family_holdout.summarise(
            raw, labels, families, seed, held_out_by
        )
    else:
        platt = fit_platt(raw, labels)
    iso_x: tuple[float, ...] = ()
    iso_llr: tuple[float, ...] = ()
    if method == "isotonic":
        eps = 1.0 / (2 * min(n_fake, n_real))  # never claim certainty the data cannot show
        iso = IsotonicRegression(y_min=eps, y_max=1 - eps, out_of_bounds="clip")
        iso.fit(raw, labels, sample_weight=balanced_weights(labels))
        iso_x = tuple(float(v) for v in iso.X_thresholds_)
        iso_llr = tuple(float(math.log(p / (1 - p))) for p in iso.y_thresholds_)
    boots = _bootstrap(raw, labels, families, folds, seed)
    fit = {
        "method": method,
        "platt": platt.model_dump(),
        "shrinkage": None if shrinkage is None else shrinkage.model_dump(),
        "media_kinds": list(media_kinds),
        "isotonic": [iso_x, iso_llr],
        "data": data,
        "detector": spec.name,
        "detector_version": spec.version,
    }
    draft = CalibrationArtifact(
        detector=spec.name,
        detector_version=spec.version,
        version=f"{method}-{sha256_canonical(fit)[:12]}",
        method=method,
        platt=platt,
        isotonic_x=iso_x,
        isotonic_llr=iso_llr,
        bootstrap=tuple(boots),
        shrinkage=shrinkage,
        n_real=n_real,
        n_fake=n_fake,
        media_kinds=tuple(sorted(media_kinds)),
        data=data,
        fit_metrics={},
        created_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    )
    llr = draft.llr(raw)
    fit_metrics = {
        "auc": metrics.auc(raw, labels),
        "eer": metrics.eer(raw, labels)[0],
        "cllr": metrics.cllr(llr, labels),
        "ece": metrics.ece(1 / (1 + np.exp(-llr)), labels),
    }
    return draft.model_copy(update={"fit_metrics": fit_metrics})


def carried(artifact: CalibrationArtifact, spec: DetectorSpec, reason: str) -> CalibrationArtifact:
    """``artifact``'s mapping for a new version of its detector, whose raw scores on the data it
    was fitted on are unchanged (``reason`` says how that was established; the artefact keeps
    it). Why not refit: an audio detector's calibration is fitted on the out-of-fold scores of
    its training recipe, and re-running the recipe retrains the weights; a version that changes
    only how inputs beyond the fit's reach are read keeps the fit it had, and says so. The new
    artefact gets its own version id (the fit's hash over the new detector version)."""
    if artifact.detector != spec.name:
        raise BadInputError(f"calibration of {artifact.detector} cannot be carried to {spec.name}")
    if artifact.detector_version == spec.version:
        raise BadInputError(f"calibration {artifact.version} is already {spec.name} {spec.version}")
    fit = {
        "method": artifact.method,
        "platt": artifact.platt.model_dump(),
        "shrinkage": None if artifact.shrinkage is None else artifact.shrinkage.model_dump(),
        "media_kinds": list(artifact.media_kinds),
        "isotonic": [artifact.isotonic_x, artifact.isotonic_llr],
        "data": artifact.data,
        "detector": spec.name,
        "detector_version": spec.version,
        "carried_from": artifact.version,
    }
    return artifact.model_copy(
        update={
            "detector_version": spec.version,
            "version": f"{artifact.method}-{sha256_canonical(fit)[:12]}",
            "carried_from": CarriedCalibration(
                detector_version=artifact.detector_version,
                version=artifact.version,
                reason=reason,
            ),
        }
    )


def _bootstrap(
    raw: np.ndarray,
    labels: np.ndarray,
    families: np.ndarray | None,
    folds: np.ndarray | None,
    seed: int,
) -> list[PlattParams]:
    """Refits on stratified resamples (every class, and every family and real unit, keeps its
    size). With families, each replicate repeats the whole held-out fit, so the interval also
    carries the uncertainty of the shrinkage."""
    rng = np.random.default_rng(seed)
    if families is None or folds is None:
        strata = [np.flatnonzero(labels == 0), np.flatnonzero(labels == 1)]
    else:
        units = sorted(set(folds[labels == 0].tolist()))
        strata = [np.flatnonzero((labels == 0) & (folds == u)) for u in units]
        strata += [
            np.flatnonzero((labels == 1) & (families == name))
            for name in sorted(set(families[labels == 1]))
        ]
    boots = []
    for _ in range(BOOTSTRAP_REPLICATES):
        pick = np.concatenate([rng.choice(idx, len(idx)) for idx in strata])
        if families is None or folds is None:
            boots.append(fit_platt(raw[pick], labels[pick]))
        else:
            refit = family_holdout.fit(raw[pick], labels[pick], families[pick], folds[pick])
            boots.append(refit[0])
    return boots


# --------------------------------------------------------------------------------------- storage


def shipped_dir(spec: DetectorSpec) -> Path:
    """``modalities/<modality>/weights/<short name>-<version>/`` inside the installed package."""
    short = spec.name.split(".", 1)[1]
    return shipped_dir_root() / spec.modality.value / "weights" / f"{short}-{spec.version}"


def shipped_dir_root() -> Path:
    """The ``modalities`` package folder, found without importing it (core stays below it)."""
    return Path(__file__).resolve().parent.parent / "modalities"


def user_path(home: Path, spec: DetectorSpec, kind: str | None = None) -> Path:
    """An installation's own calibration; ``kind`` names one fitted on that kind of media only."""
    suffix = "" if kind is None else f"-{kind}"
    return home / "calibration" / f"{spec.name}-{spec.version}{suffix}.json"


def shipped_path(spec: DetectorSpec, kind: str | None = None) -> Path:
    """``calibration.json`` beside the weights, or ``calibration-<kind>.json`` for one kind."""
    return shipped_dir(spec) / ("calibration.json" if kind is None else f"calibration-{kind}.json")


def atomic_write(path: Path, text: str) -> Path:
    """Write ``text`` so that a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".calibration-")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def save(artifact: BaseModel, path: Path) -> Path:
    """Write a calibration or fusion model as JSON, atomically."""
    return atomic_write(path, artifact.model_dump_json(indent=1))


def load_model(cls: type[M], path: Path, what: str) -> M:
    """Read a JSON model artefact; anything unreadable is one DetectorError naming the file."""
    try:
        return cls.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError) as exc:
        raise DetectorError(f"{what} {path} is unusable: {exc}") from None


def load(path: Path) -> CalibrationArtifact:
    return load_model(CalibrationArtifact, path, "calibration file")


def load_given(path: Path) -> CalibrationArtifact:
    """A calibration file the user named (``--carry-from``): a bad one is bad input (exit 2),
    named in one short line, not a broken installation."""
    try:
        data = parse_untrusted_json(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BadInputError(f"{display_name(path)}: not a calibration file ({exc})") from None
    try:
        return CalibrationArtifact.model_validate(data)
    except ValidationError as exc:
        raise BadInputError(
            f"{display_name(path)}: not a calibration file "
            f"({first_validation_problem(exc, 'the file')}; {exc.error_count()} problem(s))"
        ) from None


class CalibrationStore:
    """Finds the calibration in force for a detector version (user's first, then shipped)."""

    def __init__(self, home: Path | None) -> None:
        self.home = home

    def candidates(self, spec: DetectorSpec, kind: str) -> list[Path]:
        """Where a calibration for ``kind`` may lie, first found first used: the user's before
        the shipped one, and at each place one fitted on this kind before a general one."""
        places = []
        if self.home is not None:
            places += [user_path(self.home, spec, kind), user_path(self.home, spec)]
        return [*places, shipped_path(spec, kind), shipped_path(spec)]

    def find(self, spec: DetectorSpec, kind: str) -> tuple[Path, CalibrationArtifact] | None:
        """The calibration file in force for ``kind`` media and what it holds, or None."""
        for path in self.candidates(spec, kind):
            if path.is_file():
                artifact = self._read(spec, path)
                if artifact.covers(kind):
                    return path, artifact
        return None

    def fusion_path(self) -> Path | None:
        candidates = [] if self.home is None else [self.home / "calibration" / "fusion.json"]
        candidates.append(shipped_dir_root() / "fusion.json")
        return next((p for p in candidates if p.is_file()), None)

    def fusion_model(self) -> FusionModel | None:
        from core import fusion_model

        path = self.fusion_path()
        return None if path is None else fusion_model.load(path)

    def get(self, spec: DetectorSpec, kind: str) -> CalibrationArtifact | None:
        """The calibration in force for this detector version on ``kind`` media, or None.

        Why per kind: a visual detector's raw score on one picture and its top-k mean over a
        video's frames are on different scales, so each kind has its own mapping (or none)."""
        found = self.find(spec, kind)
        return None if found is None else found[1]

    def in_force(self, spec: DetectorSpec) -> dict[str, tuple[Path, CalibrationArtifact]]:
        """Every kind of media the detector takes that has a calibration, with its file."""
        found = {kind: self.find(spec, kind) for kind in sorted(k.value for k in spec.media_kinds)}
        return {kind: hit for kind, hit in found.items() if hit is not None}

    @staticmethod
    def _read(spec: DetectorSpec, path: Path) -> CalibrationArtifact:
        artifact = load(path)
        if artifact.detector != spec.name or artifact.detector_version != spec.version:
            raise DetectorError(f"{path} holds a calibration for another detector version")
        kind = path.stem.removeprefix("calibration").removeprefix(f"{spec.name}-{spec.version}")
        if kind.startswith("-") and not artifact.covers(kind[1:]):
            raise DetectorError(f"{path} holds a calibration for other media than {kind[1:]}")
        return artifact
