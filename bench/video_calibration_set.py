"""A calibration set for the visual detectors' video scores: lab video fakes of several families
and the real clips they were made from, every clip through the same H.264 encoder.

A visual detector's score on a video (a top-k mean over its frames) is on another scale than its
score on one picture, so a video needs its own calibration (``calibration-video.json``). Its data
here, all made from real talking heads the caller chooses (never a benchmark's files):

- ``--lab DIR``: a ``bench/lab_remouth_eval.py`` folder. Its reals (``remouth.transcode``) are the
  reals of the set, each under its source folder (``grid``, ``visualvoice``) so that
  ``--hold-out-by category`` holds real sources out too; its re-mouthed and mouth-warped clips are
  two fake families. Its dubbed clips are left out: their picture is the real one untouched, so to
  a visual detector they are real footage, not fakes, and they would only double the reals.
- ``--swaps DIR=FAMILY`` (repeatable): every ``.mp4`` of DIR (``verity lab faceswap apply``
  outputs, encoded like the reals: H.264 CRF 18) as a fake of that family, e.g. plain swaps and
  converter-sharpened swaps as two families.

Files are hard-linked (copied across file systems); ``OUT/manifest.csv`` is in the media-dev
format, ready for

    verity calibrate visual.blend --manifest OUT/manifest.csv --root OUT --hold-out-by category

    .venv/bin/python bench/video_calibration_set.py --lab /tmp/rm-trainw \\
        --swaps /tmp/vcal/swaps=lab_faceswap --swaps /tmp/vcal/swaps6=lab_faceswap_sharp --out OUT
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
from collections import Counter
from pathlib import Path

FIELDS = ["file", "label", "kind", "category", "generator", "source_file"]
LAB_FAMILIES = {"lab_remouth", "lab_mouthwarp"}  # lab_dub: the picture is untouched


def link(out: Path, relative: str, target: Path) -> None:
    """A hard link where the file system allows (``verity`` refuses symlinks out of a root)."""
    path = out / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(target, path)
    except OSError:
        shutil.copyfile(target, path)


def from_lab(lab: Path, out: Path) -> list[dict[str, str]]:
    rows = []
    with (lab / "manifest.csv").open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            real = row["label"] == "real"
            if not real and row["category"] not in LAB_FAMILIES:
                continue
            # a real's source is the folder its original came from (video/grid/x.mpg -> grid)
            family = Path(row["source_file"]).parent.name if real else row["category"]
            relative = f"{row['label']}/{family}/{Path(row['file']).name}"
            link(out, relative, lab / row["file"])
            rows.append({**{k: row.get(k, "") for k in FIELDS}, "file": relative,
                         "category": family})  # fmt: skip
    return rows


def from_swaps(folder: Path, family: str, out: Path) -> list[dict[str, str]]:
    rows = []
    for video in sorted(folder.glob("*.mp4")):
        relative = f"fake/{family}/{video.name}"
        link(out, relative, video)
        generator = f"verity-lab:faceswap:{family}"
        rows.append({"file": relative, "label": "fake", "kind": "video", "category": family,
                     "generator": generator, "source_file": video.stem})  # fmt: skip
    if not rows:
        raise SystemExit(f"{folder}: no .mp4 files")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lab", type=Path, required=True)
    parser.add_argument("--swaps", action="append", default=[], metavar="DIR=FAMILY")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    if not (args.lab / "manifest.csv").is_file():
        raise SystemExit(f"no manifest.csv in {args.lab}")
    if args.out.exists() and any(args.out.iterdir()):
        raise SystemExit(f"{args.out} is not empty")
    swaps = []
    for given in args.swaps:
        folder, sep, family = given.partition("=")
        if not sep or not family:
            raise SystemExit(f"--swaps takes DIR=FAMILY, not {given!r}")
        swaps.append((Path(folder), family))
    rows = from_lab(args.lab, args.out)
    for folder, family in swaps:
        rows += from_swaps(folder, family, args.out)
    with (args.out / "manifest.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=FIELDS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    for (label, category), n in sorted(Counter((r["label"], r["category"]) for r in rows).items()):
        print(f"{label:5} {category:20} {n}")
    print(f"wrote {args.out / 'manifest.csv'} ({len(rows)} videos)")


if __name__ == "__main__":
    main()
