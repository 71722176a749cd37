"""The contract between `sceneline serve --media-root gs://...` and `sceneline stream
--api-media-root`: which objects belong to which API index (and so which collection), what is
hidden from the stream, and which Range requests playback from a bucket serves."""

from __future__ import annotations

from pathlib import Path

import pytest

from sceneline.pipelines.server.bucket_media import parse_range
from sceneline.pipelines.server.errors import ApiError
from sceneline.pipelines.server.settings import ServerSettings
from sceneline.schemas.bucket_root import BucketRoot, BucketRootError
from sceneline.transforms.store.config import StoreConfig

ROOT = BucketRoot.parse("gs://media-bucket/api/uploads/")


def test_a_root_is_a_bucket_and_a_prefix():
    assert (ROOT.bucket, ROOT.prefix, ROOT.uri) == ("media-bucket", "api/uploads", "gs://media-bucket/api/uploads")
    assert ROOT.object_uri("idx", "task", "a.mp4") == "gs://media-bucket/api/uploads/idx/task/a.mp4"
    whole = BucketRoot.parse("gs://media-bucket")
    assert whole.prefix == "" and whole.object_name("idx", "t", "a.mp4") == "idx/t/a.mp4"


@pytest.mark.parametrize("text, reason", [
    ("/srv/media", "gs://BUCKET"),
    ("gs://No_Such/x", "not a Cloud Storage bucket name"),
    ("gs://media-bucket/a//b", "empty part"),
    ("gs://media-bucket/.hidden/x", "starting with '.'"),  # the stream would skip every upload
])
def test_a_root_that_cannot_work_is_refused_with_the_reason(text, reason):
    with pytest.raises(BucketRootError, match=reason):
        BucketRoot.parse(text)


@pytest.mark.parametrize("uri, index_id", [
    ("gs://media-bucket/api/uploads/0123abcd/task1/a.mp4", "0123abcd"),
    ("gs://media-bucket/api/uploads/0123abcd/a.mp4", "0123abcd"),
    ("gs://media-bucket/api/uploads/a.mp4", None),  # not in an index folder
    ("gs://media-bucket/api/uploads/.assets/x/a.mp4", None),  # hidden: an asset not yet in an index
    ("gs://media-bucket/api/uploads/bad$id/t/a.mp4", None),  # not a name a collection can carry
    ("gs://media-bucket/elsewhere/0123abcd/t/a.mp4", None),
    ("gs://other-bucket/api/uploads/0123abcd/t/a.mp4", None),
    ("gs://media-bucket/api/uploads-old/0123abcd/t/a.mp4", None),  # a prefix match is not a folder match
])
def test_an_object_belongs_to_the_index_named_by_its_first_folder(uri, index_id):
    assert ROOT.index_of(uri) == index_id


def test_the_stream_writes_an_index_folder_into_the_collection_the_server_searches():
    routed = StoreConfig(path="/tmp/q", collection="scenes", index_root=ROOT)
    server = ServerSettings(home=Path("/tmp/home"), store=StoreConfig(path="/tmp/q", collection="scenes"),
                            media_location=ROOT.uri)
    config = routed.for_object("gs://media-bucket/api/uploads/0123abcd/t/a.mp4")
    assert config.collection == server.collection_for("0123abcd") == "scenes-0123abcd"
    assert config.index_root is None and config.path == "/tmp/q" and server.bucket_root == ROOT
    # Anything else, and a stream without the setting, goes where it always went.
    assert routed.for_object("gs://media-bucket/photos/a.jpg") is routed
    plain = StoreConfig(path="/tmp/q")
    assert plain.for_object("gs://media-bucket/api/uploads/0123abcd/t/a.mp4") is plain


def test_thumbnails_under_the_root_are_named_as_the_servers_urls_carry_them():
    assert ROOT.thumbnail_of("gs://media-bucket/api/uploads/.thumbnails/asset/00001.jpg") == "asset/00001.jpg"
    assert ROOT.thumbnail_of("gs://media-bucket/api/uploads/asset/00001.jpg") is None
    assert ROOT.thumbnail_of("gs://elsewhere/.thumbnails/asset/00001.jpg") is None


@pytest.mark.parametrize("header, expected", [
    (None, None), ("bytes=0-99", (0, 99)), ("bytes=100-", (100, 999)), ("bytes=-10", (990, 999)),
    ("bytes=900-5000", (900, 999)), ("bytes=-5000", (0, 999)),
])
def test_playback_serves_one_byte_range(header, expected):
    assert parse_range(header, 1000) == expected


@pytest.mark.parametrize("header", ["bytes=1000-", "bytes=5-2", "bytes=-", "bytes=0-1,5-9", "items=0-1"])
def test_a_range_that_cannot_be_served_is_a_416(header):
    with pytest.raises(ApiError) as refused:
        parse_range(header, 1000)
    assert refused.value.status == 416 and refused.value.code == "range_not_satisfiable"
