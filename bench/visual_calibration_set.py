"""A calibration set for the visual detectors from lab fake folders, one encoding for every file.

``verity lab make-fakes`` copies each real source byte for byte and encodes each fake itself
(JPEG at quality 95, or PNG), and lab GAN faces have no real counterpart at all. A detector that
looks at pixels could tell the two classes apart by their compression history alone, and a
calibration fitted on that would be learning the lab's encoder. This script decodes every image
of the given lab folders (reals and fakes alike), re-encodes each once as JPEG at ``--quality``
with no metadata, and writes a media-dev-format manifest whose ``category`` is the fake's
generator family (``lab_self_blend``, ``lab_gan``, …) and the real's source, ready for

    verity calibrate visual.blend --manifest OUT/manifest.csv --root OUT --hold-out-by category

Reals met in several lab folders are kept once (by the SHA-256 of their bytes). Nothing is
written outside ``--out``; the folders' media stay where they are.

``--frames-from DIR`` adds real pictures of other sources: ``--frames-per-video`` frames spread
over each real video of DIR's manifest, category = the video's folder (``grid``,
``visualvoice``). They matter because ``verity calibrate --hold-out-by category`` holds out real
sources too, and a detector trained on every photo source of the set has no unseen camera left.

    .venv/bin/python bench/visual_calibration_set.py --lab DIR [--lab DIR ...] --out OUT \
        [--frames-from ../shared/train-corpus --frames-per-video 25]
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
from pathlib import Path

import numpy as np
from PIL import Image

FIELDS = ["file", "label", "kind", "category", "generator", "source_file"]


def reencode(path: Path, quality: int) -> bytes:
    """The picture decoded to RGB and encoded once as a baseline JPEG without metadata."""
    with Image.open(path) as image:
        rgb = image.convert("RGB")
    buffer = io.BytesIO()
    rgb.save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def real_source(row: dict[str, str]) -> str:
    """A real's own source: the folder it came from (``faces/faces94/…`` → ``faces94``,
    ``scenes/mate/…`` → ``mate``, as ``verity lab make-fakes`` keeps it in ``source_file``), or
    the name's second part when the path was flattened into it (``faces__faces94__…``); a real
    row of a folder of reals only (bench/scene_photo_set.py) names its source in ``category``."""
    category = row.get("category") or ""
    if category and not category.startswith("lab_"):
        return category
    folders = Path(row.get("source_file") or "").parts[:-1]
    if len(folders) >= 2:
        return folders[-1]
    parts = Path(row["file"]).name.split("__")
    return parts[1] if len(parts) > 2 else "real"


def build(labs: list[Path], out: Path, quality: int) -> list[dict[str, str]]:
    rows: list[dict[str, str]] = []
    seen: set[str] = set()
    for lab in labs:
        with (lab / "manifest.csv").open(newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                if row.get("kind") != "image":
                    continue
                source = lab / row["file"]
                real = row["label"] == "real"
                if real:
                    digest = hashlib.sha256(source.read_bytes()).hexdigest()
                    if digest in seen:
                        continue
                    seen.add(digest)
                family = real_source(row) if real else row["category"]
                relative = f"{row['label']}/{family}/{len(rows):05d}_{source.stem}.jpg"
                target = out / relative
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(reencode(source, quality))
                rows.append(
                    {
                        "file": relative,
                        "label": row["label"],
                        "kind": "image",
                        "category": family,
                        "generator": row.get("generator", ""),
                        "source_file": row.get("source_file", ""),
                    }
                )
    return rows


def video_frames(folder: Path, out: Path, per_video: int, quality: int) -> list[dict[str, str]]:
    """``per_video`` frames evenly spread over each real video of ``folder``'s manifest."""
    import av

    rows: list[dict[str, str]] = []
    with (folder / "manifest.csv").open(newline="", encoding="utf-8") as handle:
        videos = [
            r
            for r in csv.DictReader(handle)
            if r.get("kind") == "video" and (r.get("label") or "real") == "real"
        ]
    for video in videos:
        source = Path(video["file"]).parent.name or "video"
        with av.open(str(folder / video["file"])) as container:
            frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
        picks = np.linspace(0, len(frames) - 1, min(per_video, len(frames))).round().astype(int)
        for i in sorted(set(picks.tolist())):
            relative = f"real/{source}/{Path(video['file']).stem}_f{i:05d}.jpg"
            target = out / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            buffer = io.BytesIO()
            Image.fromarray(frames[i]).save(buffer, format="JPEG", quality=quality)
            target.write_bytes(buffer.getvalue())
            rows.append(
                {"file": relative, "label": "real", "kind": "image", "category": source,
                 "generator": "", "source_file": video["file"]}
            )  # fmt: skip
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lab", type=Path, action="append", required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--quality", type=int, default=90)
    parser.add_argument("--frames-from", type=Path, help="folder whose real videos give frames")
    parser.add_argument("--frames-per-video", type=int, default=25)
    args = parser.parse_args()
    missing = [str(p) for p in args.lab if not (p / "manifest.csv").is_file()]
    if missing:
        raise SystemExit(f"no manifest.csv in {', '.join(missing)}")
    if args.out.exists() and any(args.out.iterdir()):
        raise SystemExit(f"{args.out} is not empty")
    rows = build(args.lab, args.out, args.quality)
    if args.frames_from is not None:
        rows += video_frames(args.frames_from, args.out, args.frames_per_video, args.quality)
    with (args.out / "manifest.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    counts: dict[tuple[str, str], int] = {}
    for row in rows:
        counts[(row["label"], row["category"])] = counts.get((row["label"], row["category"]), 0) + 1
    for (label, category), n in sorted(counts.items()):
        print(f"{label:5} {category:20} {n}")
    print(f"wrote {args.out / 'manifest.csv'} ({len(rows)} images, JPEG q{args.quality})")


if __name__ == "__main__":
    main()
