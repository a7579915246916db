"""The paper-scale rehearsal: the 7B's shapes as data, its processor's token layout, the costed plan."""

from __future__ import annotations

import pytest
import torch
from transformers import Qwen2_5OmniThinkerForConditionalGeneration

from emoomni import paper_plan
from emoomni.data.manifest import Sample
from emoomni.labels import label_set
from emoomni.model.paper_thinker import paper_config, paper_processor, paper_tokenizer
from emoomni.omni7b import clip_shape, parameter_counts, thinker_spec
from emoomni.rehearsal import inspect_clip, make_clip, native_dtype, rehearse, table


def test_the_stored_config_names_its_source_and_builds_the_7b_at_full_depth():
    spec = thinker_spec()
    assert "Qwen/Qwen2.5-Omni-7B" in spec["source"] and "config.json" in spec["source"]
    with torch.device("meta"):
        model = Qwen2_5OmniThinkerForConditionalGeneration(paper_config(None))
    counts = parameter_counts()
    assert sum(p.numel() for p in model.parameters()) == sum(
        counts[k] for k in ("language_model", "vision", "audio", "embed_tokens", "lm_head")) == 8_931_813_888
    c = model.config
    assert (c.text_config.hidden_size, c.text_config.vocab_size, c.vision_config.hidden_size,
            c.audio_config.d_model, c.audio_token_index, c.video_token_index) == (3584, 152064, 1280, 1280, 151646, 151656)
    reduced = paper_config(1)
    assert (reduced.text_config.num_hidden_layers, reduced.vision_config.depth, reduced.audio_config.encoder_layers) == (1, 1, 1)


def test_the_tokenizer_puts_every_special_token_on_the_7b_id():
    tok = paper_tokenizer()
    for token, i in thinker_spec()["tokens"].items():
        assert tok.convert_tokens_to_ids(token) == i
    assert len(tok) <= thinker_spec()["text_config"]["vocab_size"]


@pytest.mark.parametrize("seconds", [1.0, 3.0, 12.0, 31.0])
def test_a_clip_becomes_the_7b_tokens_with_audio_interleaved_and_kept_past_30_seconds(tmp_path, seconds):
    processor = paper_processor(paper_tokenizer())
    make_clip(tmp_path / "c.mp4", seconds, 160, 120)
    sample = Sample("c", "rehearsal", "train", video="c.mp4", audio=None, transcript="hello there", label="happy")
    tokens, expected, checks = inspect_clip(processor, sample, tmp_path, label_set("mer2023").labels, 160, 120,
                                            seconds, 2.0, None)
    assert all(checks.values()), checks
    assert tokens["video"] == expected["video"] == clip_shape(seconds, 120, 160).video_tokens
    assert abs(tokens["audio"] - seconds * 25) <= 2  # about 775 for 31 s: nothing cut at Whisper's usual 30 s


def test_the_plan_is_arithmetic_on_the_stored_shapes():
    p = paper_plan.PlanInputs()
    rows = paper_plan.plan(p, seconds=(3.0, 40.0), frame=(720, 1280))
    sft3, grpo3, sft40, grpo40 = rows
    assert sft3.tokens == 2160 + 75 + p.text_tokens + p.target_tokens
    # weights alone: 8.93 B parameters in bf16
    assert sft3.memory_gib > 2 * 8_931_813_888 / 2**30
    # TRL's fused head never holds the (tokens x 152,064) logits: SFT memory grows with the activations alone
    activations = p.sft_per_device * (sft40.tokens - sft3.tokens) * 3584 * (2 * 28 + 34) / 2**30
    assert abs(sft40.memory_gib - sft3.memory_gib - activations) < 0.1
    assert sft40.tokens > 29_000 and sft40.fits and not grpo40.fits and grpo40.setting_that_fits
    assert grpo40.seconds_per_example > grpo3.seconds_per_example > 0
    assert 0 < grpo3.generation_share < 1
    assert "| sft | 3 s |" in paper_plan.plan_table(rows)


@pytest.mark.timeout(900)  # 346 s on one AVX2 core beside other work (float32); about 100 s with native bfloat16
def test_the_rehearsal_runs_every_stage_at_depth_one(tmp_path):
    """The paper profile's three stages at the 7B's widths and vocabulary, in the dtype the CPU computes natively."""
    result = rehearse(1, seconds=[1.0], width=160, height=120, completion=4, work_dir=tmp_path)
    assert result.dtype == native_dtype("cpu")
    [clip] = result.clips
    assert all(clip.checks.values())
    assert [s.stage for s in clip.stages] == ["sft", "grpo", "predict"]
    assert all(s.seconds > 0 and s.peak_gib > 0 for s in clip.stages)
    assert "checks: all as in the 7B" in table(result)
