"""Visual model specs: parsing, failing early with a helpful message, and loading the weights
through the same code path users take (a tiny model the tests build stands in for CLIP weights,
which cannot be downloaded here)."""

from __future__ import annotations

import time

import numpy as np
import pytest

from sceneline.schemas.settings import SettingError

from sceneline.transforms.models.clip_model import load_clip
from sceneline.transforms.models.model_spec import ModelUnavailableError, parse_clip_spec, preflight


@pytest.mark.parametrize("text, arch, source, pretrained", [
    ("ViT-B-32:laion2b_s34b_b79k", "ViT-B-32", "tag", "laion2b_s34b_b79k"),
    ("ViT-B-32:/models/ckpt.pt", "ViT-B-32", "file", "/models/ckpt.pt"),
    ("ViT-B-32:file:/models/ckpt.pt", "ViT-B-32", "file", "/models/ckpt.pt"),
    ("ViT-B-32:gs://bucket/ckpt.pt", "ViT-B-32", "gcs", "gs://bucket/ckpt.pt"),
    ("ViT-B-32:random", "ViT-B-32", "random", None),
    ("/cfg/tiny.json:/models/tiny.pt", "/cfg/tiny.json", "file", "/models/tiny.pt"),
    ("local-dir:/models/clip", "local-dir:/models/clip", "local-dir", None),
    ("hf-hub:timm/ViT-B-16-SigLIP", "hf-hub:timm/ViT-B-16-SigLIP", "hf-hub", None),
])
def test_spec_parsing(text, arch, source, pretrained):
    spec = parse_clip_spec(text)
    assert (spec.arch, spec.source, spec.pretrained) == (arch, source, pretrained)


def test_none_disables_and_malformed_specs_are_rejected():
    assert parse_clip_spec("none") is None
    for bad in ("ViT-B-32", ":tag", "local-dir:"):
        with pytest.raises(ValueError):
            parse_clip_spec(bad)


def test_unavailable_hub_weights_fail_fast_naming_model_and_remedies():
    started = time.monotonic()
    with pytest.raises(ModelUnavailableError) as info:
        preflight("ViT-B-32:laion2b_s34b_b79k", offline=True)
    message = str(info.value)
    assert time.monotonic() - started < 10
    assert "ViT-B-32:laion2b_s34b_b79k" in message
    for remedy in ("ViT-B-32:/path/to/", "gs://", "local-dir:", "ViT-B-32:random", "--visual-model none"):
        assert remedy in message


def test_unknown_tag_and_missing_checkpoint_are_explained(tmp_path):
    # A name open_clip does not know is the user's to fix (no ways to supply weights can help).
    with pytest.raises(SettingError, match="no pretrained tag 'nonsense'"):
        preflight("ViT-B-32:nonsense", offline=True)
    with pytest.raises(ModelUnavailableError, match="no checkpoint at"):
        preflight(f"ViT-B-32:{tmp_path}/missing.pt", offline=True)
    with pytest.raises(SettingError, match="knows no architecture"):
        preflight("ViT-Q-99:random", offline=True)


def test_checkpoint_and_local_dir_load_the_saved_weights(tiny_clip):
    import torch

    saved = torch.load(tiny_clip.checkpoint)
    for spec_text in (tiny_clip.spec, tiny_clip.local_dir_spec):
        spec, dim = preflight(spec_text, offline=True)
        assert dim == 64
        model = load_clip(spec)
        loaded = model.model.state_dict()
        assert all(torch.equal(loaded[k], saved[k]) for k in saved), spec_text


def test_random_weights_are_the_same_in_every_load(tiny_clip):
    spec = parse_clip_spec(f"{tiny_clip.config}:random")
    image = np.random.default_rng(0).integers(0, 255, (48, 64, 3), dtype=np.uint8)
    first = load_clip(spec).embed_images([image])
    second = load_clip(spec).embed_images([image])
    np.testing.assert_allclose(first, second, rtol=1e-6)


def test_embeddings_are_unit_vectors_for_images_and_text(tiny_clip):
    model = load_clip(parse_clip_spec(tiny_clip.spec))
    rng = np.random.default_rng(1)
    images = [rng.integers(0, 255, (40 + i, 70, 3), dtype=np.uint8) for i in range(5)]
    vectors = model.embed_images(images, chunk=2)  # chunking must not change results
    assert vectors.shape == (5, 64)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(vectors, model.embed_images(images, chunk=5), rtol=1e-4, atol=1e-5)
    text = model.embed_texts(["a dog on a beach", "a city at night"])
    assert text.shape == (2, 64) and not np.allclose(text[0], text[1])
