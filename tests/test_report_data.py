"""SynthEmo and OmniCoT chapter figures and tables on small fixture results."""

import matplotlib.figure
import pandas as pd
import pytest

from emoomni.data.manifest import Sample
from emoomni.data.synthemo import generate
from emoomni.extract.base import Evidence
from emoomni.report import omnicot, synthemo, tables
from emoomni.extract.verify import Verdict

LABELS = ("neutral", "happy", "sad", "angry", "worried", "surprised")


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    root = tmp_path_factory.mktemp("se")
    return generate(root, 40, seed=1, workers=2), root


def test_synthemo_figures_and_tables(small):
    samples, root = small
    for fig in (synthemo.frames_grid(samples, root), synthemo.prosody_tracks(samples, root, per_class=1),
                synthemo.condition_mixture(samples)):
        assert isinstance(fig, matplotlib.figure.Figure) and fig.axes
    counts = synthemo.counts_table(samples)
    assert counts.loc[("All", ""), "All"] == 40
    assert set(synthemo.dissenter_table(samples).columns) <= {"vision", "audio", "text"}
    result = {"cv": {"audio: x": {"accuracy": 0.95}, "vision (naive): y": {"accuracy": 0.5}},
              "fer": pd.DataFrame({"happy": [3, 1], "sad": [1, 1]}, index=["happy", "sad"])}
    table = synthemo.separability_table(result)
    assert bool(table.loc["audio: x", "meets 90 %"]) is True and table.loc["vision (naive): y", "meets 90 %"] == "(baseline)"
    assert synthemo.fer_agreement_table(result).loc["happy", "agreement"] == 0.75


def _fixture():
    samples = [Sample(f"s{i}", "synthemo", "train", video="a.mp4", label=g, meta={"condition": c, "cues": cues})
               for i, (g, c, cues) in enumerate([
                   ("angry", "poker_face", {"vision": "neutral", "audio": "angry", "text": "angry"}),
                   ("happy", "agree", {"vision": "happy", "audio": "happy", "text": "happy"})])]
    evidence = [Evidence("s0", "Still. Reason: the expression suggests neutral.", "Loud. Reason: the voice suggests angry.",
                         'The speaker says: "Stop lying to me."'),
                Evidence("s1", "Smile. Reason: the expression suggests happy.", "Bright. Reason: the voice suggests sad.",
                         'The speaker says: "I love this song."')]
    verdicts = [Verdict("s0", True, "2 of 3"), Verdict("s1", None, "unparseable reply: x")]
    return samples, evidence, verdicts


def test_omnicot_tables():
    samples, evidence, verdicts = _fixture()
    agree = omnicot.modality_agreement(samples, evidence, LABELS)
    assert agree.loc["poker_face", "vision"] == 0 and agree.loc["poker_face", "audio"] == 1
    assert omnicot.cue_recovery(samples, evidence, LABELS).loc["audio", "recovered"] == 0.5
    ret = omnicot.retention(samples, verdicts, by="condition")
    assert ret.loc["all", "kept"] == 1 and ret.loc["all", "unparseable"] == 1
    assert isinstance(omnicot.retention_plot(samples, verdicts), matplotlib.figure.Figure)
    assert omnicot.rejection_reasons(verdicts)["samples"].sum() == 1
    assert len(omnicot.evidence_examples(samples, evidence)) == 2
    assert omnicot.error_summary([{"stage": "vision evidence", "error": "ExtractionError: a (no face)"}])["samples"].sum() == 1


def test_audit_tables():
    assert tables.audit_consistency()["consistent"].sum() == 2
    assert list(tables.column_mapping()["library key"]) == ["weighted_precision", "uar", "accuracy"]
    assert tables.paper_table1().shape == (15, 12)
