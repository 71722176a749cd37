"""The parts of speech indexing on their own: audio in bounded chunks, words to scenes, subtitles,
lexical ranking and fusion, and the speech collection in the store (deterministic ids, removal
with the asset). Quick: no pipeline; the store is Qdrant's local engine in memory."""

from __future__ import annotations

import numpy as np
import pytest
from qdrant_client import QdrantClient

from clips import read_frames
from conftest import media
from sceneline.pipelines.filters import translate_filter
from sceneline.pipelines.transcript import TranscriptNotFoundError, to_srt, to_vtt, transcript_of
from sceneline.schemas import AnalyzedAsset, AssetRecord, AssetStatus, MediaAsset, MediaType, ProbeInfo, Scene
from sceneline.schemas.speech import SpeechSegment, Word, text_between
from sceneline.transforms.media.audio import SAMPLE_RATE, AudioDecodeError, audio_chunks
from sceneline.transforms.models.model_spec import ModelUnavailableError
from sceneline.transforms.models.transcriber import (
    Transcript,
    TranscriberConfig,
    attach_transcript,
    audio_sources,
    parse_transcriber_spec,
    preflight_transcriber,
)
from sceneline.transforms.store.client_backend import QdrantClientBackend
from sceneline.transforms.store.scene_store import SceneStore, StoreConfig, close_shared_clients
from sceneline.transforms.store.speech_ranking import fuse_rrf, lexical_score, rank_lexical
from speech_clips import break_audio, speech_track, write_av


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    folder = tmp_path_factory.mktemp("audio")
    frames = read_frames(media("groundtruth/gt_hardcuts.mp4"), 0, 25, (64, 36))
    tone = np.sin(np.linspace(0, 2 * np.pi * 440 * 7.0, int(7.0 * SAMPLE_RATE))).astype(np.float32) * 0.3
    track = speech_track(7.0, [(0.0, tone)])
    track[int(2.0 * SAMPLE_RATE):int(2.2 * SAMPLE_RATE)] = 0.0  # a pause: a quiet place to cut near 2 s
    write_av(folder / "tone.mp4", frames, track)
    break_audio(folder / "tone.mp4", folder / "broken.mp4")
    write_av(folder / "mute.mp4", frames, None)
    return folder


def test_audio_comes_in_bounded_chunks_that_tile_the_track(clips):
    chunks = list(audio_chunks(str(clips / "tone.mp4"), chunk_s=2.5))
    assert all(c.duration_s <= 2.5 for c in chunks)
    assert len(chunks) >= 3
    for before, after in zip(chunks, chunks[1:]):  # no gap, no overlap
        assert after.start_s == pytest.approx(before.start_s + before.duration_s, abs=1e-3)
    assert sum(c.duration_s for c in chunks) == pytest.approx(7.0, abs=0.1)
    # The first chunk ends in the pause, not through the tone.
    assert 2.0 <= chunks[0].start_s + chunks[0].duration_s <= 2.2 + 0.05


def test_no_audio_stream_is_no_chunks_and_a_broken_one_an_error(clips):
    assert list(audio_chunks(str(clips / "mute.mp4"))) == []
    with pytest.raises(AudioDecodeError, match="audio"):
        list(audio_chunks(str(clips / "broken.mp4")))


def _segment(index: int, words: list[tuple[float, float, str]]) -> SpeechSegment:
    return SpeechSegment(index=index, start_s=words[0][0], end_s=words[-1][1], text=" ".join(w[2] for w in words),
                         words=[Word(start_s=a, end_s=b, text=t) for a, b, t in words])


SEGMENTS = [_segment(0, [(0.5, 0.9, "good"), (0.9, 1.3, "morning"), (2.8, 3.2, "harbor")]),
            _segment(1, [(6.0, 6.4, "red"), (6.4, 6.9, "balloon")])]


def test_each_word_goes_to_the_scene_it_is_said_in():
    assert text_between(SEGMENTS, 0.0, 2.0) == "good morning"
    assert text_between(SEGMENTS, 2.0, 6.5) == "harbor red"
    assert text_between(SEGMENTS, 6.5, 10.0) == "balloon"
    assert text_between(SEGMENTS, 4.0, 5.0) == ""
    no_words = [SpeechSegment(index=0, start_s=1.0, end_s=3.0, text="hello there")]
    assert text_between(no_words, 0.0, 2.5) == "hello there" and text_between(no_words, 2.5, 9.0) == ""


def test_attach_gives_each_scene_its_words_and_keeps_a_failure_as_a_warning():
    analyzed = _analyzed([])
    late = _segment(2, [(9.5, 9.9, "goodbye"), (10.0, 10.6, "everyone")])  # past the last frame (10.0 s)
    done = attach_transcript(analyzed, [Transcript(segments=[*SEGMENTS, late])], spec="tiny.en")
    assert [s.enrichment.transcript for s in done.scenes] == ["good morning harbor", "red balloon goodbye everyone"]
    assert done.models["transcriber"] == "tiny.en" and len(done.speech) == 3 and not done.probe.warnings

    failed = attach_transcript(analyzed, [Transcript(error="the audio stream cannot be decoded")], spec="tiny.en")
    assert failed.speech == [] and failed.probe.warnings == ["transcript failed: the audio stream cannot be decoded"]
    assert all(s.enrichment.transcript_error for s in failed.scenes)
    image = analyzed.model_copy(update={"asset": analyzed.asset.model_copy(update={"media_type": MediaType.IMAGE})})
    assert audio_sources(image) == [] and attach_transcript(image, [], spec="tiny.en") == image


def test_subtitles():
    srt = to_srt(SEGMENTS)
    assert srt.splitlines()[:3] == ["1", "00:00:00,500 --> 00:00:03,200", "good morning harbor"]
    assert "2\n00:00:06,000 --> 00:00:06,900\nred balloon" in srt
    assert to_vtt(SEGMENTS).splitlines()[:3] == ["WEBVTT", "", "00:00:00.500 --> 00:00:03.200"]


def test_lexical_ranking_prefers_the_phrase_then_more_of_the_words():
    texts = ["the night market", "market of the night", "a market", "nothing here"]
    ranked = [p["text"] for p, _ in rank_lexical("night market", [{"text": t} for t in texts])]
    assert ranked == ["the night market", "market of the night", "a market"]
    assert lexical_score("Night-Market!", "NIGHT market") == 2.0
    assert lexical_score("", "anything") == 0.0


def test_reciprocal_rank_fusion_rewards_agreement():
    fused = [item for item, _ in fuse_rrf([["a", "b", "c"], ["b", "d", "a"]])]
    assert fused[0] == "b" and set(fused) == {"a", "b", "c", "d"}


def test_transcriber_specs():
    assert parse_transcriber_spec("none") is None
    assert parse_transcriber_spec("tiny.en").location.is_hub
    assert parse_transcriber_spec("gs://bucket/whisper").location.source == "gcs"
    assert parse_transcriber_spec("/models/whisper").location.source == "local-dir"


def test_preflight_names_what_cannot_work(tmp_path):
    assert preflight_transcriber(TranscriberConfig(spec="none")) is None
    assert preflight_transcriber(TranscriberConfig(language="EN")).raw == "tiny.en"  # the bundled default
    with pytest.raises(ValueError, match="English only"):
        preflight_transcriber(TranscriberConfig(language="de"))
    with pytest.raises(ValueError, match="not a language"):
        preflight_transcriber(TranscriberConfig(language="klingon"))
    with pytest.raises(ModelUnavailableError, match="model.bin"):
        preflight_transcriber(TranscriberConfig(spec=str(tmp_path)))
    with pytest.raises(ModelUnavailableError, match="--transcriber none"):
        preflight_transcriber(TranscriberConfig(spec="large-v3"), offline=True)


def test_settings_reach_the_pipeline_for_index_and_stream():
    from apache_beam.options.pipeline_options import PipelineOptions

    from sceneline.pipelines.options import understanding_config_from
    from sceneline.schemas.settings import UnderstandingSettings

    default = understanding_config_from(PipelineOptions([])).transcriber
    assert (default.spec, default.language) == ("tiny.en", None)
    # `index`, `stream` and `serve` all turn their options into Beam flags through the declarations.
    argv = UnderstandingSettings(transcriber="small", language="de").argv()
    chosen = understanding_config_from(PipelineOptions(argv)).transcriber
    assert (chosen.spec, chosen.language) == ("small", "de")
    unset = understanding_config_from(PipelineOptions(UnderstandingSettings(captioner="none").argv())).transcriber
    assert unset.spec == default.spec


ASSET_ID = "7b0e8f0e-5d1c-5d4e-9f51-3e3a3c2f7a10"


def _analyzed(segments: list[SpeechSegment]) -> AnalyzedAsset:
    asset = MediaAsset(asset_id=ASSET_ID, uri="/media/talk.mp4", media_type=MediaType.VIDEO, size_bytes=10)
    scenes = [Scene(index=0, start_s=0.0, end_s=5.0, start_frame=0, end_frame=124),
              Scene(index=1, start_s=5.0, end_s=10.0, start_frame=125, end_frame=249)]
    rng = np.random.default_rng(0)
    with_vectors = [s.model_copy(update={"vector": rng.normal(size=8).tolist()}) for s in segments]
    return AnalyzedAsset(asset=asset, probe=ProbeInfo(duration_s=10.0), scenes=scenes, speech=with_vectors)


@pytest.fixture(params=["embedded", "server"])
def store(request, tmp_path):
    """The embedded engine (a local folder) and the qdrant-client path a Qdrant server takes."""
    backend = QdrantClientBackend(QdrantClient(location=":memory:")) if request.param == "server" else None
    yield SceneStore(StoreConfig(path=str(tmp_path / "index"), collection="speechparts"), backend=backend)
    if backend is not None:
        backend.close()
    close_shared_clients()


def test_speech_store_rewrites_the_same_points_and_forgets_them_with_the_asset(store):
    store.ensure_collections({"text": 8}, {"text": "test"})
    store.put_status(AssetRecord(asset_id=ASSET_ID, uri="/media/talk.mp4", filename="talk.mp4",
                                 status=AssetStatus.INDEXED))
    analyzed = _analyzed(SEGMENTS)
    assert store.write_speech(analyzed) == 2
    assert store.write_speech(analyzed) == 2  # a redelivery: same ids, no duplicates
    segments = transcript_of(store, ASSET_ID)
    assert [s.text for s in segments] == ["good morning harbor", "red balloon"]
    assert segments[1].words[1].text == "balloon" and segments[1].start_s == 6.0

    assert store.query_speech("zebra", None, limit=5) == []
    [hit] = store.query_speech("balloon", None, limit=5)
    assert (hit.segment_index, hit.scene_index, hit.start_s, hit.end_s) == (1, 1, 6.0, 6.9)
    assert hit.transcript == "red balloon"
    assert (hit.uri, hit.filename, hit.media_type) == ("/media/talk.mp4", "talk.mp4", "video")  # the asset's fields
    # Filters on the asset's fields (kept once per asset, in the split layout) and on the segment's.
    assert [h.segment_index for h in store.query_speech("balloon", None, limit=5,
                                                       query_filter=translate_filter({"duration": {"gte": 10}}))] == [1]
    assert store.query_speech("balloon", None, limit=5, query_filter=translate_filter({"filename": "other.mp4"})) == []
    # Semantic: the segment's own vector ranks it first.
    [first, *_] = store.query_speech("zzz", analyzed.speech[0].vector, limit=5, lexical=False)
    assert first.segment_index == 0

    assert store.write_speech(_analyzed(SEGMENTS[:1])) == 1  # a re-run that heard less drops the rest
    assert [s.index for s in store.speech_of(ASSET_ID)] == [0]
    store.delete_asset(ASSET_ID)
    assert store.speech_of(ASSET_ID) == []
    with pytest.raises(TranscriptNotFoundError):
        transcript_of(store, "00000000-0000-0000-0000-000000000000")
