"""visual.spectrum: spectral features, generator-style pseudo-fakes, recipe and detector."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from core.config import MediaLimits
from core.detector import MediaInput
from core.errors import BadInputError, DetectorError
from core.media import probe
from core.store import sha256_file
from modalities.visual import spectrum, spectrum_features
from modalities.visual.synthesis import upsampling
from modalities.visual.training import spectrum as recipe


def photo_like(size: int = 192, seed: int = 0) -> np.ndarray:
    """1/f-like texture with a few edges: the spectrum of natural images, no up-sampling."""
    rng = np.random.default_rng(seed)
    layers = [ndimage.gaussian_filter(rng.normal(size=(size, size)), s) * s for s in (1, 3, 8, 20)]
    img = sum(layers)
    img[size // 3 :, : size // 2] += 2.0
    img = (img - img.min()) / (img.max() - img.min()) * 255
    colour = np.stack([img, img * 0.9, img * 0.7], axis=-1)
    return colour.astype(np.uint8)


def test_features_shape_and_small_images() -> None:
    feats = spectrum_features.features(photo_like())
    assert feats is not None and feats.shape == (spectrum_features.N_FEATURES,)
    assert np.isfinite(feats).all()
    assert spectrum_features.features(photo_like(100)) is None  # below one 128-px tile
    grey = spectrum_features.features(photo_like()[..., 0])
    assert grey is not None and grey.shape == feats.shape


def test_npr_residual_removes_what_nearest_neighbour_enlargement_made() -> None:
    """The residual is what a 2× nearest-neighbour copy cannot explain: nothing, for a picture
    that is such a copy; the texture of a picture that is not; odd sides lose their last row."""
    small = spectrum_features.luminance(photo_like(97))
    enlarged = np.repeat(np.repeat(small, 2, axis=0), 2, axis=1)
    assert not spectrum_features.npr_residual(enlarged).any()
    natural = spectrum_features.npr_residual(spectrum_features.luminance(photo_like(193)))
    assert natural.shape == (192, 192)
    assert natural[::2, ::2].max() == 0 and np.abs(natural).mean() > 0.5
    assert spectrum_features.npr_residual(np.full((150, 151), 7.0)).shape == (150, 150)


@pytest.mark.parametrize("shape", [(301, 517, 3), (1002, 257, 3), (640, 480, 4), (333, 129)])
def test_residual_tiles_are_the_whole_pictures_residual_cut_into_tiles(
    shape: tuple[int, ...],
) -> None:
    """Odd sides and odd tile corners (centre of a 1002-row picture: row 437) included."""
    img = np.random.default_rng(sum(shape)).integers(0, 256, shape, dtype=np.uint8)
    whole = spectrum_features.tiles(
        spectrum_features.npr_residual(spectrum_features.luminance(img))
    )
    cut = spectrum_features.residual_tiles(img)
    assert len(cut) == len(whole) > 0
    assert all(np.array_equal(a, b) for a, b in zip(cut, whole, strict=True))


def test_a_large_picture_costs_the_memory_of_its_tiles() -> None:
    """A 4096×4096 picture: its residual in double precision would take 400 MB and more."""
    import tracemalloc

    img = np.random.default_rng(5).integers(0, 256, (4096, 4096, 3), dtype=np.uint8)
    tracemalloc.start()
    try:
        assert spectrum_features.features(img) is not None
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 20e6, peak


def test_transposed_upsampling_leaves_grid_peaks() -> None:
    rng = np.random.default_rng(3)
    img = photo_like(256, seed=4)
    real = spectrum_features.features(img)
    fake = spectrum_features.features(upsampling.upsample_like_a_generator(img, rng, "transposed"))
    assert real is not None and fake is not None
    assert fake[64:68].max() > real[64:68].max() + 1.0  # peak features at the grid frequencies


def test_pseudo_fakes_keep_shape_and_dtype() -> None:
    rng = np.random.default_rng(0)
    img = photo_like(150)
    for method in upsampling.METHODS:
        out = upsampling.upsample_like_a_generator(img, rng, method)
        assert out.shape == img.shape and out.dtype == np.uint8
    with pytest.raises(ValueError, match="unknown"):
        upsampling.upsample_like_a_generator(img, rng, "magic")
    assert upsampling.jpeg_roundtrip(img, 80).shape == img.shape


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("photos")
    lines = ["file,kind,category"]
    for k, source in enumerate(("alpha", "beta")):
        (root / "faces" / source).mkdir(parents=True)
        for i in range(10):
            name = f"faces/{source}/{i}.png"
            Image.fromarray(photo_like(176, seed=100 * k + i)).save(root / name)
            lines.append(f"{name},image,face_photo")
    (root / "manifest.csv").write_text("\n".join(lines) + "\n")
    out = root / "weights"
    return out, recipe.train([root], out, jobs=1)


def test_recipe_writes_uncalibrated_weights_and_card(trained) -> None:
    out, validation = trained
    descriptor = json.loads((out / "weights.json").read_text())
    assert descriptor["sha256"] == sha256_file(out / "spectrum_head.npz")
    assert not (out / "calibration.json").exists()  # pseudo-fake calibration is not shipped
    assert (out / "pseudo-fake-calibration.json").is_file()
    assert validation["n_real"] == validation["n_fake"] == 20
    assert set(validation["by_held_out_method"]) == set(upsampling.METHODS)
    card = json.loads((out / "card.json").read_text())
    assert card["calibration_data"] == recipe.CALIBRATION_NOTE


def test_detector_scores_images_and_refuses_small_ones(trained, tmp_path: Path) -> None:
    out, _ = trained
    detector = spectrum.SpectrumDetector(weights_dir=out)
    big, small = tmp_path / "big.png", tmp_path / "small.png"
    Image.fromarray(photo_like(200, seed=77)).save(big)
    Image.fromarray(photo_like(100, seed=78)).save(small)

    def media(path: Path) -> MediaInput:
        return MediaInput(path=path, sha256=sha256_file(path), info=probe(path, MediaLimits()))

    evidence = detector.analyze(media(big))
    assert evidence.out_of_domain is None and np.isfinite(evidence.raw_score)
    assert evidence.llr == 0.0 and not evidence.calibrated
    assert "minimum resolution" in (detector.analyze(media(small)).out_of_domain or "")


def test_video_frames_give_a_timeline(trained, clip: Path) -> None:
    out, _ = trained
    media = MediaInput(path=clip, sha256=sha256_file(clip), info=probe(clip, MediaLimits()))
    evidence = spectrum.SpectrumDetector(weights_dir=out).analyze(media)
    assert [p.start_s for p in evidence.series] == [0.0, 1.0]
    assert any(f.code == "video_compression" for f in evidence.findings)


def test_tampered_weights_are_refused(trained, tmp_path: Path) -> None:
    out, _ = trained
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "weights.json").write_bytes((out / "weights.json").read_bytes())
    data = bytearray((out / "spectrum_head.npz").read_bytes())
    data[-50] ^= 1
    (bad / "spectrum_head.npz").write_bytes(bytes(data))
    with pytest.raises(DetectorError, match="refusing"):
        spectrum.SpectrumDetector(weights_dir=bad)


def test_recipe_takes_extra_generator_fakes(tmp_path: Path) -> None:
    """``--extra-fakes``: a generator's outputs (label fake) join the pseudo-fakes, never as a
    held-out photo source of their own."""
    root, extra = tmp_path / "photos", tmp_path / "gan"
    lines, fake_lines = ["file,kind,category"], ["file,label,kind,category"]
    (root / "faces" / "alpha").mkdir(parents=True)
    (root / "faces" / "beta").mkdir(parents=True)
    (extra / "fake").mkdir(parents=True)
    for i in range(20):
        name = f"faces/{('alpha', 'beta')[i % 2]}/{i}.png"
        Image.fromarray(photo_like(160, seed=i)).save(root / name)
        lines.append(f"{name},image,face_photo")
    for i in range(6):
        Image.fromarray(photo_like(128, seed=500 + i)).save(extra / "fake" / f"{i}.png")
        fake_lines.append(f"fake/{i}.png,fake,image,lab_gan")
    fake_lines.append("fake/missing-real.png,real,image,lab_gan")  # reals there are not read
    (root / "manifest.csv").write_text("\n".join(lines) + "\n")
    (extra / "manifest.csv").write_text("\n".join(fake_lines) + "\n")
    out = tmp_path / "weights"
    validation = recipe.train([root], out, jobs=1, extra_fakes=[extra])
    assert validation["n_real"] == 20 and validation["n_fake"] == 26
    assert set(validation["by_held_out_source"]) == {"alpha", "beta"}
    descriptor = json.loads((out / "weights.json").read_text())
    assert descriptor["recipe"]["extra_fakes"]["n"] == 6
    assert descriptor["recipe"]["extra_fakes"]["trained_on"][0]["folder"] == "gan"
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "manifest.csv").write_text("file,label,kind\n")
    with pytest.raises(BadInputError, match="no fake images"):
        recipe.train([root], tmp_path / "w2", jobs=1, extra_fakes=[empty])


def test_interlaced_video_is_out_of_domain(tmp_path: Path) -> None:
    from tests.test_media import woven_clip

    for interlaced in (True, False):
        path = woven_clip(tmp_path / f"{interlaced}.mp4", interlaced, size=(320, 240))
        media = MediaInput(path=path, sha256=sha256_file(path), info=probe(path, MediaLimits()))
        evidence = spectrum.build().analyze(media)
        assert (evidence.out_of_domain == spectrum.INTERLACED) is interlaced
