"""Trace inspection on the tiny thinker: per-token statistics, guided statistics, attention shares and the views."""

from __future__ import annotations

import html
import re

import matplotlib.figure
import numpy as np
import pandas as pd
import pytest
import torch

from emoomni.data.synthemo import generate
from emoomni.model.guided_stats import completion_stats
from emoomni.labels import label_set
from emoomni.model import chat_messages, guided_token_ids, omni_inputs
from emoomni.omnicot import OmniCoT, render
from emoomni.evaluate.trace_analysis import SPANS, eager_text_attention, key_classes, trace_analysis
from emoomni.report.trace_html import entropy_colour, token_html
from emoomni.report.widgets import Html, Inspector, static_views
from emoomni.train.rewards import modality_weights

LABELS = "synthemo"
CLASSES = label_set(LABELS).labels
MAX_NEW = 12
TEXT = render(OmniCoT("A wide smile <script>alert(1)</script>.", "A bright voice.", "I won!", "All cues agree.",
                      "happy"))


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("synthemo")
    return root, generate(root, 3, seed=0)


@pytest.fixture(scope="module")
def given(omni, data, one_thread):
    """The analysis of a fixed OmniCoT text holding every guided token."""
    model, processor = omni
    root, samples = data
    return trace_analysis(model, processor, samples[1], root, LABELS, text=TEXT)


def test_generated_trace_has_per_token_statistics_and_media(omni, data, one_thread):
    model, processor = omni
    root, samples = data
    a = trace_analysis(model, processor, samples[0], root, LABELS, max_new_tokens=MAX_NEW)
    n = len(a.token_ids)
    assert 1 <= n <= MAX_NEW and len(a.tokens) == len(a.entropy) == len(a.prob) == n
    assert np.all(a.entropy >= 0) and np.all((a.prob > 0) & (a.prob <= 1))
    assert a.token_attention.shape == (n, 4) and np.allclose(a.token_attention.sum(1), 1, atol=1e-4)
    assert a.frames.dtype == np.uint8 and a.frames.ndim == 4 and 1 <= len(a.frames) <= 6
    assert a.waveform.ndim == 1 and 0 < len(a.waveform) <= 2000 and a.waveform_rate > 0 and a.audio_in_video
    assert a.span_sizes["video"] > 0 and a.span_sizes["audio"] > 0 and a.span_sizes["text"] > 0
    assert model.config.text_config._attn_implementation == "sdpa"  # eager only during the pass


def test_guided_stats_equal_completion_stats(omni, data, given):
    model, processor = omni
    root, samples = data
    a = given
    assert a.valid_format and set(a.sections) == {"vision", "audio", "dialogue", "analysis"}
    ids = {k.strip("[]"): v for k, v in guided_token_ids(processor).items()}
    inputs = omni_inputs(processor, [chat_messages(samples[1], CLASSES, root)], True)
    stats, probs = completion_stats(model, inputs, torch.tensor([a.token_ids]), ids, [samples[1].label],
                                    processor.tokenizer)
    for m in ("vision", "audio", "dialogue", "analysis"):
        g = a.guided[f"[{m}]"]
        assert abs(g["entropy"] - stats[0][m]["entropy"]) < 1e-4 and abs(g["prob"] - stats[0][m]["prob"]) < 1e-4
        assert a.tokens[g["index"]] == f"[{m}]"
    assert a.stats["vision"].keys() == {"entropy", "prob"}
    assert abs(a.p_star - probs[0]["p_star"]) < 1e-4
    w = modality_weights({m: stats[0][m]["entropy"] for m in ("vision", "audio")},
                         {m: stats[0][m]["prob"] for m in ("vision", "audio")})
    assert all(abs(a.weights[m] - w[m]) < 1e-4 for m in w)


def test_attention_shares_match_an_output_attentions_forward(omni, data, given):
    model, processor = omni
    root, samples = data
    a = given
    for name, shares in a.attention.items():
        assert set(shares) == set(SPANS) and min(shares.values()) >= 0
        assert abs(sum(shares.values()) - 1) < 1e-6, name
    # reference: a plain forward returning every layer's attention weights and the full logits
    prompt = omni_inputs(processor, [chat_messages(samples[1], CLASSES, root)], True)
    t, n = prompt["input_ids"].shape[1], len(a.token_ids)
    full = dict(prompt, input_ids=torch.cat([prompt["input_ids"], torch.tensor([a.token_ids])], 1),
                attention_mask=torch.ones(1, t + n, dtype=torch.long))
    with torch.no_grad(), eager_text_attention(model):
        out = model(**full, output_attentions=True)
    assert len(out.attentions) == model.config.text_config.num_hidden_layers
    classes = key_classes(prompt["input_ids"][0].tolist(), [1] * t, processor.video_token_id,
                          processor.audio_token_id).tolist() + [3] * n
    onehot = torch.nn.functional.one_hot(torch.tensor(classes), 4).float()
    ref = torch.stack([(att[0, :, t - 1:t - 1 + n].float() @ onehot).mean(0) for att in out.attentions]).mean(0)
    assert np.abs(a.token_attention - ref.numpy()).max() < 1e-5
    logp = out.logits[0, t - 1:t - 1 + n].float().log_softmax(-1)
    assert np.abs(a.entropy - (-(logp.exp() * logp).sum(-1)).numpy()).max() < 1e-4
    start, end = a.sections["audio"]
    mass = ref[start:end, :3].sum(0)
    assert abs(a.attention["audio"]["audio"] - float(mass[1] / mass.sum())) < 1e-5


def test_token_html_escapes_and_colours(given):
    page = token_html(given)
    assert "<think" not in page and "<script" not in page and "&lt;" in page
    assert page.count('class="tok"') == len(given.tokens) and "linear-gradient" in page
    shown = html.unescape(re.sub(r"<[^>]*>", "", page.split('<div style="display:flex')[0]))
    assert shown == "".join(given.tokens)  # every token, in order, nothing else
    top = float(given.entropy.max())
    assert re.findall(r"background:(#[0-9a-f]{6})", page) == [entropy_colour(float(h), top) for h in given.entropy]


def test_inspector_runs_caches_and_switches(omni, tiny, data, one_thread):
    import ipywidgets

    root, samples = data
    insp = Inspector({"tiny": omni, "from disk": tiny}, samples, root, LABELS, max_new_tokens=MAX_NEW)
    assert isinstance(insp.widget, ipywidgets.Box)
    insp.select(sample=0)
    first = insp.run()
    html0, table0 = insp.trace.value, insp.table.value
    assert first.sample_id == samples[0].id and "[vision]" in table0 and insp.media.value[:4] == b"\x89PNG"
    insp.select(sample=samples[2].id)
    insp.run()
    assert insp.trace.value != html0 and insp.misses == 2 and insp.hits == 0
    insp.select(sample=0)
    assert insp.run() is first and insp.hits == 1 and insp.trace.value == html0
    insp.button.click()  # the button runs the same (cached) selection
    assert insp.hits == 2 and "error" not in insp.status.value.lower()
    insp.select(model="from disk")
    insp.run()
    assert insp.misses == 3 and "from disk" in insp._loaded
    with pytest.raises(KeyError):
        insp.select(model="nope")


def test_static_views(given):
    views = static_views(given)
    assert [type(v) for v in views] == [matplotlib.figure.Figure, Html, pd.DataFrame, matplotlib.figure.Figure]
    table = views[2]
    assert list(table.index[:2]) == ["[vision]", "[audio]"] and table.loc["[vision]", "w"] == round(
        given.weights["vision"], 4)
    assert "<script" not in views[1]._repr_html_() and "cri" in views[1]._repr_html_()
