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
# # Cold-start SFT on OmniCoT
#
# The paper fine-tunes the Qwen2.5-Omni-7B thinker with LoRA (r = 8, alpha = 32, lr 1e-5, global
# batch 32) on 4.4K OmniCoT traces so that it learns to emit the guided tokens and the structured
# reasoning before DyME-GRPO. The same code runs here on the embedded default: a tiny, randomly
# initialised model of the real `Qwen2_5OmniThinkerForConditionalGeneration` class, standing in
# for Qwen's own pre-training with phases that never show the emotion task: an encoder
# phase (the vision tower learns the six expressions from face-only clips and, beside them, the colour,
# shape, count and corner of SynthBench-style pictures drawn apart from SynthBench's own; the audio tower
# learns the six voices; each with a throw-away probe), a language phase on text alone (quote a delimited
# transcript, say how its words sound), then a description pre-training on SynthEmo's `pretrain`
# split, whose cues are drawn independently of each other (say what the face, the voice and the words
# show), with face clips alone and voices alone mixed in, and last, where the profile asks for it
# (`base.pretrain.skill_phase_epochs`), a skill phase: the language model alone, towers frozen, learns
# to answer SynthBench-style questions on the skill items, for the general-ability check of notebook 07.
# It is then LoRA-tuned with TRL's `SFTTrainer` on the OmniCoT records of notebook 02, the guided
# tokens' embedding and output rows trained through peft's `trainable_token_indices` (here also
# the rows of the answer tokens, which the tiny base never saw; a real base knows them). The
# default profile uses a larger learning rate than the paper's (the tiny model learns nothing in a
# CPU budget at 1e-5); `params/paper.yaml` keeps the paper's settings.

# %% tags=["parameters"]
profile = "default"  # type: str params/<profile>.yaml: default, smoke or paper
target_style = None  # type: str label, freeform, omnicot_nogt or omnicot (None: the profile's)
max_steps = None  # type: int optimizer steps (None: the profile's)

# %% tags=["hide-input"]
from emoomni import config, notebooks, stages
from emoomni.labels import label_set
from emoomni.report import training as report

notebooks.setup()
params = config.load(profile, **{"sft.settings.target_style": target_style, "sft.settings.max_steps": max_steps})
labels = label_set(params.omnicot.label_set).labels

# %% tags=["remove-output"]
base = stages.base_model(params)
adapter = stages.sft_model(params)

# %% [markdown]
# Training prints nothing here: its progress is the loss curves below. The models live under the
# profile's runs directory:

# %%
print(f"base model: {notebooks.relative(base)}\nSFT adapter: {notebooks.relative(adapter)}")

# %% [markdown]
# ## Loss curves
#
# The base's language, description and skill phases, then LoRA SFT (loss on the assistant turn
# only), with the evaluation loss on held-out OmniCoT records. Each phase counts its own steps.

# %% tags=["remove-output"]
logs = stages.training_logs(params)

# %% mystnb={"figure": {"caption": "Training loss against the optimizer step for the base's language phase, its description pre-training, its skill phase and LoRA SFT; the dashed markers are SFT's loss on held-out OmniCoT records.", "name": "fig-sft-loss"}}
report.loss_curves(logs)

# %% [markdown]
# ## What the base perceives
#
# Before any emotion task: for held-out test clips, the base's description is scored with the face,
# voice or words cue swapped for each of the six, and its likeliest reading is compared with the cue
# SynthEmo drew. Chance is one in six. The confusion matrices below show which cues it mistakes for
# which (rows: the designed cue; columns: the cue the base read).

# %%
stages.base_perception(params) if params.base.model == "tiny" else "not measured: the base is not the tiny model"

# %%
stages.base_confusions(params) if params.base.model == "tiny" else "not measured"

# %% [markdown]
# ### What the towers hold, and what the language model reads of it
#
# The base's frozen towers turn each clip into the tokens its language model reads. A linear probe
# fitted on 300 pre-training clips' tokens, pooled by their mean, their maximum or both, is scored on
# 300 test clips. A cue that the maximum holds and the mean does not sits in a few tokens, which the
# language model's attention has to find; the reading above is to be compared with each pooling.

# %%
stages.tower_probes(params) if params.base.model == "tiny" else "not measured: the base is not the tiny model"

# %% [markdown]
# ## Before and after SFT on the SynthEmo test split
#
# Greedy decoding. *Valid format* is the share of outputs that are complete OmniCoT traces;
# unparseable answers count as wrong and are reported as *unknown*.

# %% tags=["remove-output"]
runs, samples = stages.named_predictions(params, "base", "sft")
after = runs[stages.model_name(params, "sft")]

# %%
report.prediction_summary(runs, labels)

# %%
print(report.before_after_sentence(runs, labels))

# %% [markdown]
# What the sentence above says is what this profile's budget achieved; the tiny model is far
# smaller and far less trained than the 7B, and the book reports its numbers as they are.

# %%
report.accuracy_by_condition(runs, samples)

# %% [markdown]
# Does each trace describe what the clip shows? SynthEmo records the cue it drew for each modality;
# the table gives, over every test clip, how often a `[vision]` or `[audio]` section ends on
# "suggests" the clip's own cue (chance is about one in six); the `[dialogue]` section names the words'
# cue when the sentence it quotes is one of SynthEmo's sentences of that emotion, whatever nouns or
# names fill it, and the table also gives how often it quotes the clip's words exactly. A missing
# section counts as a miss. The `[vision]` and `[audio]` sections are learned from OmniCoT's
# evidence, which names the designed cue for a share of the training clips that notebook 01 shows.

# %%
report.section_cue_recovery(runs, samples)

# %% [markdown]
# The same for the SFT model, per condition. Under the default profile's training mixture the face
# always shows the gold emotion and never a poker face, so where a test clip's face is neutral or
# dissents, a `[vision]` section that names the answer instead of the face is what training taught:

# %%
report.section_cue_recovery_by_condition(after, samples)

# %% [markdown]
# ## Example outputs after SFT

# %%
report.example_outputs(after)
