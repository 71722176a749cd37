"""Test videos with sound: espeak-ng speech at a known time, silence, or an audio stream that
cannot be decoded. Speech comes from the real espeak-ng (Debian) at its own pace, so a test
knows when each sentence is said from where it placed the WAV."""

from __future__ import annotations

import random
import shutil
import subprocess
from fractions import Fraction
from pathlib import Path
from typing import Sequence

import av
import numpy as np

AUDIO_RATE = 16_000


def espeak_available() -> bool:
    return shutil.which("espeak-ng") is not None


def speak(text: str, folder: Path, name: str) -> np.ndarray:
    """`text` spoken by espeak-ng, as float32 mono samples at AUDIO_RATE."""
    wav = folder / f"{name}.wav"
    subprocess.run(["espeak-ng", "-w", str(wav), text], check=True, capture_output=True, timeout=60)
    return read_mono(wav)


def read_mono(path: Path) -> np.ndarray:
    resampler = av.AudioResampler(format="flt", layout="mono", rate=AUDIO_RATE)
    parts = []
    with av.open(str(path)) as container:
        for frame in container.decode(audio=0):
            parts += [f.to_ndarray().reshape(-1) for f in resampler.resample(frame)]
    parts += [f.to_ndarray().reshape(-1) for f in resampler.resample(None)]
    return np.concatenate(parts) if parts else np.zeros(0, np.float32)


def speech_track(seconds: float, placed: Sequence[tuple[float, np.ndarray]]) -> np.ndarray:
    """A track of `seconds` of silence with each (time, samples) laid in at its time."""
    track = np.zeros(int(seconds * AUDIO_RATE), np.float32)
    for at_s, samples in placed:
        start = int(at_s * AUDIO_RATE)
        end = min(len(track), start + len(samples))
        track[start:end] = samples[:end - start]
    return track


def write_av(path: Path, frames: Sequence[np.ndarray], audio: np.ndarray | None, fps: int = 25,
             audio_codec: str = "aac") -> Path:
    """An MP4 with H.264 video and (unless audio is None) one mono audio track."""
    height, width = frames[0].shape[:2]
    with av.open(str(path), mode="w") as container:
        video = container.add_stream("libx264", rate=Fraction(fps))
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        sound = None
        if audio is not None:
            sound = container.add_stream(audio_codec, rate=AUDIO_RATE)
            sound.layout = "mono"
        for rgb in frames:
            container.mux(video.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")))
        container.mux(video.encode())
        if sound is not None:
            step = 1024
            for start in range(0, len(audio), step):
                frame = av.AudioFrame.from_ndarray(audio[start:start + step].reshape(1, -1), format="flt",
                                                   layout="mono")
                frame.sample_rate = AUDIO_RATE
                frame.pts = start
                container.mux(sound.encode(frame))
            container.mux(sound.encode())
    return path


def break_audio(source: Path, target: Path, seed: int = 7) -> Path:
    """A copy of `source` whose audio packets hold random bytes (video packets untouched):
    the container still declares the stream, and no audio decodes from it."""
    rng = random.Random(seed)
    with av.open(str(source)) as src, av.open(str(target), mode="w") as dst:
        streams = {}
        for stream in (src.streams.video[0], src.streams.audio[0]):
            streams[stream.index] = dst.add_stream_from_template(stream)
        for packet in src.demux():
            if packet.dts is None:
                continue
            out = streams[packet.stream.index]
            if packet.stream.type == "audio":
                garbage = av.Packet(bytes(rng.getrandbits(8) for _ in range(max(8, packet.size))))
                garbage.pts, garbage.dts, garbage.time_base = packet.pts, packet.dts, packet.time_base
                packet = garbage
            packet.stream = out
            dst.mux(packet)
    return target
