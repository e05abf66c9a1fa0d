"""Does a real-speech mixture balanced across corpora make the LFCC-GMM generalise to real speech
from corpora it never saw?

346 of the ~410 training reals are LibriSpeech, so the real mixture of ``audio.lfcc_gmm`` is mostly
a LibriSpeech model. Here the frames each real file gives the real mixture are weighted by
``n_corpus ** -alpha`` (alpha 0: the shipped recipe, 200 frames a file; alpha 1: every corpus the
same share), the total unchanged, and the recipe's features, mixtures (64 components) and scoring
are otherwise those of modalities/audio/training/lfcc_gmm.py. Both validations of
bench/audio_pretrained_frontends.py, 5 folds: ``speaker`` (the recipe's grouping) and ``corpus``
(every real corpus but LibriSpeech held out whole). Prints Markdown rows.

    .venv/bin/python bench/audio_real_balance.py --alpha 0 0.5 1
"""

from __future__ import annotations

import argparse
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

import numpy as np
from audio_pretrained_frontends import FOLDERS, corpus, regrouped

from core import metrics
from modalities.audio.gmm import DiagGMM
from modalities.audio.training import lfcc_gmm, pseudo


def fit(feats: list[np.ndarray], labels: np.ndarray, kinds: np.ndarray, alpha: float, seed: int):  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(seed)
    budget = np.full(len(feats), float(lfcc_gmm.FIT_FRAMES))
    real = labels == 0
    counts = Counter(kinds[real])
    share = np.array([counts[k] ** -alpha if r else 0.0 for k, r in zip(kinds, real, strict=True)])
    real_budget = share / share.sum() * budget[real].sum()

    def stack(cls: int, frames: np.ndarray) -> np.ndarray:
        parts = []
        for i in np.flatnonzero(labels == cls):
            n = min(len(feats[i]), max(1, round(frames[i])))
            parts.append(feats[i][rng.choice(len(feats[i]), n, replace=False)])
        return np.concatenate(parts)

    return (
        DiagGMM.fit(stack(0, real_budget), 64, seed),
        DiagGMM.fit(stack(1, budget), 64, seed),
    )


def main() -> None:
    from sklearn.model_selection import GroupKFold

    parser = argparse.ArgumentParser()
    parser.add_argument("--alpha", type=float, nargs="+", default=[0.0, 0.5, 1.0])
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    work, _ = pseudo.plan(FOLDERS, 0, [])
    with ProcessPoolExecutor(args.jobs, mp_context=get_context("spawn")) as pool:
        feats = list(pool.map(lfcc_gmm.extract, work, chunksize=4))
    items = [j.item for j in work]
    y = np.array([i.label for i in items])
    kinds = np.array([corpus(i) for i in items])
    fake, libri = y == 1, kinds == "librispeech"
    other = (y == 0) & ~libri
    print("| alpha | validation | AUC | EER | vs LibriSpeech reals | vs other-corpus reals |")
    print("|---|---|---|---|---|---|")
    for protocol in ("speaker", "corpus"):
        data = items if protocol == "speaker" else [regrouped(i) for i in items]
        groups = np.array([i.group for i in data])
        for alpha in args.alpha:
            oof = np.zeros(len(items))
            for k, (train, test) in enumerate(GroupKFold(5).split(feats, y, groups)):
                pair = fit([feats[i] for i in train], y[train], kinds[train], alpha, k)
                for i in test:
                    oof[i] = lfcc_gmm._score(pair, feats[i])
            vs_libri = metrics.auc(oof[fake | libri], y[fake | libri])
            vs_other = metrics.auc(oof[fake | other], y[fake | other])
            print(
                f"| {alpha:g} | {protocol} | {metrics.auc(oof, y):.3f} | "
                f"{metrics.eer(oof, y)[0]:.3f} | {vs_libri:.3f} | {vs_other:.3f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
