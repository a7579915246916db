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
# # Results and the metric audit
#
# The paper defines **WA** as accuracy (Eq. 12) and **WAR** as support-weighted recall (Eq. 14),
# which is algebraically the same number, yet its tables print different WA and WAR values. Before
# comparing any number of this book with the paper's, we establish what each printed column
# measures. Appendix F of the paper gives, for IEMOCAP, each class's support with the precision
# and recall of two models (OmniCoT-SFT and EmoOmni). From a support and a two-decimal
# percentage the integer counts behind it can be recovered, and from the counts every standard
# quantity follows.

# %% tags=["parameters"]
profile = "default"

# %%
from emoomni.report import tables

# %% [markdown]
# ## The paper's per-class table, read two ways
#
# A reading of the table is *consistent* when integer true-positive and predicted counts reproduce
# every printed percentage (to rounding) and the predicted counts add up to the 4,265 test
# samples. We try the columns as printed and with precision and recall swapped.

# %%
tables.audit_consistency()

# %% [markdown]
# EmoOmni's columns are consistent as printed. OmniCoT-SFT's are consistent only with the two
# columns swapped: as printed, no integer count reproduces its recall for most classes (for
# neutral, 69.74 % of 1,555 is not a whole number of clips to two decimals), and its predicted
# counts would exceed the number of samples. The recovered counts:

# %%
tables.audit_counts("EmoOmni")

# %%
tables.audit_counts("OmniCoT-SFT")

# %% [markdown]
# ## What each printed column is
#
# From the counts, the standard quantities (percent):

# %%
tables.audit_recomputed()

# %% [markdown]
# and each IEMOCAP number that Tables 1 and 2 print, beside the recomputed quantities it equals
# under each reading:

# %%
tables.audit_matches()

# %% [markdown]
# **Findings.**
#
# 1. Table 1's **WA** is support-weighted precision (scikit-learn's `precision_score(average="weighted")`),
#    its **UAR** is macro recall and its **WAR** is accuracy: for EmoOmni on IEMOCAP, 67.12, 42.89
#    and 58.15 are reproduced exactly from the counts.
# 2. Appendix F's text ("excluding Fear raises UAR to 51.46 %") is reproduced by the same counts.
# 3. Table 2's OmniCoT row (IEMOCAP UAR 44.63, WAR 57.75) matches the OmniCoT-SFT counts only if
#    its per-class precision and recall columns are swapped; then **WAR 57.75 is accuracy** and
#    **UAR 44.63 is macro precision**, and the SFT model's macro recall is 41.99. Read as printed,
#    its WAR would instead be weighted precision, the quantity Table 1 calls WA. Either way the
#    paper's SFT-to-EmoOmni UAR comparison on IEMOCAP (44.63 to 42.89) sets two different
#    quantities side by side; on equal terms macro recall rises from 41.99 to 42.89 and accuracy
#    from 57.75 to 58.15.
#
# This book therefore reports every quantity under its own name and maps the paper's columns as
# follows wherever it shows the paper's numbers beside its own:

# %%
tables.column_mapping()

# %% [markdown]
# ## The paper's Table 1, as printed

# %%
tables.paper_table1()
