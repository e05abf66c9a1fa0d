"""Lip-sync fakes the detectors never saw: re-mouthed and dubbed versions of real talking heads,
with their real counterparts through the same encoder, as a folder ``verity eval`` reads.

For each real video of ``--sources`` (a folder with manifest.csv, or its video files) that has a
soundtrack and a face on most frames, over its first ``--seconds``:

- ``real/<stem>.mp4``: the clip unchanged through the encoder every fake goes through
  (``remouth.transcode``), so the codec is no cue;
- ``fake/remouth/<stem>.mp4``: the clip re-mouthed to speak the next usable source's soundtrack
  (``remouth.remouth``, Video Rewrite-style: mouths retrieved from the clip itself);
- ``fake/dub/<stem>.mp4``: the same foreign soundtrack laid under the untouched picture (plain
  dubbing: what the lip-sync detectors were built to catch).

``manifest.csv`` holds all three (media-dev columns); ``manifest-remouth.csv`` and
``manifest-dub.csv`` each hold the reals and one kind of fake, for one AUC per kind:

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

from core.errors import BadInputError
from modalities import lab
from modalities.lipsync.synthesis import remouth

COLUMNS = ("file", "label", "kind", "category", "generator", "source_file")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sources", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seconds", type=float, default=remouth.MAX_SECONDS)
    parser.add_argument("--jump-cost", type=float, default=remouth.JUMP_COST)
    args = parser.parse_args()
    videos = [s for s in lab.find_sources(args.sources) if s.kind == "video"]
    clips = {}
    for source in videos:  # usable sources first: a driving soundtrack must come from one
        try:
            clips[source.relative] = remouth.transcode(source.path, args.seconds)
        except BadInputError as exc:
            print(f"skip {source.relative}: {exc}")
    usable = [s for s in videos if s.relative in clips]
    if len(usable) < 2:
        raise SystemExit("need at least two videos with a soundtrack and a face")
    rows: list[dict[str, str]] = []
    started = time.time()
    for i, source in enumerate(usable):
        driving = usable[(i + 1) % len(usable)]
        stem = Path(source.relative).with_suffix("").as_posix().replace("/", "__")
        real = f"real/{stem}.mp4"
        write(args.out / real, clips[source.relative])
        rows.append(row(real, "real", "real", "real", source.relative))
        made = remouth.remouth(source.path, driving.path, max_s=args.seconds,
                               jump_cost=args.jump_cost)  # fmt: skip
        fake = f"fake/remouth/{stem}.mp4"
        write(args.out / fake, made.data)
        generator = f"verity-lab:remouth:{remouth.VERSION}:jump{args.jump_cost:g}"
        rows.append(row(fake, "fake", "lab_remouth", generator, source.relative))
        clip = remouth.read_clip(source.path, args.seconds)
        sound = remouth.read_clip(driving.path, args.seconds).wave
        n = min(len(clip.frames), int(len(sound) / remouth.SAMPLE_RATE * clip.fps))
        dubbed = remouth.encode(
            clip.frames[:n], clip.fps, sound[: round(n / clip.fps * remouth.SAMPLE_RATE)]
        )
        dub = f"fake/dub/{stem}.mp4"
        write(args.out / dub, dubbed)
        rows.append(row(dub, "fake", "lab_dub", "verity-lab:dub", source.relative))
        print(f"{source.relative} <- {driving.relative}: {made.frames} frames, "
              f"{made.remouthed} re-mouthed, {made.jumps} jumps")  # fmt: skip
    for name, keep in (
        ("manifest.csv", {"real", "lab_remouth", "lab_dub"}),
        ("manifest-remouth.csv", {"real", "lab_remouth"}),
        ("manifest-dub.csv", {"real", "lab_dub"}),
    ):
        with (args.out / name).open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=COLUMNS, lineterminator="\n")
            writer.writeheader()
            writer.writerows(r for r in rows if r["category"] in keep)
    print(f"{len(usable)} sources, {len(rows)} files in {time.time() - started:.0f} s: {args.out}")


def row(file: str, label: str, category: str, generator: str, source: str) -> dict[str, str]:
    return {"file": file, "label": label, "kind": "video", "category": category,
            "generator": generator, "source_file": source}  # fmt: skip


def write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    print(f"  {path.name} sha256 {hashlib.sha256(data).hexdigest()[:12]}")


if __name__ == "__main__":
    main()
