"""audio.hf and visual.hf: local Hugging Face checkpoints built from tiny configs in the test."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile

from core.cli import main
from core.errors import DetectorError
from modalities import hf
from modalities.audio import hf as audio_hf
from modalities.visual import hf as visual_hf
from tests.modalities.test_audio_frontend import SR, voiced
from tests.modalities.test_audio_lfcc_gmm import media

transformers = pytest.importorskip("transformers")
torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def wav2vec2_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    config = transformers.Wav2Vec2Config(
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        conv_dim=(16, 16, 16),
        conv_stride=(5, 4, 4),
        conv_kernel=(10, 4, 4),
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=2,
        classifier_proj_size=8,
        id2label={0: "bonafide", 1: "spoof"},
        label2id={"bonafide": 0, "spoof": 1},
    )
    folder = tmp_path_factory.mktemp("w2v2")
    transformers.Wav2Vec2ForSequenceClassification(config).save_pretrained(folder)
    transformers.Wav2Vec2FeatureExtractor(sampling_rate=16_000).save_pretrained(folder)
    card = "---\nlicense: mit\n---\n# Tiny spoof classifier\nFor tests.\n"
    (folder / "README.md").write_text(card)
    return folder


@pytest.fixture(scope="module")
def vit_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    config = transformers.ViTConfig(
        image_size=32,
        patch_size=8,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        id2label={0: "real", 1: "fake"},
        label2id={"real": 0, "fake": 1},
    )
    folder = tmp_path_factory.mktemp("vit")
    transformers.ViTForImageClassification(config).save_pretrained(folder)
    transformers.ViTImageProcessorPil(size={"height": 32, "width": 32}).save_pretrained(folder)
    return folder


def test_audio_checkpoint_scores_windows_as_the_model_does(wav2vec2_dir: Path, tmp_path) -> None:
    path = tmp_path / "speech.wav"
    wave = voiced(9.0, seed=4)
    soundfile.write(path, wave, SR)
    detector = audio_hf.HfAudioDetector(model_dir=wav2vec2_dir)
    evidence = detector.analyze(media(path))
    assert evidence.detector == "audio.hf" and not evidence.calibrated
    assert evidence.weights_sha256 == hf.checkpoint_digest(wav2vec2_dir)
    assert [(p.start_s, p.end_s) for p in evidence.series] == [(0.0, 4.0), (4.0, 8.0), (8.0, 9.0)]
    # the same windows through the model by hand give the same per-window logits of p(spoof)
    decoded = media(path).audio_array(sample_rate=16_000)[0]
    model = transformers.AutoModelForAudioClassification.from_pretrained(wav2vec2_dir).eval()
    extractor = transformers.AutoFeatureExtractor.from_pretrained(wav2vec2_dir)
    for point in evidence.series:
        piece = decoded[int(point.start_s * SR) : int(point.end_s * SR)]
        with torch.no_grad():
            logits = model(**extractor([piece], sampling_rate=SR, return_tensors="pt")).logits
        p = float(torch.softmax(logits, dim=-1)[0, 1])
        assert point.score == pytest.approx(math.log(p / (1 - p)), abs=1e-3)
    codes = {f.code: f.value for f in evidence.findings}
    assert codes["fake_labels"] == "spoof" and codes["model_type"] == "wav2vec2"
    assert len(str(codes["model_card_sha256"])) == 64


def test_audio_checkpoint_reads_a_long_recording_passage_by_passage(
    wav2vec2_dir: Path, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Passages of 5 s stand for 10 minutes: a 12-s recording is read in three passages of 4 s
    (1.1.0), windowed from each passage's start, every window at its time in the recording and
    scored as the same piece read whole would be."""
    from modalities.audio import passages

    path = tmp_path / "long.wav"
    soundfile.write(path, voiced(12.0, seed=5), SR)
    detector = audio_hf.HfAudioDetector(model_dir=wav2vec2_dir)
    whole = detector.analyze(media(path))
    monkeypatch.setattr(passages, "WHOLE_S", 5.0)
    monkeypatch.setattr(passages, "PASSAGE_S", 5.0)
    split = detector.analyze(media(path))
    assert [(p.start_s, p.end_s) for p in whole.series] == [(0.0, 4.0), (4.0, 8.0), (8.0, 12.0)]
    assert [(p.start_s, p.end_s) for p in split.series] == [(0.0, 4.0), (4.0, 8.0), (8.0, 12.0)]
    for a, b in zip(whole.series, split.series, strict=True):
        assert a.score == pytest.approx(b.score, abs=1e-4)
    assert "truncated_analysis" not in {f.code for f in split.findings}
    monkeypatch.setattr(passages, "MAX_READ_S", 10.0)  # two passages of 5 s: 0-5 and 7-13 s
    spread = detector.analyze(media(path))
    assert [p.start_s for p in spread.series] == [0.0, 4.0, 7.0, 11.0]
    truncated = next(f for f in spread.findings if f.code == "truncated_analysis")
    assert truncated.value == pytest.approx(10.0) and "0–5, 7–12 s" in truncated.message


def test_image_checkpoint_on_an_image_and_a_video(vit_dir: Path, photo: Path, clip: Path) -> None:
    detector = visual_hf.HfImageDetector(model_dir=vit_dir)
    still = detector.analyze(media(photo))
    assert still.detector == "visual.hf" and still.series == () and 0 < still.p_fake < 1
    assert any(f.code == "model_card" for f in still.findings)  # no README: said, not hidden
    moving = detector.analyze(media(clip))
    assert len(moving.series) == 2  # a 2 s clip at 1 frame per second
    assert moving.raw_score == pytest.approx(max(p.score for p in moving.series))


def test_bad_checkpoints_are_refused_clearly(tmp_path: Path, vit_dir: Path) -> None:
    with pytest.raises(DetectorError, match="never downloads"):
        visual_hf.HfImageDetector()
    with pytest.raises(DetectorError, match="hub ids are not fetched"):
        visual_hf.HfImageDetector(model_dir="google/vit-base-patch16-224")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DetectorError, match=r"no config\.json"):
        visual_hf.HfImageDetector(model_dir=tmp_path / "empty")
    unnamed = tmp_path / "unnamed"
    unnamed.mkdir()
    for item in vit_dir.iterdir():
        (unnamed / item.name).write_bytes(item.read_bytes())
    config = json.loads((unnamed / "config.json").read_text())
    config["id2label"] = {"0": "LABEL_0", "1": "LABEL_1"}
    config["label2id"] = {"LABEL_0": 0, "LABEL_1": 1}
    (unnamed / "config.json").write_text(json.dumps(config))
    with pytest.raises(DetectorError, match="fake_label"):
        visual_hf.HfImageDetector(model_dir=unnamed)
    named = visual_hf.HfImageDetector(model_dir=unnamed, fake_label="LABEL_1")
    assert named.checkpoint.fake_indices == (1,)
    assert hf.checkpoint_digest(unnamed) != hf.checkpoint_digest(vit_dir)


def test_cli_runs_a_checkpoint_only_when_given(home: Path, capsys, photo: Path, vit_dir) -> None:
    assert main(["analyze", str(photo), "--json"]) == 0
    plain = json.loads(capsys.readouterr().out)
    assert "visual.hf" not in [d["name"] for d in plain["detectors"]]
    assert main(["analyze", str(photo), "--model-dir", f"visual.hf={vit_dir}", "--json"]) == 0
    with_hf = {d["name"]: d for d in json.loads(capsys.readouterr().out)["detectors"]}
    assert with_hf["visual.hf"]["status"] == "ok"
    assert main(["analyze", str(photo), "--model-dir", f"visual.metadata={vit_dir}"]) == 2
    assert "takes no --model-dir" in capsys.readouterr().err
    assert main(["analyze", str(photo), "--model-dir", "visual.hf"]) == 2
    assert "NAME=DIR" in capsys.readouterr().err


def test_a_missing_checkpoint_is_bad_input_not_a_stored_error(
    home: Path, capsys, photo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Asked for by name without a folder, or configured at a folder that is not there: exit 2
    before anything is filed, not an analysis holding a detector error."""
    from tests.test_cli import snapshot

    assert main(["case", "list"]) == 0
    before = snapshot()
    assert main(["analyze", str(photo), "--detectors", "visual.hf"]) == 2
    err = capsys.readouterr().err
    assert "visual.hf needs a local checkpoint" in err and len(err.strip().splitlines()) == 1
    monkeypatch.setenv("VERITY_MODELS__VISUAL_HF_DIR", str(tmp_path / "nowhere"))
    assert main(["analyze", str(photo)]) == 2
    err = capsys.readouterr().err
    assert "setting models.visual_hf_dir" in err and "nowhere" in err
    assert snapshot() == before


def test_reproduce_reruns_a_checkpoint_from_the_folder_the_analysis_recorded(
    home: Path, capsys, photo: Path, vit_dir: Path, tmp_path: Path
) -> None:
    """The folder is recorded with the result (`options`); `reproduce` builds the checkpoint
    from it (up to engine 0.2.3 it compared the cited weights with the registry's, which has
    none for a user's checkpoint, and refused), and says so clearly once the folder is gone."""
    folder = tmp_path / "vit"
    shutil.copytree(vit_dir, folder)
    assert main(["analyze", str(photo), "--model-dir", f"visual.hf={folder}", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    hf_result = next(d for d in result["detectors"] if d["name"] == "visual.hf")
    assert hf_result["options"] == {"model_dir": str(folder)}
    report = tmp_path / "r.json"
    assert main(["report", result["case_id"], "-f", "json", "-o", str(report)]) == 0
    capsys.readouterr()
    assert main(["reproduce", str(report)]) == 0
    assert "same E1 " in (out := capsys.readouterr().out) and "visual.hf: raw" in out
    shutil.rmtree(folder)
    assert main(["reproduce", str(report)]) == 3
    out = capsys.readouterr().out
    assert f"visual.hf: cannot build it with the recorded options (model_dir={folder})" in out


def test_top_k_mean_keeps_a_short_fake_stretch() -> None:
    scores = np.array([-3.0] * 6 + [4.0, 4.0])  # two suspicious windows of eight
    assert hf.top_k_mean(scores) == 4.0 and scores.mean() < 0
    assert hf.top_k_mean(np.array([1.0, 2.0, 3.0, 4.0, 5.0])) == pytest.approx(4.5)
