"""The ``verity`` CLI as a user runs it: contract, exit codes, bad input leaves nothing behind."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import func, select, text, update

from core import samples
from core.app import Verity
from core.cli import main
from core.config import load_settings
from core.db import Base, CustodyEvent
from core.detector import REGISTRY
from core.media import MediaKind

VERITY_BIN = Path(sys.executable).parent / "verity"


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def snapshot() -> dict[str, int]:
    """Row counts of every table and the number of stored objects."""
    app = Verity.open(load_settings())
    try:
        with app.db.session() as s:
            counts = {
                t.name: s.execute(select(func.count()).select_from(t)).scalar_one()
                for t in Base.metadata.sorted_tables
            }
        counts["objects"] = len(app.store.list_hashes())
        tmp = app.store.root / "tmp"
        counts["tmp_files"] = len(list(tmp.iterdir())) if tmp.exists() else 0
        return counts
    finally:
        app.close()


def test_analyze_json_contract(backend: str, capsys, photo: Path, clip: Path, tone: Path) -> None:
    code, out, err = run(capsys, "analyze", str(photo), str(clip), str(tone), "--json")
    assert code == 0, err
    lines = [json.loads(line) for line in out.splitlines()]
    assert len(lines) == 3
    kinds = [line["media"]["kind"] for line in lines]
    assert kinds == ["image", "video", "audio"]
    for line in lines:
        assert len(line["media"]["sha256"]) == 64
        assert line["verdict"] in {"authentic", "manipulated", "inconclusive"}
        assert line["p_fake"] is None or 0.0 <= line["p_fake"] <= 1.0
        assert line["analysis_id"] and line["case_id"]
        for det in line["detectors"]:
            assert {
                "name",
                "modality",
                "version",
                "status",
                "raw_score",
                "p_fake",
                "reason",
            } <= det.keys()
    photo_line, clip_line, tone_line = lines
    assert photo_line["media"]["duration_s"] is None
    assert clip_line["media"]["duration_s"] == pytest.approx(2.0, abs=0.1)
    assert photo_line["media"]["display_rotation"] == clip_line["media"]["display_rotation"] == 0
    assert tone_line["media"]["display_rotation"] is None
    assert photo_line["media"]["display_mirrored"] is False
    assert clip_line["media"]["interlaced"] is False and tone_line["media"]["interlaced"] is None

    def registered(kind: str) -> list[str]:
        return [s.name for s in REGISTRY.specs(kind=MediaKind(kind)) if s.requires is None]

    assert [d["name"] for d in photo_line["detectors"]] == registered("image")
    assert all(d["status"] == "ok" for d in photo_line["detectors"])
    # a one-second tone holds no speech: the audio detectors say so and fusion has nothing
    tone_dets = tone_line["detectors"]
    assert [d["name"] for d in tone_dets] == registered("audio")
    assert all(d["modality"] == "audio" and d["out_of_domain"] for d in tone_dets)
    assert tone_line["p_fake"] is None and tone_line["verdict"] == "inconclusive"
    assert any("out of domain" in r or "left out" in r for r in tone_line["inconclusive_reasons"])
    assert [d["name"] for d in clip_line["detectors"]] == registered("video")
    blend = next(d for d in photo_line["detectors"] if d["name"] == "visual.blend")
    assert blend["out_of_domain"] is None and blend["artifacts"][0]["kind"].startswith("heatmap")
    # show returns the same analysis and records the read
    code, out, _ = run(capsys, "show", photo_line["analysis_id"], "--json")
    shown = json.loads(out)
    assert (
        shown["verdict"] == photo_line["verdict"] and shown["detectors"] == photo_line["detectors"]
    )
    code, out, _ = run(capsys, "custody", "verify")
    assert code == 0 and "custody intact" in out


def test_named_detector_that_does_not_apply_is_skipped(home: Path, capsys, tone: Path) -> None:
    code, out, _ = run(capsys, "analyze", str(tone), "--detectors", "visual.metadata", "--json")
    assert code == 0
    (det,) = json.loads(out)["detectors"]
    assert det["status"] == "skipped" and "audio" in det["reason"]


def test_cases_ingest_and_listing(home: Path, capsys, photo: Path) -> None:
    assert run(capsys, "case", "new", "Inquiry 7", "--description", "test")[0] == 0
    code, _, err = run(capsys, "case", "new", "Inquiry 7")
    assert code == 2 and "already exists" in err
    code, out, _ = run(capsys, "ingest", str(photo), "--case", "Inquiry 7", "--json")
    assert code == 0 and json.loads(out)["new_in_case"] is True
    code, out, _ = run(capsys, "ingest", str(photo), "--case", "Inquiry 7", "--json")
    assert json.loads(out)["new_in_case"] is False
    code, out, _ = run(capsys, "case", "list", "--json")
    (case,) = [json.loads(line) for line in out.splitlines()]
    assert case["name"] == "Inquiry 7" and case["media_count"] == 1


def test_a_store_that_cannot_be_written_is_not_blamed_on_the_file(
    home: Path, capsys, photo: Path
) -> None:
    """It read "photo.jpg: cannot be read (...)" with exit 2: a good file blamed for the
    store's folder (a full disk read the same). Exit 1 naming the store; nothing filed."""
    assert run(capsys, "case", "new", "C")[0] == 0
    (home / "objects").write_bytes(b"")  # taken by a file: the store cannot be made
    before = snapshot()
    code, out, err = run(capsys, "ingest", str(photo), "--case", "C")
    assert code == 1 and out == ""
    (line,) = err.strip().splitlines()
    assert line.startswith("verity: error: ") and "cannot be written" in line
    assert str(home / "objects") in line and "photo.jpg" not in line
    assert snapshot() == before


def _hostile_name(tmp_path: Path, photo: Path) -> Path:
    folder = tmp_path / "sub"
    folder.mkdir()
    name = os.fsdecode(b"..\xff\xfe evil\nname.jpg")
    target = tmp_path / name
    shutil.copy(photo, target)
    return folder / ".." / name


BAD_INPUTS = {
    "missing": lambda d, f: d / "nope.mp4",
    "directory": lambda d, f: d,
    "zero-byte": lambda d, f: _write(d / "zero.mp4", b""),
    "truncated": lambda d, f: f["truncated_mp4"],
    "text-as-mp4": lambda d, f: f["text_as_mp4"],
    "png-bomb": lambda d, f: f["bomb_png"],
    "hostile-name-bad-content": lambda d, f: _write(
        d / os.fsdecode(b"../" * 0 + b"\xff\xfe..evil.mp4"), b"not media at all"
    ),
    "svg-no-decoder": lambda d, f: _write(
        d / "drawing.svg", b'<svg xmlns="http://www.w3.org/2000/svg" width="9" height="9"/>'
    ),
    "truncated-jpeg": lambda d, f: _cut(_jpeg(d / "whole.jpg"), d / "cut.jpg"),
    "truncated-wav": lambda d, f: _cut(
        samples.write_tone(d / "whole.wav", seconds=2.0), d / "cut.wav"
    ),
}


def _jpeg(path: Path) -> Path:
    from PIL import Image

    pixels = np.random.default_rng(0).integers(0, 255, (120, 160, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path, quality=90)
    return path


def _cut(whole: Path, cut: Path) -> Path:
    """The first half of a file, as a failed copy or download leaves it."""
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    return cut


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_exits_2_with_one_line_and_leaves_nothing(
    backend: str, capsys, tmp_path: Path, case: str, truncated_mp4, text_as_mp4, bomb_png, photo
) -> None:
    assert run(capsys, "analyze", str(photo))[0] == 0  # some state to compare against
    before = snapshot()
    fixtures = {"truncated_mp4": truncated_mp4, "text_as_mp4": text_as_mp4, "bomb_png": bomb_png}
    target = BAD_INPUTS[case](tmp_path, fixtures)
    code, out, err = run(capsys, "analyze", str(target), "--json")
    assert code == 2
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("verity: error: ")
    assert "Traceback" not in err
    assert snapshot() == before
    assert run(capsys, "custody", "verify")[0] == 0


def test_hostile_file_name_is_metadata_only(
    home: Path, capsys, tmp_path: Path, photo: Path
) -> None:
    path = _hostile_name(tmp_path, photo)
    code, out, err = run(capsys, "analyze", str(path), "--json")
    assert code == 0, err
    result = json.loads(out)
    name = result["media"]["original_name"]
    assert name == "..\\xff\\xfe evil\\nname.jpg"  # escaped: printable, one line, storable
    stored = Verity.open(load_settings()).store.path_for(result["media"]["sha256"])
    assert stored.is_file() and stored.is_relative_to(home / "objects")
    assert sorted(p.name for p in (home / "objects").rglob("*") if p.is_file()) == [stored.name]


def test_unknown_ids_and_detectors(backend: str, capsys, photo: Path) -> None:
    before = snapshot()
    for args, words in (
        (("show", "0" * 32), "no analysis"),
        (("analyze", str(photo), "--case", "no-such-case"), "no case"),
        (("custody", "verify", "--case", "no-such-case"), "no case"),
        (("analyze", str(photo), "--detectors", "visual.nope"), "unknown detector"),
        (("ingest", str(photo), "--case", "nope"), "no case"),
    ):
        code, _out, err = run(capsys, *args)
        assert code == 2, args
        assert words in err and len(err.strip().splitlines()) == 1
    assert snapshot() == before


def test_tampered_custody_row_fails_verify_and_is_named(backend: str, capsys, photo: Path) -> None:
    code, out, _ = run(capsys, "analyze", str(photo), "--json")
    case_id = json.loads(out)["case_id"]
    app = Verity.open(load_settings())
    with app.db.session() as s:
        victim = s.scalars(
            select(CustodyEvent).where(CustodyEvent.chain == case_id, CustodyEvent.seq == 1)
        ).one()
        s.execute(
            update(CustodyEvent)
            .where(CustodyEvent.id == victim.id)
            .values(details=victim.details.replace('"kind":"image"', '"kind":"video"'))
        )
    app.close()
    code, out, err = run(capsys, "custody", "verify")
    assert code == 3
    assert victim.id in err and "#1" in err and case_id in err


def test_bad_config_is_exit_2(home: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("VERITY_LIMITS__MAX_FILE_BYTES", "lots")
    code, _, err = run(capsys, "config", "show")
    assert code == 2 and "max_file_bytes" in err and len(err.strip().splitlines()) == 1


def test_config_show_masks(home: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("VERITY_DATABASE_URL", "postgresql+psycopg://u:topsecret@h/db")
    code, out, _ = run(capsys, "config", "show", "--json")
    assert code == 0 and "topsecret" not in out
    assert json.loads(out)["database_url"].startswith("postgresql+psycopg://u:***@h")


def test_config_show_names_the_detector_settings(home: Path, capsys, monkeypatch) -> None:
    """The analyst sees which front end and coverage an analysis here would use."""
    monkeypatch.setenv("VERITY_MODELS__LIPSYNC_COVERAGE", "whole")
    code, out, _ = run(capsys, "config", "show")
    assert code == 0
    assert "models.lipsync_coverage = whole" in out and "models.audio_vad = energy" in out
    code, out, _ = run(capsys, "config", "show", "--json")
    assert json.loads(out)["models"]["audio_hf_dir"] is None


def test_db_upgrade_on_postgresql(
    home: Path, capsys, pg_schema_url: str, monkeypatch, photo
) -> None:
    monkeypatch.setenv("VERITY_DATABASE_URL", pg_schema_url)
    code, _, err = run(capsys, "analyze", str(photo))
    assert code == 1 and "verity db upgrade" in err
    code, out, _ = run(capsys, "db", "upgrade")
    assert code == 0 and "revision" in out
    assert run(capsys, "analyze", str(photo))[0] == 0


test_db_upgrade_on_postgresql = pytest.mark.services(test_db_upgrade_on_postgresql)


def test_detectors_list(home: Path, capsys) -> None:
    code, out, _ = run(capsys, "detectors", "list", "--json")
    specs = [json.loads(line) for line in out.splitlines()]
    names = [s["name"] for s in specs]
    assert code == 0 and names == REGISTRY.names() and "audio.lfcc_gmm" in names
    assert all(s["version"] for s in specs)
    by_name = {s["name"]: s for s in specs}
    assert by_name["audio.lfcc_gmm"]["weights"]["sha256"]
    assert by_name["visual.metadata"]["weights"] is None  # expert rules, no weights
    assert by_name["visual.blend"]["weights"]["sha256"]
    # the calibration in force, as `detectors show` and every analysis find it (it said false)
    from modalities.audio import lfcc_gmm

    shipped = json.loads((lfcc_gmm.WEIGHTS_DIR / "calibration.json").read_text())
    lfcc = by_name["audio.lfcc_gmm"]
    assert lfcc["calibrated"] and lfcc["calibration_version"] == shipped["version"]
    assert lfcc["calibrations"] == {"audio": shipped["version"], "video": shipped["version"]}
    assert (
        not by_name["visual.metadata"]["calibrated"]
        and not by_name["visual.metadata"]["calibrations"]
    )
    code, out, _ = run(capsys, "detectors", "list")
    assert code == 0 and "no (—)" not in out


def _drop_file_read_override() -> None:
    """In the child: give up root's power to read any file (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH).

    Dropping them from the bounding set before exec makes root obey file modes, so a mode-000
    file is unreadable to the command under test, as it would be to an ordinary user.
    """
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    pr_capbset_drop = 24
    for cap in (1, 2):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH
        if libc.prctl(pr_capbset_drop, cap, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP) failed")


def test_console_script_and_unreadable_file(home: Path, tmp_path: Path, photo: Path) -> None:
    """The installed ``verity`` script, on a file the user may not read."""
    result = subprocess.run([VERITY_BIN, "--version"], capture_output=True, text=True, check=False)
    assert result.returncode == 0 and result.stdout.startswith("verity ")
    secret = tmp_path / "secret.jpg"
    shutil.copy(photo, secret)
    secret.chmod(0o000)
    preexec = _drop_file_read_override if os.geteuid() == 0 else None
    result = subprocess.run(
        [VERITY_BIN, "analyze", str(secret), "--json"],
        capture_output=True,
        text=True,
        preexec_fn=preexec,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip() == f"verity: error: {secret}: permission denied"
    assert result.stdout == ""
    objects = home / "objects"
    assert not objects.exists() or not [p for p in objects.rglob("*") if p.is_file()]


def test_demo_runs_end_to_end(home: Path, capsys, tmp_path: Path) -> None:
    code, out, err = run(capsys, "demo", "--dir", str(tmp_path / "samples"))
    assert code == 0, err
    assert "custody chain of case 'demo' intact" in out
    assert "astronaut" in out and "talking-face" in out and "tone.wav" in out
    app = Verity.open(load_settings())
    with app.db.session() as s:
        assert s.execute(text("SELECT count(*) FROM analyses")).scalar_one() == 3
    app.close()


def _odd_pictures(d: Path) -> dict[str, Path]:
    """Valid pictures in the pixel formats and containers that trip decoders and detectors."""
    from PIL import Image, features

    rng = np.random.default_rng(5)
    rgb = Image.fromarray(rng.integers(0, 255, (200, 240, 3), dtype=np.uint8))
    made = {
        "gray16.png": Image.fromarray(rng.integers(0, 65535, (200, 240), dtype=np.uint16)),
        "cmyk.jpg": rgb.convert("CMYK"),
        "one_pixel.png": Image.new("RGB", (1, 1), (9, 9, 9)),
        "tall_thin.png": Image.fromarray(rng.integers(0, 255, (3000, 3, 3), dtype=np.uint8)),
        "rgba.webp": rgb.convert("RGBA"),
        "icon.ico": rgb.resize((64, 64)),
        "bitmap.bmp": rgb,
    }
    if features.check("avif"):
        made["photo.avif"] = rgb
    paths = {}
    for name, image in made.items():
        paths[name] = d / name
        image.save(paths[name])
    palette = rgb.convert("P")
    palette.info["transparency"] = 0
    palette.save(d / "palette.png")
    paths["palette.png"] = d / "palette.png"
    frames = [rgb, rgb.rotate(90), rgb.rotate(180)]
    frames[0].save(d / "pages.tiff", save_all=True, append_images=frames[1:])
    paths["pages.tiff"] = d / "pages.tiff"
    frames[0].save(d / "anim.gif", save_all=True, append_images=frames[1:], duration=100, loop=0)
    paths["anim.gif"] = d / "anim.gif"
    return paths


def test_odd_but_valid_pictures_get_a_verdict_not_an_error(
    home: Path, capsys, tmp_path: Path
) -> None:
    for name, path in _odd_pictures(tmp_path).items():
        code, out, err = run(capsys, "analyze", str(path), "--json")
        assert code == 0, (name, err)
        result = json.loads(out)
        assert result["verdict"] in {"authentic", "manipulated", "inconclusive"}, name
        assert all(d["status"] != "error" for d in result["detectors"]), (name, out)
        expected = "video" if name == "anim.gif" else "image"  # an animated GIF moves
        assert result["media"]["kind"] == expected, name


def _odd_sounds(d: Path) -> dict[str, Path]:
    """Valid recordings in the sample formats and codecs phones, radios and archives use."""
    import av

    rate = 16_000
    t = np.arange(3 * rate) / rate
    wave = (0.3 * np.sin(2 * np.pi * 180 * t) * (1 + 0.8 * np.sin(2 * np.pi * 3 * t))).astype(
        np.float32
    )
    specs = {  # name: (container format, codec, sample rate, layout, sample format or None)
        "ulaw8k.wav": ("wav", "pcm_mulaw", 8_000, "mono", None),
        "adpcm.wav": ("wav", "adpcm_ima_wav", rate, "mono", None),
        "float32.wav": ("wav", "pcm_f32le", rate, "mono", None),
        "unsigned8.wav": ("wav", "pcm_u8", rate, "mono", None),
        "s24.aiff": ("aiff", "pcm_s24be", rate, "mono", None),
        "hires.flac": ("flac", "flac", 48_000, "mono", "s32"),
        "lossless.m4a": ("ipod", "alac", rate, "mono", None),
        "stereo.caf": ("caf", "pcm_s16le", rate, "stereo", None),
        "voice.ogg": ("ogg", "libopus", 48_000, "mono", None),
    }
    made = {}
    for name, (fmt, codec, out_rate, layout, sample_format) in specs.items():
        path = d / name
        try:
            with av.open(str(path), "w", format=fmt) as out:
                stream = out.add_stream(codec, rate=out_rate, layout=layout)
                if sample_format:
                    stream.format = sample_format
                channels = 2 if layout == "stereo" else 1
                frame = av.AudioFrame.from_ndarray(
                    np.tile(wave, (channels, 1)), format="fltp", layout=layout
                )
                frame.sample_rate = rate
                ctx = stream.codec_context
                resampler = av.AudioResampler(
                    format=ctx.format,
                    layout=layout,
                    rate=out_rate,
                    frame_size=ctx.frame_size or None,
                )
                for chunk in [*resampler.resample(frame), *resampler.resample(None)]:
                    for packet in stream.encode(chunk):
                        out.mux(packet)
                for packet in stream.encode():
                    out.mux(packet)
        except (av.error.FFmpegError, ValueError):  # an encoder this FFmpeg build lacks
            path.unlink(missing_ok=True)
            continue
        made[name] = path
    return made


def test_odd_but_valid_recordings_get_a_verdict_not_an_error(
    home: Path, capsys, tmp_path: Path
) -> None:
    sounds = _odd_sounds(tmp_path)
    assert len(sounds) >= 7  # the PyAV wheel's FFmpeg has these encoders
    for name, path in sounds.items():
        code, out, err = run(capsys, "analyze", str(path), "--json")
        assert code == 0, (name, err)
        result = json.loads(out)
        assert result["media"]["kind"] == "audio", name
        assert result["media"]["duration_s"] == pytest.approx(3.0, abs=0.1), name
        assert all(d["status"] != "error" for d in result["detectors"]), (name, out)
