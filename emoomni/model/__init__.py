"""The Qwen2.5-Omni thinker: build the tiny one, load any one, guided tokens, chat formatting and inputs.

- :func:`build_tiny_omni` writes a tiny random thinker + processor (real classes) for the embedded default.
- :func:`load_omni` loads the thinker and processor (tiny dir, local 7B or hub id) with the guided tokens.
- :func:`chat_messages` formats a Sample as chat messages; :func:`omni_inputs` turns a batch of them into
  model inputs; :func:`assistant_labels` masks everything but the answer for the loss, and
  :func:`reply_log_probs` scores that answer.
"""

from emoomni.model.chat import audio_in_video, chat_messages
from emoomni.model.inputs import assistant_labels, omni_inputs, reply_log_probs
from emoomni.model.tiny_thinker import build_tiny_omni
from emoomni.model.tokens import (add_guided_tokens, answer_token_ids, decode, guided_token_ids, load_omni,
                                  placeholder_ids, set_generation_defaults)

__all__ = ["add_guided_tokens", "answer_token_ids", "assistant_labels", "audio_in_video", "build_tiny_omni", "chat_messages", "decode",
           "guided_token_ids", "load_omni", "omni_inputs", "placeholder_ids", "reply_log_probs", "set_generation_defaults"]
