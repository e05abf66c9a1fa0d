"""Recipe for ``lipsync.syncnet``: self-supervised on real talking heads, no labels needed.

1. Data: every video row of the folders' manifests that is not labelled fake (e.g. video/grid and
   video/visualvoice of ../shared/train-corpus). Each clip: faces tracked on the 25 fps grid, mouth
   crops, log-mel and voiced frames (``syncnet_net``). With several faces, only the frames where a
   track's mouth opening follows the voice best (zero-lag correlation in 2 s windows, as
   ``lipsync.av_offset``) count as that track speaking, so a listener's mouth is not taught as
   "in sync".
2. Pairs: a 0.2 s mouth stack with its own 0.2 s of audio (in sync, label 1) or, as often, with
   audio shifted by 5–15 frames (half the negatives) or from another clip (the other half);
   80% of stacks are taken where there is speech. BCE on ``scale · (margin − distance)``.
3. Held-out validation: whole clips (identity groups: a GRID speaker, the interview) are held out;
   on them, (a) in-sync vs shifted pair AUC on the embedding distance, (b) the SyncNet offset
   search on each held-out clip with its audio shifted by −10…+10 frames: share found within
   ±1 frame, for the clip and for each 2 s window, (c) clip-level AUC of the detector's raw score,
   own audio against shifted or foreign audio. Windows' minimum confidence is the 95th percentile
   of window confidences with foreign audio (no true alignment anywhere).
4. The shipped network is then trained on all clips with the same recipe; safetensors with the
   config (width, min confidence) in its metadata, descriptor, card.

``extra_fakes`` (folders of lab lip-sync fakes with a manifest, e.g. ``verity lab make-fakes
--methods mouthwarp``) adds a fourth kind of pair: a fake's mouth with the very audio it was made
to speak, labelled "not together", so the network may learn what a re-made mouth looks like
beside the sound and not only where in time the sound is. Fakes made from a held-out clip are
held out with it. Without them the recipe draws exactly as before.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from core import metrics
from core.errors import BadInputError
from core.media import iter_frames
from core.pools import spawn_pool
from core.sound import decode_audio
from core.training import (
    data_file,
    read_folder,
    staged_output,
    write_card,
    write_descriptor,
)
from modalities.lipsync import signals, syncnet
from modalities.lipsync import syncnet_net as net

MAX_SECONDS = 20.0
SHIFT_RANGE = (5, 15)
EVAL_SHIFTS = (-10, -5, -3, 0, 3, 5, 10)


@dataclass(frozen=True)
class ClipRef:
    path: Path
    group: str


def collect(folders: list[Path]) -> tuple[list[ClipRef], list[dict[str, str]]]:
    clips, provenance = [], []
    for folder in folders:
        rows, prov = read_folder(folder)
        provenance.append(prov)
        for row in rows:
            if row.get("kind") != "video" or row.get("label", "real") == "fake":
                continue
            path = data_file(folder, row["file"])
            identity = row.get("identity") or ""
            group = identity if identity and "unknown" not in identity else row["file"]
            clips.append(ClipRef(path, group))
    if len(clips) < 2:
        raise BadInputError("lipsync.syncnet needs at least two real talking-head videos")
    return clips, provenance


def collect_fakes(folders: list[Path]) -> tuple[list[ClipRef], list[dict[str, str]]]:
    """Fake video rows of lab folders; each ref's group is the real clip it was made from
    (``source_file``), so that it is held out with that clip."""
    fakes, provenance = [], []
    for folder in folders:
        rows, prov = read_folder(folder)
        provenance.append(prov)
        for row in rows:
            if row.get("kind") != "video" or row.get("label") != "fake":
                continue
            path = data_file(folder, row["file"])
            fakes.append(ClipRef(path, row.get("source_file") or row["file"]))
    if not fakes:
        raise BadInputError("--extra-fakes: no fake video rows in " + ", ".join(map(str, folders)))
    return fakes, provenance


def extract(ref: ClipRef) -> net.ClipFeatures:
    """One clip's features, with non-speaking frames of multi-face clips marked unseen."""
    wave = decode_audio(
        ref.path, sample_rate=signals.SAMPLE_RATE, max_s=MAX_SECONDS, on_video_clock=True
    )[0]
    duration = len(wave) / signals.SAMPLE_RATE
    frames = iter_frames(ref.path, fps=net.FPS, max_side=syncnet.FRAME_MAX_SIDE, end_s=MAX_SECONDS)
    clip = net.clip_features(ref.path.name, frames, wave, duration)
    if len(clip.tracks) > 1:
        _keep_speaking_frames(clip, wave)
    return clip


def _keep_speaking_frames(clip: net.ClipFeatures, wave: np.ndarray) -> None:
    grid = np.arange(clip.frames) / net.FPS
    speech = signals.speech_track(wave, grid, net.FPS)
    mid, tol = signals.MAX_OFFSET, signals.TOLERANCE
    best = np.full(clip.frames, -np.inf)
    owner = np.full(clip.frames, -1)
    for k, track in enumerate(clip.tracks):
        analysis = signals.analyse_sync(track.opening, speech, net.FPS)
        for w in analysis.windows if analysis else ():
            near = w.curve[mid - tol : mid + tol + 1]
            score = -np.inf if np.isnan(near).all() else float(np.nanmax(near))
            span = slice(w.start, w.end)
            better = score > best[span]
            best[span] = np.where(better, score, best[span])
            owner[span] = np.where(better, k, owner[span])
    for k, track in enumerate(clip.tracks):
        track.seen &= owner == k


Item = tuple[int, int, np.ndarray, np.ndarray]  # clip, track, valid starts, speech starts


class PairSampler:
    """Random (mouth stack, audio) pairs with labels, from extracted clips."""

    def __init__(
        self,
        clips: list[net.ClipFeatures],
        rng: np.random.Generator,
        fakes: list[net.ClipFeatures] | None = None,
    ) -> None:
        self.clips, self.rng, self.fakes = clips, rng, fakes or []
        self.items = self._items(clips)
        if not self.items or len(clips) < 2:
            raise BadInputError("no face with a visible mouth in at least two clips")
        self.weights = self._weights(self.items)
        self.fake_items = self._items(self.fakes)
        self.fake_weights = self._weights(self.fake_items) if self.fake_items else None

    @staticmethod
    def _items(clips: list[net.ClipFeatures]) -> list[Item]:
        items: list[Item] = []
        for c, clip in enumerate(clips):
            positions = clip.frames - net.STACK + 1
            for k, track in enumerate(clip.tracks):
                starts = np.flatnonzero(track.stack_ok()[:positions])
                if len(starts):
                    speech = starts[clip.voiced[starts + net.STACK // 2]]
                    items.append((c, k, starts, speech if len(speech) else starts))
        return items

    @staticmethod
    def _weights(items: list[Item]) -> np.ndarray:
        sizes = np.array([len(i[2]) for i in items], np.float64)
        return np.asarray(sizes / sizes.sum())

    def _start(self, item: Item) -> int:
        pool = item[3] if self.rng.random() < 0.8 else item[2]
        return int(pool[self.rng.integers(len(pool))])

    def pair(self) -> tuple[np.ndarray, np.ndarray, float]:
        item = self.items[self.rng.choice(len(self.items), p=self.weights)]
        clip = self.clips[item[0]]
        t = self._start(item)
        visual = net.visual_input(clip.tracks[item[1]].crops, t)
        positions = clip.frames - net.STACK + 1
        kind = self.rng.random()
        if kind < 0.5:
            return visual, net.audio_input(clip.mel, t), 1.0
        if self.fake_weights is not None:  # negatives: a third each shifted, foreign, lab fake
            if kind >= 5 / 6:
                return self._fake_pair()
            kind = 0.5 + (kind - 0.5) * 1.5  # the rest split as without fakes
        if kind < 0.75:
            for _ in range(10):
                shift = int(self.rng.integers(SHIFT_RANGE[0], SHIFT_RANGE[1] + 1))
                u = t + shift * (1 if self.rng.random() < 0.5 else -1)
                if 0 <= u < positions:
                    return visual, net.audio_input(clip.mel, u), 0.0
        others = [i for i in self.items if i[0] != item[0]]
        other = others[self.rng.integers(len(others))]
        return visual, net.audio_input(self.clips[other[0]].mel, self._start(other)), 0.0

    def _fake_pair(self) -> tuple[np.ndarray, np.ndarray, float]:
        """A lab fake's mouth with the audio it was made to speak: not together."""
        item = self.fake_items[self.rng.choice(len(self.fake_items), p=self.fake_weights)]
        clip = self.fakes[item[0]]
        t = self._start(item)
        visual = net.visual_input(clip.tracks[item[1]].crops, t)
        return visual, net.audio_input(clip.mel, t), 0.0

    def batch(self, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        pairs = [self.pair() for _ in range(size)]
        v = np.stack([p[0] for p in pairs])
        flip = self.rng.random(size) < 0.5
        v[flip] = v[flip][:, :, :, ::-1]
        v = v + 0.1 * self.rng.standard_normal(v.shape).astype(np.float32)
        a = np.stack([p[1] for p in pairs])
        a = a + 0.1 * self.rng.standard_normal(a.shape).astype(np.float32)
        return v.astype(np.float32), a.astype(np.float32), np.array([p[2] for p in pairs])


def fit(
    clips: list[net.ClipFeatures],
    *,
    steps: int,
    batch: int,
    width: int,
    seed: int,
    report: Callable[[int, int], None] | None = None,
    fakes: list[net.ClipFeatures] | None = None,
) -> Any:
    import torch

    torch.manual_seed(seed)
    sampler = PairSampler(clips, np.random.default_rng(seed), fakes)
    network = net.build_network(width)
    optimiser = torch.optim.AdamW(network.parameters(), lr=1e-3, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=2e-3, total_steps=steps)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    network.train()
    with torch.enable_grad():  # a loaded detector may have switched gradients off process-wide
        for step in range(steps):
            v, a, y = sampler.batch(batch)
            optimiser.zero_grad()
            loss = loss_fn(
                network(torch.from_numpy(v), torch.from_numpy(a)), torch.from_numpy(y).float()
            )
            loss.backward()
            optimiser.step()
            schedule.step()
            if report and (step % 10 == 0 or step == steps - 1):
                report(step + 1, steps)
    network.eval()
    return network


@dataclass
class Embedded:
    visual: np.ndarray  # the speaker track's visual embeddings (T', EMBED), NaN rows unseen
    audio: np.ndarray  # (T', EMBED)
    voiced: np.ndarray  # (T,)


def embed(network: Any, clips: list[net.ClipFeatures]) -> list[Embedded]:
    """Each clip's embeddings; the speaker track is the one with the most speech stacks seen."""
    out = []
    for clip in clips:
        visual, audio = net.embed_clip(network, clip)
        if not visual:
            continue
        centre = clip.voiced[net.STACK // 2 : net.STACK // 2 + len(audio)]
        seen = [int((~np.isnan(v[:, 0]) & centre).sum()) for v in visual]
        out.append(Embedded(visual[int(np.argmax(seen))], audio, clip.voiced))
    return out


def _shifted(e: Embedded, shift: int) -> tuple[np.ndarray, np.ndarray]:
    """Audio embeddings and voicing as if the soundtrack were delayed by ``shift`` frames."""
    audio = np.full_like(e.audio, np.nan)
    voiced = np.zeros_like(e.voiced)
    n, m = len(audio), len(voiced)
    if shift >= 0:
        audio[shift:], voiced[shift:] = e.audio[: n - shift], e.voiced[: m - shift]
    else:
        audio[:shift], voiced[:shift] = e.audio[-shift:], e.voiced[-shift:]
    return audio, voiced


def window_threshold(items: list[Embedded]) -> float:
    """95th percentile of window confidences when the audio comes from another clip."""
    values = []
    for i, e in enumerate(items):
        for j, other in enumerate(items):
            if i != j:
                n = min(len(e.audio), len(other.audio))
                voiced = e.voiced.copy()
                analysis = syncnet.analyse(e.visual[:n], other.audio[:n], voiced, np.inf)
                values += [w.confidence for w in analysis.speech_windows] if analysis else []
    return float(np.percentile(values, 95)) if values else signals.MIN_CONFIDENCE


def validate(items: list[Embedded], min_confidence: float, seed: int) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    pair_scores, pair_labels = [], []
    for e in items:
        ok = np.flatnonzero(~np.isnan(e.visual[:, 0]) & e.voiced[2 : 2 + len(e.visual)])
        for t in ok:
            shift = int(rng.integers(SHIFT_RANGE[0], SHIFT_RANGE[1] + 1)) * rng.choice([-1, 1])
            for u, label in ((t, 0), (t + shift, 1)):
                if 0 <= u < len(e.audio):
                    pair_scores.append(float(np.linalg.norm(e.visual[t] - e.audio[u])))
                    pair_labels.append(label)
    found, windows_found, windows = 0, 0, 0
    clip_scores, clip_labels, trials = [], [], 0
    for i, e in enumerate(items):
        for shift in EVAL_SHIFTS:
            audio, voiced = _shifted(e, shift)
            analysis = syncnet.analyse(e.visual, audio, voiced, min_confidence)
            if analysis is None:
                continue
            trials += 1
            found += abs(analysis.offset - shift) <= 1
            for w in analysis.speech_windows:
                windows += 1
                windows_found += abs(w.offset - shift) <= 1
            null = syncnet.null_test(analysis, e.visual, audio, voiced, min_confidence)
            clip_scores.append(syncnet.clip_score(analysis, min_confidence, null)[0])
            clip_labels.append(int(abs(shift) > signals.TOLERANCE))
        other = items[(i + 1) % len(items)]
        n = min(len(e.audio), len(other.audio))
        foreign = syncnet.analyse(e.visual[:n], other.audio[:n], e.voiced, min_confidence)
        if foreign is not None and other is not e:
            visual, audio = e.visual[:n], other.audio[:n]
            null = syncnet.null_test(foreign, visual, audio, e.voiced, min_confidence)
            clip_scores.append(syncnet.clip_score(foreign, min_confidence, null)[0])
            clip_labels.append(1)
    labels, scores = np.array(pair_labels), np.array(pair_scores)
    clip_y, clip_s = np.array(clip_labels), np.array(clip_scores)
    out: dict[str, Any] = {
        "held_out_clips": len(items),
        "pairs": len(labels),
        "pair_auc_in_sync_vs_shifted": metrics.auc(scores, labels)
        if metrics.has_both_classes(labels)
        else None,
        "offset_trials": trials,
        "offset_within_1_frame": found / trials if trials else None,
        "window_offset_within_1_frame": windows_found / windows if windows else None,
        "shifts_frames": list(EVAL_SHIFTS),
        "min_confidence": min_confidence,
        "n_real": int((clip_y == 0).sum()),
        "n_fake": int((clip_y == 1).sum()),
    }
    if metrics.has_both_classes(clip_y):
        out["auc"] = metrics.auc(clip_s, clip_y)
        out["eer"] = metrics.eer(clip_s, clip_y)[0]
    else:
        out["auc"] = out["eer"] = float("nan")
    return out


def _relative(path: Path, folders: list[Path]) -> str:
    """``path`` relative to the data folder holding it, as a lab manifest's ``source_file``."""
    for folder in folders:
        if path.is_relative_to(folder):
            return path.relative_to(folder).as_posix()
    return path.name


def split(clips: list[ClipRef], seed: int) -> tuple[list[int], list[int]]:
    """About a quarter of the identity groups held out (at least one, never all)."""
    groups = sorted({c.group for c in clips})
    key = sorted(groups, key=lambda g: hashlib.sha256(f"{seed}:{g}".encode()).hexdigest())
    held = set(key[: max(1, min(len(groups) - 1, round(len(groups) / 4)))])
    train = [i for i, c in enumerate(clips) if c.group not in held]
    test = [i for i, c in enumerate(clips) if c.group in held]
    return train, test


def train(
    folders: list[Path],
    out: Path,
    *,
    steps: int = 1000,
    batch: int = 48,
    width: int = 16,
    seed: int = 0,
    jobs: int = 2,
    progress: Callable[[str, int, int], None] | None = None,
    extra_fakes: list[Path] | None = None,
) -> dict[str, Any]:
    """Extract, validate on held-out clips, fit on everything, write weights, descriptor, card."""
    import torch
    from safetensors.torch import save_file

    torch.set_num_threads(1)
    report = progress or (lambda step, done, total: None)
    refs, provenance = collect(folders)
    fake_refs, fake_provenance = collect_fakes(extra_fakes) if extra_fakes else ([], [])
    clips: list[net.ClipFeatures] = []
    everything = refs + fake_refs
    with spawn_pool(jobs) as pool:
        extracted = pool.map(extract, everything) if jobs > 1 else map(extract, everything)
        for i, clip in enumerate(extracted):
            clips.append(clip)
            report("faces and mouth crops", i + 1, len(everything))
    clips, fakes = clips[: len(refs)], clips[len(refs) :]
    train_idx, test_idx = split(refs, seed)
    held = [clips[i] for i in test_idx]
    held_files = {_relative(refs[i].path, folders) for i in test_idx}
    train_fakes = [f for f, r in zip(fakes, fake_refs, strict=True) if r.group not in held_files]

    def stage(name: str) -> Callable[[int, int], None]:
        return lambda done, total: report(name, done, total)

    network = fit([clips[i] for i in train_idx], steps=steps, batch=batch, width=width,
                  seed=seed, report=stage("held-out fit"), fakes=train_fakes)  # fmt: skip
    held_items = embed(network, held)
    validation = validate(held_items, window_threshold(held_items), seed)
    validation["held_out"] = sorted({refs[i].group for i in test_idx})
    validation["trained_on_clips"] = len(train_idx)
    network = fit(clips, steps=steps, batch=batch, width=width, seed=seed,
                  report=stage("final fit"), fakes=fakes)  # fmt: skip
    if fake_refs:
        validation["extra_fakes"] = {
            "clips": len(fakes), "held_out_with_their_source": len(fakes) - len(train_fakes),
            "folders": fake_provenance,
        }  # fmt: skip
    min_confidence = window_threshold(embed(network, clips))
    with staged_output(out, syncnet.NAME) as folder:
        weights_path = folder / syncnet.WEIGHTS_FILE
        tmp = weights_path.with_suffix(".part")
        config = {"width": width, "min_confidence": min_confidence}
        state = {k: v.contiguous() for k, v in network.state_dict().items()}
        save_file(state, str(tmp), metadata={"config": json.dumps(config)})
        tmp.replace(weights_path)
        recipe = {
            "steps": steps,
            "batch": batch,
            "width": width,
            "seed": seed,
            "max_seconds": MAX_SECONDS,
            "inputs": f"{net.STACK} grey {net.MOUTH_H}x{net.MOUTH_W} mouth crops on a 25 fps grid; "
            f"{net.MEL_STACK} frames of 64-band log-mel (0.2 s)",
            "pairs": "1/2 in sync, 1/4 audio shifted 5-15 frames, 1/4 audio from another clip; "
            "80% of stacks where there is speech",
            "loss": "BCE on scale*(margin - distance of unit embeddings)",
            "augmentation": "horizontal flip, Gaussian noise 0.1 on both inputs",
            "min_confidence": "95th percentile of window confidences with foreign audio "
            "(all clips)",
        }
        descriptor = write_descriptor(
            folder, detector=syncnet.NAME, version=syncnet.VERSION, weights=weights_path,
            recipe=recipe, provenance=provenance,
        )  # fmt: skip
        write_card(
            folder,
            descriptor,
            f"{len(refs)} real talking-head video rows ({len(clips)} extracted)",
            validation=validation,
        )
        return validation
