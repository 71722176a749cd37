"""Load an open_clip model from a spec and encode images and text with it."""

from __future__ import annotations

import contextlib
import io
import logging
from dataclasses import dataclass, field
from typing import Any, Iterator, Sequence, Union

import numpy as np
from PIL import Image

from sceneline.transforms.models.devices import measure_images_per_pass, torch_device
from sceneline.transforms.models.model_spec import ClipSpec, embedding_dim, model_name, resolve_weights

log = logging.getLogger(__name__)

RANDOM_WEIGHTS_SEED = 0
ImageLike = Union[bytes, np.ndarray, Image.Image]


def to_pil(image: ImageLike, min_side: int | None = None) -> Image.Image:
    """RGB image. A JPEG is decoded at a reduced scale when that still leaves both sides at least
    `min_side` (the model's input size): libjpeg then skips most of the work, and the resize
    that follows has fewer pixels to read (a 640 x 480 keyframe decodes at 320 x 240 for 224)."""
    if isinstance(image, Image.Image):
        return image.convert("RGB")
    if isinstance(image, (bytes, bytearray)):
        img = Image.open(io.BytesIO(image))
        if min_side and img.format == "JPEG":
            img.draft("RGB", (min_side, min_side))
        return img.convert("RGB")
    return Image.fromarray(np.asarray(image)).convert("RGB")


@dataclass
class ClipModel:
    spec: ClipSpec
    model: Any
    preprocess: Any
    device: str
    dim: int
    _tokenizer: Any = field(default=None, repr=False)
    max_images_per_pass: int | None = None  # on a GPU: what fits in its memory
    input_side: int | None = None  # the model's square input; JPEGs are decoded no larger than needed

    def embed_images(self, images: Sequence[ImageLike], chunk: int = 64) -> np.ndarray:
        """L2-normalised image embeddings, one row per image."""
        import torch

        if self.max_images_per_pass:
            chunk = min(chunk, self.max_images_per_pass)
        out = np.zeros((len(images), self.dim), dtype=np.float32)
        for start in range(0, len(images), chunk):
            part = images[start:start + chunk]
            pixels = torch.stack([self.preprocess(to_pil(im, self.input_side)) for im in part]).to(self.device)
            with torch.inference_mode():
                feats = self.model.encode_image(pixels).float()
                feats = torch.nn.functional.normalize(feats, dim=-1)
            out[start:start + len(part)] = feats.cpu().numpy()
        return out

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        import open_clip
        import torch

        if self._tokenizer is None:
            self._tokenizer = open_clip.get_tokenizer(model_name(self.spec))
        tokens = self._tokenizer(list(texts)).to(self.device)
        with torch.inference_mode():
            feats = torch.nn.functional.normalize(self.model.encode_text(tokens).float(), dim=-1)
        return feats.cpu().numpy()


_TEXT_TOWER_PARTS = ("transformer", "token_embedding", "positional_embedding", "ln_final", "text_projection",
                     "text")


def drop_text_tower(model) -> int:
    """Free the text tower of a CLIP model that only embeds images (ViT-B-32: 63M parameters,
    about a quarter of a GiB). Returns the number of parameters freed."""
    freed = 0
    for name in _TEXT_TOWER_PARTS:
        part = getattr(model, name, None)
        if part is None:
            continue
        freed += part.numel() if hasattr(part, "numel") else sum(p.numel() for p in part.parameters())
        setattr(model, name, None)
    return freed


@contextlib.contextmanager
def _without_root_warnings() -> Iterator[None]:
    """open_clip warns about random weights on the root logger; preflight has said so already."""
    root = logging.getLogger()
    quiet = logging.Filter("sceneline")  # passes only sceneline's own records
    root.addFilter(quiet)
    try:
        yield
    finally:
        root.removeFilter(quiet)


def load_clip(spec: ClipSpec, device: str = "cpu", num_threads: int | None = None,
              image_only: bool = False) -> ClipModel:
    """Build the model and load its weights (random ones, with a fixed seed, for `random`).
    `image_only` frees the text tower (the pipeline's image stage never uses it)."""
    import open_clip
    import torch

    if num_threads:
        torch.set_num_threads(num_threads)
    device = torch_device(device)
    weights = resolve_weights(spec)
    name = model_name(spec)
    with torch.random.fork_rng(devices=[]), _without_root_warnings():
        # Random weights must be the same in every process (indexing and querying agree).
        torch.manual_seed(RANDOM_WEIGHTS_SEED)
        model, _, preprocess = open_clip.create_model_and_transforms(name, pretrained=weights, device=device)
    if spec.is_random:  # the user was warned once, by preflight; this is for workers' logs
        log.info("*** %s loaded with RANDOM weights: for timing only ***", spec.raw)
    if image_only:
        # Its tensors go with their last reference (a module holds no cycles); no gc.collect(),
        # which walks every object of a process that has loaded Beam and torch (0.4 s of CPU).
        drop_text_tower(model)
    model.eval()
    image_size = model.visual.image_size
    per_pass = measure_images_per_pass(model, image_size[0] if isinstance(image_size, tuple) else image_size, device)
    side = image_size[0] if isinstance(image_size, tuple) else image_size
    return ClipModel(spec=spec, model=model, preprocess=preprocess, device=device, dim=embedding_dim(spec),
                     max_images_per_pass=per_pass, input_side=int(side))
