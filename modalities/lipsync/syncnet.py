"""``lipsync.syncnet``: a learnt audio-visual embedding tells whether the mouth goes with the voice.

Trained self-supervised on real talking heads (``verity train lipsync.syncnet``): a 0.2 s stack of
mouth crops and the log-mel of the same 0.2 s are pulled together, the same mouth with audio
shifted by 5–15 frames or taken from another clip pushed apart. At analysis, the SyncNet protocol
(Chung & Zisserman 2016): for every offset in ±15 frames (40 ms steps, on a 25 fps grid whatever
the file's frame rate) the mean embedding distance over 2-second windows; offset = argmin, and
confidence = median − minimum distance. Windows vote in sync / out of sync / undecided; with
several faces the speaker is the track whose mouth matches the voice with the highest confidence.

The clip's score (1.2.0) does not rest on those votes: a window is decided only when its confidence
reaches a threshold learnt on the training clips, and on footage unlike GRID most windows fell short
of it, so real and re-mouthed clips alike scored 0.5 (undecided). Instead the speaker's in-sync
prominence (distance at offsets within ±2 frames against the median over ±15) is compared with the
same mouths paired with the clip's own soundtrack rolled by ¼ to ¾ of its length
(``signals.sync_null_test``): same face, camera, voice and codec, certainly out of sync. Measured
on lab re-mouthed and dubbed clips of footage it never saw (bench/lipsync_sync_null.py,
docs/benchmarks.md), that lifted its AUC from 0.70 to 0.96 / 1.00 (re-mouthed / dubbed, 5 real
and 5 fake clips), 0.88 / 0.97 with four soundtracks per source (5 real, 20 fake).

A video longer than 30 s is read in passages spread over it (``tracking.passage_spans``), each
with its own speaker and its own rolled-soundtrack null; the worst passage gives the score.

What it catches: dubbed, spliced or shifted soundtracks and mouths that do not follow the words.
What it does not: lip-sync generators are themselves trained against a SyncNet, so a good sync
score is weak evidence of authenticity; the score is an expert prior (uncalibrated LLR, like
``lipsync.av_offset``) that fusion down-weights.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from core.detector import DetectorSpec, Evidence, Finding, MediaInput, Modality, out_of_domain
from core.errors import DetectorError
from core.media import MediaKind
from core.weights import verified_weights, weights_ref
from modalities.lipsync import evidence, signals, tracking
from modalities.lipsync import syncnet_net as net
from modalities.visual import faces

NAME = "lipsync.syncnet"
VERSION = "1.5.3"  # 1.1.0: one shared face pass at every frame rate; 1.2.0: score against the
# clip's own rolled soundtrack; 1.3.0: a video longer than 30 s is read in passages spread over
# it, the worst decides; 1.4.0: up to a minute read whole in consecutive passages, six passages
# beyond (was 3 to 6); 1.5.0: faces of 80 px or more detected without up-sampling (tracking in
# 0.55-0.63 of the time), so up to two minutes read whole, twelve passages beyond; 1.5.1: log-mel
# features, mouth stacks and network in double precision, the same on every CPU (1.5.0 moved by
# up to 5.7e-8 with NumPy's, OpenBLAS's, PyTorch's and oneDNN's kernels); 1.5.2: a mouth that
# does not move while speech is heard (a still picture, a listener) is not analysed
# (signals.MIN_MOUTH_MOTION); 1.5.3: a video in which no face was found is looked at again at
# full size (visual/second_look.py): faces of 64 px or more there are tracked on 1280-px frames,
# smaller ones named too small (same weights throughout)
WEIGHTS_DIR = Path(__file__).parent / "weights" / f"syncnet-{VERSION}"
WEIGHTS_FILE = "lipsync_syncnet.safetensors"
MAX_SECONDS = tracking.GRID_S  # 20 s of a passage: the shared face pass takes the grid's scan
FRAME_MAX_SIDE = tracking.FRAME_MAX_SIDE  # 640
MIN_SPEECH_S = 1.0
WINDOW = 50  # grid frames: 2 s
HOP = 12
CURVE_LABEL = "− embedding distance (higher: in sync)"
NO_NULL = Finding(
    code="sync_null_z",
    value=None,
    message="the clip is too short to roll its soundtrack beyond the offset search: "
    "scored by its windows' votes (threshold learnt on the training clips)",
)


def _spec(folder: Path) -> DetectorSpec:
    return DetectorSpec(
        name=NAME,
        modality=Modality.LIPSYNC,
        version=VERSION,
        summary="two-stream mouth/log-mel embedding trained self-supervised on real talking "
        "heads: AV offset, SyncNet confidence, per-window sync over ±15 frames",
        media_kinds=frozenset({MediaKind.VIDEO}),
        resolution="segment",
        weights=weights_ref(folder),
        licence="code Apache-2.0; weights trained on GRID (CC BY 4.0) and a VisualVoice demo "
        f"clip (CC BY-NC 4.0); uses the {faces.LANDMARK_LICENCE}",
        paper="Chung & Zisserman, 'Out of time: automated lip sync in the wild', "
        "ACCV 2016 workshops",
    )


SPEC = _spec(WEIGHTS_DIR)


def load_network(path: Path) -> tuple[Any, dict[str, Any]]:
    import torch
    from safetensors import safe_open
    from safetensors.torch import load_file

    with safe_open(str(path), framework="pt") as handle:
        meta = handle.metadata() or {}
    config = dict(json.loads(meta.get("config", "{}")))
    network = net.build_network(int(config.get("width", 16)))
    try:
        network.load_state_dict(load_file(str(path)))
    except RuntimeError as exc:
        raise DetectorError(f"{NAME}: weights do not fit the network: {exc}") from None
    # Double precision: each CPU's vector code rounds single-precision sums in its own order, so
    # an auditor's older computer would get another score in the last digits (the weights stay
    # as trained; training keeps single precision).
    network.double().eval()
    torch.set_num_threads(max(1, min(4, torch.get_num_threads())))
    return network, config


def distances(visual: np.ndarray, audio: np.ndarray, max_offset: int) -> np.ndarray:
    """(T, 2·max_offset+1): distance of visual t to audio t+d; NaN outside either stream."""
    n, m = len(visual), len(audio)
    out = np.full((n, 2 * max_offset + 1), np.nan, np.float64)
    for k, d in enumerate(range(-max_offset, max_offset + 1)):
        t0, t1 = max(0, -d), min(n, m - d)
        if t1 > t0:
            diff = visual[t0:t1].astype(np.float64) - audio[t0 + d : t1 + d]
            out[t0:t1, k] = np.sqrt((diff * diff).sum(axis=1))
    return out


def analyse(
    visual: np.ndarray,
    audio: np.ndarray,
    voiced: np.ndarray,
    min_confidence: float,
    max_offset: int = signals.MAX_OFFSET,
) -> signals.SyncAnalysis | None:
    """SyncNet protocol over 2 s windows; the curves are negated distances (higher is better), so
    ``signals``' conventions hold: offset = argmax, confidence = peak − median = median − min
    distance. None when no window holds enough speech and visible mouth."""
    dist = distances(visual, audio, max_offset)
    n = len(visual)
    seen_all = ~np.isnan(visual[:, 0]) if n else np.zeros(0, bool)
    speech = voiced[net.STACK // 2 : net.STACK // 2 + n]
    windows = []
    for start in range(0, max(1, n - WINDOW + 1), HOP):
        end = min(n, start + WINDOW)
        block = dist[start:end]
        counts = (~np.isnan(block)).sum(axis=0)
        with np.errstate(invalid="ignore"):
            mean = np.nansum(block, axis=0) / np.maximum(counts, 1)
        curve = np.where(counts >= 8, -mean, np.nan)
        usable = not np.isnan(curve).all()
        talking = speech[start:end].mean() >= 0.3 and seen_all[start:end].mean() >= 0.8
        windows.append(
            signals.Window(
                start=start,
                end=end,
                curve=curve,
                offset=signals.best_offset(curve) if usable else 0,
                confidence=signals.confidence(curve) if usable else 0.0,
                speech=bool(talking and usable),
                min_confidence=min_confidence,
            )
        )
    speech_windows = [w for w in windows if w.speech]
    if not speech_windows:
        return None
    mean_curve = np.nanmean(np.stack([w.curve for w in speech_windows]), axis=0)
    return signals.SyncAnalysis(
        fps=net.FPS,
        offsets=np.arange(-max_offset, max_offset + 1),
        curve=mean_curve,
        offset=signals.best_offset(mean_curve),
        confidence=signals.confidence(mean_curve),
        windows=tuple(windows),
    )


clip_score = evidence.clip_score  # raw score and whole-clip shift, as lipsync.av_offset


def null_test(
    analysis: signals.SyncAnalysis,
    visual: np.ndarray,
    audio: np.ndarray,
    voiced: np.ndarray,
    min_confidence: float,
) -> signals.SyncNullTest | None:
    """``analysis`` (of ``visual`` against ``audio``) against the same mouths with the soundtrack
    rolled: the clip's own out-of-sync null (``signals.sync_null_test``)."""
    return signals.sync_null_test(
        analysis,
        len(visual),
        lambda k: analyse(visual, np.roll(audio, k, axis=0), np.roll(voiced, k), min_confidence),
    )


def choose_speaker(
    track_ids: list[int],
    visuals: list[np.ndarray],
    audio: np.ndarray,
    voiced: np.ndarray,
    min_confidence: float,
) -> tuple[int, signals.SyncAnalysis, int] | None:
    """The track whose mouth matches the voice with the highest confidence (ties: lowest id),
    its analysis, and how many tracks could be analysed; None when none could."""
    candidates = []
    for track_id, visual in zip(track_ids, visuals, strict=True):
        analysis = analyse(visual, audio, voiced, min_confidence)
        if analysis is not None:
            candidates.append((analysis.confidence, -track_id, analysis))
    if not candidates:
        return None
    _, neg_id, analysis = max(candidates, key=lambda c: (c[0], c[1]))
    return -neg_id, analysis, len(candidates)


class SyncNetDetector:
    def __init__(self, weights_dir: Path | None = None, coverage: str = "spread") -> None:
        """``coverage``: ``spread`` (bounded cost) or ``whole`` (every second of a long video;
        tracking.passage_spans)."""
        tracking.passage_spans(None, coverage)  # an unknown coverage fails here, at load
        self.coverage = coverage
        folder = weights_dir or WEIGHTS_DIR
        path = verified_weights(NAME, folder)
        self.spec = SPEC if weights_dir is None else _spec(folder)
        self.network, config = load_network(path)
        self.min_confidence = float(config.get("min_confidence", signals.MIN_CONFIDENCE))

    def analyze(self, media: MediaInput) -> Evidence:
        if media.info.audio is None:
            return out_of_domain(self.spec, "no audio track")
        passages = tracking.passage_spans(media.info.duration_s, self.coverage)
        read = [self._passage(media, passage) for passage in media.parts(passages, "passage")]
        speech_s = sum(r.speech_s for r in read)
        where = f"the first {read[0].length_s:.0f} s" if len(read) == 1 else "the passages"
        facts = [
            evidence.span_finding(media, passages, MAX_SECONDS, self.coverage),
            Finding(
                code="speech_seconds",
                value=round(speech_s, 2),
                message=f"voiced time in {where}",
            ),
        ]
        spoken = [r for r in read if r.tracks is not None]  # passages with 1 s of speech
        if not spoken:
            return out_of_domain(self.spec, "less than 1 s of speech", findings=facts)
        looked: list[Finding] = []
        no_face = "no face found"
        if all("no_face" in r.flags for r in spoken):  # the second look, shared with every face
            side, looked, no_face = tracking.second_look(media)  # detector of the video
            if side:
                read = [
                    self._passage(media, passage, side) if r.tracks is not None else r
                    for passage, r in zip(passages, read, strict=True)
                ]
                spoken = [r for r in read if r.tracks is not None]
        tracks = sum(r.tracks or 0 for r in spoken)
        flags = list(dict.fromkeys(flag for r in spoken for flag in r.flags))
        facts.append(
            Finding(
                code="face_tracks",
                value=tracks,
                message=f"{tracks} face track(s) of at least 1 s on the 25 fps grid"
                + (f" of {len(spoken)} passages with speech; " if len(read) > 1 else "; ")
                + (", ".join(flags) or "no flags"),
            )
        )
        facts += looked
        if not tracks:
            return out_of_domain(self.spec, no_face, findings=facts)
        results = [r.result for r in spoken if r.result is not None]
        if not results:
            still = any(r.still for r in spoken)
            reason = (
                signals.STILL_MOUTH
                if still
                else "no face track with at least 2 s of visible speech"
            )
            return out_of_domain(self.spec, reason, findings=facts)
        return evidence.sync_evidence(
            self.spec,
            results,
            media,
            facts=facts,
            min_confidence=self.min_confidence,
            messages={
                "speaker_track": "speaker chosen by sync confidence among {n} track(s)",
                "av_offset_frames": "best audio offset on the 25 fps grid (positive: sound later)",
                "sync_confidence": "median minus minimum of the mean distance curve (SyncNet); "
                f"windows need {self.min_confidence:.3f}",
                "undecided_share": "speech windows whose mouth matches no offset clearly",
            },
            curve_label=CURVE_LABEL,
        )

    def _passage(self, media: MediaInput, passage: tracking.Passage, side: int = 0) -> PassageRead:
        """One passage: its soundtrack on the video clock, then (with 1 s of speech) the mouths
        of the shared face pass (frames of ``side`` px: tracking.face_pass) and the speaker's
        sync against its own rolled soundtrack."""
        wave = media.audio_array(
            sample_rate=signals.SAMPLE_RATE,
            max_s=passage.grid_end_s() - passage.start_s,
            on_video_clock=True,
            start_s=passage.start_s,
        )[0]
        known = media.info.duration_s
        length = (
            min(passage.grid_end_s(), known) - passage.start_s
            if known
            else min(passage.grid_end_s() - passage.start_s, len(wave) / signals.SAMPLE_RATE)
        )
        n_frames = int(np.floor(length * net.FPS)) + 1
        mel, voiced = net.audio_features(wave, n_frames, np.float64)
        speech_s = float(voiced.sum()) / net.FPS
        if voiced.sum() < MIN_SPEECH_S * net.FPS:
            return PassageRead(length, speech_s, None, ())
        cuts, flags = tracking.face_pass(media, passage, side).grid_mouths()  # tracked once with
        # lipsync.av_offset
        placed = net.place_mouths(cuts, n_frames)
        if not placed:
            return PassageRead(length, speech_s, 0, flags)
        tracks = [t for t in placed if not signals.still_mouth(t.opening, voiced)]
        if not tracks:
            return PassageRead(length, speech_s, len(placed), flags, still=True)
        clip = net.ClipFeatures(media.path.name, n_frames, tracks, mel, voiced, flags)
        visual, audio = net.embed_clip(self.network, clip)
        ids = [t.track_id for t in tracks]
        chosen = choose_speaker(ids, visual, audio, voiced, self.min_confidence)
        if chosen is None:
            return PassageRead(length, speech_s, len(placed), flags)
        track_id, analysis, n_candidates = chosen
        null = null_test(analysis, visual[ids.index(track_id)], audio, voiced, self.min_confidence)
        middle = (len(analysis.curve) - 1) // 2
        distance = Finding(
            code="in_sync_distance",
            value=round(float(-analysis.curve[middle]), 4),
            message="mean embedding distance at offset 0 over speech windows",
        )
        extra = (distance,) if null is not None else (distance, NO_NULL)
        result = evidence.PassageSync(passage, track_id, n_candidates, analysis, null, extra)
        return PassageRead(length, speech_s, len(placed), flags, result)


@dataclass(frozen=True)
class PassageRead:
    """What reading one passage found: its analysed length, voiced seconds, face tracks on the
    grid (None: not looked for, less than 1 s of speech), scan flags, the speaker's sync, and
    whether every track's mouth stayed still while speech was heard."""

    length_s: float
    speech_s: float
    tracks: int | None
    flags: tuple[str, ...]
    result: evidence.PassageSync | None = None
    still: bool = False


def build(**overrides: Any) -> SyncNetDetector:
    return SyncNetDetector(**overrides)
