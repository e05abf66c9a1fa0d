"""Decoding that gives the same samples on every computer.

FFmpeg chooses vector code for the CPU it runs on, and where that code works in floating point
its results differ in the last bits from one instruction set to the next. Forced to each level
FFmpeg offers on one machine (bench/cpu_reproducibility.py), the float AAC decoder gave other
samples with AVX2 than with SSE4.2, and so did the resampler that brings every soundtrack to
16 kHz: the audio detectors' raw scores on one video moved by up to 0.04 between the two, and
`verity reproduce` on an auditor's computer would report a difference the evidence does not
have. So Verity decodes AAC with FFmpeg's fixed-point decoder (integer arithmetic: identical at
every level) and resamples in double precision (identical at every level): a 17.5-s AAC
soundtrack took 0.146 s to 16 kHz mono instead of 0.122 s. Pictures are handled in core.frames.
What stays machine-dependent is named in docs/benchmarks.md: other float decoders (Opus, Vorbis;
MP3 is identical at every SSE level but not in plain C), and after decoding the single-precision
arithmetic of some detectors (docs/benchmarks.md, "After decoding").
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import av

# codec -> the decoder that replaces FFmpeg's default for it, for the profiles it implements
EXACT_DECODERS = {"aac": ("aac_fixed", {"LC", "HE-AAC", "HE-AACv2"})}

# swresample options: resampling and channel mixing in double precision (the float code is the
# one whose vector versions differ between instruction sets)
RESAMPLER_OPTIONS = {"internal_sample_fmt": "dblp"}


def resampler(*, format: str, layout: str | None, rate: int) -> Any:
    """An ``av.AudioResampler`` that gives the same samples on every CPU."""
    return av.AudioResampler(format=format, layout=layout, rate=rate, options=RESAMPLER_OPTIONS)


def exact_decoder(stream: Any) -> str | None:
    """The name of the decoder Verity uses instead of FFmpeg's default for ``stream``, if any."""
    if stream.type != "audio":
        return None
    replacement = EXACT_DECODERS.get(stream.codec_context.name)
    if replacement is None or stream.codec_context.profile not in replacement[1]:
        return None
    return replacement[0]


def packet_decoder(stream: Any) -> Callable[[Any], list[Any]]:
    """A function from one of ``stream``'s packets to its frames, through
    :func:`exact_decoder`'s decoder where there is one: for a demux loop over several streams.

    A fresh decoder per call: after a seek (core.media) it starts clean, as PyAV's own does.
    Frames keep the packets' timestamps and time base.
    """
    name = exact_decoder(stream)
    if name is None:
        return lambda packet: list(packet.decode())
    source = stream.codec_context
    context: Any = av.CodecContext.create(name, "r")  # an AudioCodecContext
    context.extradata = source.extradata
    context.sample_rate = source.sample_rate
    context.layout = source.layout
    return lambda packet: list(context.decode(packet))


def decode(container: Any, stream: Any) -> Iterator[Any]:
    """``container.decode(stream)``, through :func:`exact_decoder`'s decoder where there is one."""
    if exact_decoder(stream) is None:
        yield from container.decode(stream)
        return
    decoder = packet_decoder(stream)
    for packet in container.demux(stream):
        yield from decoder(packet)
