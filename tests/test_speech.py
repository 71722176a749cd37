"""Spoken words end to end, as a user runs them: `sceneline index` (the real batch pipeline with
the bundled Whisper tiny.en, the real MiniLM sentence model and the tests' tiny open_clip), then
`sceneline search --modality transcription` and `sceneline transcript`.

The speech is espeak-ng's (Debian), laid into a video's audio track at known times; when each
sentence is said is measured from the samples themselves (first and last loud sample). Beside it:
a video with a silent track, one with no audio stream, and one whose audio packets are garbage.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from clips import read_frames
from conftest import media
from speech_clips import AUDIO_RATE, break_audio, espeak_available, speak, speech_track, write_av
from test_cli import sceneline

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not espeak_available(), reason="espeak-ng is not installed (apt-get install espeak-ng)")]

SECONDS = 10.0
SENTENCES = {  # said at (seconds): words
    1.5: "Please bring your umbrella tomorrow morning.",
    6.0: "The red balloon floated over the village.",
}
# Whisper's segment times are placed by its own timestamp tokens (20 ms steps, tiny model):
# a segment may start or end this much inside the span where the sound is.
TIME_SLACK_S = 0.35


def voiced_span(samples: np.ndarray, at_s: float) -> tuple[float, float]:
    """When the sound of a sentence laid in at `at_s` starts and stops (espeak pads with silence)."""
    loud = np.flatnonzero(np.abs(samples) > 0.02)
    return at_s + loud[0] / AUDIO_RATE, at_s + loud[-1] / AUDIO_RATE


@pytest.fixture(scope="module")
def indexed(tmp_path_factory, tiny_clip):
    work = tmp_path_factory.mktemp("speech")
    inputs = work / "media"
    inputs.mkdir()
    frames = read_frames(media("groundtruth/gt_hardcuts.mp4"), 0, int(SECONDS * 25), (160, 90))
    spoken = {at: speak(text, work, f"s{i}") for i, (at, text) in enumerate(SENTENCES.items())}
    write_av(work / "talk.mp4", frames, speech_track(SECONDS, list(spoken.items())))
    break_audio(work / "talk.mp4", inputs / "broken_audio.mp4")
    (work / "talk.mp4").rename(inputs / "talk.mp4")
    write_av(inputs / "silent.mp4", frames[:75], speech_track(3.0, []))
    write_av(inputs / "no_audio.mp4", frames[:75], None)
    result = sceneline("index", str(inputs), "--visual-model", tiny_clip.spec, "--captioner", "none", "--no-ocr",
                       "--json", cwd=work)
    assert result.returncode == 0, result.stderr
    run = json.loads(result.stdout)
    assets = {Path(a["uri"]).name: a for a in run["assets"]}
    spans = {at: voiced_span(samples, at) for at, samples in spoken.items()}
    return {"work": work, "assets": assets, "spans": spans}


def search_json(work: Path, query: str, *extra: str) -> list[dict]:
    result = sceneline("search", query, "--modality", "transcription", "--json", *extra, cwd=work)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_every_video_indexes_whatever_its_sound(indexed):
    assets = indexed["assets"]
    assert {name: a["status"] for name, a in assets.items()} == {
        "talk.mp4": "indexed", "silent.mp4": "indexed", "no_audio.mp4": "indexed", "broken_audio.mp4": "indexed"}
    assert all(a["scene_count"] >= 1 for a in assets.values())
    # Only the broken stream is worth a warning, and it says the transcript is what was lost.
    assert "transcript failed" in (assets["broken_audio.mp4"]["warnings"] or "")
    assert "audio" in assets["broken_audio.mp4"]["warnings"]
    for name in ("talk.mp4", "silent.mp4", "no_audio.mp4"):
        assert "transcript" not in (assets[name]["warnings"] or ""), name


@pytest.mark.parametrize("at_s, query", [(1.5, "umbrella tomorrow morning"), (6.0, "red balloon over the village")])
def test_a_phrase_is_found_where_it_is_said(indexed, at_s, query):
    hits = search_json(indexed["work"], query)
    best = hits[0]
    said_from, said_to = indexed["spans"][at_s]
    assert best["filename"] == "talk.mp4"
    assert best["start_s"] <= said_from + TIME_SLACK_S and best["end_s"] >= said_to - TIME_SLACK_S, (best, said_from,
                                                                                                      said_to)
    assert set(query.split()) - {"over", "the"} <= set(re.findall(r"\w+", best["transcript"].lower()))
    assert best["segment_index"] is not None
    # The other sentence, said elsewhere, ranks below (or is not found at all).
    assert all(h["start_s"] >= said_to or h["end_s"] <= said_from for h in hits[1:])


def test_lexical_needs_the_words_and_semantic_the_meaning(indexed):
    work = indexed["work"]
    assert search_json(work, "zebra crossing", "--transcription-options", "lexical") == []
    # No word in common with what was said: the sentence model still finds the balloon.
    [best, *_] = search_json(work, "a toy drifting above the town", "--transcription-options", "semantic")
    assert "balloon" in best["transcript"].lower()


def test_transcript_command_gives_the_words_with_times(indexed):
    work, asset_id = indexed["work"], indexed["assets"]["talk.mp4"]["asset_id"]
    result = sceneline("transcript", asset_id, "--json", cwd=work)
    assert result.returncode == 0, result.stderr
    segments = json.loads(result.stdout)["segments"]
    text = " ".join(s["text"] for s in segments).lower()
    assert "umbrella" in text and "balloon" in text
    starts = [s["start_s"] for s in segments]
    assert starts == sorted(starts)
    words = [w for s in segments for w in s["words"]]
    balloon = next(w for w in words if "balloon" in w["text"].lower())
    said_from, said_to = indexed["spans"][6.0]
    assert said_from - TIME_SLACK_S <= balloon["start_s"] < balloon["end_s"] <= said_to + TIME_SLACK_S

    srt = sceneline("transcript", asset_id, "--srt", cwd=work).stdout
    assert srt.startswith("1\n00:00:0") and " --> " in srt and "umbrella" in srt.lower()
    assert sceneline("transcript", asset_id, "--vtt", cwd=work).stdout.startswith("WEBVTT")


def test_silence_and_no_audio_have_empty_transcripts(indexed):
    work = indexed["work"]
    for name in ("silent.mp4", "no_audio.mp4", "broken_audio.mp4"):
        result = sceneline("transcript", indexed["assets"][name]["asset_id"], "--json", cwd=work)
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["segments"] == [], name


def test_scene_hits_carry_what_was_said_during_them(indexed):
    # Visual search with the tests' random-weight CLIP: a way to list every scene as a hit.
    result = sceneline("search", "anything", "--modality", "visual", "--json", "--limit", "50", cwd=indexed["work"])
    assert result.returncode == 0, result.stderr
    talk = sorted((h for h in json.loads(result.stdout) if h["filename"] == "talk.mp4"), key=lambda h: h["start_s"])
    assert talk and all(h["transcript"] is not None for h in talk)
    told = " ".join(h["transcript"] for h in talk).lower()
    assert told.index("umbrella") < told.index("balloon")
    for word, at_s in (("umbrella", 1.5), ("balloon", 6.0)):
        said_from, said_to = indexed["spans"][at_s]
        [scene] = [h for h in talk if word in h["transcript"].lower()]  # each word told once, by its scene
        assert scene["start_s"] < said_to and scene["end_s"] > said_from, (word, scene)


def test_unknown_asset_is_one_line_on_stderr(indexed):
    result = sceneline("transcript", "00000000-0000-0000-0000-000000000000", cwd=indexed["work"])
    assert result.returncode == 2
    assert "no asset" in result.stderr and "Traceback" not in result.stderr
