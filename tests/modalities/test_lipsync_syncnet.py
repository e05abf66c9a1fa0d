"""lipsync.syncnet: the offset protocol on known embeddings, a tiny network trained for real on
generated talking clips, loading and refusing weights, out-of-domain cases, and (with
../shared/train-corpus present) the shipped weights finding shifted GRID soundtracks."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from core import samples
from core.cli import main
from core.errors import BadInputError, DetectorError
from core.store import sha256_file
from modalities.lipsync import signals, syncnet
from modalities.lipsync import syncnet_net as net
from modalities.lipsync.training import syncnet as recipe
from tests.modalities.lipsync_media import talking_clip
from tests.modalities.test_audio_lfcc_gmm import media
from tests.modalities.test_lipsync_av_offset import GRID, shift_audio


def _embeddings(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    e = rng.standard_normal((n, net.EMBED)).astype(np.float32)
    return e / np.linalg.norm(e, axis=1, keepdims=True)


@pytest.mark.parametrize("shift", [0, 5, -3, 12])
def test_offset_search_finds_a_known_shift_and_judges_windows(shift: int) -> None:
    n = 150
    audio = _embeddings(n, 0)
    visual = np.full_like(audio, np.nan)
    lo, hi = max(0, -shift), min(n, n - shift)
    visual[lo:hi] = audio[lo + shift : hi + shift]  # the mouth at t goes with the audio at t+shift
    voiced = np.ones(n + net.STACK - 1, bool)
    analysis = syncnet.analyse(visual, audio, voiced, min_confidence=0.5)
    assert analysis is not None
    assert analysis.offset == shift and analysis.offset_ms == pytest.approx(40.0 * shift)
    assert analysis.confidence > 1.0  # distance 0 at the peak against ~1.4 elsewhere
    verdicts = {w.verdict for w in analysis.speech_windows}
    assert verdicts == ({"out_of_sync"} if abs(shift) > 2 else {"in_sync"})
    raw, _ = syncnet.clip_score(analysis, 0.5)
    assert raw == (1.0 if abs(shift) > 2 else 0.0)


def test_the_speaker_is_the_track_that_matches_the_voice() -> None:
    n = 120
    audio = _embeddings(n, 1)
    listener, speaker = _embeddings(n, 2), audio.copy()
    voiced = np.ones(n + net.STACK - 1, bool)
    chosen = syncnet.choose_speaker([0, 7], [listener, speaker], audio, voiced, 0.5)
    assert chosen is not None and chosen[0] == 7 and chosen[2] == 2
    silent = np.zeros_like(voiced)
    assert syncnet.choose_speaker([0], [speaker], audio, silent, 0.5) is None


def _null_test(visual: np.ndarray, audio: np.ndarray) -> signals.SyncNullTest | None:
    voiced = np.ones(len(audio) + net.STACK - 1, bool)
    analysis = syncnet.analyse(visual, audio, voiced, min_confidence=0.5)
    assert analysis is not None
    return signals.sync_null_test(
        analysis,
        len(visual),
        lambda k: syncnet.analyse(visual, np.roll(audio, k, axis=0), np.roll(voiced, k), 0.5),
    )


def test_a_clip_is_judged_against_its_own_rolled_soundtrack() -> None:
    """In sync: far better than the null (score ≈ 0); a foreign soundtrack: no better than its
    own rolls (score near 0.5); a mouth that follows the sound only partly lies in between."""
    n = 150
    audio = _embeddings(n, 3)
    in_sync = _null_test(audio.copy(), audio)
    foreign = _null_test(_embeddings(n, 4), audio)
    noisy = audio + 1.5 * _embeddings(n, 5)
    partial = _null_test(noisy / np.linalg.norm(noisy, axis=1, keepdims=True), audio)
    assert in_sync is not None and foreign is not None and partial is not None
    assert in_sync.rolls == 5 and in_sync.null_windows >= 5 * in_sync.windows // 2
    assert in_sync.z < -5 and in_sync.no_sync_score < 1e-6
    assert abs(foreign.z) < 2.5 and 0.01 < foreign.no_sync_score < 0.99
    assert in_sync.z < partial.z < foreign.z


def test_null_rolls_stay_out_of_the_offset_search() -> None:
    assert signals.null_rolls(2 * signals.MIN_ROLL - 1) == []
    for n in (50, 75, 150, 500):
        ks = signals.null_rolls(n)
        assert ks and all(signals.MIN_ROLL <= k <= n - signals.MIN_ROLL for k in ks)
    short = _embeddings(30, 6)
    voiced = np.ones(30 + net.STACK - 1, bool)
    analysis = syncnet.analyse(short, short, voiced, min_confidence=0.5, max_offset=4)
    assert analysis is not None
    assert signals.sync_null_test(analysis, 30, lambda k: None) is None


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    base = tmp_path_factory.mktemp("syncnet")
    data = base / "clips"
    data.mkdir()
    rows = ["file,kind,label,identity"]
    for seed in range(3):
        talking_clip(data / f"talk{seed}.mp4", seconds=3.0, seed=seed)
        rows.append(f"talk{seed}.mp4,video,real,person{seed}")
    (data / "manifest.csv").write_text("\n".join(rows) + "\n")
    out = base / "weights"
    validation = recipe.train([data], out, steps=12, batch=8, width=4, jobs=1)
    return out, validation


def test_recipe_writes_weights_descriptor_and_card(trained) -> None:
    out, validation = trained
    assert validation["held_out_clips"] == 1 and validation["trained_on_clips"] == 2
    assert validation["pairs"] > 0 and validation["offset_trials"] == len(recipe.EVAL_SHIFTS)
    assert 0.0 <= validation["pair_auc_in_sync_vs_shifted"] <= 1.0
    descriptor = json.loads((out / "weights.json").read_text())
    assert descriptor["sha256"] == sha256_file(out / syncnet.WEIGHTS_FILE)
    assert descriptor["recipe"]["width"] == 4 and descriptor["trained_on"][0]["folder"] == "clips"
    card = json.loads((out / "card.json").read_text())
    assert (
        card["weights_sha256"] == descriptor["sha256"]
        and "manifest sha256" in card["training_data"]
    )


def test_lab_fakes_join_training_as_negatives_held_out_with_their_source(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data, lab = tmp_path / "clips", tmp_path / "lab"
    data.mkdir()
    (lab / "fake").mkdir(parents=True)
    rows = ["file,kind,label,identity"]
    for seed in range(3):
        talking_clip(data / f"talk{seed}.mp4", seconds=3.0, seed=seed)
        rows.append(f"talk{seed}.mp4,video,real,person{seed}")
    (data / "manifest.csv").write_text("\n".join(rows) + "\n")
    fakes = ["file,label,kind,category,source_file", "real/x.mp4,real,video,real,talk0.mp4"]
    for seed in range(3):  # a clip whose mouth follows another voice, made "from" each real
        talking_clip(lab / "fake" / f"f{seed}.mp4", seconds=3.0, seed=seed + 10, shift_s=0.3)
        fakes.append(f"fake/f{seed}.mp4,fake,video,lab_x,talk{seed}.mp4")
    (lab / "manifest.csv").write_text("\n".join(fakes) + "\n")

    refs = recipe.collect([data])[0]
    clips = [recipe.extract(r) for r in refs]
    fake_clips = [recipe.extract(r) for r in recipe.collect_fakes([lab])[0]]
    sampler = recipe.PairSampler(clips, np.random.default_rng(0), fake_clips)
    labels = np.array([sampler.pair()[2] for _ in range(600)])
    assert abs(labels.mean() - 0.5) < 0.07  # half in sync; the other half shifted, foreign, fake
    plain = recipe.PairSampler(clips, np.random.default_rng(0))
    same = recipe.PairSampler(clips, np.random.default_rng(0))
    assert all(np.array_equal(plain.pair()[1], same.pair()[1]) for _ in range(20))

    validation = recipe.train([data], tmp_path / "w", steps=6, batch=8, width=4, jobs=1,
                              extra_fakes=[lab])  # fmt: skip
    held = validation["extra_fakes"]["held_out_with_their_source"]
    assert validation["extra_fakes"]["clips"] == 3 and held == validation["held_out_clips"] == 1
    with pytest.raises(BadInputError, match="no fake video rows"):
        recipe.collect_fakes([data])
    args = ["train", "lipsync.syncnet", "--data", str(data), "--extra-fakes", str(lab)]
    assert main(args) == 2 and "needs --out" in capsys.readouterr().err


def test_detector_loads_what_the_recipe_wrote(trained, tmp_path: Path) -> None:
    out, _ = trained
    detector = syncnet.SyncNetDetector(weights_dir=out)
    assert detector.spec.weights is not None
    assert detector.spec.weights.sha256 == json.loads((out / "weights.json").read_text())["sha256"]
    evidence = detector.analyze(media(talking_clip(tmp_path / "c.mp4", seconds=3.0, seed=9)))
    assert evidence.out_of_domain is None, evidence.out_of_domain
    codes = {f.code: f.value for f in evidence.findings}
    assert abs(codes["av_offset_frames"]) <= 15 and codes["speaker_track"] == 0
    assert {a.kind for a in evidence.artifacts} == {"offset_curve", "sync_timeline", "sync_null"}
    assert evidence.series and 0.0 <= evidence.raw_score <= 1.0
    null = next(f for f in evidence.findings if f.code == "sync_null_z")
    assert isinstance(null.value, float) and null.llr == evidence.llr
    phi = 0.5 * math.erfc(-null.value / math.sqrt(2))
    assert evidence.raw_score >= phi - 1e-3  # Φ(z), or a clear whole-clip shift when larger


def test_tampered_weights_are_refused(trained, tmp_path: Path) -> None:
    out, _ = trained
    bad = tmp_path / "bad"
    bad.mkdir()
    for name in ("weights.json", syncnet.WEIGHTS_FILE):
        (bad / name).write_bytes((out / name).read_bytes())
    data = bytearray((bad / syncnet.WEIGHTS_FILE).read_bytes())
    data[-8] ^= 0xFF
    (bad / syncnet.WEIGHTS_FILE).write_bytes(bytes(data))
    with pytest.raises(DetectorError, match="refusing"):
        syncnet.SyncNetDetector(weights_dir=bad)


def test_no_audio_no_face_or_no_speech_is_out_of_domain(trained, tmp_path: Path) -> None:
    detector = syncnet.SyncNetDetector(weights_dir=trained[0])
    silent = samples.write_clip(tmp_path / "silent.mp4", seconds=1.0, with_audio=False)
    assert detector.analyze(media(silent)).out_of_domain == "no audio track"
    mute = talking_clip(tmp_path / "mute.mp4", seconds=2.0, silent=True)
    assert detector.analyze(media(mute)).out_of_domain == "less than 1 s of speech"
    faceless = talking_clip(tmp_path / "faceless.mp4", seconds=2.0, faceless=True)
    assert detector.analyze(media(faceless)).out_of_domain == "no face found"
    # a still face under a voice: "no sync" is not evidence of a dub when the mouth never moves
    still = talking_clip(tmp_path / "still.mp4", seconds=3.0, seed=9, still=True)
    assert detector.analyze(media(still)).out_of_domain == signals.STILL_MOUTH


def test_a_small_face_in_a_large_video_is_looked_at_again(trained, tmp_path: Path) -> None:
    """A 40-px face in a 720p video is named too small (it was "no face found"), as
    lipsync.av_offset names it; a 70-px face in a 1080p video is tracked on 1280-px frames."""
    detector = syncnet.SyncNetDetector(weights_dir=trained[0])
    small = talking_clip(tmp_path / "small.mp4", seconds=2.0, canvas=(1280, 720), face_side=40)
    tiny = detector.analyze(media(small))
    assert tiny.out_of_domain == "only faces smaller than 64 px"
    assert {f.code: f.value for f in tiny.findings}["video_looked_again"] == 1280
    hd = talking_clip(tmp_path / "hd.mp4", seconds=2.0, canvas=(1920, 1080), face_side=70)
    codes = {f.code: f.value for f in detector.analyze(media(hd)).findings}
    assert codes["video_looked_again"] == 1920 and codes["face_tracks"] >= 1


@pytest.mark.slow
def test_shipped_weights_find_a_shifted_grid_soundtrack(tmp_path: Path) -> None:
    clip = GRID / "lrwp9a.mpg"
    if not clip.is_file():
        pytest.skip("../shared/train-corpus/video/grid is not on this machine")
    detector = syncnet.SyncNetDetector()
    offsets, raw, z = {}, {}, {}
    for shift in (0.0, 0.2, -0.12):
        evidence = detector.analyze(media(shift_audio(clip, tmp_path / f"{shift}.mp4", shift)))
        assert evidence.out_of_domain is None, evidence.out_of_domain
        codes = {f.code: f.value for f in evidence.findings}
        offsets[shift], raw[shift], z[shift] = (
            codes["av_offset_frames"],
            evidence.raw_score,
            codes["sync_null_z"],
        )
    for shift in (0.2, -0.12):
        assert abs(offsets[shift] - offsets[0.0] - shift * 25) <= 1, offsets
    # in sync: far better than its own rolled soundtrack; shifted: scored by the clip-level shift
    assert isinstance(z[0.0], float) and z[0.0] < -3 and raw[0.0] < 0.05, (z, raw)
    assert raw[0.2] == 1.0 and raw[-0.12] > raw[0.0] + 0.25, raw
