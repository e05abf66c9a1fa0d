"""audio.lfcc_gmm and its recipe, trained for real on tiny self-made corpora.

"Real" clips are voiced signals with natural pitch wobble and breath noise; "fake" clips are the
same signals resynthesised with a flattened spectral envelope above 3 kHz (the band-limited look
of many vocoders). The recipe must tell them apart on held-out groups, and the detector must load
what the recipe wrote, refuse tampered weights and say when input is out of its domain.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile

from core.config import MediaLimits
from core.detector import MediaInput
from core.errors import BadInputError, DetectorError
from core.media import probe
from core.store import sha256_file
from modalities.audio import lfcc_gmm
from modalities.audio.training import lfcc_gmm as recipe
from modalities.audio.training.data import collect
from tests.modalities.test_audio_frontend import SR, voiced


def band_limited(wave: np.ndarray) -> np.ndarray:
    spectrum = np.fft.rfft(wave)
    freqs = np.fft.rfftfreq(wave.size, 1 / SR)
    spectrum[freqs > 3000] *= 0.02
    return np.fft.irfft(spectrum, n=wave.size).astype(np.float32)


def write_corpus(root: Path, *, n: int = 8, with_labels: bool = True) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    lines = ["file,label,kind,category,generator" if with_labels else "file,kind,category,identity"]
    for i in range(n):
        f0 = 100 + 15 * i
        real = voiced(1.5, f0=f0, seed=i)
        soundfile.write(root / f"real_{i}.flac", real, SR)
        if with_labels:
            lines.append(f"real_{i}.flac,real,audio,speech_real,speaker{i % 4}")
            soundfile.write(
                root / f"fake_{i}.flac", band_limited(voiced(1.5, f0=f0, seed=99 + i)), SR
            )
            lines.append(f"fake_{i}.flac,fake,audio,speech_tts,system{i % 4}")
        else:
            lines.append(f"real_{i}.flac,audio,speech,spk_{i}")
    (root / "manifest.csv").write_text("\n".join(lines) + "\n")
    return root


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict, Path]:
    base = tmp_path_factory.mktemp("audio")
    corpus = write_corpus(base / "fakes")
    extra = write_corpus(base / "reals", n=4, with_labels=False)
    out = base / "weights"
    validation = recipe.train([corpus, extra], out, components=2, folds=2, jobs=1)
    return out, validation, corpus


def media(path: Path) -> MediaInput:
    return MediaInput(path=path, sha256=sha256_file(path), info=probe(path, MediaLimits()))


def test_collect_reads_labels_groups_and_provenance(tmp_path: Path) -> None:
    corpus = write_corpus(tmp_path / "c", n=4)
    items, provenance = collect([corpus])
    assert sum(i.label for i in items) == 4 and len(items) == 8
    assert {i.group for i in items if i.label} == {"system0", "system1", "system2", "system3"}
    assert provenance[0]["folder"] == "c" and len(provenance[0]["manifest_sha256"]) == 64
    only_real = write_corpus(tmp_path / "r", n=2, with_labels=False)
    with pytest.raises(BadInputError, match="both real and fake"):
        collect([only_real])


def test_recipe_writes_weights_descriptor_calibration_and_card(trained) -> None:
    out, validation, _ = trained
    descriptor = json.loads((out / "weights.json").read_text())
    assert descriptor["sha256"] == sha256_file(out / "lfcc_gmm.npz")
    assert [p["folder"] for p in descriptor["trained_on"]] == ["fakes", "reals"]
    assert validation["n_real"] == 12 and validation["n_fake"] == 8
    assert validation["auc"] > 0.9  # the band-limited fakes are separable on held-out systems
    calibration = json.loads((out / "calibration.json").read_text())
    assert calibration["detector"] == "audio.lfcc_gmm" and calibration["platt"]["slope"] > 0
    card = json.loads((out / "card.json").read_text())
    assert card["weights_sha256"] == descriptor["sha256"] and "fakes" in card["training_data"]


def test_detector_scores_fakes_higher_with_a_timeline(trained, tmp_path: Path) -> None:
    out, _, _ = trained
    detector = lfcc_gmm.LfccGmmDetector(weights_dir=out)
    real_path, fake_path = tmp_path / "r.wav", tmp_path / "f.wav"
    soundfile.write(real_path, voiced(5.0, f0=123, seed=500), SR)
    soundfile.write(fake_path, band_limited(voiced(5.0, f0=123, seed=501)), SR)
    real, fake = detector.analyze(media(real_path)), detector.analyze(media(fake_path))
    assert fake.raw_score > real.raw_score
    assert len(fake.series) >= 2 and fake.series[0].start_s == 0.0
    assert fake.weights_sha256 == json.loads((out / "weights.json").read_text())["sha256"]
    assert not fake.calibrated  # the engine applies calibration, the detector reports raw


def test_out_of_domain_inputs(trained, tmp_path: Path, clip: Path) -> None:
    out, _, _ = trained
    detector = lfcc_gmm.LfccGmmDetector(weights_dir=out)
    silence = tmp_path / "silence.wav"
    soundfile.write(silence, np.zeros(SR * 2, np.float32), SR)
    assert detector.analyze(media(silence)).out_of_domain == "less than 1 s of speech"
    short = tmp_path / "short.wav"
    soundfile.write(short, voiced(0.5), SR)
    assert detector.analyze(media(short)).out_of_domain == "less than 1 s of speech"
    from core import samples

    silent_video = samples.write_clip(tmp_path / "v.mp4", seconds=0.4, with_audio=False)
    assert detector.analyze(media(silent_video)).out_of_domain == "no audio track"


def test_tampered_or_missing_weights_are_refused(trained, tmp_path: Path) -> None:
    out, _, _ = trained
    bad = tmp_path / "bad"
    bad.mkdir()
    for name in ("weights.json", "lfcc_gmm.npz"):
        (bad / name).write_bytes((out / name).read_bytes())
    data = bytearray((bad / "lfcc_gmm.npz").read_bytes())
    data[-100] ^= 0xFF
    (bad / "lfcc_gmm.npz").write_bytes(bytes(data))
    with pytest.raises(DetectorError, match="refusing"):
        lfcc_gmm.LfccGmmDetector(weights_dir=bad)
    with pytest.raises(DetectorError, match="verity train"):
        lfcc_gmm.LfccGmmDetector(weights_dir=tmp_path / "empty")


def test_shipped_weights_load_and_match_their_descriptor() -> None:
    detector = lfcc_gmm.LfccGmmDetector()
    assert detector.spec.weights is not None
    assert detector.spec.weights.sha256 == sha256_file(lfcc_gmm.WEIGHTS_DIR / "lfcc_gmm.npz")
