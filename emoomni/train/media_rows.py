"""Per-prompt media records: Omni processor outputs split by prompt, so they survive TRL's batch shuffling.

TRL's GRPO shuffles and splits a generation batch along its first dimension (``shuffle_sequence_dict``,
``split_tensor_dict``), which would scramble batched media tensors, whose first dimension counts
patches or audio clips rather than prompts. Here each prompt's media become one record (a plain dict
in a Python list, which TRL permutes like any per-row column) and are stacked again, in row order,
right before each forward pass.

A record holds ``input_ids`` (the unpadded prompt ids), ``aiv`` (a video shown with its own audio
track), ``plain`` (a video shown without it) and the media tensors of :data:`MEDIA_KEYS` that the
prompt has, each with its own first dimension (its videos, audio clips or patches).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from emoomni.model import omni_inputs

VIDEO_KEYS = ("pixel_values_videos", "video_grid_thw", "video_second_per_grid")
AUDIO_KEYS = ("input_features", "feature_attention_mask")
IMAGE_KEYS = ("pixel_values", "image_grid_thw")
MEDIA_KEYS = VIDEO_KEYS + AUDIO_KEYS + IMAGE_KEYS


def media_counts(chat: Sequence[dict]) -> tuple[int, int, int, bool]:
    """Videos, audio clips, images and the audio-in-video flag of one chat, in :func:`omni_inputs` order.

    >>> media_counts([{"role": "user", "content": [{"type": "video", "audio_in_video": True},
    ...                                            {"type": "text", "text": "?"}]}])
    (1, 1, 0, True)
    """
    nv = na = ni = 0
    aiv = False
    for m in chat:
        if not isinstance(m.get("content"), list):
            continue
        for item in m["content"]:
            kind = item.get("type")
            if kind == "video":
                nv += 1
                if item.get("audio_in_video"):
                    na += 1
                    aiv = True
            elif kind == "audio":
                na += 1
            elif kind == "image":
                ni += 1
    return nv, na, ni, aiv


def _split_patches(pixels: torch.Tensor, grids: torch.Tensor, per_row: Sequence[int]) -> list[torch.Tensor]:
    """Split stacked patches by row, given each item's ``(t, h, w)`` grid and the items per row."""
    sizes = grids.prod(-1).tolist()
    counts, k = [], 0
    for n in per_row:
        counts.append(int(sum(sizes[k:k + n])))
        k += n
    return list(torch.split(pixels, counts))


def omni_rows(processor: Any, chats: Sequence[Sequence[dict]], fps: float, size: int | None) -> list[dict]:
    """One processor call over ``chats`` (:func:`emoomni.model.omni_inputs`), split into one record per chat.

    ``position_ids`` are not kept: they are recomputed for each forward over prompt and completion
    (:func:`rope_positions`).
    """
    batch = omni_inputs(processor, chats, add_generation_prompt=True, fps=fps, size=size)
    counts = [media_counts(c) for c in chats]
    nv, na, ni = ([c[i] for c in counts] for i in range(3))
    split: dict[str, list[torch.Tensor]] = {}
    if "video_grid_thw" in batch:
        split["video_grid_thw"] = list(torch.split(batch["video_grid_thw"], nv))
        split["video_second_per_grid"] = list(torch.split(batch["video_second_per_grid"], nv))
        split["pixel_values_videos"] = _split_patches(batch["pixel_values_videos"], batch["video_grid_thw"], nv)
    if "input_features" in batch:
        split["input_features"] = list(torch.split(batch["input_features"], na))
        split["feature_attention_mask"] = list(torch.split(batch["feature_attention_mask"], na))
    if "image_grid_thw" in batch:
        split["image_grid_thw"] = list(torch.split(batch["image_grid_thw"], ni))
        split["pixel_values"] = _split_patches(batch["pixel_values"], batch["image_grid_thw"], ni)
    rows = []
    for i, (v, _, _, aiv) in enumerate(counts):
        row = {"input_ids": batch["input_ids"][i][batch["attention_mask"][i].bool()].clone(), "aiv": aiv,
               "plain": v > 0 and not aiv}
        row.update({key: parts[i] for key, parts in split.items() if parts[i].shape[0] > 0})
        rows.append(row)
    return rows


def _cat(parts: list[torch.Tensor]) -> torch.Tensor:
    """Concatenate along dim 0, right-padding the last dim with zeros where widths differ (audio features)."""
    width = max(p.shape[-1] for p in parts)
    if any(p.shape[-1] != width for p in parts):
        parts = [torch.nn.functional.pad(p, (0, width - p.shape[-1])) for p in parts]
    return torch.cat(parts, dim=0)


def collate_media(rows: Sequence[dict], device: torch.device | str | None = None) -> dict[str, Any]:
    """The batched media inputs of ``rows`` in row order, plus ``use_audio_in_video`` (any row interleaves)."""
    out: dict[str, Any] = {}
    for key in MEDIA_KEYS:
        parts = [r[key] for r in rows if key in r]
        if parts:
            out[key] = _cat(parts) if device is None else _cat(parts).to(device)
    out["use_audio_in_video"] = any(r["aiv"] for r in rows)
    return out


def rope_positions(thinker: Any, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                   rows: Sequence[dict]) -> torch.Tensor | None:
    """3D rotary positions ``(3, B, T)`` for a batch mixing audio-in-video clips with plain videos, else None.

    The model takes one ``use_audio_in_video`` flag per batch, so such a batch gets its positions from
    the thinker's own ``get_rope_index`` once per layout group, over the whole sequence; any other
    batch leaves them to the model, as :func:`emoomni.model.omni_inputs` does.
    """
    if not (any(r["aiv"] for r in rows) and any(r["plain"] for r in rows)):
        return None
    pos = torch.ones(3, *input_ids.shape, dtype=torch.long, device=input_ids.device)
    for flag in (True, False):
        idx = [i for i, r in enumerate(rows) if r["aiv"] == flag]
        if not idx:
            continue
        media = collate_media([rows[i] for i in idx], input_ids.device)
        fam = media.get("feature_attention_mask")
        p, _ = thinker.get_rope_index(input_ids[idx], media.get("image_grid_thw"), media.get("video_grid_thw"),
                                      attention_mask[idx], flag, fam.sum(-1) if fam is not None else None,
                                      media.get("video_second_per_grid"))
        pos[:, idx] = p.to(pos.device)
    return pos
