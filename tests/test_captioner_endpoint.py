"""The OpenAI-compatible captioner against a local server that speaks the protocol: answers,
malformed answers, server errors, rate limits, timeouts, rejected requests, concurrency."""

from __future__ import annotations

import base64
import socket
import threading
import time

import pytest

from fake_endpoint import FakeEndpoint, Reply, answer
from sceneline.transforms.models.caption import load_captioner
from sceneline.transforms.models.caption_spec import CaptionerConfig, EndpointSettings, preflight_captioner
from sceneline.transforms.models.captioner_endpoint import EndpointUnavailableError
from sceneline.transforms.models.model_spec import ModelUnavailableError

IMAGES = [bytes([0xFF, 0xD8, i]) for i in range(4)]  # the server never decodes them


def captioner(endpoint: FakeEndpoint, **settings):
    options = dict(base_url=endpoint.url, api_key="sk-test", concurrency=2, timeout_s=5.0, attempts=3,
                   backoff_s=0.01)
    options.update(settings)
    return load_captioner(CaptionerConfig(spec="openai:fake-vlm", endpoint=EndpointSettings(**options)))


def image_of(body) -> bytes:
    url = body["messages"][0]["content"][1]["image_url"]["url"]
    assert url.startswith("data:image/jpeg;base64,")
    return base64.b64decode(url.split(",", 1)[1])


def test_each_scene_is_described_from_its_own_image():
    def script(body, n):
        return answer(f"scene with byte {image_of(body)[2]}", ["test", f"b{image_of(body)[2]}"])

    with FakeEndpoint(script) as endpoint:
        results = captioner(endpoint).caption([(img, "product") for img in IMAGES])
    assert [r.caption.description for r in results] == [f"scene with byte {i}" for i in range(4)]
    assert [r.caption.tags for r in results] == [["test", f"b{i}"] for i in range(4)]
    body = endpoint.requests[0]
    assert body["model"] == "fake-vlm" and body["temperature"] == 0 and body["max_tokens"] == 192
    assert "product photo" in body["messages"][0]["content"][0]["text"]
    assert body["response_format"]["type"] == "json_schema"
    assert body["response_format"]["json_schema"]["schema"]["required"] == ["description", "tags"]
    assert all(h["authorization"] == "Bearer sk-test" for h in endpoint.headers)


def test_a_malformed_answer_is_asked_again_with_the_reason():
    def script(body, n):
        if len(body["messages"]) == 1:
            return Reply(content="A cat on a sofa.")
        return answer("a cat on a sofa", ["cat"])

    with FakeEndpoint(script) as endpoint:
        [result] = captioner(endpoint).caption([(IMAGES[0], "general")])
    assert result.caption.description == "a cat on a sofa" and result.error is None
    retry = endpoint.requests[1]["messages"]
    assert retry[1] == {"role": "assistant", "content": "A cat on a sofa."}
    assert "no JSON object" in retry[2]["content"] and retry[2]["role"] == "user"


def test_malformed_twice_fails_that_scene_only():
    def script(body, n):
        if image_of(body)[2] == 1:
            return Reply(content='{"description": ""}')
        return answer("fine", ["ok"])

    with FakeEndpoint(script) as endpoint:
        results = captioner(endpoint).caption([(img, "general") for img in IMAGES[:3]])
    assert [r.caption is not None for r in results] == [True, False, True]
    assert "malformed answer, twice" in results[1].error and "description" in results[1].error
    assert len(endpoint.requests) == 4  # one retry, for the bad scene only


@pytest.mark.parametrize("raw", ["<html>502 Bad Gateway</html>", '{"choices": []}', '{"unexpected": true}'])
def test_an_odd_response_body_counts_as_a_malformed_answer(raw):
    def script(body, n):
        return Reply(raw=raw) if n == 0 else answer("recovered", [])

    with FakeEndpoint(script) as endpoint:
        [result] = captioner(endpoint).caption([(IMAGES[0], "general")])
    assert result.caption.description == "recovered"


def test_server_errors_and_rate_limits_are_retried_with_backoff():
    def script(body, n):
        if n == 0:
            return Reply(status=500, raw='{"error": {"message": "overloaded"}}')
        if n == 1:
            return Reply(status=429, raw='{"error": "slow down"}', headers={"Retry-After": "0.2"})
        return answer("after retries", ["x"])

    with FakeEndpoint(script) as endpoint:
        started = time.monotonic()
        [result] = captioner(endpoint, concurrency=1).caption([(IMAGES[0], "general")])
    assert result.caption.description == "after retries" and len(endpoint.requests) == 3
    assert time.monotonic() - started >= 0.2  # Retry-After was honoured


def test_a_slow_answer_times_out_and_is_retried():
    def script(body, n):
        return Reply(content='{"description": "late", "tags": []}', delay_s=1.5) if n == 0 else answer("on time", [])

    with FakeEndpoint(script) as endpoint:
        [result] = captioner(endpoint, timeout_s=0.5).caption([(IMAGES[0], "general")])
    assert result.caption.description == "on time" and len(endpoint.requests) == 2


def test_an_endpoint_that_stays_down_fails_the_batch_as_retryable():
    with FakeEndpoint(lambda body, n: Reply(status=503, raw="unavailable")) as endpoint:
        with pytest.raises(EndpointUnavailableError, match="3 times: HTTP 503") as info:
            captioner(endpoint).caption([(IMAGES[0], "general")])
    assert info.value.retryable and len(endpoint.requests) == 3


def test_a_rejected_request_fails_that_scene_without_retries():
    def script(body, n):
        if image_of(body)[2] == 2:
            return Reply(status=400, raw='{"error": {"message": "image too large"}}')
        return answer("fine", [])

    with FakeEndpoint(script) as endpoint:
        results = captioner(endpoint).caption([(img, "general") for img in IMAGES[:3]])
    assert results[2].caption is None and "HTTP 400" in results[2].error and "image too large" in results[2].error
    assert results[0].caption and results[1].caption and len(endpoint.requests) == 3


def test_requests_in_flight_never_exceed_the_concurrency_limit():
    with FakeEndpoint(lambda body, n: Reply(content='{"description": "x", "tags": []}', delay_s=0.15)) as endpoint:
        first, second = captioner(endpoint, concurrency=3), captioner(endpoint, concurrency=3)
        # Two threads of one worker process share the limit.
        threads = [threading.Thread(target=c.caption, args=([(img, "general") for img in IMAGES * 2],))
                   for c in (first, second)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert len(endpoint.requests) == 16
    assert endpoint.max_in_flight == 3


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_preflight_reaches_the_endpoint_before_any_work():
    with FakeEndpoint(lambda body, n: answer("x", [])) as endpoint:
        config = CaptionerConfig(spec="openai:fake-vlm", endpoint=EndpointSettings(base_url=endpoint.url))
        assert preflight_captioner(config).model == "fake-vlm"
    down = CaptionerConfig(spec="openai:fake-vlm",
                           endpoint=EndpointSettings(base_url=f"http://127.0.0.1:{_closed_port()}/v1"))
    started = time.monotonic()
    with pytest.raises(ModelUnavailableError, match="cannot be reached.*--captioner none"):
        preflight_captioner(down)
    assert time.monotonic() - started < 5


def test_in_a_pipeline_an_endpoint_that_stays_down_fails_its_assets_as_retryable():
    import apache_beam as beam
    from apache_beam.testing.util import assert_that, equal_to

    from sceneline.schemas import AnalyzedAsset, FailureStage, Keyframe, MediaAsset, MediaType, ProbeInfo, Scene
    from sceneline.transforms.models.caption import CaptionHandler, attach_captions, scene_images
    from sceneline.transforms.models.enrich import EnrichAssets

    def asset(n: int) -> AnalyzedAsset:
        scene = Scene(index=0, start_s=0, end_s=1, start_frame=0, end_frame=24,
                      keyframes=[Keyframe(time_s=0.5, frame=12, jpeg=IMAGES[n], width=2, height=2)])
        media = MediaAsset(asset_id=f"{n}1111111-1111-5111-8111-111111111111", uri=f"/m/{n}.mp4",
                           media_type=MediaType.VIDEO, size_bytes=1)
        return AnalyzedAsset(asset=media, probe=ProbeInfo(), scenes=[scene])

    with FakeEndpoint(lambda body, n: Reply(status=503, raw="down for maintenance")) as endpoint:
        config = CaptionerConfig(spec="openai:fake-vlm", endpoint=EndpointSettings(
            base_url=endpoint.url, attempts=2, backoff_s=0.01))
        stage = EnrichAssets(CaptionHandler(config), lambda a: scene_images(a, "general"),
                             lambda a, r: attach_captions(a, r, config.spec, "general"), FailureStage.CAPTION)
        with beam.Pipeline(runner="FnApiRunner") as p:
            captioned, failures = p | beam.Create([(n, asset(n)) for n in (0, 1)]) | stage
            assert_that(captioned, equal_to([]), label="NothingCaptioned")
            assert_that(failures | beam.Values() | beam.Map(lambda f: (f.uri, f.stage, f.retryable, "503" in f.message)),
                        equal_to([("/m/0.mp4", FailureStage.CAPTION, True, True),
                                  ("/m/1.mp4", FailureStage.CAPTION, True, True)]), label="BothFailRetryable")
