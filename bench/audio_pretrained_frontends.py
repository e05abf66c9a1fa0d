"""Pre-trained speech networks as front ends for synthetic-speech detection, and the check that
decided against shipping them: fakes against real speech from corpora the head never saw.

Two networks whose weights are at hand without a download: the silero VAD shipped in
``modalities/audio/weights/silero_vad-6.2.3`` (MIT) and the GE2E speaker encoder inside the
Resemblyzer 0.1.4 wheel (``pretrained.pt``, Apache-2.0; pass its path). For each, the mean and
standard deviation of the network's top LSTM states over the speech frames feed a standardised L2
logistic head (C 0.01), as a detector would. Two validations, both out-of-fold, 5 folds:

- ``speaker``: the recipes' protocol (groups = generator for fakes, speaker or source for reals);
- ``corpus``: every real corpus other than LibriSpeech held out whole, so the AUC of the fakes
  against those reals says whether the head learnt "synthetic" or "not LibriSpeech".

The shipped LFCC-GMM and trace recipes are measured the same way for reference.

    .venv/bin/python bench/audio_pretrained_frontends.py --resemblyzer /path/to/pretrained.pt
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import numpy as np

from core import metrics
from core.sound import decode_audio
from modalities.audio import frontend, vad
from modalities.audio.training import lfcc_gmm, pseudo, synthesis_traces
from modalities.audio.training.data import LabeledAudio, collect, grouped_cv

SHARED = Path(__file__).resolve().parents[2] / "shared"
FOLDERS = [SHARED / "fake-corpus", SHARED / "train-corpus"]
MAX_SECONDS = 20.0
_GE2E: dict[str, object] = {}


def _ge2e(path: str):  # type: ignore[no-untyped-def]
    import torch

    if path not in _GE2E:
        state = torch.load(path, map_location="cpu", weights_only=True)["model_state"]
        lstm = torch.nn.LSTM(40, 256, 3, batch_first=True)
        lstm.load_state_dict({k[5:]: v for k, v in state.items() if k.startswith("lstm.")})
        _GE2E[path] = lstm.eval()
    return _GE2E[path]


def ge2e_states(job: tuple[LabeledAudio, str]) -> np.ndarray | None:
    """GE2E top-layer states of the speech frames (energy VAD), 1.6 s partials, mean and std."""
    import librosa
    import torch

    torch.set_num_threads(1)
    item, path = job
    wave = frontend.normalize_channel(decode_audio(item.path, max_s=MAX_SECONDS)[0])
    mask = frontend.speech_mask(wave)
    rms = float(np.sqrt(np.mean(wave.astype(np.float64) ** 2))) + 1e-12
    gain = max(1.0, 10 ** ((-30 - 20 * np.log10(rms)) / 20))  # -30 dBFS, increase only
    mel = librosa.feature.melspectrogram(
        y=wave * np.float32(gain), sr=16_000, n_fft=400, hop_length=160, n_mels=40
    ).T.astype(np.float32)
    n = min(len(mel), len(mask))
    frames = mel[:n][mask[:n]]
    if len(frames) < 50:
        return None
    parts = int(np.ceil(len(frames) / 160))
    padded = np.zeros((parts * 160, 40), np.float32)
    padded[: len(frames)] = frames
    with torch.inference_mode():
        out, _ = _ge2e(path)(torch.from_numpy(padded.reshape(parts, 160, 40)))
    states = out.reshape(-1, 256).numpy()[: len(frames)]
    return np.concatenate([states.mean(0), states.std(0)])


def silero_states(item: LabeledAudio) -> np.ndarray | None:
    """Silero VAD LSTM outputs of the 32 ms chunks it calls speech, mean and std."""
    import torch

    torch.set_num_threads(1)
    wave = frontend.normalize_channel(decode_audio(item.path, max_s=MAX_SECONDS)[0])
    network = vad.load_network()
    n = len(wave) // vad.CHUNK
    if n < 16:
        return None
    body = wave[: n * vad.CHUNK].reshape(n, vad.CHUNK)
    previous = np.concatenate([np.zeros((1, vad.CONTEXT), np.float32), body[:-1, -vad.CONTEXT :]])
    batch = torch.from_numpy(np.ascontiguousarray(np.concatenate([previous, body], axis=1)))
    with torch.inference_mode():
        hidden, _ = network.lstm(network.encode(batch).unsqueeze(1), None)
        hidden = hidden.squeeze(1)
        probs = torch.sigmoid(network.final_conv(torch.relu(hidden).unsqueeze(-1))).squeeze()
    keep = probs.numpy() >= vad.THRESHOLD
    if keep.sum() < 16:
        return None
    states = hidden.numpy()[keep]
    return np.concatenate([states.mean(0), states.std(0)])


def logistic_fit(rows: list[np.ndarray], labels: np.ndarray, seed: int):  # type: ignore[no-untyped-def]
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = LogisticRegression(C=0.01, class_weight="balanced", max_iter=5000, random_state=seed)
    return make_pipeline(StandardScaler(), model).fit(np.stack(rows), labels)


def corpus(item: LabeledAudio) -> str:
    if item.label == 1:
        return "generator"
    if item.folder == "train-corpus":
        return "librispeech"
    return item.group.split(" ")[0].split("_")[0]


def regrouped(item: LabeledAudio) -> LabeledAudio:
    """Whole real corpora as groups, except LibriSpeech (by speaker: the head needs some of it)."""
    kind = corpus(item)
    return item if kind in ("generator", "librispeech") else dataclasses.replace(item, group=kind)


def row(name: str, protocol: str, cv) -> str:  # type: ignore[no-untyped-def]
    kinds = np.array([corpus(i) for i in cv.items])
    y, oof = cv.labels, cv.oof
    fake, libri = y == 1, kinds == "librispeech"
    other = (y == 0) & ~libri
    return (
        f"| {name} | {protocol} | {(y == 0).sum()} / {fake.sum()} | {metrics.auc(oof, y):.3f} | "
        f"{metrics.eer(oof, y)[0]:.3f} | {metrics.auc(oof[fake | libri], y[fake | libri]):.3f} | "
        f"{metrics.auc(oof[fake | other], y[fake | other]):.3f} ({other.sum()}) |"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--resemblyzer", type=Path, help="Resemblyzer 0.1.4 pretrained.pt")
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    items, _ = collect(FOLDERS)
    print(
        "| front end | validation | real / fake | AUC | EER | vs LibriSpeech reals | "
        "vs other-corpus reals (n) |"
    )
    print("|---|---|---|---|---|---|---|")
    for protocol, data in (("speaker", items), ("corpus", [regrouped(i) for i in items])):
        score = lambda model, r: float(model.decision_function(r[None])[0])  # noqa: E731
        runs = [("silero VAD states", silero_states, None)]
        if args.resemblyzer:
            runs.append(("GE2E encoder states", ge2e_states, str(args.resemblyzer)))
        for name, extract, extra in runs:
            inputs = None if extra is None else [(i, extra) for i in data]
            cv = grouped_cv(data, extract, logistic_fit, score, inputs=inputs, folds=5, seed=0,
                            jobs=args.jobs)  # fmt: skip
            print(row(name, protocol, cv), flush=True)
        if protocol == "corpus":  # the shipped recipes on the same folds, for reference
            cv = grouped_cv(
                data,
                synthesis_traces.extract,
                lambda r, y, s: synthesis_traces.fit_head(np.stack(r), y, 0),
                lambda head, r: head.score(r),
                folds=5,
                seed=0,
                jobs=args.jobs,
            )
            print(row("audio.artifacts recipe", protocol, cv), flush=True)
            work, _ = pseudo.plan(FOLDERS, 0, [])
            work = [dataclasses.replace(j, item=regrouped(j.item)) for j in work]
            cv = grouped_cv([j.item for j in work], lfcc_gmm.extract,
                            lambda f, y, s: lfcc_gmm._fit_pair(f, y, 64, s), lfcc_gmm._score,
                            inputs=work, folds=5, seed=0, jobs=args.jobs)  # fmt: skip
            print(row("audio.lfcc_gmm recipe", protocol, cv), flush=True)


if __name__ == "__main__":
    main()
