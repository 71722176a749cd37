"""Done-when for issue 14: through the official TwelveLabs SDK, `analyze` (plain and streaming) on
a video with speech, uploaded to and indexed by `sceneline serve`, returns the model's answer, and
the model was given that video's transcript with times. The speech is espeak-ng's, transcribed by
the bundled Whisper tiny.en; the analyzer is a local OpenAI-compatible endpoint standing in for a
chat model (no chat-model weights can be had here)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from api_server import fast_model_flags, running, wait_for_task
from conftest import media
from clips import read_frames
from fake_endpoint import FakeEndpoint, Reply
from speech_clips import espeak_available, speak, speech_track, write_av
from test_analyze import prompt_text

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not espeak_available(), reason="espeak-ng is not installed (apt-get install espeak-ng)")]

ANSWER = "The speaker says the quarterly revenue grew."


@pytest.fixture(scope="module")
def served(tmp_path_factory, tiny_clip):
    work = tmp_path_factory.mktemp("analyze-server")
    frames = read_frames(media("groundtruth/gt_hardcuts.mp4"), 0, 200, (160, 90))  # 8 s, cuts at 3 s and 7 s
    voice = speak("the quarterly revenue grew by nine percent", work, "talk")
    write_av(work / "talk.mp4", frames, speech_track(8.0, [(3.5, voice)]))
    with FakeEndpoint(lambda body, n: Reply(content=ANSWER)) as endpoint:
        flags = fast_model_flags(tiny_clip.spec) + ["--analyzer", "openai:fake-vlm", "--analyzer-url", endpoint.url,
                                                    "--keyframes", "0"]
        with running(work / "home", flags) as server:
            client = server.client()
            index = client.indexes.create(index_name="talks", models=[
                {"model_name": "marengo3.0", "model_options": ["visual", "audio"]}])
            with open(work / "talk.mp4", "rb") as f:
                task = client.tasks.create(index_id=index.id, video_file=f)
            done = wait_for_task(client, task.id)
            assert done.status == "ready", done
            yield client, done.video_id, endpoint, server.home


def test_sdk_analyze_plain_and_streaming_is_grounded_in_the_timed_transcript(served):
    client, video_id, endpoint, _home = served
    plain = client.analyze(video={"type": "asset_id", "asset_id": video_id}, prompt="What grew?", temperature=0.3)
    events = list(client.analyze_stream(video={"type": "asset_id", "asset_id": video_id}, prompt="What grew?",
                                        temperature=0.3))
    assert plain.data == ANSWER
    assert [e.event_type for e in events][0::len(events) - 1] == ["stream_start", "stream_end"]
    assert "".join(e.text for e in events if e.event_type == "text_generation") == ANSWER
    for body in endpoint.requests[-2:]:
        said = re.findall(r"said at ([0-9.]+)s-([0-9.]+)s: '([^']*)'", prompt_text(body))
        assert said, "no timed transcript in the prompt"
        start, end, words = float(said[0][0]), float(said[0][1]), said[0][2].lower()
        assert "revenue" in words and "grew" in words
        assert 3.0 <= start <= 4.5 and end > start  # spoken from 3.5 s (espeak pads with a little silence)
    assert "scene" in prompt_text(endpoint.requests[-1]) and "[3.0s-" in prompt_text(endpoint.requests[-1])


def test_an_unknown_video_is_a_404_in_twelvelabs_shape(served):
    client, _video_id, _endpoint, _home = served
    from twelvelabs.errors import NotFoundError

    with pytest.raises(NotFoundError) as caught:
        client.analyze(video={"type": "asset_id", "asset_id": "no-such-video"}, prompt="x")
    assert caught.value.body["code"] == "video_not_found"


def test_sdk_searches_the_spoken_words_on_their_time_range_and_retrieves_the_transcript(served):
    """Issues 13 and 19 together: `search_options=transcription` finds the phrase where it is said,
    with its words, and the indexed asset's retrieve with `transcription=true` returns them."""
    client, video_id, _endpoint, _home = served
    [index] = [i for i in client.indexes.list() if i.index_name == "talks"]
    found = client.search.create(index_id=index.id, search_options=["transcription"], query_text="quarterly revenue")
    assert found.data, "no transcription hit"
    best = found.data[0]
    assert best.video_id == video_id and best.start <= 4.0 and best.end >= 4.5  # said from 3.5 s on
    assert "revenue" in (best.transcription or "").lower()
    asset = client.indexes.indexed_assets.retrieve(index.id, video_id, transcription=True)
    words = " ".join(item.value for item in asset.transcription or []).lower()
    assert "quarterly revenue" in words and all(item.end > item.start for item in asset.transcription)
    assert client.indexes.indexed_assets.retrieve(index.id, video_id).transcription is None


def test_a_cli_search_on_the_servers_index_goes_through_the_server_and_loads_no_model(served):
    """Issue 16: while `serve` owns the index, `sceneline search` from another terminal is answered
    by the server, which keeps the query models loaded; the CLI process never imports torch."""
    client, video_id, _endpoint, home = served
    [index] = [i for i in client.indexes.list() if i.index_name == "talks"]
    code = ("import sys\nfrom sceneline.pipelines.cli import app\n"
            "try:\n    app(sys.argv[1:], standalone_mode=False)\n"
            "finally:\n    print('torch here' if 'torch' in sys.modules else 'no model here', file=sys.stderr)\n")
    result = subprocess.run(
        [sys.executable, "-c", code, "search", "a whiteboard", "--modality", "visual", "--qdrant-path",
         str(home / "qdrant"), "--collection", f"scenes-{index.id}", "--json"],
        capture_output=True, text=True, timeout=300, env={**os.environ, "SCENELINE_OFFLINE": "1"})
    assert result.returncode == 0, result.stderr
    hits = json.loads(result.stdout)
    assert hits and all(h["start_s"] < h["end_s"] for h in hits)
    assert result.stderr.strip().splitlines()[-1] == "no model here", result.stderr
