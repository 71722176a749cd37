"""The model stages built on ItemsHandler, as `add_understanding` builds them for `sceneline index`:
the model gets full batches from the first one on, packed across assets, and each asset gets the
answers the bare model gives its own items (here the text stage, with the real sentence model)."""

from __future__ import annotations

import apache_beam as beam
import numpy as np
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.options.pipeline_options import PipelineOptions

from sceneline.pipelines.understanding import UnderstandingConfig, add_understanding, preflight_understanding
from sceneline.schemas import AnalyzedAsset, MediaAsset, MediaType, ProbeInfo, Scene
from sceneline.schemas.qdrant_layout import TEXT_VECTOR
from sceneline.schemas.understanding import Enrichment
from sceneline.transforms.metrics import INFERENCE_NAMESPACES
from sceneline.transforms.models.embed_text import scene_texts
from sceneline.transforms.models.model_spec import set_offline
from sceneline.transforms.models.text_model import DEFAULT_TEXT_MODEL, load_text_encoder

ASSETS = 12
SCENES = 4  # texts an asset
BATCH = 16


def texted_assets() -> list[AnalyzedAsset]:
    words = "harbor market night boat sign city people dog beach sunset kitchen table".split()
    assets = []
    for a in range(ASSETS):
        scenes = [Scene(index=i, start_s=i, end_s=i + 1, start_frame=i, end_frame=i,
                        enrichment=Enrichment(description=f"{words[(a + i) % len(words)]} at dusk, scene {a}.{i}",
                                              visible_text="OPEN" if i % 2 else None))
                  for i in range(SCENES)]
        media = MediaAsset(asset_id=f"00000000-0000-5000-8000-{a:012d}", uri=f"/videos/{a}.mp4",
                           media_type=MediaType.VIDEO, size_bytes=1)
        assets.append(AnalyzedAsset(asset=media, probe=ProbeInfo(), scenes=scenes))
    return assets


def test_scene_texts_reach_the_model_in_full_batches_and_get_the_bare_models_vectors(tmp_path):
    set_offline()
    config = UnderstandingConfig(text_model=DEFAULT_TEXT_MODEL, text_batch=BATCH)
    assets = texted_assets()
    out = tmp_path / "vectors.npy"

    p = beam.Pipeline(options=PipelineOptions(["--runner=FnApiRunner"]))
    keyed = p | beam.Create([(a.asset.asset_id, a) for a in assets])
    enriched, _failures = add_understanding(keyed, config, preflight_understanding(config, offline=True))
    _ = (enriched
         | beam.Map(lambda kv: (kv[0], [s.vectors[TEXT_VECTOR] for s in kv[1].scenes]))
         | beam.combiners.ToList()
         | beam.Map(lambda rows: np.save(out, np.array([v for _k, vs in sorted(rows) for v in vs], np.float32))))
    result = p.run()
    result.wait_until_finish()

    # RunInference records one latency per model call: its count is the number of batches.
    calls = sum((d.committed or d.attempted).count for d in result.metrics().query(
        MetricsFilter().with_namespace(INFERENCE_NAMESPACES["text_embedding"])).get("distributions", [])
        if d.key.metric.name.endswith("inference_batch_latency_micro_secs"))
    # Beam's default batching never grew past one asset here: a call per asset, 12 of them.
    assert calls == ASSETS * SCENES // BATCH

    piped = np.load(out)
    bare = load_text_encoder(DEFAULT_TEXT_MODEL).embed([t for a in assets for t in scene_texts(a)])
    assert piped.shape == (ASSETS * SCENES, 384)
    np.testing.assert_allclose(piped, bare, rtol=1e-4, atol=1e-5)

