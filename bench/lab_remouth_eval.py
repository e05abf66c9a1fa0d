"""Lip-sync fakes the detectors never saw: re-mouthed and dubbed versions of real talking heads,
with their real counterparts through the same encoder, as a folder ``verity eval`` reads.

For each real video of ``--sources`` (a folder with manifest.csv, or its video files) that has a
soundtrack and a face on most frames, over its first ``--seconds``:

- ``real/<stem>.mp4``: the clip unchanged through the encoder every fake goes through
  (``remouth.transcode``), so the codec is no cue;
- ``fake/remouth/<stem>.mp4``: the clip re-mouthed to speak the next usable source's soundtrack
  (``remouth.remouth``, Video Rewrite-style: mouths retrieved from the clip itself);
- ``fake/mouthwarp/<stem>.mp4``: the same soundtrack, the clip's own mouth warped open and shut
  with it (``mouthwarp.mouthwarp``: a second family of lip-sync fakes);
- ``fake/dub/<stem>.mp4``: the same foreign soundtrack laid under the untouched picture (plain
  dubbing: what the lip-sync detectors were built to catch);
- with ``--drivers K``, the same for the next K sources' soundtracks (``<stem>__d2`` …): more
  fakes per real clip when real footage is scarce.

``manifest.csv`` holds them all (media-dev columns); ``manifest-remouth.csv``,
``manifest-mouthwarp.csv`` and ``manifest-dub.csv`` each hold the reals and one kind of fake, for
one AUC per kind:

    .venv/bin/python bench/lab_remouth_eval.py --sources DIR --out OUT
    verity eval --manifest OUT/manifest-remouth.csv --root OUT \
        -d lipsync.syncnet,lipsync.av_offset --out OUT/eval-remouth -j 2

Sources are the caller's to choose; when they are a benchmark's files, the outputs stay outside
the repository (``--out``), as the benchmark does.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import time
from pathlib import Path

import numpy as np

from core import metrics
from core.config import MediaLimits
from core.media import probe
from modalities import lab
from modalities.lipsync.synthesis import mouthwarp, remouth

COLUMNS = ("file", "label", "kind", "category", "generator", "source_file")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sources", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seconds", type=float, default=remouth.MAX_SECONDS)
    parser.add_argument("--jump-cost", type=float, default=remouth.JUMP_COST)
    parser.add_argument(
        "--drivers", type=int, default=1, help="driving soundtracks per source (the next K sources)"
    )
    args = parser.parse_args()
    videos = [s for s in lab.find_sources(args.sources) if s.kind == "video"]
    usable = []  # a driving soundtrack must come from a usable source too
    for source in videos:
        if probe(source.path, MediaLimits()).audio is None:
            print(f"skip {source.relative}: no soundtrack")
        else:
            usable.append(source)
    if len(usable) < 2:
        raise SystemExit("need at least two videos with a soundtrack")
    rows: list[dict[str, str]] = []
    started = time.time()
    for i, source in enumerate(usable):
        clip = remouth.read_clip(source.path, args.seconds)  # once: frames and faces are the cost
        stem = Path(source.relative).with_suffix("").as_posix().replace("/", "__")
        generator = f"verity-lab:remouth:{remouth.VERSION}:jump{args.jump_cost:g}"
        file = f"real/{stem}.mp4"
        write(args.out / file, remouth.transcode_clip(clip))
        rows.append(row(file, "real", "real", "real", source.relative))
        for j in range(1, min(args.drivers, len(usable) - 1) + 1):
            driving = usable[(i + j) % len(usable)]
            sound = remouth.read_sound(driving.path, args.seconds)
            made = remouth.remouth_clip(clip, sound, jump_cost=args.jump_cost)
            tag = stem if j == 1 else f"{stem}__d{j}"  # the first driver keeps the old names
            warped = mouthwarp.mouthwarp_clip(clip, sound)
            for file, category, name, data in (
                (f"fake/remouth/{tag}.mp4", "lab_remouth", generator, made.data),
                (f"fake/mouthwarp/{tag}.mp4", "lab_mouthwarp",
                 f"verity-lab:mouthwarp:{mouthwarp.VERSION}", warped.data),
                (f"fake/dub/{tag}.mp4", "lab_dub", "verity-lab:dub",
                 remouth.dub_clip(clip, sound)),
            ):  # fmt: skip
                write(args.out / file, data)
                rows.append(row(file, "fake", category, name, source.relative))
            print(f"{source.relative} <- {driving.relative}: {made.frames} frames, "
                  f"{made.remouthed} re-mouthed, {made.jumps} jumps")  # fmt: skip
    for name, keep in (
        ("manifest.csv", {"real", "lab_remouth", "lab_mouthwarp", "lab_dub"}),
        ("manifest-remouth.csv", {"real", "lab_remouth"}),
        ("manifest-mouthwarp.csv", {"real", "lab_mouthwarp"}),
        ("manifest-dub.csv", {"real", "lab_dub"}),
    ):
        with (args.out / name).open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=COLUMNS, lineterminator="\n")
            writer.writeheader()
            writer.writerows(r for r in rows if r["category"] in keep)
    print(f"{len(usable)} sources, {len(rows)} files in {time.time() - started:.0f} s: {args.out}")


def print_lab_aucs(folder: str, scores: dict[str, dict[str, list[float]]]) -> None:
    """For scores of this folder's files (score name -> category -> values), one markdown row per
    score and kind of fake: the AUC of the real clips against that kind."""
    for name, by in sorted(scores.items()):
        reals = by.get("real", [])
        for category in ("lab_remouth", "lab_mouthwarp", "lab_dub"):
            fakes = by.get(category, [])
            if reals and fakes:
                y = np.r_[np.zeros(len(reals)), np.ones(len(fakes))]
                auc = metrics.auc(np.r_[reals, fakes], y)
                print(f"| {folder} | {category} | {name} | {len(reals)} / {len(fakes)} | "
                      f"{auc:.3f} |")  # fmt: skip


def row(file: str, label: str, category: str, generator: str, source: str) -> dict[str, str]:
    return {"file": file, "label": label, "kind": "video", "category": category,
            "generator": generator, "source_file": source}  # fmt: skip


def write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    print(f"  {path.name} sha256 {hashlib.sha256(data).hexdigest()[:12]}")


if __name__ == "__main__":
    main()
