"""After decoding: the numbers a detector computes do not depend on the CPU's vector code either.

NumPy's own loops, the BLAS library it ships (OpenBLAS), and PyTorch's kernels, oneDNN
convolutions and MKL products choose their code by the CPU, and their last bits differ between
kernels. Each check runs in a fresh process with one library forced to an older CPU's code
through its own environment variable, as an auditor's older computer would run it, and compares
with this machine's own choice. In single precision ``visual.spectrum``'s score moved by 1.7e-5
under OpenBLAS's Sandy Bridge kernels, ``audio.cnn``'s by up to 5.6e-7 under older PyTorch
code, ``audio.lfcc_gmm``'s by 2.1e-7 (its mixtures' single-precision parameters, and squared
distances expanded into matrix products that cancel), ``visual.blend``'s by 3.6e-7 under older
PyTorch and oneDNN code and ``lipsync.syncnet``'s by 5.7e-8; the 1e-6 `verity reproduce`
accepts is one single-precision unit near 8. In double precision all five must agree to 1e-12.
The controls show the forced kernels really are other code on this CPU: the computations they
replaced differ, so the checks could fail.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

SETUPS = {
    "auto": {},
    "openblas-sandybridge": {"OPENBLAS_CORETYPE": "Sandybridge"},
    "openblas-prescott": {"OPENBLAS_CORETYPE": "Prescott"},
    # NumPy ignores names this CPU lacks; its x86-64-v2 baseline cannot be switched off
    "numpy-baseline": {"NPY_DISABLE_CPU_FEATURES": "X86_V3 X86_V4 AVX512_ICL AVX512_SPR"},
    "torch-default": {"ATEN_CPU_CAPABILITY": "default"},
    "onednn-sse41": {"ONEDNN_MAX_CPU_ISA": "SSE41"},
    "mkl-compatible": {"MKL_CBWR": "COMPATIBLE"},
}
BLAS = ("openblas-sandybridge", "openblas-prescott")
TORCH = ("torch-default", "onednn-sse41", "mkl-compatible")

CHILD = r"""
import hashlib, json
import numpy as np
import torch
from scipy.special import logsumexp
from modalities.audio import cnn, cnn_net, lfcc_gmm
from modalities.lipsync import syncnet, syncnet_net
from modalities.visual import blend, blend_net, spectrum, spectrum_features

rng = np.random.default_rng(11)
y, x = np.mgrid[0:192, 0:256]
base = np.stack([(x + y) % 256, (2 * x) % 256, (255 - y) % 256], -1).astype(float)
rgb = np.clip(base + rng.normal(0, 30, base.shape), 0, 255).astype(np.uint8)
feats = spectrum_features.features(rgb)
logit = float(spectrum.SpectrumDetector().head.logit(feats[None, :])[0])
network = cnn.load_network(cnn.WEIGHTS_DIR / cnn.WEIGHTS_FILE)
t = np.arange(16000 * 4) / 16000
wave = 0.3 * np.sin(2 * np.pi * 140 * t * (1 + 0.1 * np.sin(3 * t))) + rng.normal(0, 0.05, t.size)
mel = cnn_net.log_mel(wave.astype(np.float32), np.float64)
windows = rng.normal(0, 1, (20, cnn_net.N_MELS, cnn_net.CROP)).astype(np.float32)
logits = cnn.window_logits(network, windows)
single_logits = cnn.window_logits(network.float(), windows)
syllables = 0.05 + (np.sin(2 * np.pi * 3 * t) > 0)  # loud and quiet: the energy VAD finds speech
wave32 = (wave * syllables).astype(np.float32)
lfcc, speech = lfcc_gmm.features_of(wave32, dtype=np.float64)
gmm = lfcc_gmm.LfccGmmDetector()
gmm_score = float(gmm.frame_scores(lfcc)[speech].mean())
g = gmm.fake  # 1.1.0's log-density: single-precision parameters, x² − 2xμ + μ² by matrix products
inv = 1.0 / g.variances
const = -0.5 * (lfcc.shape[1] * np.log(2 * np.pi) + np.log(g.variances).sum(axis=1))
quad = (lfcc**2) @ inv.T - 2 * lfcc @ (g.means * inv).T + (g.means**2 * inv).sum(axis=1)
gmm_single = logsumexp(np.log(g.weights) + const - 0.5 * quad, axis=1)
# a single-precision matrix product with a long inner dimension, as 1.2.1's head and the mel and
# LFCC filter banks were: the K=3 luminance alone comes out the same on some CPUs' kernels
factors = rng.normal(0, 1, (64, 300)).astype(np.float32)
gemm = factors @ factors.T
faces = np.clip(base[:128, :128] + rng.normal(0, 40, (4, 128, 128, 3)), 0, 255).astype(np.uint8)
blend_weights = blend.WEIGHTS_DIR / "blend.npz"
blend_logits = blend_net.predict(blend_net.load(blend_weights, "cpu", torch.float64), faces)[0]
blend_single = blend_net.predict(blend_net.load(blend_weights), faces)[0]
sync_network = syncnet.load_network(syncnet.WEIGHTS_DIR / syncnet.WEIGHTS_FILE)[0]
sync_mel = syncnet_net.audio_features(wave, 30, np.float64)[0]
sync_audio = torch.from_numpy(np.stack([syncnet_net.audio_input(sync_mel, t) for t in (0, 9, 20)]))
mouths = np.clip(base[:48, :96, 0] + rng.normal(0, 40, (30, 48, 96)), 0, 255).astype(np.uint8)
sync_visual = np.stack([syncnet_net.visual_input(mouths, t, np.float64) for t in (0, 9, 20)])
with torch.inference_mode():
    heard = sync_network.embed_audio(sync_audio)
    seen = sync_network.embed_visual(torch.from_numpy(sync_visual))
    sync_embeddings = torch.cat([heard, seen]).numpy()
    single_input = torch.from_numpy(sync_visual.astype(np.float32))
    sync_single = sync_network.float().embed_visual(single_input).numpy()
print(json.dumps({
    "features": [float(v) for v in feats],
    "logit": logit,
    "single_precision_gemm": hashlib.sha256(gemm.tobytes()).hexdigest(),
    "cnn_logits": [float(v) for v in logits],
    "log_mel": [float(v) for v in mel.ravel()[::97]],
    "cnn_single_precision": hashlib.sha256(single_logits.tobytes()).hexdigest(),
    "lfcc": [float(v) for v in lfcc.ravel()[::7]],
    "lfcc_gmm_score": gmm_score,
    "gmm_single_precision": hashlib.sha256(gmm_single.tobytes()).hexdigest(),
    "blend_logits": [float(v) for v in blend_logits],
    "blend_single_precision": hashlib.sha256(blend_single.tobytes()).hexdigest(),
    "sync_features": [float(v) for v in sync_mel.ravel()[::53]],
    "sync_embeddings": [float(v) for v in sync_embeddings.ravel()],
    "sync_single_precision": hashlib.sha256(sync_single.tobytes()).hexdigest(),
}))
"""


@pytest.fixture(scope="module")
def results() -> dict[str, dict]:
    """Every setup's numbers, the children run side by side (each is its own process, so one's
    environment cannot reach another's)."""
    children = {
        name: subprocess.Popen(
            [sys.executable, "-c", CHILD],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **env},
        )
        for name, env in SETUPS.items()
    }
    out = {}
    for name, child in children.items():
        stdout, stderr = child.communicate(timeout=600)
        assert child.returncode == 0, f"{name}: {stderr[-2000:]}"
        out[name] = json.loads(stdout)
    return out


def _moved(results: dict[str, dict], setup: str, key: str) -> float:
    """Largest |difference| of a number or a list of numbers between this machine's own code
    (``auto``) and a forced setup's."""
    here, there = results["auto"][key], results[setup][key]
    if isinstance(here, float):
        here, there = [here], [there]
    return max(abs(a - b) for a, b in zip(here, there, strict=True))


@pytest.mark.parametrize("setup", [s for s in SETUPS if s != "auto"])
def test_spectrum_score_is_the_same_with_another_cpus_kernels(results, setup) -> None:
    for key in ("logit", "features"):
        assert _moved(results, setup, key) <= 1e-12, key


@pytest.mark.parametrize("setup", [s for s in SETUPS if s != "auto"])
def test_audio_cnn_features_and_logits_are_the_same_with_another_cpus_kernels(
    results, setup
) -> None:
    for key in ("log_mel", "cnn_logits"):
        assert _moved(results, setup, key) <= 1e-12, key


@pytest.mark.parametrize("setup", [s for s in SETUPS if s != "auto"])
def test_lfcc_gmm_features_and_score_are_the_same_with_another_cpus_kernels(results, setup) -> None:
    for key in ("lfcc_gmm_score", "lfcc"):
        assert _moved(results, setup, key) <= 1e-12, key


@pytest.mark.parametrize("setup", [s for s in SETUPS if s != "auto"])
def test_blend_logits_are_the_same_with_another_cpus_kernels(results, setup) -> None:
    assert _moved(results, setup, "blend_logits") <= 1e-12


@pytest.mark.parametrize("setup", [s for s in SETUPS if s != "auto"])
def test_syncnet_features_and_embeddings_are_the_same_with_another_cpus_kernels(
    results, setup
) -> None:
    for key in ("sync_features", "sync_embeddings"):
        assert _moved(results, setup, key) <= 1e-12, key


def _has_avx2() -> bool:
    try:
        from numpy._core._multiarray_umath import __cpu_features__
    except ImportError:  # NumPy moved its private table
        pytest.skip("cannot tell this CPU's instruction sets")
    return bool(__cpu_features__.get("AVX2"))


@pytest.mark.parametrize(
    ("group", "key"),
    [
        (BLAS, "single_precision_gemm"),
        (TORCH, "cnn_single_precision"),
        (TORCH, "blend_single_precision"),
        (TORCH, "sync_single_precision"),
        ((*BLAS, "numpy-baseline"), "gmm_single_precision"),
    ],
)
def test_control_the_forced_kernels_are_other_code_on_this_cpu(results, group, key) -> None:
    if not _has_avx2():
        pytest.skip("a CPU without AVX2 may run the forced kernels itself: nothing to compare")
    assert any(results[name][key] != results["auto"][key] for name in group)
