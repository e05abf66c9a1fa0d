"""Does the spectrum of a picture's noise residual show generator up-sampling better than the
spectrum of the picture itself?

``visual.spectrum`` 1.1.0 read the log power spectrum of the luminance, where the picture's content
(edges, textures, blur) dominates. Work on GAN fingerprints reads the spectrum of a noise residual
instead (the picture minus a denoised copy: Marra et al., MIPR 2019; Corvi et al., ICASSP 2023),
where periodic traces of up-sampling stand out from a flatter background. This script computes
both for the same pictures (the same 69 features of ``spectrum_features``; the residual is the
luminance minus its 3×3 median, or with ``--residual npr`` the NPR residual of
``spectrum_features.npr_residual``), fits the recipe's head on each and on both together, and
scores:

1. photo sources held out of training, real against generator-style up-sampled copies (as the
   recipe's leave-one-source-out does);
2. every ``--lab`` folder (``verity lab make-fakes`` output: its reals and its fakes per
   category, e.g. the learnt ``translate`` family, which up-samples with trained transposed
   convolutions and never appears in training);
3. every ``--gan`` folder (``verity lab gan sample`` output) against the held-out sources' photos
   through the GAN's own pipeline (aligned 64-px face crop, Lanczos to the samples' size, no
   JPEG), so that only what the generator drew can tell them apart;
4. ``--eval`` manifests of the media-dev format (image rows only), read once at the end: a
   measurement, never a choice.

    .venv/bin/python bench/spectrum_residual.py --data ../shared/train-corpus \
        --held-out deepface --held-out faces94 --lab /tmp/npr/lab-tr \
        --gan /tmp/npr/gan-eval --eval ../shared/media-dev [--residual median|npr] \
        [--attack jpeg:q=75] [--train-jpeg 70] [-j 2] [--seed 0]
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

from core import attacks, metrics
from modalities.visual import spectrum_features
from modalities.visual.synthesis import stylegan, upsampling
from modalities.visual.training.spectrum import _fit, collect, pair_features

VARIANTS = ("picture", "residual", "both")


RESIDUAL = "median"  # set from --residual in main() and in each worker's initialiser
TRAIN_JPEG = 70  # --train-jpeg: lowest JPEG quality of the training augmentation (recipe: 70)
ATTACK = ""  # --attack: applied to every test picture (not to training), real and fake alike


def residual(rgb: np.ndarray) -> np.ndarray:
    """The luminance minus a smoothed copy: the content goes, periodic pixel-level traces stay.
    ``median``: minus its 3×3 median; ``npr``: minus its nearest-neighbour down- and up-sampled
    copy by 2 (neighbouring pixel relationships, Tan et al., CVPR 2024), which is what
    ``visual.spectrum`` reads from 1.2.0 on."""
    gray = spectrum_features.luminance(rgb)
    if RESIDUAL == "npr":
        return spectrum_features.npr_residual(gray)
    return np.asarray(gray - ndimage.median_filter(gray, size=3), dtype=np.float32)


def _use(kind: str, attack: str = "", train_jpeg: int = 70) -> None:
    global RESIDUAL, ATTACK, TRAIN_JPEG
    RESIDUAL, ATTACK, TRAIN_JPEG = kind, attack, train_jpeg


def augment(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The recipe's ``channel_augment``, or the same with JPEG qualities down to --train-jpeg."""
    if TRAIN_JPEG == 70:
        return upsampling.channel_augment(rgb, rng)
    if rng.random() < 0.5:
        return upsampling.jpeg_roundtrip(rgb, int(rng.integers(TRAIN_JPEG, 96)))
    return rgb


def test_features(rgb: np.ndarray) -> np.ndarray | None:
    """``both_features`` of a test picture after the ``--attack`` chain, if any."""
    for attack in attacks.parse_attacks(ATTACK) if ATTACK else []:
        rgb = attacks.perturb_picture(rgb, attack, np.random.default_rng(0))
    return both_features(rgb)


def both_features(rgb: np.ndarray) -> np.ndarray | None:
    """Picture features then residual features (138), or None below one tile."""
    picture = spectrum_features.spectral_features(spectrum_features.luminance(rgb))
    if picture is None:
        return None
    rest = spectrum_features.spectral_features(residual(rgb))
    assert rest is not None
    return np.concatenate([picture, rest])


def training_pair(job: tuple[str, int]) -> list[tuple[np.ndarray, int, str]] | None:
    """The recipe's pair (``training.spectrum.pair_features``) with both feature sets."""
    return pair_features(job, both_features, augment)


def picture_features(path: str) -> np.ndarray | None:
    with Image.open(path) as img:
        return test_features(np.asarray(img.convert("RGB")))


def gan_crop(job: tuple[str, int]) -> np.ndarray | None:
    """A real photo as the lab GAN saw its training faces, resized to the samples' size."""
    path, size = job
    crop = stylegan._crop(Path(path), 64, include_gray=False)
    if crop is None:
        return None
    resized = Image.fromarray(crop).resize((size, size), Image.Resampling.LANCZOS)
    return test_features(np.asarray(resized))


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
    parser.add_argument("--gan", type=Path, action="append", default=[])
    parser.add_argument("--eval", type=Path, action="append", default=[])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--residual", choices=("median", "npr"), default="median")
    parser.add_argument("--attack", default="", help="e.g. jpeg:q=75 or resize:0.75 (tests only)")
    parser.add_argument("--train-jpeg", type=int, default=70, help="lowest training JPEG quality")
    parser.add_argument("-j", "--jobs", type=int, default=2)
    args = parser.parse_args()
    _use(args.residual, args.attack, args.train_jpeg)
    items, _ = collect(args.data, args.seed)
    jobs = [(str(p), args.seed * 100_003 + i) for i, (p, _) in enumerate(items)]
    rows: list[tuple[np.ndarray, int, str]] = []
    with ProcessPoolExecutor(
        max_workers=args.jobs,
        mp_context=get_context("spawn"),
        initializer=_use,
        initargs=(args.residual, args.attack, args.train_jpeg),
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

        for source in sorted(set(sources[held])) if not args.attack else []:
            pick = sources == source
            row(f"held-out source {source}: up-sampled copies", x[pick], y[pick])
        held_paths = [str(p) for p, source in items if source in args.held_out]
        for folder in args.gan:
            fakes = [p for p, label, _ in labelled_images(folder) if label == 1]
            with Image.open(fakes[0]) as first:
                size = first.size[0]
            real = [f for f in pool.map(gan_crop, [(p, size) for p in held_paths]) if f is not None]
            fake = [f for f in pool.map(picture_features, fakes, chunksize=8) if f is not None]
            labels = np.array([0] * len(real) + [1] * len(fake))
            name = f"{folder.name}: GAN samples vs crops of held-out reals"
            row(name, np.stack(real + fake), labels)
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
