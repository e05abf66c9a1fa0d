"""Does visual.blend see the lab's face swaps? Frame- and clip-level AUC of several blend weights
on swapped held-out clips against the same clips unswapped.

Each real clip of ``--real`` whose swap ``<stem>.mp4`` lies in ``--swaps`` (``verity lab faceswap
apply`` output) is also passed, unchanged, through the encoder the swap went through
(faceswap_io.transcode), so real and fake differ only by the swap. Every frame's largest face is
cropped as visual.blend crops it and scored by each ``--weights NAME=DIR``; frame AUC uses every
frame, clip AUC the mean logit of each one-second segment. Prints Markdown rows for
docs/benchmarks.md ("Lab face swap").

    .venv/bin/python bench/lab_faceswap_eval.py --real R --swaps S --weights shipped=DIR ... \
        [--shrink 0.5 --jpeg 40]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from core import media, metrics
from modalities.visual import blend_net, faces
from modalities.visual.synthesis import faceswap, faceswap_io

SEGMENT = 25  # frames per clip-level sample (one second at 25 fps)


def degraded(rgb: np.ndarray, shrink: float, jpeg: int) -> np.ndarray:
    """The same loss for real and swap: down-scaled and back (a re-upload), then JPEG."""
    if shrink < 1:
        h, w = rgb.shape[:2]
        small = cv2.resize(
            rgb, (round(w * shrink), round(h * shrink)), interpolation=cv2.INTER_AREA
        )
        rgb = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    if jpeg:
        _, buf = cv2.imencode(".jpg", rgb[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, jpeg])
        rgb = cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1]
    return np.ascontiguousarray(rgb)


def crops_of(path: Path, shrink: float = 1.0, jpeg: int = 0) -> np.ndarray:
    out = []
    for frame in media.iter_frames(path):
        rgb = degraded(frame.rgb, shrink, jpeg)
        face = faceswap.largest_face(rgb)
        if face is None:
            continue
        matrix = faces.crop_transform(face, blend_net.CROP_SIZE, blend_net.CROP_ZOOM)
        crop = cv2.warpAffine(rgb, matrix, (blend_net.CROP_SIZE,) * 2, flags=cv2.INTER_AREA,
                              borderMode=cv2.BORDER_REFLECT)  # fmt: skip
        out.append(blend_net.centre(crop))
    return np.stack(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--real", type=Path, required=True)
    parser.add_argument("--swaps", type=Path, required=True)
    parser.add_argument("--weights", nargs="+", required=True, help="NAME=DIR (blend.npz)")
    parser.add_argument("--shrink", type=float, default=1.0, help="e.g. 0.5: half resolution")
    parser.add_argument("--jpeg", type=int, default=0, help="JPEG quality (0: none)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    started = time.monotonic()
    samples: list[tuple[str, int, np.ndarray]] = []  # (clip, label, crops)
    with tempfile.TemporaryDirectory() as tmp:
        for swap in sorted(args.swaps.glob("*.mp4")):
            real = next(p for p in args.real.iterdir() if p.stem == swap.stem)
            again = Path(tmp) / f"{swap.stem}.mp4"
            again.write_bytes(faceswap_io.transcode(real).data)
            samples += [
                (swap.stem, 0, crops_of(again, args.shrink, args.jpeg)),
                (swap.stem, 1, crops_of(swap, args.shrink, args.jpeg)),
            ]
    print(f"degradation: shrink {args.shrink}, jpeg {args.jpeg or 'none'}")
    print(f"clips: {sorted({s[0] for s in samples})}; faces real "
          f"{sum(len(c) for _, y, c in samples if y == 0)}, swapped "
          f"{sum(len(c) for _, y, c in samples if y == 1)}")  # fmt: skip
    print("| weights | frame AUC | clip-second AUC | mean logit real | mean logit swap |")
    print("|---|---|---|---|---|")
    for spec in args.weights:
        name, folder = spec.split("=", 1)
        model = blend_net.load(Path(folder) / "blend.npz")
        frame_scores, frame_labels, seg_scores, seg_labels = [], [], [], []
        for _, label, crops in samples:
            logits, _ = blend_net.predict(model, crops)
            frame_scores += list(logits)
            frame_labels += [label] * len(logits)
            for i in range(0, len(logits), SEGMENT):
                seg_scores.append(float(np.mean(logits[i : i + SEGMENT])))
                seg_labels.append(label)
        fs, fl = np.array(frame_scores), np.array(frame_labels)
        auc_f = metrics.auc(fs, fl)
        auc_s = metrics.auc(np.array(seg_scores), np.array(seg_labels))
        print(f"| {name} | {auc_f:.3f} | {auc_s:.3f} (n={len(seg_labels)}) | "
              f"{fs[fl == 0].mean():.2f} | {fs[fl == 1].mean():.2f} |")  # fmt: skip
    print(f"wall {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
