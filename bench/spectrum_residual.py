"""Does the spectrum of a picture's noise residual show generator up-sampling better than the
spectrum of the picture itself?

``visual.spectrum`` reads the log power spectrum of the luminance, where the picture's content
(edges, textures, blur) dominates. Work on GAN fingerprints reads the spectrum of a noise residual
instead (the picture minus a denoised copy: Marra et al., MIPR 2019; Corvi et al., ICASSP 2023),
where periodic traces of up-sampling stand out from a flatter background. This script computes
both for the same pictures (the same 69 features of ``spectrum_features``; the residual is the
luminance minus its 3×3 median), fits the recipe's head on each and on both together, and scores:

1. photo sources held out of training, real against generator-style up-sampled copies (as the
   recipe's leave-one-source-out does);
2. every ``--lab`` folder (``verity lab make-fakes`` output: its reals and its fakes per
   category, e.g. the learnt ``translate`` family, which up-samples with trained transposed
   convolutions and never appears in training);
3. ``--eval`` manifests of the media-dev format (image rows only), read once at the end: a
   measurement, never a choice.

    .venv/bin/python bench/spectrum_residual.py --data ../shared/train-corpus \
        --held-out deepface --held-out faces94 --lab /tmp/npr/lab-tr \
        --eval ../shared/media-dev [--residual median|npr] [-j 2] [--seed 0]
"""

from __future__ import annotations

import argparse
import csv
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage

from core import metrics
from modalities.visual import spectrum_features
from modalities.visual.synthesis import upsampling
from modalities.visual.training.spectrum import _fit, collect

VARIANTS = ("picture", "residual", "both")


RESIDUAL = "median"  # set from --residual in main() and in each worker's initialiser


def residual(rgb: np.ndarray) -> np.ndarray:
    """The luminance minus a smoothed copy: the content goes, periodic pixel-level traces stay.
    ``median``: minus its 3×3 median; ``npr``: minus its nearest-neighbour down- and up-sampled
    copy by 2 (neighbouring pixel relationships, Tan et al., CVPR 2024)."""
    gray = spectrum_features.luminance(rgb)
    if RESIDUAL == "npr":
        h, w = (gray.shape[0] // 2) * 2, (gray.shape[1] // 2) * 2
        gray = gray[:h, :w]
        coarse = np.repeat(np.repeat(gray[::2, ::2], 2, axis=0), 2, axis=1)
        return np.asarray(gray - coarse, dtype=np.float32)
    return np.asarray(gray - ndimage.median_filter(gray, size=3), dtype=np.float32)


def _use(kind: str) -> None:
    global RESIDUAL
    RESIDUAL = kind


def both_features(rgb: np.ndarray) -> np.ndarray | None:
    """Picture features then residual features (138), or None below one tile."""
    picture = spectrum_features.features(rgb)
    if picture is None:
        return None
    rest = spectrum_features.features(residual(rgb))
    assert rest is not None
    return np.concatenate([picture, rest])


def training_pair(job: tuple[str, int]) -> list[tuple[np.ndarray, int, str]] | None:
    """The recipe's pair (``training.spectrum.pair_features``) with both feature sets."""
    path, seed = job
    rng = np.random.default_rng(seed)
    with Image.open(path) as img:
        rgb = np.asarray(img.convert("RGB"))
    method = str(rng.choice(upsampling.METHODS))
    real = both_features(upsampling.channel_augment(rgb, rng))
    fake_img = upsampling.upsample_like_a_generator(rgb, rng, method)
    fake = both_features(upsampling.channel_augment(fake_img, rng))
    if real is None or fake is None:
        return None
    return [(real, 0, "none"), (fake, 1, method)]


def picture_features(path: str) -> np.ndarray | None:
    with Image.open(path) as img:
        return both_features(np.asarray(img.convert("RGB")))


def columns(x: np.ndarray, variant: str) -> np.ndarray:
    n = spectrum_features.N_FEATURES
    return {"picture": x[:, :n], "residual": x[:, n:], "both": x}[variant]


def labelled_images(folder: Path) -> list[tuple[str, int, str]]:
    """(path, label, category) of the image rows of a labelled manifest."""
    with (folder / "manifest.csv").open(encoding="utf-8") as handle:
        return [
            (str(folder / r["file"]), int(r["label"] == "fake"), r["category"])
            for r in csv.DictReader(handle)
            if r["kind"] == "image"
        ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, action="append", required=True)
    parser.add_argument("--held-out", action="append", default=[], help="photo source to hold out")
    parser.add_argument("--lab", type=Path, action="append", default=[])
    parser.add_argument("--eval", type=Path, action="append", default=[])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--residual", choices=("median", "npr"), default="median")
    parser.add_argument("-j", "--jobs", type=int, default=2)
    args = parser.parse_args()
    _use(args.residual)
    items, _ = collect(args.data, args.seed)
    jobs = [(str(p), args.seed * 100_003 + i) for i, (p, _) in enumerate(items)]
    rows: list[tuple[np.ndarray, int, str]] = []
    with ProcessPoolExecutor(
        max_workers=args.jobs,
        mp_context=get_context("spawn"),
        initializer=_use,
        initargs=(args.residual,),
    ) as pool:
        for (_, source), pair in zip(
            items, pool.map(training_pair, jobs, chunksize=16), strict=True
        ):
            rows += [(f, label, source) for f, label, _ in pair or []]
        x, y = np.stack([r[0] for r in rows]), np.array([r[1] for r in rows])
        sources = np.array([r[2] for r in rows])
        held = np.isin(sources, args.held_out)
        heads = {v: _fit(columns(x[~held], v), y[~held], args.seed) for v in VARIANTS}
        print(f"training: {int((~held).sum())} pictures; held out: {sorted(set(sources[held]))}")
        print("| test set | real | fake | " + " | ".join(VARIANTS) + " |")
        print("|---|---|---|" + "---|" * len(VARIANTS))

        def row(name: str, feats: np.ndarray, labels: np.ndarray) -> None:
            aucs = [metrics.auc(heads[v].logit(columns(feats, v)), labels) for v in VARIANTS]
            n_real, n_fake = int((labels == 0).sum()), int((labels == 1).sum())
            cells = " | ".join(f"{a:.3f}" for a in aucs)
            print(f"| {name} | {n_real} | {n_fake} | {cells} |", flush=True)

        for source in sorted(set(sources[held])):
            pick = sources == source
            row(f"held-out source {source}: up-sampled copies", x[pick], y[pick])
        for folder in [*args.lab, *args.eval]:
            listed = labelled_images(folder)
            feats = list(pool.map(picture_features, [p for p, _, _ in listed], chunksize=4))
            keep = [i for i, f in enumerate(feats) if f is not None]
            fx = np.stack([feats[i] for i in keep])
            fy = np.array([listed[i][1] for i in keep])
            cats = np.array([listed[i][2] for i in keep])
            row(f"{folder.name}: all", fx, fy)
            for cat in sorted(set(cats[fy == 1])):
                own = cats == cat  # the category's own reals where it has some, else every real
                pick = own if (fy[own] == 0).any() else (fy == 0) | own
                row(f"{folder.name}: {cat}", fx[pick], fy[pick])


if __name__ == "__main__":
    main()
