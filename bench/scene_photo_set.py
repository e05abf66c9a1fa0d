"""Real pictures without a face, from photo folders the user names: crops for the image detectors.

Every real picture Verity trains or calibrates its image detectors on is a face photo
(train-corpus/faces) or a frame of a talking head, yet half of what a fact-checker is sent has
no face at all: landscapes, streets, objects, the scenes that image generators (BigGAN,
CycleGAN, pix2pix, diffusion) are shown on. A detector of up-sampling traces that has only
seen faces has never seen the high-frequency texture of grass, gravel or a skyline, and a
calibration fitted on face photos has never been asked whether a new camera's scene looks like
a generator's. This script turns any folders of real photographs into a media-dev-format
manifest of pictures of three kinds per photo, each one a thing real pictures are:

* ``crop``: squares of ``--crop`` pixels cut at the photo's own resolution (no resampling),
  at seeded random places, ``--crops`` per photo;
* ``view``: the whole photo shrunk with an area filter so that its longer side is at most
  ``--view`` pixels, the way datasets and web pages publish photos (a shrink, never an enlarge:
  enlarging is what generators do);

* ``upscaled`` (with ``--upscale K``): K squares cut at a *smaller* size and enlarged by an
  ordinary resizer (bilinear, bicubic or Lanczos, factor drawn from 1.3–3.5) to the crop size,
  as face-crop datasets, thumbnails blown up and "zoomed" screenshots are. Real pictures carry
  resampling traces too; a detector of generator up-sampling must be measured against them,
  so these go to one source of their own, ``upscaled``, held out like any other;

all written as PNG (lossless), so the recipe or the calibration set decides the compression.
``file`` is ``scenes/<source>/<photo>__<kind><n>.png`` and ``category`` is the source, so
``verity train visual.spectrum --data OUT`` treats each source as one held-out group and
``bench/visual_calibration_set.py --lab OUT`` keeps each as a real source of its own.

Sources (each ``NAME=DIR``; every JPEG, PNG or TIFF under DIR, recursively, minus ``--exclude``
names) are the user's choice; the set measured in docs/benchmarks.md ("Pictures without a
face") used the photographs of Debian's wallpaper packages and of scikit-image's and
scikit-learn's bundled sample data, with the computer renders among them excluded by name.

    .venv/bin/python bench/scene_photo_set.py --source mate=DIR --source lomiri=DIR ... \
        --out /tmp/scenes [--crops 6 --crop 256 --view 512 --seed 0] [--exclude NAME ...] \
        [--upscale K]
"""

from __future__ import annotations

import argparse
import csv
import hashlib
from pathlib import Path

import numpy as np
from PIL import Image

FIELDS = ["file", "label", "kind", "category", "generator", "source_file"]
SUFFIXES = {".jpg", ".jpeg", ".png", ".tif", ".tiff"}
MIN_SIDE = 128  # below this no image detector of Verity analyses a picture


def photos(folder: Path, exclude: set[str]) -> list[Path]:
    """Every photo file under folder, sorted, minus the excluded names (stem or file name)."""
    found = [
        p
        for p in sorted(folder.rglob("*"))
        if p.is_file()
        and p.suffix.lower() in SUFFIXES
        and p.name not in exclude
        and p.stem not in exclude
    ]
    return found


RESIZERS = {
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
}


def upscaled(
    rgb: np.ndarray, rng: np.random.Generator, n: int, crop: int
) -> list[tuple[str, np.ndarray]]:
    """n squares of side ``min(crop, shorter side)`` made by enlarging a smaller square."""
    h, w = rgb.shape[:2]
    side = min(crop, h, w)
    out = []
    for k in range(n):
        factor = float(rng.uniform(1.3, 3.5))
        small = max(16, round(side / factor))
        y = int(rng.integers(0, h - small + 1))
        x = int(rng.integers(0, w - small + 1))
        name = str(rng.choice(sorted(RESIZERS)))
        patch = Image.fromarray(np.ascontiguousarray(rgb[y : y + small, x : x + small]))
        out.append((f"up{k}", np.asarray(patch.resize((side, side), RESIZERS[name]))))
    return out


def pictures_of(
    rgb: np.ndarray, rng: np.random.Generator, crops: int, crop: int, view: int
) -> list[tuple[str, np.ndarray]]:
    """(kind, picture) pairs: native-resolution crops and one area-shrunk whole view (none when
    ``view`` is 0)."""
    h, w = rgb.shape[:2]
    out: list[tuple[str, np.ndarray]] = []
    if h >= crop and w >= crop:
        for n in range(crops):
            y = int(rng.integers(0, h - crop + 1))
            x = int(rng.integers(0, w - crop + 1))
            out.append((f"crop{n}", rgb[y : y + crop, x : x + crop]))
    if view <= 0:
        return out
    scale = min(1.0, view / max(h, w))
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    if min(size) >= MIN_SIDE:
        shrunk = Image.fromarray(rgb).resize(size, Image.Resampling.BOX) if scale < 1 else None
        out.append(("view0", np.asarray(shrunk) if shrunk is not None else rgb))
    return out


def build(
    sources: dict[str, Path],
    out: Path,
    crops: int,
    crop: int,
    view: int,
    seed: int,
    exclude: set[str],
    upscale: int = 0,
) -> list[dict[str, str]]:
    rows: list[dict[str, str]] = []
    for name, folder in sorted(sources.items()):
        seen: set[str] = set()
        for path in photos(folder, exclude):
            data = path.read_bytes()
            digest = hashlib.sha256(data).hexdigest()
            if digest in seen:
                continue
            seen.add(digest)
            with Image.open(path) as image:
                rgb = np.asarray(image.convert("RGB"))
            rng = np.random.default_rng([seed, int(digest[:8], 16)])
            stem = path.stem.replace(" ", "_")
            made = [(name, k, p) for k, p in pictures_of(rgb, rng, crops, crop, view)]
            if upscale and min(rgb.shape[:2]) >= MIN_SIDE:  # a stream of its own: same crops
                extra = np.random.default_rng([seed, int(digest[:8], 16), 1])
                made += [("upscaled", k, p) for k, p in upscaled(rgb, extra, upscale, crop)]
            for category, kind, picture in made:
                relative = Path("scenes") / category / f"{name}__{stem}__{kind}.png"
                if category == name:
                    relative = Path("scenes") / name / f"{stem}__{kind}.png"
                target = out / relative
                target.parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(np.ascontiguousarray(picture)).save(target, format="PNG")
                rows.append(
                    {
                        "file": relative.as_posix(),
                        "label": "real",
                        "kind": "image",
                        "category": category,
                        "generator": f"real photo ({kind.rstrip('0123456789')})",
                        "source_file": f"{path.name} sha256:{digest[:16]}",
                    }
                )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", action="append", required=True, metavar="NAME=DIR")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--crops", type=int, default=6)
    parser.add_argument("--crop", type=int, default=256)
    parser.add_argument("--view", type=int, default=512)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--exclude", action="append", default=[], metavar="NAME")
    parser.add_argument("--upscale", type=int, default=0, help="enlarged crops per photo")
    args = parser.parse_args()
    sources = {}
    for item in args.source:
        name, _, folder = item.partition("=")
        if not name or not folder or not Path(folder).is_dir():
            parser.error(f"--source {item!r}: expected NAME=DIR with an existing DIR")
        sources[name] = Path(folder)
    if (args.out / "manifest.csv").exists():
        parser.error(f"{args.out} already holds a manifest; choose a new --out")
    rows = build(
        sources,
        args.out,
        args.crops,
        args.crop,
        args.view,
        args.seed,
        set(args.exclude),
        args.upscale,
    )
    if not rows:
        parser.error("no picture made: no photo found, or every one too small")
    with (args.out / "manifest.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    by_source: dict[str, int] = {}
    for row in rows:
        by_source[row["category"]] = by_source.get(row["category"], 0) + 1
    manifest_sha = hashlib.sha256((args.out / "manifest.csv").read_bytes()).hexdigest()
    print(f"{len(rows)} pictures: {by_source}; manifest sha256 {manifest_sha}")


if __name__ == "__main__":
    main()
