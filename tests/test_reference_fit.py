"""The analysers' ``fit`` option: classifiers fitted on another split's designed cues, cached, and refused where they would leak."""

import dataclasses

import numpy as np
import pytest

from emoomni.data.manifest import read_manifest, write_manifest
from emoomni.data.synthemo import generate
from emoomni.extract.base import ExtractionError, make_extractor
from emoomni.extract.reference_fit import CueClassifier, FitSpec, ReferenceError
from emoomni.labels import extract_answer, label_set

LABELS = ("neutral", "happy", "sad", "angry", "worried", "surprised")


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    root = tmp_path_factory.mktemp("clips")
    samples = generate(root, 72, seed=6, workers=2)
    return samples, root


def _reads(extractor, samples, root, modality):
    """Per describable sample: does the evidence's reason name the designed cue?"""
    reads = []
    for s in samples:
        try:
            (text,) = extractor.describe([s], root, LABELS)
        except ExtractionError:  # a clip the analyser cannot read (no face found) is an error, not a reading
            continue
        reads.append(extract_answer(text.split("Reason:")[-1], label_set("synthemo")) == s.meta["cues"][modality])
    return reads


@pytest.mark.parametrize("modality", ["vision", "audio"])
def test_a_fitted_analyser_reads_unseen_clips_and_caches_its_classifier(clips, tmp_path, modality):
    samples, root = clips
    described = [s for s in samples if s.split != "pretrain"]
    options = {"fit": {"split": "pretrain"}} | ({"baseline_clips": 20} if modality == "audio" else {})
    fitted = make_extractor(modality, "signal", **options)
    fitted.prepare(described, root, tmp_path)
    assert fitted.fit_report["clips"] == len([s for s in samples if s.split == "pretrain"])
    assert fitted.fit_report["train_accuracy"] > 0.5
    reads = _reads(fitted, described, root, modality)
    assert np.mean(reads) > 0.4  # chance is 1/6
    (saved,) = tmp_path.glob(f"{modality}-fit-*.json")
    again = make_extractor(modality, "signal", **options)
    again.prepare(described, root, tmp_path)  # read back from the cache, not refitted
    assert np.array_equal(again.classifier.coef, fitted.classifier.coef) and saved.exists()
    assert _reads(again, described, root, modality) == reads
    assert fitted.cache_key() != make_extractor(modality, "signal").cache_key()


def test_describing_a_reference_clip_or_an_unlabelled_reference_is_refused(clips, tmp_path):
    samples, root = clips
    with pytest.raises(ReferenceError, match="also reference clips of split 'pretrain'"):
        make_extractor("vision", "signal", fit=True).prepare(samples, root, tmp_path)
    unlabelled = [dataclasses.replace(s, meta={}) if s.split == "pretrain" else s for s in samples]
    write_manifest(unlabelled, root / "unlabelled.jsonl")
    with pytest.raises(ReferenceError, match="have no designed vision cue"):
        make_extractor("vision", "signal", fit={"manifest": "unlabelled.jsonl"}).prepare(samples[-3:], root, None)
    with pytest.raises(ReferenceError, match="no clips of split 'val2'"):
        make_extractor("vision", "signal", fit={"split": "val2"}).prepare(samples[-3:], root, None)


def test_an_unreadable_reference_clip_is_skipped_and_reported(clips, tmp_path):
    samples, root = clips
    reference = read_manifest(root / "manifest.jsonl")
    first = next(s for s in reference if s.split == "pretrain")
    broken = [dataclasses.replace(s, video="clips/not-there.mp4") if s.id == first.id else s for s in reference]
    write_manifest(broken, root / "broken.jsonl")
    ex = make_extractor("vision", "signal", fit={"manifest": "broken.jsonl"})
    ex.prepare([s for s in samples if s.split == "test"], root, tmp_path)
    assert list(ex.fit_report["skipped"]) == [first.id] and "not-there.mp4" in ex.fit_report["skipped"][first.id]


def test_the_stored_classifier_predicts_as_scikit_learn_does():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 3)) + np.repeat(np.eye(3) * 3, 20, axis=0)
    y = np.repeat(["a", "b", "c"], 20)
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    reference = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000)).fit(x, y)
    mine = CueClassifier.fit(x, y)
    probe = rng.normal(size=(40, 3)) * 3
    assert [mine.predict(p) for p in probe] == list(reference.predict(probe))
    assert CueClassifier.from_json(mine.to_json()).predict(probe[0]) == mine.predict(probe[0])
    with pytest.raises(ReferenceError, match="1 cue"):
        CueClassifier.fit(x[:5], ["a"] * 5)
    assert FitSpec.of({"fit": True}) == FitSpec()
