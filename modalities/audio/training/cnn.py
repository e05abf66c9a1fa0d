"""Recipe for ``audio.cnn``: real speech against copy-synthesis pseudo-fakes and real generators.

1. Data: every labelled audio file of the folders (``collect``), plus, for every real file of a
   folder without labels (e.g. the LibriSpeech part of ../shared/train-corpus), one pseudo-fake:
   round robin over the ``pseudo`` methods, copy synthesis of that file (Griffin-Lim, phase
   vocoder, LPC vocoder) or a text-to-speech engine speaking other words (eSpeak NG, Flite,
   Festival HTS and diphone voices; ``synthesis.tts_engines``); group ``pseudo:<method>``.
2. Channel: every file passes the detector's front end (16 kHz mono, one MP3 round trip); half of
   the files of *both* classes first pass an extra 32 kbit/s MP3 round trip, so compression is
   seen on both sides and cannot separate them.
3. Validation: grouped k-fold, folds split by generator / pseudo-fake method (fakes) and by
   speaker or source (reals). The card reports the held-out AUC/EER on everything and on the real
   generators alone (pseudo-fakes excluded), which is the number that matters.
4. The final network is trained on everything and saved as safetensors with descriptor,
   Platt calibration on the out-of-fold scores, and card.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from core import decoding, metrics
from core.sound import encode_mp3
from core.training import staged_output
from modalities.audio import cnn, cnn_net, frontend
from modalities.audio.training import pseudo as pseudo_fakes
from modalities.audio.training.data import grouped_cv, write_trained

MAX_SECONDS = 8.0


def _squeeze(wave: np.ndarray) -> np.ndarray:
    import io

    import av

    data = encode_mp3(wave, sample_rate=frontend.SAMPLE_RATE, bit_rate=32_000)
    out = []
    with av.open(io.BytesIO(data), "r", format="mp3") as container:
        resampler = decoding.resampler(format="fltp", layout="mono", rate=frontend.SAMPLE_RATE)
        for frame in container.decode(audio=0):
            for chunk in resampler.resample(frame):
                out.append(chunk.to_ndarray()[0])
    squeezed = np.concatenate(out) if out else np.zeros(0, np.float32)
    return np.asarray(squeezed[: len(wave)], dtype=np.float32)


def features(job: pseudo_fakes.Job) -> np.ndarray | None:
    wave = pseudo_fakes.wave(job, MAX_SECONDS)
    if pseudo_fakes.too_short(wave):
        return None
    if job.squeeze:
        wave = _squeeze(wave)
    return cnn_net.log_mel(frontend.normalize_channel(wave))


DEFAULT_METHODS = ("griffin_lim", "lpc_vocoder", "phase_vocoder")  # the shipped weights' recipe


def default_methods(vocoder_model: Path | None) -> list[str]:
    """The shipped recipe's methods, and ``neural_vocoder`` when a model is given."""
    return [*DEFAULT_METHODS, *([pseudo_fakes.NEURAL_VOCODER] if vocoder_model else [])]


def plan(
    folders: list[Path],
    seed: int,
    methods: list[str] | None = None,
    vocoder_model: Path | None = None,
) -> tuple[list[pseudo_fakes.Job], list[dict[str, str]]]:
    """Labelled files and pseudo-fakes (default: the shipped recipe's); half of each class
    squeezed."""
    chosen = default_methods(vocoder_model) if methods is None else methods
    return pseudo_fakes.plan(folders, seed, chosen, squeeze_share=0.5, vocoder_model=vocoder_model)


def fit(
    feats: list[np.ndarray],
    labels: np.ndarray,
    *,
    epochs: int,
    width: int,
    seed: int,
    crops_per_file: int = 2,
) -> Any:
    """Train one network from scratch on random 3 s crops, classes balanced by weighting."""
    import torch

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    network = cnn_net.build_network(width)
    optimiser = torch.optim.AdamW(network.parameters(), lr=2e-3, weight_decay=1e-3)  # type: ignore[attr-defined]
    pos_weight = torch.tensor(
        (labels == 0).sum() / max(1, (labels == 1).sum()), dtype=torch.float32
    )
    loss_fn = torch.nn.BCEWithLogitsLoss(pos_weight=pos_weight)
    order = np.repeat(np.arange(len(feats)), crops_per_file)
    for _ in range(epochs):
        network.train()  # type: ignore[attr-defined]
        rng.shuffle(order)
        for start in range(0, len(order), 32):
            idx = order[start : start + 32]
            batch = np.stack([_random_crop(feats[i], rng) for i in idx])
            x = torch.from_numpy(batch)
            x = x + 0.05 * torch.randn_like(x)
            y = torch.from_numpy(labels[idx].astype(np.float32))
            optimiser.zero_grad()
            loss = loss_fn(network(x), y)  # type: ignore[operator]
            loss.backward()
            optimiser.step()
    network.eval()  # type: ignore[attr-defined]
    return network


def _random_crop(f: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    if f.shape[1] <= cnn_net.CROP:
        return np.asarray(np.pad(f, ((0, 0), (0, cnn_net.CROP - f.shape[1])), mode="wrap"))
    start = int(rng.integers(0, f.shape[1] - cnn_net.CROP + 1))
    return f[:, start : start + cnn_net.CROP]


def score(network: Any, f: np.ndarray) -> float:
    windows, _ = cnn_net.crops(f)
    return float(np.mean(cnn.window_logits(network, windows)))


def train(
    folders: list[Path],
    out: Path,
    *,
    folds: int = 4,
    epochs: int = 8,
    width: int = 16,
    seed: int = 0,
    jobs: int = 2,
    pseudo: list[str] | None = None,
    vocoder_model: Path | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> dict[str, Any]:
    """Train, validate with held-out generators, calibrate, and write everything to ``out``."""
    import torch
    from safetensors.torch import save_file

    torch.set_num_threads(max(1, jobs))
    work, provenance = plan(folders, seed, pseudo, vocoder_model)
    cv = grouped_cv(
        [j.item for j in work],
        features,
        lambda feats, labels, fold_seed: fit(
            feats, labels, epochs=epochs, width=width, seed=fold_seed
        ),
        score,
        inputs=work,
        folds=folds,
        seed=seed,
        jobs=jobs,
        progress=progress,
        step="features and pseudo-fakes",
    )
    network = cv.model
    with staged_output(out, cnn.NAME) as folder:
        weights_path = folder / cnn.WEIGHTS_FILE
        tmp = weights_path.with_suffix(".part")
        state = {k: v.contiguous() for k, v in network.state_dict().items()}
        save_file(state, str(tmp), metadata={"config": json.dumps({"width": width})})
        tmp.replace(weights_path)
        recipe = {
            "folds": folds,
            "epochs": epochs,
            "width": width,
            "seed": seed,
            "max_seconds": MAX_SECONDS,
            "features": f"{cnn_net.N_MELS}-band log-mel, 25/10 ms, per-band CMVN, 3 s crops",
            **pseudo_fakes.recipe_note(
                sorted({j.method for j in work if j.method is not None}), vocoder_model
            ),
            "augmentation": "half of each class: extra 32 kbit/s MP3 round trip; "
            "Gaussian noise 0.05",
            "channel": "16 kHz mono, one MP3 round trip at 64 kbit/s",
        }
        if cv.skipped:  # files too short to hold usable speech
            recipe["skipped_files"] = cv.skipped
        extra = {}
        labels, oof = cv.labels, cv.oof
        real_gen = np.array([not i.group.startswith("pseudo:") for i in cv.items])
        if metrics.has_both_classes(labels[real_gen]):
            extra["real_generators"] = {
                "n_fake": int((labels[real_gen] == 1).sum()),
                "auc": metrics.auc(oof[real_gen], labels[real_gen]),
                "eer": metrics.eer(oof[real_gen], labels[real_gen])[0],
            }
        return write_trained(
            folder,
            cv,
            spec=cnn.SPEC,
            weights=weights_path,
            recipe=recipe,
            provenance=provenance,
            data_note="audio rows; pseudo-fakes made from the unlabelled real folders",
            files_note=", pseudo-fakes included",
            extra=extra,
        )
