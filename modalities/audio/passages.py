"""A long recording read passage by passage: how every audio detector covers an hour.

The front end treats what it reads as one file: one MP3 round trip, the energy VAD's floor and
ceiling, the LFCC mean that ``audio.lfcc_gmm`` removes. Every shipped weight and calibration was
made from files analysed that way, none longer than ``WHOLE_S`` (10 minutes). A longer recording
is therefore cut into consecutive passages of equal length, at most ``PASSAGE_S`` (10 minutes)
each, and each passage is analysed as a file of its own. The worst passage decides the clip's
raw score, as in lip-sync: a synthetic stretch late in an hour-long call is a local edit, and a
mean over the hour would dilute it. Up to the 1.0.0 detectors only the first 10 minutes were read
and the evidence said the rest was not looked at. Shorter passages would catch shorter stretches
but the worst of many short passages of a real recording climbs too (measured in
bench/audio_passages.py: with 60-s passages a real half hour reached LLR +2.4), so passages stay
as long as what the calibrations were made for allows.

Memory: the normalised passages are kept for the analysis (every audio detector reads them), at
most ``MAX_READ_S`` of sound: one hour of 16-kHz float, 230 MB. A recording longer than that is
read in passages of ``PASSAGE_S`` spread evenly from its start to its end (one decoding pass; the
sound between them is decoded and dropped) and the evidence names the spans read. A recording of
unknown length or of up to 10 minutes (and a second) is one passage, the first 10 minutes, read
exactly as before.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from core.detector import DetectorSpec, Evidence, Finding, MediaInput, SeriesPoint
from core.errors import MediaError
from core.sound import MAX_REMIX_CHANNELS
from modalities.audio import frontend, input_traits, plots

WHOLE_S = 600.0  # a recording up to this long is one passage, read as before passages existed
PASSAGE_S = 600.0  # the longest passage of a longer recording
MAX_READ_S = 3600.0  # the most sound read (and held, normalised) in one analysis
SLACK_S = 1.0  # a container's duration can fall short of its sound by a frame: read past it


@dataclass(frozen=True)
class Passage:
    start_s: float
    end_s: float

    @property
    def label(self) -> str:
        return f"{self.start_s:.0f}–{self.end_s:.0f} s"


def plan(duration_s: float | None) -> list[Passage]:
    """The passages to read of a recording ``duration_s`` long (None: unknown)."""
    if not duration_s or duration_s <= WHOLE_S + SLACK_S:
        return [Passage(0.0, WHOLE_S)]
    count = math.ceil(duration_s / PASSAGE_S)
    most = max(2, math.floor(MAX_READ_S / PASSAGE_S))
    if count <= most:
        length = duration_s / count
        starts = [i * length for i in range(count)]
        ends = [*starts[1:], duration_s + SLACK_S]
        return [Passage(a, b) for a, b in zip(starts, ends, strict=True)]
    step = (duration_s - PASSAGE_S) / (most - 1)
    starts = [i * step for i in range(most)]
    ends = [a + PASSAGE_S for a in starts[:-1]] + [duration_s + SLACK_S]
    return [Passage(a, b) for a, b in zip(starts, ends, strict=True)]


def read(
    media: MediaInput, sample_rate: int, passages: Sequence[Passage]
) -> Iterator[tuple[Passage, np.ndarray]]:
    """Each passage's sound (the samples of ``media.soundtrack`` from its start to its end), in
    one decoding pass; a passage past the end of the sound comes out short or empty."""
    bounds = [(round(p.start_s * sample_rate), round(p.end_s * sample_rate)) for p in passages]
    index, position, parts = 0, 0, []
    chunks = media.soundtrack_chunks(sample_rate=sample_rate, max_s=passages[-1].end_s)
    for chunk in chunks:
        end = position + len(chunk)
        while index < len(bounds):
            low, high = bounds[index]
            if min(high, end) > max(low, position):
                parts.append(chunk[max(low, position) - position : min(high, end) - position])
            if high > end:
                break
            yield passages[index], _joined(parts)
            index, parts = index + 1, []
        position = end
        if index == len(bounds):
            break
    for passage in passages[index:]:
        yield passage, _joined(parts)
        parts = []


def _joined(parts: list[np.ndarray]) -> np.ndarray:
    return np.concatenate(parts).astype(np.float32) if parts else np.zeros(0, np.float32)


@dataclass(frozen=True)
class PassageAudio:
    """One passage as every audio detector sees it: channel-normalised, with its speech mask."""

    passage: Passage
    wave: np.ndarray
    mask: np.ndarray
    clipped_share: float  # measured before the normalisation hides it (frontend.clipped_share)
    peak_pile: float = 0.0  # the same, clipping turned down or re-encoded (input_traits)
    speech_power: np.ndarray | None = None  # long-term spectrum of the speech before it
    speech_frames: int = 0
    peak: float = 0.0  # largest |sample| before the normalisation (input_traits.silence_finding)

    @property
    def offset_s(self) -> float:
        return self.passage.start_s


def analysed(media: MediaInput, vad: str = "energy") -> list[PassageAudio]:
    """The passages of ``media``'s sound, decoded, channel-normalised and masked once per
    analysis and shared by every audio detector. A passage holding no sound at all (the sound
    ended before it) is left out; the first is always kept."""

    def compute() -> list[PassageAudio]:
        out: list[PassageAudio] = []
        for passage, wave in read(media, frontend.SAMPLE_RATE, plan(media.info.duration_s)):
            if out and len(wave) < frontend.WIN:
                continue
            normalized = frontend.normalize_channel(wave)
            mask = frontend.speech_mask(normalized, vad)
            power, frames = input_traits.speech_spectrum(wave, mask)
            out.append(
                PassageAudio(
                    passage,
                    normalized,
                    mask,
                    frontend.clipped_share(wave),
                    input_traits.peak_pile(wave),
                    power,
                    frames,
                    float(np.abs(wave).max()) if len(wave) else 0.0,
                )
            )
        return out

    result: list[PassageAudio] = media.cached(f"audio-passages-{vad}", compute)
    return result


def coverage_finding(media: MediaInput, read: Sequence[Passage]) -> list[Finding]:
    """``truncated_analysis`` when the passages ``read`` leave part of the recording unheard
    (longer than an hour, or than 10 minutes with passages patched shorter): which spans were
    analysed, so that nobody reads the score as a statement about the rest. Empty otherwise."""
    total = media.info.duration_s
    spans = [(p.start_s, min(p.end_s, total or p.end_s)) for p in read]
    read_s = sum(b - a for a, b in spans)
    if not total or total <= read_s + SLACK_S:
        return []
    listed = ", ".join(f"{a:.0f}–{b:.0f}" for a, b in spans)
    message = (
        f"only the first {read_s:.0f} s were analysed"
        if len(spans) == 1
        else f"{len(spans)} passages ({listed} s), {read_s:.0f} s of {total:.0f} s analysed; "
        "the rest was not looked at"
    )
    return [Finding(code="truncated_analysis", value=round(read_s, 2), message=message)]


def input_findings(media: MediaInput, audio: Sequence[PassageAudio]) -> list[Finding]:
    """What about the input itself bears on how far the audio detectors can be trusted: a
    recording longer than the passages read, a source sampled below 16 kHz (telephone band:
    nothing above its Nyquist frequency, which the detectors never saw in training) or speech
    that ends well below 8 kHz in a file sampled higher, several channels mixed down to one (and
    whether they differed or cancelled), clipping. Informational (no LLR); the scores are
    unchanged by them (modalities.audio.input_traits)."""
    out: list[Finding] = []
    info = media.info.audio
    if info is None:
        return out
    out += coverage_finding(media, plan(media.info.duration_s))  # read, with or without sound
    out += input_traits.silence_finding([a.peak for a in audio])
    if info.sample_rate < frontend.SAMPLE_RATE:
        out.append(
            Finding(
                code="narrowband_input",
                value=info.sample_rate,
                message=f"source sampled at {info.sample_rate} Hz (nothing above "
                f"{info.sample_rate // 2} Hz); detectors trained on 16 kHz speech",
            )
        )
    out += input_traits.bandwidth_finding(
        [(a.speech_power, a.speech_frames) for a in audio if a.speech_power is not None],
        info.sample_rate,
    )
    if info.channels > 1:
        out.append(
            Finding(
                code="channels_mixed",
                value=info.channels,
                message=f"{info.channels} channels mixed down to one (FFmpeg's downmix) "
                "before analysis",
            )
        )
        out += input_traits.channel_findings(
            media.cached("audio-channels", lambda: _channels(media))
        )
    out += input_traits.clipping_finding(
        [max(a.clipped_share, a.peak_pile) for a in audio], [len(a.wave) for a in audio]
    )
    return out


def _channels(media: MediaInput) -> input_traits.ChannelStats | None:
    """The channels compared over the sound the passages span, in a second decoding pass that
    keeps them apart (the passages' own read mixes them as every shipped calibration was made);
    None for more channels than are read apart, or sound that will not decode so."""
    if media.info.audio is None or media.info.audio.channels > MAX_REMIX_CHANNELS:
        return None
    end = plan(media.info.duration_s)[-1].end_s
    try:
        return input_traits.channel_stats(
            media.channel_chunks(sample_rate=frontend.SAMPLE_RATE, max_s=end)
        )
    except MediaError:
        return None


@dataclass(frozen=True)
class Scored:
    """A detector's evidence on one passage (series in the recording's time, no figure yet)."""

    audio: PassageAudio
    evidence: Evidence


def scored_each(
    media: MediaInput,
    audio: Sequence[PassageAudio],
    score: Callable[[PassageAudio], Evidence],
) -> list[Scored]:
    """Each passage scored by ``score``, in order, each reported to the analysis' progress when
    there are several (an hour is six passages of 10 minutes)."""
    return [Scored(passage, score(passage)) for passage in media.parts(audio, "passage")]


def passages_finding(scored: Sequence[Scored]) -> Finding:
    """Each passage's score or why it was not scored (recordings of several passages)."""
    parts = [
        f"{s.audio.passage.label}: "
        + (
            f"score {s.evidence.raw_score:+.2f}"
            if s.evidence.out_of_domain is None
            else f"not scored ({s.evidence.out_of_domain})"
        )
        for s in scored
    ]
    return Finding(
        code="passages",
        value=len(scored),
        message="passages analysed one by one (the worst decides): " + "; ".join(parts),
    )


TOP_SEGMENTS = 3


def top_segments_finding(series: Sequence[SeriesPoint]) -> Finding:
    """Where to listen first in a long recording: the highest-scoring segments, with their times
    (informational, no LLR; the passage's score, not these, is the evidence)."""
    top = sorted(series, key=lambda p: -p.score)[:TOP_SEGMENTS]
    listed = ", ".join(f"{p.start_s:.0f}–{p.end_s:.0f} s ({p.score:+.2f})" for p in top)
    return Finding(
        code="top_segments",
        value=len(top),
        message=f"highest-scoring segments of the recording: {listed}",
    )


def decided(
    spec: DetectorSpec,
    media: MediaInput,
    scored: Sequence[Scored],
    *,
    score_label: str,
    flagged: str = "segments",
) -> Evidence:
    """The evidence of the worst passage in the detector's domain (the earliest among equals),
    with every scored passage's series, one spectrogram of every passage read and, when there are
    several passages, a ``passages`` finding and the recording's highest segments
    (``top_segments``); out of domain only when every passage is. A recording of one passage
    gives that passage's evidence and figure, as before passages existed."""
    several = len(scored) > 1
    extra: tuple[Finding, ...] = (passages_finding(scored),) if several else ()
    in_domain = [s for s in scored if s.evidence.out_of_domain is None]
    if not in_domain:
        first = scored[0].evidence
        return first.model_copy(update={"findings": first.findings + extra})
    worst = max(in_domain, key=lambda s: s.evidence.raw_score)
    series = tuple(point for s in in_domain for point in s.evidence.series)
    if several and series:
        extra += (top_segments_finding(series),)
    summary = worst.evidence.summary
    if several:
        summary = f"worst of {len(in_domain)} passages, {worst.audio.passage.label}: {summary}"
    figure = plots.spectrogram_png(
        [(s.audio.offset_s, s.audio.wave) for s in scored],
        series,
        flag_above=0.0,
        title=f"{spec.name} {spec.version}: channel-normalised input, flagged {flagged} in red"
        + (f", {len(scored)} passages" if several else ""),
        score_label=score_label,
    )
    return worst.evidence.model_copy(
        update={
            "series": series,
            "findings": worst.evidence.findings + extra,
            "summary": summary,
            "artifacts": (media.artifacts.put("spectrogram", figure, "image/png"),),
        }
    )
