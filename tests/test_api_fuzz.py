"""Generated requests against the API's own OpenAPI document (schemathesis): whatever a client
sends, the answer is never a 5xx. A bounded run here (a few hundred cases); the API benchmark
runs more. The app runs in-process over a fresh home folder holding one index (no models are
loaded: the index has no videos, so searches answer from the records)."""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path

import hypothesis
import pytest
import schemathesis
from hypothesis import HealthCheck

from sceneline.pipelines.server import ServerSettings, create_app
from sceneline.pipelines.server.auth import hash_key, new_salt
from sceneline.transforms.store.scene_store import StoreConfig

KEY = "fuzz-key"
EXAMPLES_PER_ROUTE = 12


def _fuzzed_app():
    """The app over a fresh home folder. Built at import, not in a fixture: schemathesis's
    fixture-based loader reaches into pytest internals that pytest 9.2 removed."""
    home = Path(tempfile.mkdtemp(prefix="sceneline-fuzz-"))
    atexit.register(shutil.rmtree, home, ignore_errors=True)
    salt = new_salt()
    settings = ServerSettings(home=home, store=StoreConfig(path=":memory:", collection="fuzz"),
                              api_key_hashes=(hash_key(KEY, salt),), key_salt=salt, index_workers=1)
    app = create_app(settings)
    app.state.records.add_index("fuzzed", [{"model_name": "marengo3.0", "model_options": ["visual"]}], [])
    return app


schema = schemathesis.openapi.from_asgi("/openapi.json", _fuzzed_app())


@pytest.mark.slow
@schema.parametrize()
@hypothesis.settings(max_examples=EXAMPLES_PER_ROUTE, deadline=None, derandomize=True,
                     suppress_health_check=list(HealthCheck))
def test_no_request_gets_a_5xx(case):
    response = case.call(headers={"x-api-key": KEY})
    assert response.status_code < 500, f"{case.method} {case.formatted_path}: {response.status_code} {response.text[:300]}"
    content_type = (response.headers.get("content-type") or [""])[0]
    if response.status_code >= 400 and content_type.startswith("application/json"):
        body = response.json()
        assert set(body) == {"code", "message"} and body["message"], body  # TwelveLabs' error shape, a reason
