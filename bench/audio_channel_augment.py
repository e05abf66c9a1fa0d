"""Does training on many simulated recording channels make the LFCC-GMM hold for real speech from
corpora it never saw?

Arms: the shipped recipe (each file once) and the recipe with ``--copies K`` channel-augmented
copies of every training file, real and fake alike (bench/audio_channels.py: room,
microphone colour, telephone / low-pass band, noise, level; 1–3 drawn per copy). Held-out files
are scored as they are and, as a second test, each through one random channel of its own (seeds
no training copy uses). Validation as in bench/audio_pretrained_frontends.py: ``speaker`` (fakes
by generator, reals by speaker or source) and ``corpus`` (every real corpus but LibriSpeech held
out whole), 5 folds. The number that matters is the last column: fakes against real speech of
corpora the model never saw. Prints Markdown rows.

    .venv/bin/python bench/audio_channel_augment.py --copies 2
"""

from __future__ import annotations

import argparse
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

import audio_channels as channels  # bench/, beside this script
import numpy as np
from audio_pretrained_frontends import FOLDERS, corpus, regrouped

from core import metrics
from modalities.audio import lfcc_gmm as detector
from modalities.audio.training import lfcc_gmm, pseudo

TEST_SEED = 1_000_003  # channel seeds of the shifted test copies; training copies use k·N + i


def features(task: tuple[pseudo.Job, int | None]) -> np.ndarray:
    job, seed = task
    wave = pseudo.wave(job, lfcc_gmm.MAX_SECONDS)
    if seed is not None:
        wave, _ = channels.random_channel(wave, seed)
    feats, mask = detector.file_features(wave)
    speech = feats[mask] if mask.sum() >= 20 else feats
    if len(speech) > lfcc_gmm.MAX_FRAMES:
        speech = speech[np.linspace(0, len(speech) - 1, lfcc_gmm.MAX_FRAMES).astype(int)]
    return speech.astype(np.float32)


def main() -> None:
    from sklearn.model_selection import GroupKFold

    parser = argparse.ArgumentParser()
    parser.add_argument("--copies", type=int, default=2)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    work, _ = pseudo.plan(FOLDERS, 0, [])
    n = len(work)
    tasks: list[tuple[pseudo.Job, int | None]] = [(j, None) for j in work]
    for k in range(args.copies):
        tasks += [(j, (k + 1) * n + i) for i, j in enumerate(work)]
    tasks += [(j, TEST_SEED + i) for i, j in enumerate(work)]
    with ProcessPoolExecutor(args.jobs, mp_context=get_context("spawn")) as pool:
        feats = list(pool.map(features, tasks, chunksize=4))
    plain, shifted = feats[:n], feats[-n:]
    copies = [feats[(k + 1) * n : (k + 2) * n] for k in range(args.copies)]
    items = [j.item for j in work]
    y = np.array([i.label for i in items])
    kinds = np.array([corpus(i) for i in items])
    fake, libri = y == 1, kinds == "librispeech"
    other = (y == 0) & ~libri
    print(
        "| training | validation | test channel | AUC | EER | vs LibriSpeech reals | "
        f"vs other-corpus reals ({other.sum()}) |"
    )
    print("|---|---|---|---|---|---|---|")
    for protocol in ("speaker", "corpus"):
        data = items if protocol == "speaker" else [regrouped(i) for i in items]
        groups = np.array([i.group for i in data])
        for arm in ("as recorded", f"+ {args.copies} channel copies"):
            oof = {"as recorded": np.zeros(n), "one random channel": np.zeros(n)}
            for k, (train, test) in enumerate(GroupKFold(5).split(plain, y, groups)):
                train_feats = [plain[i] for i in train]
                train_y = list(y[train])
                if arm != "as recorded":
                    for copy in copies:
                        train_feats += [copy[i] for i in train]
                        train_y += list(y[train])
                pair = lfcc_gmm._fit_pair(train_feats, np.array(train_y), 64, k)
                for i in test:
                    oof["as recorded"][i] = lfcc_gmm._score(pair, plain[i])
                    oof["one random channel"][i] = lfcc_gmm._score(pair, shifted[i])
            for condition, scores in oof.items():
                print(
                    f"| {arm} | {protocol} | {condition} | {metrics.auc(scores, y):.3f} | "
                    f"{metrics.eer(scores, y)[0]:.3f} | "
                    f"{metrics.auc(scores[fake | libri], y[fake | libri]):.3f} | "
                    f"{metrics.auc(scores[fake | other], y[fake | other]):.3f} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
