"""Do lab GAN faces fool ``visual.spectrum``? AUC of spectrum heads on held-out GAN samples.

Scores each head (a folder with ``spectrum_head.npz``: the shipped weights, or ones written by
``verity train visual.spectrum --out``) on fake sets written by ``verity lab gan sample`` against
two sets of held-out real faces from the corpus, i.e. All-Age-Faces colour photos that
``visual.spectrum``'s recipe did not pick for training with the same seed:

* ``photos``: the photos as they are (JPEG, about 300 px);
* ``crops``: the same photos through the GAN's own data pipeline (aligned 64-px crop) and the
  sampler's resize (Lanczos to the fakes' size), without JPEG. Against this set resizing and file
  format cannot tell fakes apart, only what the generator drew.

    .venv/bin/python bench/lab_gan_spectrum.py \\
        --head shipped=modalities/visual/weights/spectrum-1.2.2 \\
        --head control=DIR --head treatment=DIR --fakes final=DIR --fakes snapshot=DIR
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from core import metrics
from modalities.visual import spectrum, spectrum_features
from modalities.visual.synthesis import stylegan
from modalities.visual.training import spectrum as recipe


def _pairs(values: list[str]) -> dict[str, Path]:
    return {v.split("=", 1)[0]: Path(v.split("=", 1)[1]) for v in values}


def held_out_reals(data: Path, seeds: list[int], n: int, size: int) -> dict[str, list[np.ndarray]]:
    """Up to n All-Age-Faces photos that the recipe picked under none of ``seeds``."""
    used = {path for seed in seeds for path, _ in recipe.collect([data], seed)[0]}
    rows = csv.DictReader((data / "manifest.csv").read_text(encoding="utf-8-sig").splitlines())
    paths = [data / r["file"] for r in rows if r["file"].startswith("faces/aaf/")]
    rng = np.random.default_rng(1 + max(seeds))
    unused = [p for p in paths if p not in used]
    photos, crops = [], []
    for i in rng.permutation(len(unused)):
        if len(photos) >= n:
            break
        crop = stylegan._crop(unused[i], 64, include_gray=False)
        if crop is None:
            continue
        with Image.open(unused[i]) as img:
            photos.append(np.asarray(img.convert("RGB")))
        resized = Image.fromarray(crop).resize((size, size), Image.Resampling.LANCZOS)
        crops.append(np.asarray(resized))
    return {"photos": photos, "crops": crops}


def fakes_of(folder: Path) -> list[np.ndarray]:
    rows = csv.DictReader((folder / "manifest.csv").read_text(encoding="utf-8").splitlines())
    out = []
    for row in rows:
        if row["label"] == "fake":
            with Image.open(folder / row["file"]) as img:
                out.append(np.asarray(img.convert("RGB")))
    return out


def features(images: list[np.ndarray]) -> np.ndarray:
    feats = [spectrum_features.features(image) for image in images]
    return np.stack([f for f in feats if f is not None])


def auc_interval(real: np.ndarray, fake: np.ndarray, n: int = 1000) -> tuple[float, float]:
    """95 % percentile bootstrap interval of the AUC (reals and fakes resampled separately)."""
    rng = np.random.default_rng(0)
    labels = np.concatenate([np.zeros(len(real)), np.ones(len(fake))])
    draws = [
        metrics.auc(
            np.concatenate([rng.choice(real, len(real)), rng.choice(fake, len(fake))]), labels
        )
        for _ in range(n)
    ]
    low, high = np.percentile(draws, [2.5, 97.5])
    return round(float(low), 3), round(float(high), 3)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--head", action="append", required=True, help="name=weights folder")
    parser.add_argument("--fakes", action="append", required=True, help="name=sample folder")
    parser.add_argument("--data", type=Path, default=Path("../shared/train-corpus"))
    parser.add_argument(
        "--seed", type=int, action="append", help="recipe seed(s) of the arms (default 0)"
    )
    parser.add_argument("--n-real", type=int, default=300)
    parser.add_argument("--out", type=Path, help="write the results as JSON here")
    args = parser.parse_args()
    torch.set_num_threads(1)
    heads = {
        k: spectrum.SpectrumHead.load(v / "spectrum_head.npz") for k, v in _pairs(args.head).items()
    }
    fake_images = {k: fakes_of(v) for k, v in _pairs(args.fakes).items()}
    fake_sets = {k: features(v) for k, v in fake_images.items()}
    size = next(iter(fake_images.values()))[0].shape[0]  # reals resized like the fakes
    reals = held_out_reals(args.data, args.seed or [0], args.n_real, size)
    real_sets = {k: features(v) for k, v in reals.items()}
    results = []
    for head_name, head in heads.items():
        for fake_name, fake in fake_sets.items():
            for real_name, real in real_sets.items():
                real_scores, fake_scores = head.logit(real), head.logit(fake)
                scores = np.concatenate([real_scores, fake_scores])
                labels = np.concatenate([np.zeros(len(real)), np.ones(len(fake))])
                results.append({
                    "head": head_name, "fakes": fake_name, "reals": real_name,
                    "n_fake": len(fake), "n_real": len(real),
                    "auc": round(metrics.auc(scores, labels), 3),
                    "auc_95": auc_interval(real_scores, fake_scores),
                    "eer": round(metrics.eer(scores, labels)[0], 3),
                    "fake_mean_logit": round(float(head.logit(fake).mean()), 2),
                    "real_mean_logit": round(float(head.logit(real).mean()), 2),
                })  # fmt: skip
    print("| head | GAN fakes | held-out reals | n fake / real | AUC (95 % bootstrap) | EER |")
    print("|---|---|---|---|---|---|")
    for r in results:
        print(
            f"| {r['head']} | {r['fakes']} | {r['reals']} | {r['n_fake']} / {r['n_real']} | "
            f"{r['auc']:.3f} ({r['auc_95'][0]:.3f}–{r['auc_95'][1]:.3f}) | {r['eer']:.3f} |"
        )
    if args.out:
        args.out.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
