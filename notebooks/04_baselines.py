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
# # Reasoning-style baselines (the paper's Table 2)
#
# Does the structure of the reasoning matter, at equal training size? The paper fine-tunes the
# same base on label-only targets, free-form reasoning, OmniCoT with the guided tokens removed,
# and OmniCoT, each on the same number of samples. Here each style is rendered from the same
# OmniCoT records (`emoomni.omnicot.render_style`) and trained with the same SFT settings as
# notebook 03, then evaluated on the SynthEmo test split.

# %% tags=["parameters"]
profile = "default"  # type: str params/<profile>.yaml: default, smoke or paper

# %% tags=["hide-input"]
from emoomni import config, notebooks, paper, stages
from emoomni.report import results

notebooks.setup()
params = config.load(profile)

# %% tags=["remove-output"]
scores = stages.style_scores(params)

# %% [markdown]
# ## This book's Table 2 (SynthEmo test split, percent)
#
# WAR is accuracy and UAR macro recall (see the metric audit in the results chapter); *valid
# format* is the share of outputs that are complete OmniCoT traces, which only the `omnicot`
# style is trained to produce.

# %%
results.table2(scores)

# %% [markdown]
# ## The paper's Table 2, as printed
#
# Qwen2.5-Omni-7B fine-tuned on MER2023-derived sets, evaluated on MELD and IEMOCAP (the paper's
# numbers, not this book's).

# %%
paper.table2()
