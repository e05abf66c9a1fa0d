"""Awkward audio inputs through `verity analyze`: silence, clipping, 8 kHz telephone, stereo, very
short, empty and one hour long. Each gives clear evidence (out of domain with a reason, or a score
with findings that name the problem) or one clear error line, within bounded memory."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile

from core.cli import main
from tests.modalities.audio_signals import formant_speech

AUDIO_DETECTORS = {"audio.artifacts", "audio.cnn", "audio.lfcc_gmm"}
CHILD = """\
import resource, sys
from core.cli import main
code = main(sys.argv[1:])
print("maxrss_kib", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)
sys.exit(code)
"""


def detectors_of(stdout: str) -> dict[str, Any]:
    lines = [json.loads(line) for line in stdout.splitlines() if line.strip()]
    result = next(line for line in lines if "detectors" in line)
    by_name = {d["name"]: d for d in result["detectors"]}
    assert set(by_name) >= AUDIO_DETECTORS
    return {"result": result, **by_name}


def analyze(path: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    assert main(["analyze", str(path), "--json"]) == 0
    return detectors_of(capsys.readouterr().out)


def codes(detector: dict[str, Any]) -> set[str]:
    return {f["code"] for f in detector.get("findings", [])}


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    return formant_speech(4.0, seed=7)


def test_silence_only_is_out_of_domain_not_a_verdict(home: Path, tmp_path: Path, capsys) -> None:
    path = tmp_path / "silence.wav"
    soundfile.write(path, np.zeros(3 * 16_000, np.float32), 16_000)
    out = analyze(path, capsys)
    for name in AUDIO_DETECTORS:
        assert "speech" in out[name]["out_of_domain"]
        silent = [f for f in out[name]["findings"] if f["code"] == "silent_input"]
        assert len(silent) == 1 and silent[0]["llr"] == 0.0, out[name]["findings"]
        assert "every sample is zero" in silent[0]["message"], silent
    assert out["result"]["verdict"] == "inconclusive"


def test_near_silence_says_how_quiet_and_speech_says_nothing(
    home: Path, tmp_path: Path, capsys, speech
) -> None:
    """Hiss at -70 dBFS is not speech, and the evidence says the recording is nearly silent
    (its peak level), not only that no speech was found; quiet speech at -40 dBFS is no
    silence."""
    hiss = np.random.default_rng(3).normal(0, 10 ** (-80 / 20), 3 * 16_000).astype(np.float32)
    soundfile.write(tmp_path / "hiss.wav", hiss, 16_000, subtype="FLOAT")
    out = analyze(tmp_path / "hiss.wav", capsys)
    silent = [f for f in out["audio.cnn"]["findings"] if f["code"] == "silent_input"]
    assert len(silent) == 1 and -75 < silent[0]["value"] < -65, silent
    assert "nearly silent" in silent[0]["message"]
    quiet = (speech * 10 ** (-40 / 20) / np.abs(speech).max()).astype(np.float32)
    soundfile.write(tmp_path / "quiet.wav", quiet, 16_000, subtype="FLOAT")
    out = analyze(tmp_path / "quiet.wav", capsys)
    assert all("silent_input" not in codes(out[name]) for name in AUDIO_DETECTORS)


def test_very_short_input_is_out_of_domain(home: Path, tmp_path: Path, capsys, speech) -> None:
    for n_samples in (100, 4_000):  # 6 ms and 0.25 s
        path = tmp_path / f"short-{n_samples}.wav"
        soundfile.write(path, speech[:n_samples], 16_000)
        out = analyze(path, capsys)
        for name in AUDIO_DETECTORS:
            assert "speech" in out[name]["out_of_domain"]


def test_a_sample_rate_too_low_to_resample_is_out_of_domain(
    home: Path, tmp_path: Path, capsys
) -> None:
    """Five samples at 1 Hz give no sample at 16 kHz: each detector says there is no speech
    (the channel round trip used to fail inside the encoder, an error for all three)."""
    path = tmp_path / "one-hertz.wav"
    soundfile.write(path, np.full(5, 0.1, np.float32), 1)
    out = analyze(path, capsys)
    for name in AUDIO_DETECTORS:
        assert out[name]["status"] == "ok" and "speech" in out[name]["out_of_domain"]
    assert out["result"]["verdict"] == "inconclusive"


def test_empty_audio_is_one_clear_error(home: Path, tmp_path: Path, capsys) -> None:
    path = tmp_path / "empty.wav"
    soundfile.write(path, np.zeros(0, np.float32), 16_000)
    assert main(["analyze", str(path), "--json"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no decodable" in err[0]


def test_clipped_input_is_scored_and_named(home: Path, tmp_path: Path, capsys, speech) -> None:
    path = tmp_path / "clipped.wav"
    soundfile.write(path, np.clip(speech * 20, -1, 1), 16_000)
    out = analyze(path, capsys)
    for name in AUDIO_DETECTORS:
        assert out[name]["out_of_domain"] is None
        assert "clipped_input" in codes(out[name])
    share = next(f for f in out["audio.cnn"]["findings"] if f["code"] == "clipped_input")
    assert 0.05 < share["value"] < 1


def test_telephone_band_input_says_so(home: Path, tmp_path: Path, capsys) -> None:
    path = tmp_path / "telephone.wav"
    soundfile.write(path, formant_speech(4.0, sr=8_000), 8_000, subtype="PCM_16")
    out = analyze(path, capsys)
    for name in AUDIO_DETECTORS:
        assert out[name]["out_of_domain"] is None
        finding = next(f for f in out[name]["findings"] if f["code"] == "narrowband_input")
        assert finding["value"] == 8_000


def test_stereo_is_mixed_to_mono(home: Path, tmp_path: Path, capsys, speech) -> None:
    path = tmp_path / "stereo.wav"
    soundfile.write(path, np.stack([speech, 0.5 * speech], axis=1), 16_000)
    out = analyze(path, capsys)
    for name in AUDIO_DETECTORS:
        assert out[name]["out_of_domain"] is None
        assert "channels_mixed" in codes(out[name])
    assert "clipped_input" not in codes(out["audio.cnn"])
    assert not codes(out["audio.cnn"]) & {"channels_differ", "channels_cancel"}


def test_clipping_turned_down_is_named(home: Path, tmp_path: Path, capsys, speech) -> None:
    """Clipped, then 6 dB quieter (``sox gain 20`` then ``gain -6``): no sample at full scale,
    so 1.1.0 said nothing; the samples piled up at the recording's own peak say it."""
    path = tmp_path / "clipped-down.wav"
    soundfile.write(path, np.clip(speech * 20, -1, 1) * 0.5, 16_000)
    out = analyze(path, capsys)
    for name in AUDIO_DETECTORS:
        assert out[name]["out_of_domain"] is None
        share = next(f for f in out[name]["findings"] if f["code"] == "clipped_input")
        assert 0.05 < share["value"] < 1


def test_a_telephone_band_in_a_16_khz_file_says_so(home: Path, tmp_path: Path, capsys) -> None:
    """A call (8 kHz, the telephone channel's 300-3400 Hz) resampled to 16 kHz: its rate says
    wideband, its sound ends below 4 kHz."""
    import scipy.signal

    path = tmp_path / "telephone-16k.wav"
    channel = scipy.signal.butter(8, [300, 3400], "bandpass", fs=8_000, output="sos")
    call = scipy.signal.sosfilt(channel, formant_speech(4.0, sr=8_000))
    soundfile.write(path, scipy.signal.resample_poly(call, 2, 1), 16_000, subtype="PCM_16")
    out = analyze(path, capsys)
    for name in AUDIO_DETECTORS:
        assert out[name]["out_of_domain"] is None
        assert "narrowband_input" not in codes(out[name])
        finding = next(f for f in out[name]["findings"] if f["code"] == "narrowband_content")
        assert 3_000 < finding["value"] < 4_100 and "16000 Hz" in finding["message"]


def test_stereo_in_opposite_phase_says_why_there_is_no_speech(
    home: Path, tmp_path: Path, capsys, speech
) -> None:
    """Left and right inverted: their average, what the detectors read, is silence. Each
    detector is out of domain for want of speech, and each says the channels cancelled."""
    path = tmp_path / "opposite.wav"
    soundfile.write(path, np.stack([speech, -speech], axis=1), 16_000)
    out = analyze(path, capsys)
    for name in AUDIO_DETECTORS:
        assert "speech" in out[name]["out_of_domain"]
        assert {"channels_mixed", "channels_differ", "channels_cancel"} <= codes(out[name]), name
        assert "clipped_input" not in codes(out[name])


def test_stereo_with_one_speaker_per_channel_says_so(
    home: Path, tmp_path: Path, capsys, speech
) -> None:
    path = tmp_path / "two-speakers.wav"
    other = formant_speech(4.0, seed=11)
    soundfile.write(path, np.stack([speech, other], axis=1), 16_000)
    out = analyze(path, capsys)
    for name in AUDIO_DETECTORS:
        assert out[name]["out_of_domain"] is None
        finding = next(f for f in out[name]["findings"] if f["code"] == "channels_differ")
        assert abs(finding["value"]) < 0.3
        assert "channels_cancel" not in codes(out[name])


def test_silero_vad_setting_reaches_the_evidence(
    home: Path, tmp_path: Path, capsys, speech, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "speech.wav"
    soundfile.write(path, speech, 16_000)
    monkeypatch.setenv("VERITY_MODELS__AUDIO_VAD", "silero")
    out = analyze(path, capsys)
    for name in AUDIO_DETECTORS:
        assert out[name]["out_of_domain"] is None
        assert next(f for f in out[name]["findings"] if f["code"] == "vad")["value"] == "silero"


@pytest.mark.slow
def test_one_hour_input_in_bounded_memory(home: Path, tmp_path: Path) -> None:
    """One hour (20 s of speech, silence, 20 s of speech in its last minute; a 0.3 MB FLAC at
    8 kHz) through the CLI in a child process: every audio detector reads all of it in six
    passages of 10 minutes (1.1.0; 1.0.0 stopped at 10 minutes and never heard the end), the
    speech at the end is on the timeline, and the child's peak resident memory stays under
    2 GiB (decoding and framing the whole hour at once would take several GiB)."""
    path = tmp_path / "hour.flac"
    with soundfile.SoundFile(path, "w", 8_000, 1, subtype="PCM_16", format="FLAC") as handle:
        handle.write(formant_speech(20.0, sr=8_000))
        minute = np.zeros(8_000 * 60, np.float32)
        for _ in range(59):
            handle.write(minute)
        handle.write(formant_speech(20.0, seed=1, sr=8_000))  # 3560-3580 s
        handle.write(np.zeros(8_000 * 20, np.float32))
    assert path.stat().st_size < 2_000_000
    run = subprocess.run(
        [sys.executable, "-c", CHILD, "analyze", str(path), "--json"],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    peak_kib = int(run.stderr.split("maxrss_kib")[-1].split()[0])
    out = detectors_of(run.stdout)
    for name in AUDIO_DETECTORS:
        assert out[name]["out_of_domain"] is None
        assert "truncated_analysis" not in codes(out[name])
        passages = next(f for f in out[name]["findings"] if f["code"] == "passages")
        assert passages["value"] == 6 and "3000–3601 s: score" in passages["message"]
        assert any(p["start_s"] >= 3558 for p in out[name]["series"]), name
    assert 0 < peak_kib < 2 * 1024**2


def test_a_videos_audio_timeline_is_in_the_videos_time(tmp_path: Path, speech: np.ndarray) -> None:
    """A soundtrack with a hole in its timestamps (a dropout, a cut spliced without its sound):
    the audio detectors read it as a player plays it (engine 0.2.2), so a segment of their
    timeline lies where the analyst hears it in the video. Before, the speech after the hole was
    timed 3 s early: its segments said 4-8 s for what plays at 7-11 s."""
    import av

    from modalities.audio import lfcc_gmm
    from tests.modalities.test_audio_lfcc_gmm import media

    path = tmp_path / "hole.mkv"
    pcm = (np.clip(speech, -1, 1) * 32767).astype(np.int16)  # 4 s, twice: before and after
    with av.open(str(path), "w", format="matroska") as out:
        video = out.add_stream("libx264", rate=25)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        audio = out.add_stream("mp2", rate=16_000)
        audio.layout = "mono"
        for index in range(11 * 25):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), 90, np.uint8), "rgb24")
            frame.pts = index
            out.mux(video.encode(frame))
        out.mux(video.encode())
        for at, part in ((0, pcm), (7 * 16_000, pcm)):
            for start in range(0, len(part) - 1151, 1152):
                chunk = av.AudioFrame.from_ndarray(part[None, start : start + 1152], layout="mono")
                chunk.sample_rate, chunk.pts = 16_000, at + start
                out.mux(audio.encode(chunk))
        out.mux(audio.encode())
    clip = media(path)
    sound = np.abs(clip.soundtrack(max_s=60.0))
    heard = sound[: len(sound) // 1600 * 1600].reshape(-1, 1600).max(axis=1)  # per 0.1 s
    assert heard[5:38].min() > 0.05 and heard[42:68].max() < 0.01 and heard[72:108].min() > 0.05
    series = lfcc_gmm.build().analyze(clip).series
    assert [p.start_s for p in series][:2] == [0.0, 2.0]
    assert not any(4.2 < p.start_s < 6.0 for p in series)  # the hole: nothing to score
    assert max(p.end_s for p in series) == pytest.approx(11.0, abs=0.2)
