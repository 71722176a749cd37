"""The API's guards, in-process and without models: sizes, names, forms, keys, error shapes."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from conftest import media
from sceneline.pipelines.server import ServerSettings, create_app
from sceneline.pipelines.server.auth import hash_key, key_matches, new_salt
from sceneline.pipelines.server.errors import ApiError
from sceneline.pipelines.server.uploads import inside, safe_filename
from sceneline.transforms.store.scene_store import StoreConfig

KEY = "s3cret-key"


@pytest.fixture()
def api(tmp_path):
    salt = new_salt()
    app = create_app(ServerSettings(home=tmp_path, store=StoreConfig(path=":memory:", collection="t"),
                                    api_key_hashes=(hash_key(KEY, salt),), key_salt=salt, max_upload_bytes=200_000))
    index = app.state.records.add_index("t", [{"model_name": "marengo3.0", "model_options": ["visual"]}], [])
    client = TestClient(app, headers={"x-api-key": KEY})
    return client, index.id, app


def upload(client, index_id, name, data, **fields):
    return client.post("/v1.3/tasks", data={"index_id": index_id, **fields}, files={"video_file": (name, data)})


def test_keys_are_kept_hashed_and_checked(api):
    client, _, app = api
    assert KEY not in repr(app.state.settings) and KEY.encode().hex() not in repr(app.state.settings)
    salt = app.state.settings.key_salt
    assert key_matches(KEY, app.state.settings.api_key_hashes, salt)
    assert not key_matches(KEY + "x", app.state.settings.api_key_hashes, salt)
    for headers in ({}, {"x-api-key": "wrong"}):
        r = TestClient(app).get("/v1.3/indexes", headers=headers)
        assert r.status_code == 401 and r.json()["code"] == "api_key_invalid" and r.json()["message"]


def test_uploads_over_the_limit_are_413_before_or_while_reading(api):
    client, index_id, _ = api
    announced = upload(client, index_id, "big.mp4", b"\0" * 2_000_000)
    assert announced.status_code == 413 and announced.json()["code"] == "file_too_large"
    streamed = upload(client, index_id, "clip.mp4", media("videos/techslides_small.mp4").read_bytes())
    assert streamed.status_code == 413 and "200000 bytes" in streamed.json()["message"]


@pytest.mark.parametrize("name", ["../../etc/passwd.mp4", "a/../../b.mp4", "clip\x00.mp4"])
def test_names_that_escape_or_hide_are_refused(api, name):
    client, index_id, app = api
    r = upload(client, index_id, name, media("videos/imageio_realshort.mp4").read_bytes())
    assert r.status_code == 400 and r.json()["code"] == "parameter_invalid"
    assert not list(app.state.settings.media_root.rglob("*.mp4"))


def test_forms_with_unknown_fields_wrong_types_or_broken_bodies_are_400(api):
    client, index_id, _ = api
    data = media("videos/imageio_realshort.mp4").read_bytes()
    unknown = upload(client, index_id, "a.mp4", data, colour="red")
    assert unknown.status_code == 400 and "colour" in unknown.json()["message"]
    metadata = upload(client, index_id, "a.mp4", data, user_metadata='["not", "an object"]')
    assert metadata.status_code == 400 and "JSON object" in metadata.json()["message"]
    broken = client.post("/v1.3/tasks", content=b"--xx\r\nbroken",
                         headers={"content-type": "multipart/form-data; boundary=xx"})
    assert broken.status_code == 400
    wrong_type = client.post("/v1.3/search", data={"index_id": index_id, "search_options": "visual",
                                                   "query_text": "x", "page_limit": "many"})
    assert wrong_type.status_code == 400 and "page_limit" in wrong_type.json()["message"]
    extra_json = client.post("/v1.3/indexes", json={"index_name": "n", "models": [
        {"model_name": "marengo3.0", "model_options": ["visual"]}], "colour": "red"})
    assert extra_json.status_code == 400 and "colour" in extra_json.json()["message"]
    not_media = upload(client, index_id, "a.mp4", b"%PDF-1.7\n" + b"x" * 5000)
    assert not_media.status_code == 400 and "not a video" in not_media.json()["message"]


def test_safe_names_and_paths():
    assert safe_filename("my clip (1).mp4") == "my clip _1_.mp4"
    assert safe_filename("C:\\videos\\a.mp4") == "a.mp4" and safe_filename(".hidden.mp4") == "hidden.mp4"
    assert safe_filename(None, fallback="video") == "video"
    for bad in ("../x.mp4", "x\x00.mp4"):
        with pytest.raises(ApiError):
            safe_filename(bad)
    with pytest.raises(ApiError):
        inside(__import__("pathlib").Path("/tmp/root"), "../etc/passwd")


def test_search_options_follow_the_index_model_options(api):
    client, _, app = api
    audio_only = app.state.records.add_index("a", [{"model_name": "marengo3.0", "model_options": ["audio"]}], [])
    r = client.post("/v1.3/search", data={"index_id": audio_only.id, "search_options": "visual", "query_text": "x"})
    assert r.status_code == 400 and "without the 'visual' model option" in r.json()["message"]
    r = client.post("/v1.3/search", data={"index_id": audio_only.id, "search_options": "audio", "query_text": "x"})
    assert r.status_code == 400 and "not available on this server yet" in r.json()["message"]
