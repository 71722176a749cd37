"""`sceneline serve` with the official TwelveLabs SDK (twelvelabs==1.3.6) as the client, on real
videos from ../shared/media: indexes, uploads, indexing, search by text and image, metadata,
deletion, auth. The models are tiny (a random-weight open_clip built by the tests, no captioner,
OCR or text model), so the checks are about the API's behaviour, not ranking quality, except
where one video's own frame must find that video."""

from __future__ import annotations

import json

import av
import httpx
import pytest
from api_server import fast_model_flags, running, wait_for_task
from conftest import media
from twelvelabs.core.api_error import ApiError
from twelvelabs.errors import BadRequestError

pytestmark = pytest.mark.slow

SLIDES = "videos/techslides_small.mp4"  # 560x320, 30 fps, 5.5 s
SHORT = "videos/imageio_realshort.mp4"  # 320x240, 30 fps, 1.2 s


@pytest.fixture(scope="module")
def server(tmp_path_factory, tiny_clip):
    home = tmp_path_factory.mktemp("api") / "home"
    with running(home, fast_model_flags(tiny_clip.spec)) as s:
        yield s


@pytest.fixture(scope="module")
def client(server):
    return server.client()


@pytest.fixture(scope="module")
def index_id(client):
    created = client.indexes.create(index_name="sdk-test", models=[
        {"model_name": "marengo3.0", "model_options": ["visual", "audio"]}])
    return created.id


@pytest.fixture(scope="module")
def uploads(client, index_id):
    """Two different videos, and the first again (same bytes, another name)."""
    tasks = {}
    for name, path, meta in (("slides", SLIDES, {"topic": "slides", "rating": 5}),
                             ("short", SHORT, {"topic": "ball", "rating": 2})):
        with open(media(path), "rb") as f:
            tasks[name] = client.tasks.create(index_id=index_id, video_file=f, user_metadata=json.dumps(meta))
    done = {name: wait_for_task(client, t.id) for name, t in tasks.items()}
    with open(media(SLIDES), "rb") as f:
        again = client.tasks.create(index_id=index_id, video_file=("copy.mp4", f),
                                    user_metadata=json.dumps({"topic": "copy"}))
    done["copy"] = wait_for_task(client, again.id)
    return done


def frame_png(path, at_s: float, out) -> None:
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            if frame.time >= at_s:
                frame.to_image().save(out)
                return


def test_indexes_are_created_listed_renamed_and_deleted(client):
    created = client.indexes.create(index_name="scratch", models=[
        {"model_name": "marengo2.7", "model_options": ["visual"]},
        {"model_name": "pegasus1.2", "model_options": ["visual", "audio"]}])
    got = client.indexes.retrieve(created.id)
    assert got.index_name == "scratch" and [m.model_name for m in got.models] == ["marengo2.7", "pegasus1.2"]
    assert got.models[1].model_options == ["visual", "audio"] and got.video_count == 0
    client.indexes.update(created.id, index_name="scratch-renamed")
    assert client.indexes.retrieve(created.id).index_name == "scratch-renamed"
    # The SDK's pager asks page after page until one comes back empty.
    assert "scratch-renamed" in [i.index_name for i in client.indexes.list(page_limit=1)]
    client.indexes.delete(created.id)
    with pytest.raises(ApiError) as gone:
        client.indexes.retrieve(created.id)
    assert gone.value.status_code == 404 and gone.value.body["code"] == "index_not_exists"
    with pytest.raises(BadRequestError):  # not a TwelveLabs model
        client.indexes.create(index_name="x", models=[{"model_name": "gpt-4", "model_options": ["visual"]}])


def test_uploads_index_to_ready_with_system_metadata(client, index_id, uploads):
    assert {name: t.status for name, t in uploads.items()} == {"slides": "ready", "short": "ready", "copy": "ready"}
    slides = client.indexes.indexed_assets.retrieve(index_id, uploads["slides"].video_id)
    meta = slides.system_metadata
    assert meta.filename == "techslides_small.mp4" and (meta.width, meta.height) == (560, 320)
    assert meta.duration == pytest.approx(5.53, abs=0.1) and meta.fps == pytest.approx(30, abs=0.1)
    assert meta.size == media(SLIDES).stat().st_size
    assert slides.user_metadata == {"topic": "slides", "rating": 5} and slides.status == "ready"
    # Same bytes, another upload: its own video over the same analysis.
    copy = client.indexes.indexed_assets.retrieve(index_id, uploads["copy"].video_id)
    assert copy.id != slides.id and copy.asset_id == slides.asset_id and copy.system_metadata.filename == "copy.mp4"
    assert client.indexes.retrieve(index_id).video_count == 3
    listed = list(client.indexes.indexed_assets.list(index_id, filename="techslides_small.mp4"))
    assert [v.id for v in listed] == [slides.id]
    listed_tasks = list(client.tasks.list(index_id=index_id, status=["ready"]))
    assert {t.id for t in listed_tasks} == {t.id for t in uploads.values()}


def test_search_by_text_by_clip_and_by_video(client, index_id, uploads):
    clips = client.search.create(index_id=index_id, query_text="a slide with text", search_options=["visual"],
                                 page_limit=50)
    assert clips.data and all(c.video_id for c in clips.data)
    assert [c.rank for c in clips.data] == list(range(1, len(clips.data) + 1))
    assert {c.video_id for c in clips.data} == {t.video_id for t in uploads.values()}
    assert clips.search_pool.total_count == 3 and clips.search_pool.index_id == index_id
    first = clips.data[0]
    assert 0 <= first.start < first.end and first.thumbnail_url.startswith("http://127.0.0.1")
    thumb = httpx.get(first.thumbnail_url)
    assert thumb.status_code == 200 and thumb.content[:3] == b"\xff\xd8\xff"  # a JPEG
    grouped = client.search.create(index_id=index_id, query_text="a slide", search_options=["visual"],
                                   group_by="video")
    assert sorted(g.id for g in grouped.data) == sorted(t.video_id for t in uploads.values())
    assert all(g.clips and all(c.video_id == g.id for c in g.clips) for g in grouped.data)


def test_search_by_image_finds_the_video_it_came_from(client, index_id, uploads, tmp_path):
    query = tmp_path / "frame.png"
    frame_png(media(SHORT), 0.5, query)
    with open(query, "rb") as f:
        found = client.search.create(index_id=index_id, query_media_type="image", query_media_file=f,
                                     search_options=["visual"], group_by="video")
    assert found.data[0].id == uploads["short"].video_id


def test_filters_paging_and_user_metadata(client, index_id, uploads):
    slides, short = uploads["slides"].video_id, uploads["short"].video_id
    by_id = client.search.create(index_id=index_id, query_text="x", search_options=["visual"],
                                 filter=json.dumps({"id": [short]}))
    assert by_id.data and {c.video_id for c in by_id.data} == {short}
    wide = client.search.create(index_id=index_id, query_text="x", search_options=["visual"],
                                filter=json.dumps({"width": {"gte": 500}, "topic": "slides"}),
                                include_user_metadata=True)
    assert {c.video_id for c in wide.data} == {slides}
    assert wide.data[0].user_metadata == {"topic": "slides", "rating": 5}
    # One clip a page: the token leads through every clip, each once.
    page = client.search.create(index_id=index_id, query_text="x", search_options=["visual"], page_limit=1)
    seen = [(c.video_id, c.start) for c in page.data]
    while page.page_info.next_page_token:
        page = client.search.retrieve(page.page_info.next_page_token)
        seen += [(c.video_id, c.start) for c in page.data]
    everything = client.search.create(index_id=index_id, query_text="x", search_options=["visual"], page_limit=50)
    assert sorted(seen) == sorted((c.video_id, c.start) for c in everything.data)
    # The total counts every page's results from the first page on (the copy repeats the slides' clips).
    first = client.search.create(index_id=index_id, query_text="x", search_options=["visual"], page_limit=1)
    assert first.page_info.total_results == len(seen) > 1
    videos = client.search.create(index_id=index_id, query_text="x", search_options=["visual"], page_limit=1,
                                  group_by="video")
    assert videos.page_info.total_results == 3
    # PATCH user metadata: merged, searchable at once.
    client.indexes.indexed_assets.update(index_id, short, user_metadata={"topic": "bounce", "reviewed": True})
    assert client.indexes.indexed_assets.retrieve(index_id, short).user_metadata == {
        "topic": "bounce", "rating": 2, "reviewed": True}
    reviewed = client.search.create(index_id=index_id, query_text="x", search_options=["visual"],
                                    filter=json.dumps({"reviewed": True}))
    assert {c.video_id for c in reviewed.data} == {short}


def test_bad_input_is_a_400_with_a_reason(client, index_id, tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("not a video at all\n" * 100)
    with open(text, "rb") as f, pytest.raises(BadRequestError) as not_media:
        client.tasks.create(index_id=index_id, video_file=f)
    assert "not a video" in str(not_media.value.body)
    with open(media(SHORT), "rb") as f, pytest.raises(BadRequestError) as climbing:
        client.tasks.create(index_id=index_id, video_file=("../../etc/evil.mp4", f))
    assert ".." in str(climbing.value.body)
    for bad_filter in ("[1, 2]", "{not json"):
        with pytest.raises(BadRequestError) as wrong:
            client.search.create(index_id=index_id, query_text="x", search_options=["visual"], filter=bad_filter)
        assert wrong.value.body["code"] == "parameter_invalid"
    with pytest.raises(BadRequestError) as later:  # sound other than speech is not searchable yet
        client.search.create(index_id=index_id, query_text="x", search_options=["audio"])
    assert "audio" in later.value.body["message"]
    with pytest.raises(BadRequestError) as wordless:  # spoken words are matched by words
        with open(media("images/misc/opencv_fruits.jpg"), "rb") as f:
            client.search.create(index_id=index_id, query_media_type="image", query_media_file=f,
                                 search_options=["transcription"])
    assert "query_text" in wordless.value.body["message"]
    with pytest.raises(ApiError) as no_index:
        client.tasks.create(index_id="0" * 24, video_url="http://127.0.0.1:9/x.mp4")
    assert no_index.value.status_code == 404


def test_a_truncated_video_fails_with_a_reason(client, index_id, tmp_path):
    data = media(SLIDES).read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[:len(data) // 3])  # the moov atom is at the end: nothing to decode
    with open(cut, "rb") as f:
        task = client.tasks.create(index_id=index_id, video_file=f)
    done = wait_for_task(client, task.id)
    assert done.status == "failed"
    raw = httpx.get(f"{client._client_wrapper.get_base_url()}/tasks/{task.id}",
                    headers={"x-api-key": client._client_wrapper.api_key}).json()
    assert raw["error"]


def test_videos_play_with_range_requests(server, client, index_id, uploads):
    video_id = uploads["short"].video_id
    url = client.indexes.indexed_assets.retrieve(index_id, video_id).hls.video_url
    assert httpx.get(f"{server.base_url}/media/videos/{video_id}").status_code == 401  # neither key nor signature
    part = httpx.get(url, headers={"Range": "bytes=100-199"})
    assert part.status_code == 206 and part.content == media(SHORT).read_bytes()[100:200]
    assert part.headers["content-range"].endswith(f"/{media(SHORT).stat().st_size}")


def test_assets_upload_once_then_index(client, index_id, uploads):
    with open(media(SHORT), "rb") as f:
        asset = client.assets.create(method="direct", file=f, user_metadata=json.dumps({"source": "camera"}))
    assert asset.status == "ready" and asset.filename == "imageio_realshort.mp4"
    assert client.assets.retrieve(asset.id).user_metadata == {"source": "camera"}
    client.assets.update_user_metadata(asset.id, user_metadata={"reel": 2})
    assert client.assets.retrieve(asset.id).user_metadata == {"source": "camera", "reel": 2}
    client.assets.replace_user_metadata(asset.id, user_metadata={"reel": 3})
    assert client.assets.retrieve(asset.id).user_metadata == {"reel": 3}
    assert asset.id in [a.id for a in client.assets.list(filename="realshort")]
    # The same bytes as an earlier upload: indexed at once, over the earlier analysis.
    made = client.indexes.indexed_assets.create(index_id, asset_id=asset.id, user_metadata={"from": "asset"})
    video = client.indexes.indexed_assets.retrieve(index_id, made.id)
    assert made.asset_id == asset.id and video.status == "ready" and video.user_metadata == {"reel": 3, "from": "asset"}
    found = client.search.create(index_id=index_id, query_text="x", search_options=["visual"],
                                 filter=json.dumps({"from": "asset"}))
    assert {c.video_id for c in found.data} == {made.id}
    with pytest.raises(ApiError) as in_use:
        client.assets.delete(asset.id)
    assert in_use.value.status_code == 409
    client.indexes.indexed_assets.delete(index_id, made.id)
    client.assets.delete_user_metadata(asset.id)
    client.assets.delete(asset.id)
    with pytest.raises(ApiError):
        client.assets.retrieve(asset.id)


def test_a_wrong_or_missing_key_is_a_401(server, index_id):
    with pytest.raises(ApiError) as wrong:
        server.client(key="not-the-key").indexes.retrieve(index_id)
    assert wrong.value.status_code == 401 and wrong.value.body["code"] == "api_key_invalid"
    missing = httpx.get(f"{server.base_url}/indexes")
    assert missing.status_code == 401 and set(missing.json()) == {"code", "message"}


def test_deleted_videos_are_never_returned_again(client, index_id, uploads):
    slides, copy = uploads["slides"].video_id, uploads["copy"].video_id
    client.indexes.videos.delete(index_id, slides)
    with pytest.raises(ApiError) as gone:
        client.indexes.indexed_assets.retrieve(index_id, slides)
    assert gone.value.status_code == 404
    found = client.search.create(index_id=index_id, query_text="x", search_options=["visual"], page_limit=50)
    returned = {c.video_id for c in found.data}
    # The other upload of the same bytes keeps the shared analysis.
    assert slides not in returned and copy in returned
    client.indexes.indexed_assets.delete(index_id, copy)
    found = client.search.create(index_id=index_id, query_text="x", search_options=["visual"], page_limit=50)
    assert {c.video_id for c in found.data} == {uploads["short"].video_id}
