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
# the option's text, and an unparseable reply counts as wrong. The embedded default's base learns these
# skills in the last phase of its pre-training (`base.pretrain.skill_phase_epochs`), on 1,500 items
# disjoint from SynthBench's, answered with the option's text, not its letter; its profile therefore
# scores `option`: the option whose text the model finds likeliest as its reply (`likelihood` reads
# the likeliest option letter instead). Chance is 25 %.

# %% tags=["parameters"]
profile = "default"  # type: str params/<profile>.yaml: default, smoke or paper
alpha = None  # type: float the DyME-GRPO model's reward weight, 0: vanilla GRPO (None: the profile's)

# %% tags=["hide-input"]
from emoomni import config, notebooks, stages
from emoomni.ablation import first_pairs, skills_study
from emoomni.evaluate import seed_study
from emoomni.report import omnibench as report

notebooks.setup()
params = config.load(profile, **{"grpo.settings.alpha": alpha})

# %% tags=["remove-output"]
items, root = stages.omnibench_items(params)
runs = stages.omnibench_runs(params, "base", "grpo")

# %%
print(f"{len(items)} items ({params.omnibench.source}, scored by {params.omnibench.mode}) from "
      f"{notebooks.relative(root)}")

# %% [markdown]
# ## Accuracy per task type
#
# Each column is one model, each row a task type with the share of its questions answered right
# (percent), and `overall` pools every answered question. Read the columns against each other and
# against chance (25 %): the question is not whether either model is good at these tasks but whether
# the emotion training of the later column cost the skills the earlier one had. With a few items per
# task type (SynthBench on a small profile), one question moves a cell by many points.

# %%
report.task_table(runs)

# %% mystnb={"figure": {"caption": "Accuracy per task type (percent) for the base model and the GRPO model of this chapter's alpha, with each model's overall accuracy in the legend; chance is 25 %.", "name": "fig-omnibench-tasks"}}
report.task_chart(runs)

# %% [markdown]
# ## Over seeds: what OmniCoT SFT and DyME-GRPO keep
#
# One model per seed of `study.seeds` for OmniCoT SFT and for DyME-GRPO (the models of the seed study in
# the results chapter), each answering the same items; the base is one model for all seeds. Each cell
# is the share of the items answered right (percent) with its 95 % two-level bootstrap interval (seeds,
# then items), and each trained model is paired with the base on the same items; a star marks a
# difference whose interval excludes 0.

# %% tags=["remove-output"]
skills = skills_study(params)
kept = first_pairs(list(skills))

# %%
print(f"profile {profile}: seeds {', '.join(map(str, params.study.seeds))}")
seed_study.table(skills)

# %%
seed_study.differences_table(skills, kept)

# %% [markdown]
# Generated from the paired differences above:

# %%
print("\n".join(seed_study.verdicts(skills, kept, unit="items")))

# %% [markdown]
# ## What was not scored
#
# A reply from which no option can be read counts as wrong, and an item whose media could not be
# decoded is left out; both are counted here so that the accuracies above can be read against them.
# A high unparseable rate means the scores measure the answer format more than the skill.

# %%
report.failure_table(runs)

# %% [markdown]
# On the embedded default both models are the tiny thinker, whose general skills come only from its
# pre-training (SynthEmo's descriptions, then the skill phase): this check says what the emotion
# stages did to its answers to general questions, not how the paper's 7B model fares.
