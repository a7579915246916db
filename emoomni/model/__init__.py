"""The Qwen2.5-Omni thinker: building the tiny one, loading any one, guided tokens, chat formatting, inputs."""

from emoomni.model.tiny import build_tiny_omni
from emoomni.model.tokens import add_guided_tokens, decode, guided_token_ids, load_omni, placeholder_ids

__all__ = ["add_guided_tokens", "build_tiny_omni", "decode", "guided_token_ids", "load_omni", "placeholder_ids"]
