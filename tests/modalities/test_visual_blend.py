"""visual.blend: self-blended pseudo-fakes, the recipe end to end on real faces, the detector."""

from __future__ import annotations

import io
import json
import stat
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import modalities
from core.config import MediaLimits
from core.detector import MediaInput
from core.errors import BadInputError, DetectorError
from core.media import probe
from core.store import sha256_file
from modalities.visual import aggregate, blend, blend_net, faces
from modalities.visual.synthesis import self_blend
from modalities.visual.training import blend as recipe
from tests.modalities.visual_faces_media import (
    astronaut,
    drifting_face_frames,
    face_video,
    group_picture,
    moved,
    small_face_frames,
)

TINY = {"steps": 3, "batch_faces": 4, "width": 8, "workers": 0}


def media(path: Path) -> MediaInput:
    return MediaInput(path=path, sha256=sha256_file(path), info=probe(path, MediaLimits()))


@pytest.fixture(scope="module")
def face_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two 'sources' of real faces: the astronaut moved, rotated, scaled, mirrored, greyed."""
    root = tmp_path_factory.mktemp("faces")
    lines = ["file,kind,category"]
    for k, source in enumerate(("alpha", "beta")):
        (root / "faces" / source).mkdir(parents=True)
        for i in range(3):
            pic = moved(astronaut(), dx=10 * i - 10, dy=5 * k, angle=4 * i - 4, scale=0.9 + 0.1 * k)
            pic = pic[:, ::-1] if k else np.ascontiguousarray(pic.mean(axis=2).astype(np.uint8))
            name = f"faces/{source}/{i}.png"
            Image.fromarray(np.ascontiguousarray(pic)).save(root / name)
            lines.append(f"{name},image,face_photo")
    (root / "faces" / "alpha" / "none.png").parent.mkdir(exist_ok=True)
    Image.fromarray(np.full((90, 90, 3), 128, np.uint8)).save(root / "faces/alpha/none.png")
    lines.append("faces/alpha/none.png,image,face_photo")  # no face: skipped, not an error
    (root / "manifest.csv").write_text("\n".join(lines) + "\n")
    return root


@pytest.fixture(scope="module")
def trained(face_folder: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("blend-weights")
    return out, recipe.train([face_folder], out, jobs=1, config=TINY, hold_out=("beta",))


def test_self_blend_changes_only_inside_the_mask() -> None:
    rng = np.random.default_rng(0)
    crop = faces.aligned_crop(astronaut(), faces.detect_faces(astronaut())[0], 144, 0.9)
    matrix = faces.crop_transform(faces.detect_faces(astronaut())[0], 144, 0.9)
    landmarks = faces.transform_points(faces.detect_faces(astronaut())[0].landmarks, matrix)
    fake, boundary = self_blend.self_blend(crop, landmarks, rng)
    assert fake.shape == crop.shape and fake.dtype == np.uint8
    assert boundary.shape == (144, 144) and boundary.min() >= 0 and boundary.max() <= 1
    diff = np.abs(fake.astype(int) - crop).sum(axis=2)
    assert diff[:6, :].max() == 0 and diff[60:90, 55:90].mean() > 0  # corners kept, face changed
    grey = np.repeat(crop.mean(axis=2, keepdims=True).astype(np.uint8), 3, axis=2)
    grey_fake, _ = self_blend.self_blend(grey, landmarks, np.random.default_rng(1))
    assert faces.is_grayscale(grey_fake)  # colour never tells a grey pseudo-fake apart
    assert self_blend.degrade(crop, rng).shape == crop.shape


def test_aggregation() -> None:
    assert aggregate.top_k_mean([0.0, 1.0, 2.0, 3.0]) == 2.5
    assert aggregate.top_k_mean([5.0]) == 5.0
    score, best = aggregate.clip_score([0.1, 3.0, 0.5], [10, 1, 8])
    assert (score, best) == (0.5, 2)  # the 1-frame track is too short to decide
    with pytest.raises(ValueError):
        aggregate.top_k_mean([])


def test_recipe_writes_weights_descriptor_and_card(trained, face_folder: Path) -> None:
    out, validation = trained
    descriptor = json.loads((out / "weights.json").read_text())
    assert descriptor["sha256"] == sha256_file(out / "blend.npz")
    assert descriptor["recipe"]["hold_out"] == ["beta"] and descriptor["recipe"]["steps"] == 3
    assert validation["faces_per_source"] == {"alpha": 3, "beta": 3}  # the blank picture: none
    assert validation["n_real"] == validation["n_fake"] == 3
    assert set(validation["by_held_out_source"]) == {"beta"}
    card = json.loads((out / "card.json").read_text())
    assert card["weights_sha256"] == descriptor["sha256"]
    assert "non-commercial" in card["licence"]["face_landmarks"]
    assert card["validation"]["auc"] == validation["auc"]
    for name in ("blend.npz", "weights.json", "card.json"):
        assert stat.S_IMODE((out / name).stat().st_mode) == 0o644
    assert (out / "blend.npz").stat().st_size < 30 * 2**20


def test_same_data_and_seed_give_the_same_weights(
    trained, face_folder: Path, tmp_path: Path
) -> None:
    out, validation = trained
    again = recipe.train([face_folder], tmp_path, jobs=1, config=TINY, hold_out=("beta",))
    assert sha256_file(tmp_path / "blend.npz") == sha256_file(out / "blend.npz")
    assert again["auc"] == validation["auc"]


def test_extra_fakes_fine_tune_from_trained_weights(
    trained, face_folder: Path, tmp_path: Path, home: Path, capsys
) -> None:
    """--extra-fakes (generator fakes on the fake side) and --init: the control arm (same call
    without extra fakes) and the treatment differ only by those fakes."""
    from core.cli import main

    out, _ = trained
    fakes = tmp_path / "lab"
    (fakes / "fake").mkdir(parents=True)
    for i in range(2):  # stand-ins for swaps: faces with a visible change
        pic = moved(astronaut(), dx=6 * i, dy=0, angle=0, scale=1.0)
        pic[150:260, 180:300] = pic[150:260, 180:300] // 2
        Image.fromarray(pic).save(fakes / "fake" / f"{i}.png")
    (fakes / "manifest.csv").write_text(
        "file,label,kind\nfake/0.png,fake,image\nfake/1.png,fake,image\n"
    )
    arms = {}
    for arm, extra in (("control", None), ("treatment", [fakes])):
        arms[arm] = tmp_path / arm
        recipe.train(
            [face_folder], arms[arm], jobs=1, config=TINY, hold_out=("beta",), init=out,
            extra_fakes=extra,
        )  # fmt: skip
    card = json.loads((arms["treatment"] / "weights.json").read_text())["recipe"]
    assert card["extra_fakes"]["faces"] == 2 and card["lr"] == recipe.FINE_TUNE_LR
    assert card["init_sha256"] == sha256_file(out / "blend.npz")
    assert "extra_fakes" not in json.loads((arms["control"] / "weights.json").read_text())["recipe"]
    assert sha256_file(arms["control"] / "blend.npz") != sha256_file(
        arms["treatment"] / "blend.npz"
    )
    with pytest.raises(BadInputError, match="no fake"):
        recipe.train([face_folder], tmp_path / "x", jobs=1, config=TINY, extra_fakes=[face_folder])
    # the CLI keeps shipped weights out of reach and the options to the recipe that has them
    base = ["train", "visual.blend", "--data", str(face_folder), "--init", str(out)]
    assert main(base) == 2 and "need --out" in capsys.readouterr().err
    assert main(["train", "visual.spectrum", "--data", str(face_folder), "--steps", "2",
                 "--out", str(tmp_path / "s")]) == 2  # fmt: skip
    assert "visual.blend only" in capsys.readouterr().err


def test_recipe_refuses_data_without_two_sides(face_folder: Path, tmp_path: Path) -> None:
    with pytest.raises(BadInputError, match="held-out"):
        recipe.train([face_folder], tmp_path, jobs=1, config=TINY, hold_out=("nowhere",))
    assert "visual.blend" in modalities.TRAINERS


def test_network_round_trips(trained) -> None:
    out, _ = trained
    model = blend_net.load(out / "blend.npz")
    crops = np.random.default_rng(0).integers(0, 255, (2, 128, 128, 3), dtype=np.uint8)
    logits, maps = blend_net.predict(model, crops)
    again, _ = blend_net.predict(blend_net.load(out / "blend.npz"), crops)
    assert logits.shape == (2,) and maps.shape == (2, 16, 16)
    np.testing.assert_allclose(logits, again, rtol=1e-5)


def test_detector_scores_a_photo_with_a_heatmap(trained, home: Path, tmp_path: Path) -> None:
    out, _ = trained
    path = tmp_path / "astronaut.png"
    Image.fromarray(astronaut()).save(path)
    given = media(path)
    evidence = blend.build(weights_dir=out).analyze(given)
    assert evidence.out_of_domain is None and np.isfinite(evidence.raw_score)
    assert evidence.detector == "visual.blend" and evidence.llr == 0.0
    assert evidence.weights_sha256 == sha256_file(out / "blend.npz")
    codes = {f.code: f.value for f in evidence.findings}
    assert codes["faces_tracked"] >= 1 and "track_0_score" in codes
    (heatmap,) = evidence.artifacts
    assert heatmap.kind == "heatmap.blend_boundary" and heatmap.media_type == "image/png"
    blob = given.artifacts.get(heatmap.sha256)  # handed to the analysis, stored with it
    assert blob is not None and blob.media_type == "image/png"
    png = Image.open(io.BytesIO(blob.data))
    assert png.size == (128, 128)


def test_detector_on_video_gives_per_frame_series(trained, home: Path, tmp_path: Path) -> None:
    out, _ = trained
    video = face_video(tmp_path / "face.mp4", drifting_face_frames(10), fps=5)
    evidence = blend.build(weights_dir=out).analyze(media(video))
    assert evidence.out_of_domain is None
    assert [round(p.start_s, 1) for p in evidence.series] == [0.0, 0.6, 1.0, 1.6]  # 2 fps of 5
    assert all(np.isfinite(p.score) for p in evidence.series)
    assert max(p.score for p in evidence.series) >= evidence.raw_score - 1e-6


def test_no_face_and_tiny_faces_are_out_of_domain(trained, home: Path, tmp_path: Path) -> None:
    out, _ = trained
    detector = blend.build(weights_dir=out, save_heatmaps=False)
    blank, tiny = tmp_path / "blank.png", tmp_path / "tiny.png"
    Image.fromarray(np.full((200, 300, 3), 90, np.uint8)).save(blank)
    Image.fromarray(np.asarray(Image.fromarray(astronaut()).resize((256, 256)))).save(tiny)
    none = detector.analyze(media(blank))
    assert none.out_of_domain == "no face found" and any(
        f.code == "flag_no_face" for f in none.findings
    )
    small = detector.analyze(media(tiny))
    assert small.out_of_domain and "smaller than" in small.out_of_domain
    assert not small.artifacts


def test_a_small_face_in_a_large_picture_is_looked_at_again(
    trained, home: Path, tmp_path: Path
) -> None:
    """An 89-px face in a 2048-px picture is lost when the picture is shrunk to 1280 px for the
    first look (56 px there), and scored on a second, larger look, which the evidence names. The
    43-px face of a 1024-px picture, lost on the 640-px copy the first look sought faces on, is
    found on the whole picture and named too small to score ("no face found" before); a large
    face is scored on the first look, as before, and a picture of 640 px or less was seen whole
    the first time."""
    out, _ = trained
    detector = blend.build(weights_dir=out, save_heatmaps=False)
    paths = {}
    for name, width, side in (
        ("big", 2048, 80),
        ("small", 1024, 40),
        ("large_face", 2048, 300),
        ("whole", 640, 40),
    ):
        paths[name] = tmp_path / f"{name}.png"
        Image.fromarray(group_picture(width, side)).save(paths[name])
    seen = detector.analyze(media(paths["big"]))
    codes = {f.code: f.value for f in seen.findings}
    assert seen.out_of_domain is None and np.isfinite(seen.raw_score)
    assert codes["picture_looked_again"] == 2048
    assert codes["track_0_score"] == pytest.approx(seen.raw_score, abs=1e-4)
    small = detector.analyze(media(paths["small"]))
    assert small.out_of_domain == f"only faces smaller than {faces.MIN_RELIABLE_SIDE} px"
    assert {f.code: f.value for f in small.findings}["picture_looked_again"] == 1024
    for name in ("large_face", "whole"):
        first_look = detector.analyze(media(paths[name]))
        assert "picture_looked_again" not in {f.code for f in first_look.findings}, name


def test_a_small_face_in_a_large_video_is_looked_at_again(
    trained, home: Path, tmp_path: Path
) -> None:
    """A video's faces are sought on 640-px copies of its frames: a 40-px face in a 720p video
    was "no face found"; a second look at full size names it too small to score, with its size.
    A 70-px face in a 1080p video (47 px in the 1280-px frames sampled, 23 px on the copy) is
    scored once the video is analysed at full size. A video whose faces were found is not looked
    at again."""
    out, _ = trained
    detector = blend.build(weights_dir=out, save_heatmaps=False)
    small = face_video(tmp_path / "small.mp4", small_face_frames(1280, 720, 40), fps=2)
    tiny = detector.analyze(media(small))
    codes = {f.code: f.value for f in tiny.findings}
    assert tiny.out_of_domain == f"only faces smaller than {faces.MIN_RELIABLE_SIDE} px"
    assert codes["video_looked_again"] == 1280 and 36 <= codes["largest_face_px"] < 64
    hd = face_video(tmp_path / "hd.mp4", small_face_frames(1920, 1080, 70), fps=2)
    scored = detector.analyze(media(hd))
    codes = {f.code: f.value for f in scored.findings}
    assert scored.out_of_domain is None and np.isfinite(scored.raw_score)
    assert codes["video_looked_again"] == 1920 and codes["faces_tracked"] >= 1
    assert codes["track_0_score"] == pytest.approx(scored.raw_score, abs=1e-4)
    normal = face_video(tmp_path / "normal.mp4", drifting_face_frames(4), fps=2)
    assert "video_looked_again" not in {f.code for f in detector.analyze(media(normal)).findings}


def test_tampered_weights_are_refused(trained, tmp_path: Path) -> None:
    out, _ = trained
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "weights.json").write_bytes((out / "weights.json").read_bytes())
    data = bytearray((out / "blend.npz").read_bytes())
    data[-60] ^= 1
    (bad / "blend.npz").write_bytes(bytes(data))
    with pytest.raises(DetectorError, match="refusing"):
        blend.build(weights_dir=bad)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize(("dtype", "atol"), [(torch.float32, 1e-3), (torch.float64, 1e-9)])
def test_gpu_and_cpu_agree(trained, dtype: torch.dtype, atol: float) -> None:
    """Training's precision and the detector's (double since 1.0.1) give the CPU's logits."""
    out, _ = trained
    crops = np.random.default_rng(1).integers(0, 255, (4, 128, 128, 3), dtype=np.uint8)
    cpu, _ = blend_net.predict(blend_net.load(out / "blend.npz", "cpu", dtype), crops)
    gpu, _ = blend_net.predict(blend_net.load(out / "blend.npz", "cuda", dtype), crops)
    np.testing.assert_allclose(cpu, gpu, atol=atol)
