"""Captioning with a local vision-language model through transformers (CPU or GPU).

Any checkpoint that AutoProcessor and AutoModelForImageTextToText load works; prompts go through
the checkpoint's own chat template. Scenes are answered in batches (left padding, greedy
decoding, so the same scene gives the same answer on every run).
"""

from __future__ import annotations

import io
import logging
from pathlib import Path
from typing import Any, Sequence

from PIL import Image

from sceneline.transforms.models.caption_prompt import CaptionRequest

log = logging.getLogger(__name__)


def _messages(request: CaptionRequest) -> list[dict[str, Any]]:
    messages = []
    for i, (role, text) in enumerate(request.turns):
        content: list[dict[str, Any]] = [{"type": "text", "text": text}]
        if i == 0:
            content.insert(0, {"type": "image"})
        messages.append({"role": role, "content": content})
    return messages


class LocalVisionLanguageModel:
    """A transformers VLM loaded from a local folder; `answer` turns requests into raw answers."""

    def __init__(self, folder: Path, *, device: str = "cpu", max_new_tokens: int = 192,
                 num_threads: int | None = None):
        import torch
        from transformers import AutoModelForImageTextToText, AutoProcessor
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()
        if num_threads:
            torch.set_num_threads(num_threads)
        self.device = device
        self.max_new_tokens = max_new_tokens
        self.processor = AutoProcessor.from_pretrained(str(folder), local_files_only=True)
        # bfloat16 checkpoints run slowly on most CPUs; float32 there, the checkpoint's own on GPU.
        dtype = torch.float32 if device == "cpu" else "auto"
        self.model = AutoModelForImageTextToText.from_pretrained(
            str(folder), local_files_only=True, dtype=dtype).to(device).eval()
        self.processor.tokenizer.padding_side = "left"  # batched generation of a decoder
        self._image_kwargs: dict[str, Any] = {}
        if hasattr(getattr(self.processor, "image_processor", None), "do_image_splitting"):
            # SmolVLM/Idefics3 would cut a 640-px keyframe into 13 tiles; one view is enough here.
            self._image_kwargs["do_image_splitting"] = False

    def answer(self, requests: Sequence[CaptionRequest]) -> list[str]:
        import torch

        if not requests:
            return []
        prompts = [self.processor.apply_chat_template(_messages(r), add_generation_prompt=True) for r in requests]
        images = [[Image.open(io.BytesIO(r.image)).convert("RGB")] for r in requests]
        inputs = self.processor(text=prompts, images=images, return_tensors="pt", padding=True,
                                **self._image_kwargs).to(self.device)
        with torch.inference_mode():
            output = self.model.generate(**inputs, max_new_tokens=self.max_new_tokens, do_sample=False)
        new_tokens = output[:, inputs["input_ids"].shape[1]:]
        return [text.strip() for text in self.processor.batch_decode(new_tokens, skip_special_tokens=True)]
