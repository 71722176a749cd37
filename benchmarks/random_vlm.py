"""Build a SmolVLM-architecture (Idefics3) checkpoint with random weights, saved like a real one.

No vision-language weights can be downloaded here, so the tests (a tiny model) and the captioner
benchmark (the default captioner's architecture, SmolVLM-256M) build one: a byte-level BPE
tokenizer trained on a small corpus with SmolVLM's special tokens, Idefics3's image processor
and chat template, and a model with random weights. `save_pretrained` writes the transformers
layout, so the captioner loads it through exactly the path a real checkpoint takes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

# SmolVLM's chat template (the one its checkpoints ship).
CHAT_TEMPLATE = (
    "<|im_start|>{% for message in messages %}{{message['role'] | capitalize}}"
    "{% if message['content'][0]['type'] == 'image' %}{{':'}}{% else %}{{': '}}{% endif %}"
    "{% for line in message['content'] %}{% if line['type'] == 'text' %}{{line['text']}}"
    "{% elif line['type'] == 'image' %}{{ '<image>' }}{% endif %}{% endfor %}<end_of_utterance>\n"
    "{% endfor %}{% if add_generation_prompt %}{{ 'Assistant:' }}{% endif %}"
)
SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<end_of_utterance>", "<image>", "<fake_token_around_image>",
                  "<global-img>"] + [f"<row_{r}_col_{c}>" for r in range(1, 7) for c in range(1, 7)]


@dataclass(frozen=True)
class VlmArchitecture:
    vision: dict[str, Any]
    text: dict[str, Any]
    scale_factor: int
    vocab_size: int | None = None  # None: the tokenizer's size
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def image_seq_len(self) -> int:
        side = self.vision["image_size"] // self.vision["patch_size"]
        return side * side // (self.scale_factor * self.scale_factor)


TINY = VlmArchitecture(
    vision=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                image_size=32, patch_size=8),
    text=dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=2,
              num_key_value_heads=1, max_position_embeddings=4096),
    scale_factor=2,
)
# HuggingFaceTB/SmolVLM-256M-Instruct: a SigLIP base/16 encoder at 512 px, SmolLM2-135M.
SMOLVLM_256M = VlmArchitecture(
    vision=dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12,
                image_size=512, patch_size=16),
    text=dict(hidden_size=576, intermediate_size=1536, num_hidden_layers=30, num_attention_heads=9,
              num_key_value_heads=3, max_position_embeddings=8192, rope_theta=100000.0, rms_norm_eps=1e-5),
    scale_factor=4,
    vocab_size=49280,
)


def build_tokenizer(corpus: Iterable[str], vocab_size: int = 4000):
    """A byte-level BPE (any text encodes) with SmolVLM's special tokens."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tokenizer.train_from_iterator(list(corpus), trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, bos_token="<|im_start|>", eos_token="<end_of_utterance>",
        pad_token="<|endoftext|>", unk_token="<|endoftext|>",
        extra_special_tokens={"image_token": "<image>", "fake_image_token": "<fake_token_around_image>",
                              "global_image_token": "<global-img>", "end_of_utterance_token": "<end_of_utterance>"})


def build_random_vlm(arch: VlmArchitecture, corpus: Iterable[str], *, seed: int = 0):
    """(model, processor) of the architecture, with random weights from `seed`."""
    import torch
    from transformers import Idefics3Config, Idefics3ForConditionalGeneration, Idefics3ImageProcessor, Idefics3Processor

    tokenizer = build_tokenizer(corpus)
    side = arch.vision["image_size"]
    image_processor = Idefics3ImageProcessor(do_image_splitting=False, max_image_size={"longest_edge": side},
                                             size={"longest_edge": side})
    processor = Idefics3Processor(image_processor=image_processor, tokenizer=tokenizer,
                                  image_seq_len=arch.image_seq_len, chat_template=CHAT_TEMPLATE)
    vocab = arch.vocab_size or len(tokenizer)
    config = Idefics3Config(
        vision_config=dict(arch.vision),
        text_config=dict(model_type="llama", vocab_size=vocab, pad_token_id=tokenizer.pad_token_id, **arch.text),
        scale_factor=arch.scale_factor, image_token_id=tokenizer.convert_tokens_to_ids("<image>"),
        pad_token_id=tokenizer.pad_token_id, tie_word_embeddings=True, **arch.extra)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = Idefics3ForConditionalGeneration(config).eval()
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    return model, processor


def save(model, processor, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder
