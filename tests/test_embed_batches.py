"""The image embedding stage as `sceneline index` builds it: the model gets full batches from
the first one on, and a keyframe's vector is the one the bare model gives the same JPEG."""

from __future__ import annotations

import apache_beam as beam
import numpy as np
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.options.pipeline_options import PipelineOptions

from sceneline.pipelines.options import embedding_handler_from
from sceneline.schemas import AnalyzedAsset, Keyframe, MediaAsset, MediaType, ProbeInfo, Scene
from sceneline.schemas.qdrant_layout import VISUAL_VECTOR
from sceneline.transforms.media.keyframes import encode_jpeg
from sceneline.transforms.models.clip_model import drop_text_tower, load_clip
from sceneline.transforms.models.embed import EmbedKeyframes
from sceneline.transforms.models.model_spec import parse_clip_spec

ASSETS = 12
BATCH = 4


def one_keyframe_assets(n: int) -> list[AnalyzedAsset]:
    rng = np.random.default_rng(7)
    assets = []
    for i in range(n):
        jpeg = encode_jpeg(rng.integers(0, 255, (60 + i, 90, 3), dtype=np.uint8))
        scene = Scene(index=0, start_s=0, end_s=0, start_frame=0, end_frame=0,
                      keyframes=[Keyframe(time_s=0, frame=0, jpeg=jpeg, width=90, height=60 + i)])
        media = MediaAsset(asset_id=f"00000000-0000-5000-8000-{i:012d}", uri=f"/photos/{i}.jpg",
                           media_type=MediaType.IMAGE, size_bytes=len(jpeg))
        assets.append(AnalyzedAsset(asset=media, probe=ProbeInfo(), scenes=[scene]))
    return assets


def test_batch_runs_send_the_model_full_batches_and_the_bare_models_vectors(tiny_clip, tmp_path):
    spec = parse_clip_spec(tiny_clip.spec)
    handler = embedding_handler_from(PipelineOptions([f"--embed_batch_images={BATCH}"]), spec)
    assets = one_keyframe_assets(ASSETS)
    out = tmp_path / "vectors.npy"

    p = beam.Pipeline(options=PipelineOptions(["--runner=FnApiRunner"]))
    embedded, _failures = (p | beam.Create([(a.asset.asset_id, a) for a in assets])
                           | EmbedKeyframes(handler, spec.raw))
    _ = (embedded
         | beam.Map(lambda kv: (kv[0], kv[1].scenes[0].vectors[VISUAL_VECTOR]))
         | beam.combiners.ToList()
         | beam.Map(lambda rows: np.save(out, np.array([v for _k, v in sorted(rows)], dtype=np.float32))))
    result = p.run()
    result.wait_until_finish()

    # RunInference records one latency per model call: its count is the number of batches.
    batches = sum((d.committed or d.attempted).count for d in result.metrics().query(
        MetricsFilter().with_namespace(handler.get_metrics_namespace())).get("distributions", [])
        if d.key.metric.name.endswith("inference_batch_latency_micro_secs"))
    # Beam's default would start at one image and double (1, 2, 4, 4, 1): five calls.
    assert batches == ASSETS // BATCH

    piped = np.load(out)
    bare = load_clip(spec).embed_images([a.scenes[0].keyframes[0].jpeg for a in assets])
    np.testing.assert_allclose(piped, bare, rtol=1e-4, atol=1e-5)


def test_an_image_only_model_frees_its_text_tower_without_a_garbage_collection(tiny_clip):
    import gc
    import weakref

    gc.disable()  # what is freed here is freed by reference counting alone
    try:
        model = load_clip(parse_clip_spec(tiny_clip.spec))
        text_tower = [weakref.ref(p) for name, p in model.model.named_parameters()
                      if not name.startswith("visual.") and name not in ("logit_scale", "logit_bias")]
        text_tower += [weakref.ref(model.model.transformer), weakref.ref(model.model.token_embedding)]
        assert all(ref() is not None for ref in text_tower)
        drop_text_tower(model.model)
        assert len(text_tower) > 10 and all(ref() is None for ref in text_tower)
    finally:
        gc.enable()
    image = np.random.default_rng(3).integers(0, 255, (50, 80, 3), dtype=np.uint8)
    image_only = load_clip(parse_clip_spec(tiny_clip.spec), image_only=True)
    whole = load_clip(parse_clip_spec(tiny_clip.spec))
    np.testing.assert_allclose(image_only.embed_images([image]), whole.embed_images([image]), rtol=1e-5, atol=1e-6)


BUILDS: list[str] = []


def build(name: str) -> dict:
    BUILDS.append(name)
    if name == "broken":
        raise OSError("no weights")
    return {"name": name}


def test_a_model_loaded_in_the_background_is_built_once_and_a_failure_is_raised_by_the_workers_call():
    from sceneline.transforms.models.cache import forget_models, load_in_background, process_model

    forget_models()
    BUILDS.clear()
    load_in_background(build, "clip")
    model = process_model(build, "clip")  # waits for a build under way, or finds it done
    assert model == {"name": "clip"} and BUILDS == ["clip"]
    assert process_model(build, "clip") is model

    load_in_background(build, "broken").join()
    assert BUILDS.count("broken") == 1
    try:
        process_model(build, "broken")
        raise AssertionError("a model that cannot be built was returned")
    except OSError as exc:
        assert "no weights" in str(exc)
    assert BUILDS.count("broken") == 2  # the background failure was tried again, not cached
    forget_models()
