"""The lab's GAN face generator: networks, training pieces, model files, ``verity lab gan``.

Everything runs on tiny generated images and tiny configs; the one data-dependent test (face
crops from ../shared/train-corpus) skips when the corpus is not on the machine.
"""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from core.cli import main
from core.config import MediaLimits
from core.credentials import read_credentials
from core.errors import BadInputError
from core.media import probe
from modalities.visual.synthesis import stylegan
from modalities.visual.synthesis.stylegan_net import (
    Discriminator,
    GanConfig,
    Generator,
    ModulatedConv2d,
    minibatch_stddev,
)
from modalities.visual.training import spectrum as spectrum_recipe
from provenance.lab_credentials import TRAINED_ALGORITHMIC, is_lab_output

TINY = GanConfig(resolution=16, z_dim=16, w_dim=16, mapping_layers=2, channels={4: 16, 8: 8, 16: 8})
CORPUS = Path(__file__).resolve().parents[2] / "shared" / "train-corpus"


def _images(n: int = 8, size: int = 16, seed: int = 0) -> np.ndarray:
    """Smooth blobs (not white noise), so the discriminator has structure to look at."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size] / size
    out = []
    for _ in range(n):
        cy, cx = rng.uniform(0.3, 0.7, 2)
        blob = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / 0.05)
        colour = rng.uniform(60, 255, 3)
        out.append((blob[..., None] * colour).astype(np.uint8))
    return np.stack(out)


def _options(**kw: object) -> stylegan.TrainOptions:
    values: dict = {"steps": 4, "batch": 4, "r1_interval": 2, "seed": 0}
    values.update(kw)
    return stylegan.TrainOptions(**values)


@pytest.fixture
def tiny_model(tmp_path: Path) -> Path:
    torch.manual_seed(0)
    path = tmp_path / "tiny.pt"
    stylegan.save_model(Generator(TINY), path, {"steps": 0, "trained_on": []})
    return path


def test_modulated_conv_shapes_and_demodulation() -> None:
    torch.manual_seed(0)
    conv = ModulatedConv2d(8, 16, 3, w_dim=4)
    plain = ModulatedConv2d(8, 16, 3, w_dim=4, demodulate=False)
    x, w = torch.randn(4, 8, 12, 12), torch.randn(4, 4)
    with torch.no_grad():  # shapes and scales only: no graph needed
        out, base = conv(x, w), plain(x, w)
        assert out.shape == (4, 16, 12, 12)
        assert 0.5 < float(out.std()) < 2.0  # unit-variance input stays about unit variance
        for layer in (conv, plain):  # ten times the style
            layer.affine.weight.mul_(10)
            layer.affine.bias.mul_(10)
        assert torch.allclose(conv(x, w), out, atol=1e-4)  # demodulated: the same output
        assert float(plain(x, w).std() / base.std()) == pytest.approx(10, rel=1e-3)


def test_generator_and_discriminator_shapes() -> None:
    generator, discriminator = Generator(TINY), Discriminator(TINY)
    images = generator(torch.randn(6, TINY.z_dim))
    assert images.shape == (6, 3, 16, 16)
    assert discriminator(images).shape == (6,)
    stats = minibatch_stddev(torch.randn(6, 5, 4, 4))
    assert stats.shape == (6, 6, 4, 4)
    assert float(stats[:, 5].std()) > 0  # group statistic varies between groups
    with pytest.raises(ValueError, match="power of two"):
        GanConfig(resolution=48)


def test_tiny_training_losses_finite_with_r1() -> None:
    trainer = stylegan.GanTrainer(TINY, _images(), _options())
    before = [p.detach().clone() for p in trainer.generator.parameters()]
    history = [trainer.step() for _ in range(4)]
    assert all(np.isfinite(v) for losses in history for v in losses.values())
    assert ["r1" in losses for losses in history] == [True, False, True, False]
    assert history[0]["r1"] > 0
    moved = [
        not torch.equal(a, b) for a, b in zip(before, trainer.generator.parameters(), strict=True)
    ]
    assert any(moved)
    assert float(trainer.generator.w_avg.abs().sum()) > 0  # running average style updated


def test_perceptual_term_uses_a_self_trained_feature_net() -> None:
    trainer = stylegan.GanTrainer(TINY, _images(), _options(perceptual_weight=1.0, feature_steps=5))
    assert trainer.feature_net is not None
    assert not any(p.requires_grad for p in trainer.feature_net.parameters())
    losses = trainer.step()
    assert np.isfinite(losses["perceptual"]) and losses["perceptual"] >= 0


def test_r1_is_zero_for_a_constant_discriminator() -> None:
    class Constant(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x.sum(dim=(1, 2, 3)) * 0 + 1

    reals = torch.randn(3, 3, 8, 8)
    assert float(stylegan.r1_penalty(Constant(), reals)) == 0.0
    linear = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(192, 1, bias=False))
    expected = float(linear[1].weight.detach().pow(2).sum())  # gradient of a linear map: weights
    penalty = stylegan.r1_penalty(lambda x: linear(x)[:, 0], reals).detach()
    assert float(penalty) == pytest.approx(expected)


def test_ema_update_moves_by_one_minus_beta() -> None:
    model, ema = torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)
    with torch.no_grad():
        model.weight.fill_(1.0)
        ema.weight.fill_(0.0)
    stylegan.ema_update(ema, model, beta=0.75)
    assert torch.allclose(ema.weight, torch.full((2, 2), 0.25))


def test_same_seed_same_training_and_faces() -> None:
    runs = []
    for seed in (3, 3, 4):
        trainer = stylegan.GanTrainer(TINY, _images(), _options(seed=seed))
        losses = [trainer.step() for _ in range(3)]
        runs.append((losses, stylegan.generate(trainer.ema, 11)))
    assert runs[0][0] == runs[1][0] and np.array_equal(runs[0][1], runs[1][1])
    assert runs[0][0] != runs[2][0]
    generator = runs[0]
    assert generator[1].shape == (16, 16, 3) and generator[1].dtype == np.uint8


def test_truncation_zero_gives_the_average_face() -> None:
    torch.manual_seed(1)
    generator = Generator(TINY).eval()
    a, b = (stylegan.generate(generator, s, truncation=1e-6) for s in (1, 2))
    assert np.abs(a.astype(int) - b).max() <= 1  # fresh noise strengths are zero
    assert not np.array_equal(stylegan.generate(generator, 1), stylegan.generate(generator, 2))
    assert stylegan.generate(generator, 1, size=40).shape == (40, 40, 3)


def test_train_writes_model_grid_and_snapshots(tmp_path: Path) -> None:
    out = tmp_path / "gan.pt"
    result = stylegan.train(
        _images(), out, config=TINY, options=_options(steps=3, snapshot_every_s=1e-9),
        provenance=[{"folder": "blobs", "manifest_sha256": "ab" * 32}], grid=tmp_path / "g.png",
    )  # fmt: skip
    assert result.steps == 3 and result.images_seen == 12 and result.images_per_s > 0
    loaded = stylegan.load_model(out)
    assert loaded.facts["trained_on"][0]["folder"] == "blobs" and loaded.facts["steps"] == 3
    assert loaded.generator.config == TINY
    assert Image.open(tmp_path / "g.png").size == (64, 64)  # 4×4 grid of 16-px faces
    assert (tmp_path / "gan-step1.pt").is_file()
    assert not list(tmp_path.glob(".*part*"))
    with pytest.raises(BadInputError, match="bounded"):
        stylegan.TrainOptions()


def test_load_model_refuses_other_files(tmp_path: Path) -> None:
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a model")
    with pytest.raises(BadInputError, match="not a verity lab GAN model"):
        stylegan.load_model(junk)
    foreign = tmp_path / "foreign.pt"
    torch.save({"format": "other", "state": {}}, foreign)
    with pytest.raises(BadInputError, match="not a verity lab GAN model"):
        stylegan.load_model(foreign)
    with pytest.raises(BadInputError, match="no such"):
        stylegan.load_model(tmp_path / "missing.pt")


def test_sample_cli_labels_and_registers(home: Path, capsys, tmp_path: Path, tiny_model: Path):
    out = tmp_path / "faces"
    args = ["lab", "gan", "sample", "--model", str(tiny_model), "-n", "2", "--seed", "5"]
    assert main([*args, "-o", str(out), "--size", "128"]) == 0, capsys.readouterr().err
    assert "sampled 2 GAN face(s)" in capsys.readouterr().out
    with (out / "manifest.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [r["file"] for r in rows] == ["fake/gan/gan_s00000005.png", "fake/gan/gan_s00000006.png"]
    assert {r["label"] for r in rows} == {"fake"} and {r["category"] for r in rows} == {"lab_gan"}
    for row in rows:
        path = out / row["file"]
        assert Image.open(path).size == (128, 128)
        credentials = read_credentials(path, probe(path, MediaLimits()))
        assert credentials.state == "Valid" and is_lab_output(credentials.manifest_store)
        text = json.dumps(credentials.manifest_store)
        assert "c2pa.created" in text and TRAINED_ALGORITHMIC in text
        assert main(["lookup", str(path), "--json"]) == 0
        record = json.loads(capsys.readouterr().out)["exact"]["record"]
        assert record["synthetic"] is True and record["generator"]["method"] == "gan:stylegan"
    assert not list(out.rglob(".*part*"))
    # the same seeds give the same pixels; face 6 alone is face 6 of the pair
    again = tmp_path / "again"
    assert main(["lab", "gan", "sample", "--model", str(tiny_model), "-n", "1", "--seed", "6",
                 "-o", str(again), "--size", "128"]) == 0  # fmt: skip
    first = np.asarray(Image.open(out / rows[1]["file"]))
    assert np.array_equal(first, np.asarray(Image.open(again / "fake/gan/gan_s00000006.png")))
    # the spectrum recipe reads such a folder as extra fakes
    items, provenance = spectrum_recipe.collect_extra_fakes([out])
    assert [source for _, source in items] == ["extra:lab_gan"] * 2
    assert provenance[0]["folder"] == "faces"
    feats = spectrum_recipe.fake_features((str(items[0][0]), 0))
    assert feats is not None and feats.shape == (69,)


def test_make_fakes_gan_method(home: Path, capsys, tmp_path: Path, photo: Path, tiny_model: Path):
    reals = tmp_path / "reals"
    reals.mkdir()
    shutil.copyfile(photo, reals / "a.jpg")
    out = tmp_path / "lab"
    args = ["--data", str(reals), "--out", str(out), "--methods", "gan,upsample"]
    assert main(["lab", "make-fakes", *args, "--gan-model", str(tiny_model), "--limit", "2"]) == 0
    assert "(2 gan, 1 upsample)" in capsys.readouterr().out
    with (out / "manifest.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    categories = sorted(r["category"] for r in rows)
    assert categories == ["lab_gan", "lab_gan", "lab_upsample", "lab_upsample"]


def test_bad_inputs_are_one_line(home: Path, capsys, tmp_path: Path, tiny_model: Path) -> None:
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"junk")
    empty = tmp_path / "empty"
    empty.mkdir()
    out = tmp_path / "never"
    model = ["--model", str(tiny_model), "-o", str(out)]
    cases = [
        (["lab", "gan", "sample", "--model", str(junk), "-n", "1", "-o", str(out)], "not a verity"),
        (["lab", "gan", "sample", "--model", str(out), "-n", "1", "-o", str(out)], "no such"),
        (["lab", "gan", "sample", *model, "-n", "1", "--truncation", "0"], "--truncation"),
        (["lab", "gan", "sample", *model, "-n", "1", "--size", "8"], "--size"),
        (["lab", "gan", "train", "--data", str(empty), "-o", str(out / "m.pt")], "bounded"),
        (["lab", "gan", "train", "--data", str(empty), "-o", str(out / "m.pt"), "--steps", "1"],
         "no images"),
        (["lab", "make-fakes", "--data", str(empty), "--out", str(out), "--methods", "gan"],
         "needs --gan-model"),
        (["lab", "make-fakes", "--data", str(empty), "--out", str(out), "--methods", "gan",
          "--gan-model", str(junk)], "not a verity"),
        (["train", "audio.cnn", "--data", str(empty), "--extra-fakes", str(empty)],
         "does not take extra fakes"),
    ]  # fmt: skip
    for argv, words in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert words in err and err.strip().count("\n") == 0, (argv, err)
        assert not out.exists(), argv


def test_gan_train_cli_on_a_face_folder(home: Path, capsys, tmp_path: Path, photo: Path) -> None:
    faces = tmp_path / "faces" / "studio"
    faces.mkdir(parents=True)
    for name in ("a.jpg", "b.jpg"):
        shutil.copyfile(photo, faces / name)
    model = tmp_path / "m.pt"
    argv = ["lab", "gan", "train", "--data", str(tmp_path / "faces"), "-o", str(model)]
    assert main([*argv, "--steps", "2", "--batch", "2"]) == 0, capsys.readouterr().err
    assert "trained on 2 faces: 2 steps, 4 images" in capsys.readouterr().out
    loaded = stylegan.load_model(model)
    assert loaded.generator.config.resolution == 64 and loaded.facts["n_faces"] == 2
    assert Image.open(tmp_path / "m.pt.grid.png").size == (256, 256)
    assert list((home / "cache").glob("gan-faces-*.npz"))  # aligned crops cached for next time


@pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/train-corpus is not on this machine")
def test_prepare_faces_balances_sources_and_skips_gray() -> None:
    faces, provenance = stylegan.prepare_faces([CORPUS], per_source=2, seed=0)
    # aaf, faces94 and deepface are colour (2 each at most); lfw_gray and att are grayscale
    assert 3 <= len(faces) <= 6 and faces.shape[1:] == (64, 64, 3)
    assert provenance[0]["folder"] == "train-corpus" and len(provenance[0]["manifest_sha256"]) == 64
    assert all(np.ptp(face.astype(int)[..., 0] - face[..., 2]) > 0 for face in faces)
