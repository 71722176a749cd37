"""The sound of an asset: its first audio stream as 16 kHz mono float samples, in bounded chunks.

FFmpeg (through PyAV's AudioResampler) converts and resamples, so any codec and layout it reads
comes out in the one format speech models take. Chunks are yielded as they fill, so memory stays
flat in the asset's duration; each chunk ends, where it can, at the quietest moment near its
end, so a word is rarely cut in two.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import av
import numpy as np

from sceneline.schemas import MediaError
from sceneline.transforms.io.media_io import open_video

SAMPLE_RATE = 16_000
DEFAULT_CHUNK_S = 30.0  # Whisper's own window: a chunk is one pass of the model
CUT_SEARCH_S = 5.0  # look this far back from a chunk's end for the quietest place to cut
CUT_FRAME_S = 0.05


class AudioDecodeError(MediaError):
    """The audio stream is there but cannot be decoded; only the transcript is lost."""


@dataclass(frozen=True)
class AudioChunk:
    start_s: float  # asset time of the first sample
    samples: np.ndarray  # float32 mono at SAMPLE_RATE

    @property
    def duration_s(self) -> float:
        return len(self.samples) / SAMPLE_RATE


def has_audio(uri: str) -> bool:
    with open_video(uri) as container:
        return bool(container.streams.audio)


def _quiet_cut(samples: np.ndarray, chunk: int) -> int:
    """Where to end a chunk of at most `chunk` samples: the quietest short frame in its last seconds."""
    frame = int(CUT_FRAME_S * SAMPLE_RATE)
    search = samples[max(0, chunk - int(CUT_SEARCH_S * SAMPLE_RATE)):chunk]
    frames = len(search) // frame
    if frames < 2:
        return chunk
    energy = np.square(search[:frames * frame].reshape(frames, frame)).mean(axis=1)
    quietest = int(np.argmin(energy[::-1]))  # the latest of equally quiet frames: longer chunks
    return chunk - len(search) + (frames - quietest) * frame


def audio_chunks(uri: str, chunk_s: float = DEFAULT_CHUNK_S) -> Iterator[AudioChunk]:
    """The first audio stream in chunks of at most `chunk_s` seconds; nothing when there is none.
    Raises AudioDecodeError (with FFmpeg's reason) when the stream cannot be decoded."""
    chunk = int(chunk_s * SAMPLE_RATE)
    with open_video(uri) as container:
        if not container.streams.audio:
            return
        stream = container.streams.audio[0]
        stream.thread_type = "AUTO"
        resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
        pending: list[np.ndarray] = []
        held = 0
        start_s: float | None = None  # asset time of the first pending sample
        consumed = 0  # samples already yielded since start_s
        try:
            for frame in _decoded(container, stream):
                if start_s is None:
                    start_s = max(0.0, float(frame.time or 0.0))
                for out in resampler.resample(frame):
                    pending.append(out.to_ndarray().reshape(-1))
                    held += out.samples
                while held >= chunk:
                    buffer = np.concatenate(pending)
                    cut = _quiet_cut(buffer, chunk)
                    yield AudioChunk(start_s + consumed / SAMPLE_RATE, buffer[:cut])
                    consumed += cut
                    pending, held = [buffer[cut:]], len(buffer) - cut
            for out in resampler.resample(None):  # flush what the resampler holds
                pending.append(out.to_ndarray().reshape(-1))
        except av.error.FFmpegError as exc:
            raise AudioDecodeError(f"the audio stream cannot be decoded (FFmpeg: {exc.strerror or exc})") from exc
        if pending and start_s is not None:
            rest = np.concatenate(pending)
            if len(rest):
                yield AudioChunk(start_s + consumed / SAMPLE_RATE, rest)


def _decoded(container: av.container.InputContainer, stream: av.AudioStream) -> Iterator[av.AudioFrame]:
    """Decoded frames of one stream. A few corrupt packets are skipped (FFmpeg conceals them);
    a stream where nothing decodes is an error."""
    errors = decoded = 0
    last_error: av.error.FFmpegError | None = None
    for packet in container.demux(stream):
        try:
            frames = packet.decode()
        except av.error.InvalidDataError as exc:
            errors += 1
            last_error = exc
            continue
        for frame in frames:
            decoded += 1
            yield frame
    if errors and not decoded:
        raise AudioDecodeError(f"no audio decoded: {errors} packets failed "
                               f"(FFmpeg: {last_error.strerror if last_error else 'invalid data'})")
