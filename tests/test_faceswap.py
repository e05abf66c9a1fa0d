"""The lab's autoencoder face swap (synthesis/faceswap.py, faceswap_net.py, faceswap_io.py) and
its commands: ``verity lab faceswap train|apply`` and ``verity lab make-fakes --methods faceswap``.

Identities are made from skimage's astronaut photo (the one real face that ships with a library):
A is the photo shifted and scaled a little, B the same mirrored with other colours. Tiny models
(width 4) train for a few steps; what is checked is the machinery, not the swap's quality.
"""

from __future__ import annotations

import csv
import json
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
import torch
from PIL import Image
from skimage import data

from core.cli import main
from core.config import MediaLimits
from core.credentials import read_credentials
from core.errors import BadInputError
from core.media import probe
from modalities.visual.synthesis import faceswap, faceswap_io, faceswap_net
from provenance.lab_credentials import is_lab_output

TINY = {"width": 4, "latent": 16, "batch": 4}
GRID = Path(__file__).resolve().parents[1] / ".." / "shared" / "train-corpus" / "video" / "grid"


def _variant(k: int, identity: str) -> np.ndarray:
    rgb = data.astronaut()[:300, 60:360]  # the face with some suit and background
    shift = np.array([[1.0 + 0.03 * k, 0, -4.0 * k], [0, 1.0 + 0.03 * k, 3.0 * k]])
    rgb = cv2.warpAffine(rgb, shift, (300, 300), borderMode=cv2.BORDER_REFLECT)
    if identity == "b":
        rgb = np.ascontiguousarray(rgb[:, ::-1, ::-1])  # mirrored, channels swapped
    return rgb


@pytest.fixture(scope="session")
def folders(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("identities")
    for identity in ("a", "b"):
        (root / identity).mkdir()
        for k in range(3):
            Image.fromarray(_variant(k, identity)).save(root / identity / f"{k}.png")
    return root / "a", root / "b"


@pytest.fixture(scope="session")
def model_file(folders: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("model") / "swap.npz"
    faceswap.train(*folders, out, size=64, steps=3, seed=0, config=TINY)
    return out


def _write_video(path: Path, frames: int = 6, fps: int = 10, audio: bool = True) -> Path:
    with av.open(str(path), "w", format="mp4") as sink:
        video = sink.add_stream("libx264", rate=Fraction(fps))
        video.width, video.height, video.pix_fmt = 300, 300, "yuv420p"
        sound = sink.add_stream("aac", rate=16000) if audio else None
        for k in range(frames):
            picture = av.VideoFrame.from_ndarray(_variant(k % 3, "a"), format="rgb24")
            sink.mux(video.encode(picture))
        sink.mux(video.encode())
        if sound is not None:
            t = np.arange(16000 * frames // fps) / 16000
            pcm = (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)[np.newaxis]
            chunk = av.AudioFrame.from_ndarray(pcm, format="fltp", layout="mono")
            chunk.sample_rate = 16000
            sink.mux(sound.encode(chunk))
            sink.mux(sound.encode())
    return path


def test_extract_aligns_faces_and_hashes_sources(folders: tuple[Path, Path]) -> None:
    faceset = faceswap.extract(folders[0], 64)
    assert faceset.crops.shape == (3, 64, 64, 3) and faceset.landmarks.shape == (3, 68, 2)
    assert sorted(faceset.sources) == ["0.png", "1.png", "2.png"]
    assert all(len(h) == 64 for h in faceset.sources.values())
    assert faceset.descriptor.shape == (128,)
    # aligned: the eye centres sit where faces.TEMPLATE puts them, whatever the shift
    eyes = faceset.landmarks[:, 36:42].mean(axis=1)
    assert np.allclose(eyes[:, 1], 0.40 * 64, atol=3)


def test_loss_decreases_on_a_fixed_batch(folders: tuple[Path, Path]) -> None:
    torch.manual_seed(0)
    faceset = faceswap.extract(folders[0], 64)
    warped, target, weight = faceswap.training_batch(faceset, 4, np.random.default_rng(0))
    assert not np.array_equal(warped, target)  # the input is warped, the target is not
    model = faceswap_net.SwapNet(64, width=8, latent=32)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x, y = faceswap_net.to_tensor(warped), faceswap_net.to_tensor(target)
    w = torch.from_numpy(weight)[:, None]
    losses = []
    for _ in range(40):
        loss = faceswap_net.reconstruction_loss(model(x, "a"), y, w)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.85 * losses[0] and min(losses[-5:]) < min(losses[:5])


def test_ssim_is_one_for_equal_images_and_lower_for_noise() -> None:
    x = torch.rand(2, 3, 32, 32)
    assert float(faceswap_net.ssim(x, x)) == pytest.approx(1.0, abs=1e-4)
    assert float(faceswap_net.ssim(x, torch.rand(2, 3, 32, 32))) < 0.2


def test_training_is_deterministic_for_a_seed(folders: tuple[Path, Path], tmp_path: Path):
    runs = {}
    for name, seed in (("one", 1), ("two", 1), ("other", 2)):
        summary = faceswap.train(
            *folders, tmp_path / f"{name}.npz", steps=2, seed=seed, config=TINY
        )
        model, config = faceswap_net.load(tmp_path / f"{name}.npz")
        runs[name] = (model.state_dict(), summary)
        assert (
            config["identities"]["a"]["sources_sha256"]
            == summary["identities"]["a"]["sources_sha256"]
        )
    one, two, other = runs["one"][0], runs["two"][0], runs["other"][0]
    assert all(torch.equal(one[k], two[k]) for k in one)
    assert not all(torch.equal(one[k], other[k]) for k in one)
    assert runs["one"][1]["loss"] == runs["two"][1]["loss"]


def test_swap_changes_only_pixels_inside_the_mask(model_file: Path) -> None:
    model, _ = faceswap_net.load(model_file)
    rgb = _variant(1, "a")
    out, mask = faceswap.Swapper(model, "a2b")(rgb)
    assert mask is not None and out.shape == rgb.shape
    changed = np.any(out != rgb, axis=2)
    assert changed.any()
    assert not changed[mask == 0].any()
    # the mask covers the face, a fraction of the picture
    assert 0.05 < (mask > 0).mean() < 0.6
    # converter sharpening: more high frequencies in the face, still nothing outside the mask
    sharp, sharp_mask = faceswap.Swapper(model, "a2b", sharpen=6.0)(rgb)
    assert sharp_mask is not None and not np.any(sharp != rgb, axis=2)[sharp_mask == 0].any()
    inside = sharp_mask > 0.9

    def detail(img: np.ndarray) -> float:
        grey = img.astype(np.float32).mean(axis=2)
        return float(np.abs(cv2.Laplacian(grey, cv2.CV_32F))[inside].mean())

    assert detail(sharp) > 1.5 * detail(out)
    with pytest.raises(BadInputError, match="--sharpen"):
        faceswap.Swapper(model, "a2b", sharpen=50)


def test_colour_transfer_moves_colours_inside_the_mask() -> None:
    rng = np.random.default_rng(0)
    source = rng.integers(0, 80, (32, 32, 3), dtype=np.uint8)
    target = rng.integers(150, 255, (32, 32, 3), dtype=np.uint8)
    mask = np.ones((32, 32), np.float32)
    moved = faceswap.colour_transfer(source, target, mask)
    assert abs(moved.mean() - target.mean()) < abs(source.mean() - target.mean()) / 4


def test_video_keeps_frames_size_fps_and_audio(model_file: Path, tmp_path: Path) -> None:
    source = _write_video(tmp_path / "in.mp4")
    model, _ = faceswap_net.load(model_file)
    result = faceswap_io.swap_file(model, source, "a2b")
    assert result.suffix == ".mp4" and result.frames == 6 and result.swapped == 6
    out = tmp_path / "out.mp4"
    out.write_bytes(result.data)
    with av.open(str(out)) as container:
        stream = container.streams.video[0]
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(stream)]
        assert stream.average_rate == 10 and len(container.streams.audio) == 1
    with av.open(str(source)) as container:
        originals = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert len(frames) == len(originals) == 6 and frames[0].shape == (300, 300, 3)
    # outside the face only compression noise; inside a new face
    _, mask = faceswap.Swapper(model, "a2b")(originals[0])
    assert mask is not None
    diff = np.abs(frames[0].astype(int) - originals[0]).mean(axis=2)
    assert diff[mask > 0.5].mean() > 3 * diff[mask == 0].mean()


def test_bad_inputs_raise_one_clear_error(model_file: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(BadInputError, match="no pictures or videos"):
        faceswap.extract(empty, 64)
    (tmp_path / "noface.png").write_bytes(b"")
    Image.fromarray(np.full((120, 120, 3), 90, np.uint8)).save(tmp_path / "noface.png")
    model, _ = faceswap_net.load(model_file)
    with pytest.raises(BadInputError, match="no reliable face"):
        faceswap_io.swap_file(model, tmp_path / "noface.png", "a2b")
    (tmp_path / "junk.npz").write_bytes(b"not a model")
    with pytest.raises(BadInputError, match="not a face-swap model"):
        faceswap_net.load(tmp_path / "junk.npz")
    with pytest.raises(BadInputError, match="a2b or b2a"):
        faceswap.Swapper(model, "sideways")
    with pytest.raises(BadInputError, match="--size"):
        faceswap_net.SwapNet(50)


def test_cli_train_then_apply_labels_the_output(
    home: Path, capsys, folders: tuple[Path, Path], tmp_path: Path
) -> None:
    model = tmp_path / "m.npz"
    args = ["lab", "faceswap", "train", "--a", str(folders[0]), "--b", str(folders[1])]
    assert main([*args, "-o", str(model), "--steps", "2", "--seed", "3"]) == 0
    assert "trained 2 steps" in capsys.readouterr().out
    video = _write_video(tmp_path / "clip.mp4", frames=4)
    for source, out in ((video, tmp_path / "swap.mp4"), (folders[1] / "0.png", tmp_path / "s.jpg")):
        flag = "--video" if source.suffix == ".mp4" else "--image"
        code = main(["lab", "faceswap", "apply", "-m", str(model), flag, str(source), "-o",
                     str(out), "--direction", "b2a" if flag == "--image" else "a2b"])  # fmt: skip
        captured = capsys.readouterr()
        assert code == 0, captured.err
        assert "C2PA-signed and registered as synthetic" in captured.out
        credentials = read_credentials(out, probe(out, MediaLimits()))
        assert credentials.state == "Valid" and is_lab_output(credentials.manifest_store)
        assert main(["lookup", str(out), "--json"]) == 0
        record = json.loads(capsys.readouterr().out)["exact"]["record"]
        assert record["synthetic"] is True and record["generator"]["method"].startswith("faceswap")
    assert not list(tmp_path.glob(".*part*"))


def test_cli_bad_input_exits_2_and_writes_nothing(
    home: Path, capsys, folders: tuple[Path, Path], model_file: Path, tmp_path: Path
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    out = tmp_path / "m.npz"
    cases = [
        ["lab", "faceswap", "train", "--a", str(empty), "--b", str(folders[1]), "-o", str(out),
         "--steps", "1"],
        ["lab", "faceswap", "train", "--a", str(folders[0]), "--b", str(folders[1]), "-o",
         str(out)],
        ["lab", "faceswap", "apply", "-m", str(folders[0] / "0.png"), "--image",
         str(folders[0] / "0.png"), "-o", str(tmp_path / "x.png")],
        ["lab", "faceswap", "apply", "-m", str(model_file), "--video", str(tmp_path / "none.mp4"),
         "-o", str(tmp_path / "x.mp4")],
        ["lab", "faceswap", "apply", "-m", str(model_file), "--video", str(folders[0] / "0.png"),
         "-o", str(tmp_path / "x.mp4")],
    ]  # fmt: skip
    for argv in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.strip()
        assert err and len(err.splitlines()) <= 2, err
    assert not out.exists() and not list(tmp_path.glob("x.*")) and not list(tmp_path.glob(".*"))


def test_make_fakes_swaps_the_models_people(
    home: Path, capsys, folders: tuple[Path, Path], model_file: Path, tmp_path: Path
) -> None:
    reals = tmp_path / "reals"
    reals.mkdir()
    _write_video(reals / "a_talking.mp4", frames=4)
    Image.fromarray(_variant(2, "b")).save(reals / "b.png")
    out = tmp_path / "lab"
    code = main(["lab", "make-fakes", "--data", str(reals), "--out", str(out), "--methods",
                 "faceswap", "--faceswap-model", str(model_file)])  # fmt: skip
    captured = capsys.readouterr()
    assert code == 0, captured.err
    with (out / "manifest.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    fakes = {r["source_file"]: r for r in rows if r["label"] == "fake"}
    assert set(fakes) == {"a_talking.mp4", "b.png"}
    assert fakes["a_talking.mp4"]["kind"] == "video"
    assert fakes["a_talking.mp4"]["generator"] == "verity-lab:faceswap:a2b"
    assert fakes["b.png"]["generator"] == "verity-lab:faceswap:b2a"
    assert {r["category"] for r in fakes.values()} == {"lab_faceswap"}
    record = main(["lookup", str(out / fakes["b.png"]["file"]), "--json"])
    generator = json.loads(capsys.readouterr().out)["exact"]["record"]["generator"]
    assert record == 0 and generator["sharpen"] in (0.0, 3.0, 6.0)
    for row in fakes.values():
        path = out / row["file"]
        assert is_lab_output(read_credentials(path, probe(path, MediaLimits())).manifest_store)
    assert main(["lab", "make-fakes", "--data", str(reals), "--out", str(out), "--methods",
                 "faceswap"]) == 2  # fmt: skip
    assert "--faceswap-model" in capsys.readouterr().err


@pytest.mark.skipif(not GRID.is_dir(), reason="needs ../shared/train-corpus")
def test_grid_clips_of_one_speaker_share_an_identity(tmp_path: Path) -> None:
    (tmp_path / "s2").mkdir()
    for name in ("pwij3p.mpg", "id2_vcd_swwp2s.mpg"):
        (tmp_path / "s2" / name).symlink_to(GRID / name)
    faceset = faceswap.extract(tmp_path / "s2", 64, fps=2.0)
    assert len(faceset.crops) >= 10
    config = {"identities": {"a": {"descriptor": faceset.descriptor.tolist()},
                             "b": {"descriptor": (faceset.descriptor + 0.3).tolist()}}}  # fmt: skip
    frame = next(iter(av.open(str(GRID / "id2_vcd_swwp2s.mpg")).decode(video=0)))
    assert faceswap.identity_of(frame.to_ndarray(format="rgb24"), config) == "a"


def _npz_with_config(path: Path, config: object) -> Path:
    with path.open("wb") as handle:
        np.savez(handle, __config__=np.array(json.dumps(config)), w=np.zeros(2, np.float32))
    return path


def test_a_bad_model_file_is_one_clear_error(tmp_path: Path, capsys) -> None:
    """An empty file was click's "Aborted." (an EOFError), a zip that is no npz a BadZipFile, a
    config without sizes a KeyError, a config that is no object an AttributeError: all exit 1."""
    image = tmp_path / "img.png"
    Image.fromarray(np.full((64, 64, 3), 90, np.uint8)).save(image)
    pickled = tmp_path / "pickled.npz"
    with pickled.open("wb") as handle:
        np.savez(handle, __config__=np.array([{"format": "x"}], dtype=object))
    bad = {
        "empty.npz": (tmp_path / "empty.npz"),
        "zip.npz": (tmp_path / "zip.npz"),
        "nosize.npz": _npz_with_config(tmp_path / "nosize.npz", {"format": faceswap_net.FORMAT}),
        "list.npz": _npz_with_config(tmp_path / "list.npz", [1, 2]),
        "pickled.npz": pickled,
    }
    bad["empty.npz"].write_bytes(b"")
    bad["zip.npz"].write_bytes(b"PK\x03\x04" + b"\0" * 40)
    for name, model in bad.items():
        with pytest.raises(BadInputError, match="not a face-swap model") as caught:
            faceswap_net.load(model)
        assert "allow_pickle" not in str(caught.value), name
        out = tmp_path / f"{name}.png"
        args = ["lab", "faceswap", "apply", "-m", str(model), "--image", str(image)]
        code = main([*args, "--out", str(out)])
        err = capsys.readouterr().err
        assert code == 2, (name, err)
        assert err.count("\n") == 1 and "not a face-swap model" in err, (name, err)
        assert not out.exists()
