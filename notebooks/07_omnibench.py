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
# # General ability (the paper's Figure 6)
#
# Emotion training should not cost the model its general omni-modal skills. The paper checks this
# on OmniBench, comparing the base model with EmoOmni per task type. On the embedded default the
# same evaluation runs on SynthBench, a small OmniBench-format set the library generates: general
# perception questions over a picture and a sound clip (colours, shapes, counts, positions, pitch,
# beeps, spoken words, and questions that need both), four options each. In the paper's protocol
# (`omnibench.mode: generate`) a greedy reply is parsed for an option letter in its common forms or
# the option's text, and an unparseable reply counts as wrong. The embedded default's tiny model was
# never taught to answer multiple-choice questions (every free reply of it is unparseable), so its
# profile scores `likelihood` instead: the option letter the model finds likeliest as the first
# token of its reply. Chance is 25 %.

# %% tags=["parameters"]
profile = "default"  # type: str params/<profile>.yaml: default, smoke or paper
alpha = 0.1  # type: float weight of the modality-entropy reward (0: vanilla GRPO)

# %%
from emoomni import config, stages
from emoomni.evaluate.omnibench import accuracy_by_task
from emoomni.report import omnibench as report

params = config.load(profile)
items, root = stages.omnibench_items(params)
models = {"base": stages.base_model(params), f"DyME-GRPO alpha={alpha:g}": stages.grpo_model(params, alpha)}
runs = {name: stages.omnibench_answers(params, path) for name, path in models.items()}
print(f"{len(items)} items from {root}")

# %%
report.task_table(runs)

# %%
report.task_chart(runs)

# %% [markdown]
# Unparseable replies and media errors per model:

# %%
{name: accuracy_by_task(records).loc["overall", ["unparseable_rate", "errors"]].to_dict()
 for name, records in runs.items()}
