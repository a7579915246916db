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
# # OmniCoT, step 1: evidence per modality
#
# The paper describes each modality with a specialist model: Qwen3-VL for the face and the scene,
# Qwen2-Audio for paralinguistic cues, Whisper for the words. Each description, with a short reason
# naming the emotion it suggests, becomes the text after the `[vision]`, `[audio]` or `[dialogue]`
# guided token. The same code drives those models on GPUs (backends `qwen3vl`, `qwen2audio`,
# `whisper`, or any OpenAI-compatible `server`) and, on the embedded default, offline analysers:
# facial geometry measured from pixels, prosody measured with librosa relative to a baseline of the
# data set, and the clip's transcript. The paper's models learned emotion from labelled data of their
# own; the offline analysers stand in for that with the `fit` option
# (`emoomni.extract.reference_fit`): the emotion each names comes from a logistic regression on its
# own measured features, fitted on the designed cues of SynthEmo's `pretrain` split, which no
# OmniCoT clip belongs to. Their hand-written rule and prototype, used without `fit`, named the
# designed face cue of 83 % and the voice cue of 64 % of the `train` clips. Evidence is cached by a
# hash of the media, the backend and its options and prompt, so re-running this notebook recomputes
# nothing.

# %% tags=["parameters"]
profile = "default"  # type: str params/<profile>.yaml: default, smoke or paper
vision_backend = None  # type: str vision extractor (None: the profile's)
audio_backend = None  # type: str audio extractor (None: the profile's)
dialogue_backend = None  # type: str dialogue extractor (None: the profile's)

# %% tags=["hide-input"]
from emoomni import config, notebooks, stages
from emoomni.labels import label_set
from emoomni.report import omnicot as report

notebooks.setup()
params = config.load(profile, **{"omnicot.vision.backend": vision_backend, "omnicot.audio.backend": audio_backend,
                                 "omnicot.dialogue.backend": dialogue_backend})
labels = label_set(params.omnicot.label_set).labels

# %%
result, samples, root = stages.omnicot(params)
print(f"{len(samples)} samples of split {params.omnicot.split!r}; computed this run: {result.computed}")

# %% [markdown]
# ## Example evidence, one clip per condition

# %%
report.evidence_examples(samples, result.evidence)

# %% [markdown]
# ## How often each modality's evidence points to the gold label
#
# Per condition: a poker face should leave the vision evidence pointing away from the gold label
# while voice and words carry it; in a conflict the dissenting modality points elsewhere.

# %%
report.modality_agreement(samples, result.evidence, labels)

# %% [markdown]
# Against the cue each clip was built with (read from the manifest's analysis-only `meta`, never by
# the extractors for the clips they describe), this measures how well each offline analyser reads
# its own modality. Everything trained on OmniCoT learns its `[vision]` and `[audio]` sections from
# these readings, so they bound how often a trained model's sections can name the designed cue:

# %%
report.cue_recovery(samples, result.evidence, labels)

# %% [markdown]
# ## Samples whose evidence could not be extracted
#
# Each is recorded with the file and the problem; the run goes on without it.

# %%
report.error_summary([e for e in result.errors if e["stage"].endswith("evidence")])
