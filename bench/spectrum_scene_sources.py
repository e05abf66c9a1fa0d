"""How a ``visual.spectrum`` head does on photo sources it never saw, measured as its recipe does.

``verity train visual.spectrum`` validates by leaving one photo source out: each real picture
and its generator-style up-sampled copy, both channel-augmented (``pair_features``), scored by a
head fitted without that source. A head trained on faces only has, in effect, left every scene
source out; this script scores the pictures of the given folders (e.g. ``bench/scene_photo_set.py``
output) the same way with any head folders, so their numbers sit beside the leave-one-source-out
numbers of a head trained with those sources (its card's ``by_held_out_source``).

    .venv/bin/python bench/spectrum_scene_sources.py --data /tmp/scenes \
        --head shipped=modalities/visual/weights/spectrum-1.2.2 [--head NAME=DIR ...] [--seed 0]
"""

from __future__ import annotations

import argparse
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import numpy as np

from core import metrics
from modalities.visual import spectrum
from modalities.visual.training.spectrum import collect, pair_features


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, action="append", required=True)
    parser.add_argument("--head", action="append", required=True, metavar="NAME=DIR")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("-j", "--jobs", type=int, default=2)
    args = parser.parse_args()
    heads = {}
    for item in args.head:
        name, _, folder = item.partition("=")
        heads[name] = spectrum.SpectrumHead.load(Path(folder) / "spectrum_head.npz")
    items, _ = collect(args.data, args.seed)
    jobs = [(str(p), args.seed * 100_003 + 50_021 + i) for i, (p, _) in enumerate(items)]
    feats, labels, sources = [], [], []
    with ProcessPoolExecutor(max_workers=args.jobs, mp_context=get_context("spawn")) as pool:
        results = pool.map(pair_features, jobs, chunksize=8)
        for (_, source), result in zip(items, results, strict=True):
            for f, label, _method in result or []:
                feats.append(f)
                labels.append(label)
                sources.append(source)
    x, y, s = np.stack(feats), np.array(labels), np.array(sources)
    print("| head | " + " | ".join(sorted(set(sources))) + " | all |")
    print("|---" * (len(set(sources)) + 2) + "|")
    for name, head in heads.items():
        scores = head.logit(x)
        cells = [
            f"{metrics.auc(scores[s == source], y[s == source]):.3f}"
            for source in sorted(set(sources))
        ]
        print(f"| {name} | " + " | ".join(cells) + f" | {metrics.auc(scores, y):.3f} |")


if __name__ == "__main__":
    main()
