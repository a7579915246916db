# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # DyME-GRPO
#
# The paper's second stage trains the SFT model with GRPO on the reward
# R = R_fmt x R_acc + alpha x R_mod, where R_mod = (1 - p*) sum_m w_m H_m reads the policy's own
# next-token entropy H_m at the `[vision]` and `[audio]` guided tokens, weighted by
# w_m = (p_m / H_m) / sum_j (p_j / H_j), and fades as the policy grows sure of the gold answer (p*).
# Here it runs on TRL's `GRPOTrainer`, subclassed so that the clip's video and audio reach both
# generation and the policy-loss forward pass, and so that H_m, p_m and p* are read off the logits
# generation already computed; a no-grad pass of the current policy through TRL's own chunked
# log-prob computation scores only what was never generated, the gold answer of a trace that answered
# otherwise (`emoomni.train.grpo`). With `alpha = 0` the same code is vanilla GRPO. The policy starts from the
# SFT OmniCoT model of notebook 03 (merged into its base, which is also the KL reference).

# %% tags=["parameters"]
profile = "default"  # type: str params/<profile>.yaml: default, smoke or paper
alpha = None  # type: float weight of the modality-entropy reward, 0: vanilla GRPO (None: the profile's)
max_steps = None  # type: int optimizer steps (None: the profile's)

# %% tags=["hide-input"]
from emoomni import config, notebooks, stages
from emoomni.labels import label_set
from emoomni.report import grpo as report
from emoomni.report import training

notebooks.setup()
params = config.load(profile, **{"grpo.settings.alpha": alpha, "grpo.settings.max_steps": max_steps})
labels = label_set(params.omnicot.label_set).labels

# %% tags=["remove-output"]
adapter = stages.grpo_model(params)
logs = stages.grpo_logs(params)

# %% [markdown]
# Training prints nothing here: its progress is the figures below. The adapter and the settings it
# was trained with:

# %%
print(f"GRPO adapter: {notebooks.relative(adapter)}")
report.settings_table(params.grpo.settings)

# %% [markdown]
# ## Every logged quantity per step
#
# TRL's own logs (rewards, KL, completion length, loss) and the DyME statistics over the valid
# traces of each step: the entropies and weights at the guided tokens, p*, R_mod, the format rate
# and the accuracy of the sampled completions.

# %% mystnb={"figure": {"caption": "Every logged quantity of the GRPO run against the optimizer step: the rewards, the DyME statistics over the valid traces of each step (entropies, weights, p*, format rate, accuracy), completion length, KL to the SFT model and the policy loss.", "name": "fig-grpo-curves"}}
report.grpo_curves(logs)

# %% [markdown]
# ## The modality weights
#
# w_vision and w_audio show which modality's entropy R_mod leans on: the more confident (higher p_m,
# lower H_m) guided token takes the larger weight.

# %% mystnb={"figure": {"caption": "The weights R_mod puts on the entropy at [vision] (solid) and at [audio] (dashed) against the optimizer step.", "name": "fig-grpo-weights"}}
report.modality_weight_curves(logs)

# %% [markdown]
# The same statistics as the mean of the first and of the last five logged steps:

# %%
report.last_logged(stages.grpo_log(params))

# %% [markdown]
# How much did the entropy term weigh? In an OmniCoT trace the guided tokens come in a fixed order
# at fixed places, so a model that has learned the format predicts each one almost surely: H_m is
# then close to 0 and R_mod, a p-weighted harmonic mean of the entropies, closer still.

# %%
print(report.reward_share_sentence(stages.grpo_log(params), params.grpo.settings.alpha))
print(report.advantage_share_sentence(stages.grpo_log(params)))

# %% [markdown]
# ## Before and after GRPO on the SynthEmo test split
#
# Greedy decoding of the SFT OmniCoT model (before) and the GRPO model (after), overall and on each
# SynthEmo condition subset: `agree` (all cues agree), one modality neutralised (`poker_face`,
# `flat_voice`, `neutral_words`) and `conflict` (one modality dissents).

# %% tags=["remove-output"]
runs, samples = stages.named_predictions(params, "sft:omnicot", "grpo")
after = runs[stages.model_name(params, "grpo")]

# %%
training.prediction_summary(runs, labels)

# %%
print(training.before_after_sentence(runs, labels))

# %%
report.scores_by_condition(runs, samples, labels)

# %% [markdown]
# ## Example traces after GRPO

# %%
training.example_outputs(after)

# %% [markdown]
# ## Inside one trace
#
# For the first test clip: its frames and waveform, the GRPO model's trace with each token coloured
# by the entropy of the distribution that produced it, the guided-token statistics the reward reads
# (H_m, p_m, w_m, p*), and, per section of the trace, the share of attention its tokens put on the
# video, audio and text parts of the input. In JupyterLab the same views come with a model and
# sample selector: `Inspector({"GRPO": adapter}, samples, root, labels).widget` from
# `emoomni.report.widgets`.

# %% tags=["hide-input"]
from emoomni.evaluate.registry import load_model
from emoomni.evaluate.trace_analysis import trace_analysis
from emoomni.report.widgets import figure_attention, figure_media, guided_table, trace_view

eval_clips, eval_root = stages.eval_samples(params)
net, processor = load_model(adapter)
example = trace_analysis(net, processor, eval_clips[0], eval_root, labels)

# %% mystnb={"figure": {"caption": "The first test clip: its frames (top) and its waveform (bottom), with its gold label in the title.", "name": "fig-grpo-example-media"}}
figure_media(example)

# %% [markdown]
# The GRPO model's trace for this clip, each token coloured by the entropy of the distribution it was
# drawn from (darker: less sure), then the statistics the reward reads at the guided tokens:

# %%
trace_view(example)

# %%
guided_table(example)

# %% mystnb={"figure": {"caption": "Per section of the trace, the share of its tokens' attention (averaged over layers and heads) on the video, audio and text parts of the input.", "name": "fig-grpo-example-attention"}}
figure_attention(example)

# %% [markdown]
# ## What this run reused
#
# Every stage is cached under `runs/<profile>/`, keyed by the settings and inputs it depends on.
# A second run that changes only `alpha` finds the data, OmniCoT, the base model, the SFT model and
# its predictions in the cache and computes only the GRPO model and what is read from it.

# %% tags=["hide-input"]
from emoomni import ledger
from emoomni.paths import runs_dir

print(ledger.summary())
ledger.table(runs_dir(params.profile)).style.hide(axis="index")
