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
# # OmniCoT, step 2: verification and the `[analysis]` step
#
# An LLM judge (Qwen3 in the paper) reads the three pieces of evidence, each in its own delimited
# block so that a transcript cannot pose as an instruction, and decides whether they support the
# gold emotion. Supported samples get an `[analysis]` step that weighs the cues and become OmniCoT
# traces; the rest are dropped. On the embedded default the judge is a transparent rule: the
# evidence supports the label when at least two modalities point to it, and the analysis says
# which cues agree and which are outweighed.

# %% tags=["parameters"]
profile = "default"  # type: str params/<profile>.yaml: default, smoke or paper
verifier_backend = None  # type: str verifier (None: the profile's)

# %% tags=["hide-input"]
from emoomni import config, notebooks, stages
from emoomni.report import omnicot as report

notebooks.setup()
params = config.load(profile, **{"omnicot.verifier.backend": verifier_backend})

# %%
result, samples, root = stages.omnicot(params)
print(f"{len(result.records)} of {len(samples)} samples kept; verdicts computed this run: {result.computed['verdicts']}")

# %% [markdown]
# ## Retention by class and by condition

# %% mystnb={"figure": {"caption": "Share of the samples whose evidence the verifier accepted, per gold label (left) and per condition (right).", "name": "fig-omnicot-retention"}}
report.retention_plot(samples, result.verdicts)

# %%
report.retention(samples, result.verdicts, by="condition")

# %%
report.retention(samples, result.verdicts, by="label")

# %% [markdown]
# ## Why samples were dropped

# %%
report.rejection_reasons(result.verdicts)

# %% [markdown]
# ## Example OmniCoT traces

# %%
for record in result.records[:3]:
    print(report.trace_text(record), end="\n\n")

# %% [markdown]
# The records are exported for training as TRL conversational JSONL (`trl.jsonl`, with video and
# audio content entries) and as ms-swift JSONL (`swift.jsonl`: `messages`, `videos`, `audios`),
# beside the evidence, the verdict for every sample and the per-sample errors:

# %% tags=["hide-input"]
sorted(p.name for p in stages.omnicot_dir(params).iterdir())
