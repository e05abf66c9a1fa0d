"""Calibration that holds for generators and recording sources it never saw.

A calibration set holds a few generator families and real media from a few sources; Verity is
used on others. A Platt fit on all of it claims what those families and sources showed. Here every
fake is scored by a fit made without its family and every real by a fit made without its source
(or, when the reals name one source only, or a source so large that a fit without it would
keep too few reals, without a seeded fold of them): for each pair (family,
real source) one fit on the rest, scoring the pair. A second, bounded logistic fit of the labels
on those held-out LLRs gives ``s`` and ``t``, and the shipped mapping is
``s·(a·raw + b) + t`` with ``0 ≤ s ≤ 1``. A detector whose scores mean the same from one family
and source to the next keeps its fit (``s`` near 1); one whose meaning shifts is pulled towards
LLR 0, where it claims nothing. Why real sources too: a detector keyed on the training camera
calls another camera's real pictures fake, and no held-out fake family shows that.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from core import metrics
from core.errors import BadInputError
from core.platt import LLR_LIMIT, PlattParams, balanced_log_loss, fit_platt


class FamilyShrinkage(BaseModel):
    """How far a fit on some families and sources carried to each one it had not seen."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    held_out_by: str = Field(description="manifest column naming each fake's family")
    families: dict[str, int] = Field(description="fakes per family")
    real_sources: dict[str, int] = Field(
        default_factory=dict, description="reals per source held out (empty: seeded folds)"
    )
    slope: float = Field(description="s in s·LLR + t, 0 ≤ s ≤ 1")
    intercept: float
    cllr_out_of_family: float = Field(description="Cllr of the unshrunk mapping, held out")
    cllr_shrunk: float = Field(description="the same held-out LLRs after s·LLR + t")
    auc_by_family: dict[str, float] = Field(description="each family against all reals")


def check(labels: np.ndarray, groups: np.ndarray) -> tuple[dict[str, int], dict[str, int]]:
    """Fakes per family and reals per source; one clear error when there are too few."""
    if len(groups) != len(labels):
        raise BadInputError("one family per score is needed")
    families = Counter(str(g) for g in groups[labels == 1])
    if len(families) < 2:
        raise BadInputError(
            f"holding out generator families needs at least 2 among the fakes; got {len(families)}"
        )
    few = sorted(name for name, n in families.items() if n < 2)
    if few:
        raise BadInputError(f"families with fewer than 2 fakes: {', '.join(few)}")
    sources = Counter(str(g) for g in groups[labels == 0])
    n_real = int((labels == 0).sum())
    if n_real < 2 * len(families):
        raise BadInputError(
            f"holding out {len(families)} families needs at least {2 * len(families)} reals"
        )
    # a source is held out only when the fit without it still has reals enough to be a fit:
    # 11 clips of one corpus and 1 of another do not make two sources, and a fit on the 1 alone
    # would say nothing about a new camera, only that one clip is few
    crossable = len(sources) > 1 and all(n_real - n >= 2 * len(families) for n in sources.values())
    return dict(sorted(families.items())), dict(sorted(sources.items())) if crossable else {}


def pooled_reals(labels: np.ndarray, groups: np.ndarray, sources: dict[str, int]) -> np.ndarray:
    """``groups`` with every real under one name when its sources are not held out one by one."""
    if sources:
        return groups
    pooled = np.asarray(groups, dtype=object).copy()
    pooled[labels == 0] = "real"
    return pooled


def real_folds(labels: np.ndarray, groups: np.ndarray, n_folds: int, seed: int) -> np.ndarray:
    """Each real's held-out unit: its source when the reals name several, else a seeded fold."""
    sources = sorted({str(g) for g in groups[labels == 0]})
    folds = np.full(len(labels), -1)
    if len(sources) > 1:
        for i, source in enumerate(sources):
            folds[(labels == 0) & (groups == source)] = i
        return folds
    real_idx = np.random.default_rng(seed).permutation(np.flatnonzero(labels == 0))
    folds[real_idx] = np.arange(len(real_idx)) % n_folds
    return folds


def held_out_llr(
    raw: np.ndarray, labels: np.ndarray, groups: np.ndarray, folds: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(LLRs, labels) pooled over every (family, real unit) pair, each scored by a fit without
    both. Seeded folds pair with families one to one (there is no source to cross)."""
    names = sorted({str(g) for g in groups[labels == 1]})
    units = sorted(set(folds[labels == 0].tolist()))
    if len({str(g) for g in groups[labels == 0]}) > 1:
        pairs = [(name, unit) for name in names for unit in units]
    else:
        pairs = list(zip(names, units, strict=True))
    llrs, truth = [], []
    for name, unit in pairs:
        test = ((labels == 1) & (groups == name)) | ((labels == 0) & (folds == unit))
        llrs.append(fit_platt(raw[~test], labels[~test]).llr(raw[test]))
        truth.append(labels[test])
    return np.concatenate(llrs), np.concatenate(truth)


def shrink(llr: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """(s, t) of the balanced logistic fit of labels on ``s·llr + t``, with 0 ≤ s ≤ 1.

    Never above 1: a few families are no ground for claiming more than the fit itself does."""
    from scipy.optimize import minimize

    result = minimize(
        lambda p: balanced_log_loss(p[0] * llr + p[1], labels),
        x0=np.array([0.5, 0.0]),
        method="L-BFGS-B",
        bounds=[(0.0, 1.0), (-LLR_LIMIT, LLR_LIMIT)],
    )
    return float(result.x[0]), float(result.x[1])


def fit(
    raw: np.ndarray, labels: np.ndarray, groups: np.ndarray, folds: np.ndarray
) -> tuple[PlattParams, np.ndarray, np.ndarray, float, float]:
    """The shrunk mapping, the pooled held-out LLRs with their labels, and (s, t)."""
    full = fit_platt(raw, labels)
    llr, truth = held_out_llr(raw, labels, groups, folds)
    s, t = shrink(llr, truth)
    return PlattParams(slope=s * full.slope, intercept=s * full.intercept + t), llr, truth, s, t


def summarise(
    raw: np.ndarray, labels: np.ndarray, groups: np.ndarray, seed: int, held_out_by: str
) -> tuple[PlattParams, FamilyShrinkage, np.ndarray, np.ndarray]:
    """The shrunk mapping, its record, and the groups and folds used (the bootstrap keeps them)."""
    families, sources = check(labels, groups)
    groups = pooled_reals(labels, groups, sources)
    folds = real_folds(labels, groups, len(families), seed)
    platt, llr, truth, s, t = fit(raw, labels, groups, folds)
    reals = raw[labels == 0]

    def clip(values: np.ndarray) -> np.ndarray:
        return np.asarray(np.clip(values, -LLR_LIMIT, LLR_LIMIT), dtype=float)

    record = FamilyShrinkage(
        held_out_by=held_out_by,
        families=families,
        real_sources=sources,
        slope=s,
        intercept=t,
        cllr_out_of_family=metrics.cllr(clip(llr), truth),
        cllr_shrunk=metrics.cllr(clip(s * llr + t), truth),
        auc_by_family={
            name: metrics.auc(
                np.r_[reals, raw[(labels == 1) & (groups == name)]],
                np.r_[np.zeros(len(reals), int), np.ones(n, int)],
            )
            for name, n in families.items()
        },
    )
    return platt, record, groups, folds
