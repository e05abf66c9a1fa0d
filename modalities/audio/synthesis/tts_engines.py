"""Text-to-speech pseudo-fakes from the speech synthesisers Debian packages: whole utterances made
by a machine, not a real recording re-rendered (that is ``copy_synthesis``).

Copy synthesis keeps the real recording's prosody, words and room; a text-to-speech engine invents
all of them. The issue's trial found detectors trained only on copy synthesis missed real TTS, so
``audio.cnn`` also trains against these engines, each its own group (held out whole in validation):

* ``espeak_ng``: formant synthesis (eSpeak NG), many accents and voice variants;
* ``flite``: CMU Flite's clustergen / diphone voices (awb, rms, slt, kal16);
* ``festival_hts``: Festival with the HTS statistical-parametric voice ``cmu_us_slt_arctic_hts``;
* ``festival_diphone``: Festival's residual-excited LPC diphone voice ``kal_diphone``.

They are old, robotic systems; neural TTS sounds nothing like them. What they add is variety:
four more ways a machine renders a voice, so a detector cannot settle on one synthesis trace.
Every engine runs as a subprocess without a shell, with a timeout, in a private temporary folder;
its version is recorded on the card so a retrain can tell whether the engines changed.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.errors import BadInputError
from core.sound import decode_audio

SAMPLE_RATE = 16_000
TIMEOUT_S = 120.0

# Plain sentences written for this module (no corpus text), varied in length and phonetic content.
SENTENCES = (
    "The morning train left the station twelve minutes late.",
    "Please hand me the blue folder on the second shelf.",
    "We measured the river after three days of heavy rain.",
    "Her brother fixed the old radio with a borrowed screwdriver.",
    "Nobody expected the quiet village to win the regional prize.",
    "A cold wind pushed the fishing boats back toward the harbour.",
    "Thick smoke rose slowly above the burning field.",
    "The committee will publish its findings early next year.",
    "Children gathered around the juggler in the busy square.",
    "Check the numbers twice before you sign the contract.",
    "The museum keeps a small collection of Roman coins.",
    "He whistled a cheerful tune while painting the fence.",
    "Our neighbours planted tomatoes, beans and sweet peppers.",
    "The pilot announced a short delay because of fog.",
    "Fresh bread smells wonderful on a winter afternoon.",
    "Seven students stayed late to finish the chemistry project.",
    "The judge asked the witness to repeat her answer.",
    "A narrow path winds through the pine forest to the lake.",
    "Turn off the lights when you leave the workshop.",
    "The orchestra rehearsed the final movement all evening.",
    "My grandmother kept every letter she ever received.",
    "The price of copper jumped sharply last quarter.",
    "Thunder rolled across the valley just after midnight.",
    "They shipped the parcel to the wrong address again.",
    "The reporter checked each quotation against the recording.",
    "Wild geese flew south in a long uneven line.",
    "Could you describe the man you saw near the bridge?",
    "The engine coughed twice and then refused to start.",
    "A thin layer of ice covered the garden pond.",
    "The council approved the new cycling lanes on Tuesday.",
    "She found an old map hidden inside the dictionary.",
    "Our flight to Lisbon boards at gate fourteen.",
    "The doctor recommended rest and plenty of water.",
    "Bright yellow kites danced above the sandy beach.",
    "The bank will close its branch on the high street.",
    "Every Thursday the market fills with farmers and cheese makers.",
    "The scientist adjusted the microscope and took a careful note.",
    "Heavy trucks rumbled along the motorway all night.",
    "I would rather walk than wait another hour for the bus.",
    "The choir sang softly as the candles were lit.",
)


def text(rng: np.random.Generator) -> str:
    """Two or three distinct sentences, about as long as a detector's analysis window."""
    picks = rng.choice(len(SENTENCES), size=int(rng.integers(2, 4)), replace=False)
    return " ".join(SENTENCES[i] for i in picks)


@dataclass(frozen=True)
class Engine:
    """One synthesiser: the program it needs, the Debian package that has it, and a command."""

    name: str
    program: str
    package: str
    command: Callable[[str, Path, np.random.Generator], list[str]]
    version_args: tuple[str, ...]


def _espeak(words: str, out: Path, rng: np.random.Generator) -> list[str]:
    voice = str(rng.choice(["en-us", "en", "en-gb-x-rp", "en-gb-scotland", "en-029"]))
    variant = str(rng.choice(["m1", "m2", "m3", "m4", "m7", "f1", "f2", "f3", "f4"]))
    speed, pitch = int(rng.integers(135, 185)), int(rng.integers(30, 71))
    return ["espeak-ng", "-v", f"{voice}+{variant}", "-s", str(speed), "-p", str(pitch),
            "-w", str(out), words]  # fmt: skip


def _flite(words: str, out: Path, rng: np.random.Generator) -> list[str]:
    voice = str(rng.choice(["awb", "rms", "slt", "kal16"]))
    return ["flite", "-voice", voice, "-t", words, "-o", str(out)]


def _festival(voice: str) -> Callable[[str, Path, np.random.Generator], list[str]]:
    def command(words: str, out: Path, rng: np.random.Generator) -> list[str]:
        stretch = 0.85 + 0.3 * float(rng.random())
        text_file = out.with_suffix(".txt")
        text_file.write_text(words + "\n", encoding="utf-8")
        duration = f"(Parameter.set 'Duration_Stretch {stretch:.3f})"
        voice_call = f"({voice})"
        return ["text2wave", str(text_file), "-o", str(out), "-eval", voice_call, "-eval", duration]

    return command


ENGINES: dict[str, Engine] = {
    "espeak_ng": Engine("espeak_ng", "espeak-ng", "espeak-ng", _espeak, ("--version",)),
    "flite": Engine("flite", "flite", "flite", _flite, ("--version",)),
    "festival_hts": Engine(
        "festival_hts",
        "text2wave",
        "festival festvox-us-slt-hts",
        _festival("voice_cmu_us_slt_arctic_hts"),
        (),
    ),
    "festival_diphone": Engine(
        "festival_diphone",
        "text2wave",
        "festival festvox-kallpc16k",
        _festival("voice_kal_diphone"),
        (),
    ),
}


def require(names: list[str]) -> None:
    """Raise one clear error naming the Debian packages when an engine's program is missing."""
    unknown = [n for n in names if n not in ENGINES]
    if unknown:
        raise BadInputError(
            f"unknown speech synthesiser {', '.join(unknown)}; known: {', '.join(ENGINES)}"
        )
    missing = [ENGINES[n] for n in names if shutil.which(ENGINES[n].program) is None]
    if missing:
        packages = " ".join(sorted({p for e in missing for p in e.package.split()}))
        raise BadInputError(
            f"speech synthesiser(s) {', '.join(e.name for e in missing)} not installed: "
            f"apt-get install {packages} (or leave them out of --pseudo)"
        )


@functools.cache
def version(name: str) -> str:
    """The engine's version line (or the Debian package version), for the card."""
    engine = ENGINES[name]
    if engine.version_args:
        done = subprocess.run(  # noqa: S603  a fixed program from ENGINES, fixed arguments
            [engine.program, *engine.version_args], capture_output=True, text=True, timeout=30
        )
        line = (done.stdout or done.stderr).strip().splitlines()
        if line:
            return line[0].strip()
    package = engine.package.split()[-1]
    done = subprocess.run(  # noqa: S603  fixed arguments
        ["dpkg-query", "-W", "-f=${Version}", package],  # noqa: S607  dpkg's own tool, on PATH
        capture_output=True,
        text=True,
        timeout=30,
    )
    return f"{package} {done.stdout.strip()}" if done.returncode == 0 else "unknown"


def synthesise(name: str, words: str, rng: np.random.Generator) -> np.ndarray:
    """``words`` spoken by engine ``name``: float32 mono at 16 kHz, peak-safe."""
    require([name])
    with tempfile.TemporaryDirectory(prefix="verity-tts-") as folder:
        out = Path(folder) / "speech.wav"
        command = ENGINES[name].command(words, out, rng)
        try:
            # a fixed program from ENGINES; the words are one argument, never parsed by a shell
            done = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT_S)  # noqa: S603
        except subprocess.TimeoutExpired as exc:
            raise BadInputError(f"{name}: no speech after {TIMEOUT_S:.0f} s") from exc
        if done.returncode != 0 or not out.exists() or out.stat().st_size <= 44:
            detail = (done.stderr or done.stdout).strip().splitlines()
            raise BadInputError(f"{name} failed: {detail[-1] if detail else 'no output'}")
        wave = decode_audio(out, sample_rate=SAMPLE_RATE)[0]
    peak = float(np.abs(wave).max()) if wave.size else 0.0
    if peak < 1e-4:
        raise BadInputError(f"{name} produced silence")
    return np.asarray(wave * (0.7 / peak), dtype=np.float32)
