"""Where perception is lost: a linear probe reads each cue from the frozen towers' output tokens, pooled three ways.

The tiny base's language model reads the towers' output tokens through attention. When a probe on
the tokens' maximum reads a cue that a probe on their mean does not, the cue sits in a few tokens, and
the language model has to learn to find them; what the base reads (:func:`emoomni.train.pretrain.cue_recognition`)
can then be compared with what each pooling holds.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from emoomni.data.manifest import Sample, resolve_media
from emoomni.data.synthemo.design import CLASSES
from emoomni.model.inputs import load_audio, load_video
from emoomni.train.encoders import POOLS, audio_inputs, audio_tokens, pooled, vision_tokens


def probe_accuracy(learn: np.ndarray, learn_labels: Sequence[int], test: np.ndarray, test_labels: Sequence[int]
                   ) -> float:
    """Held-out accuracy of a logistic-regression probe fitted on ``learn`` (standardised features); NaN when
    ``learn`` holds a single class.

    >>> x = np.array([[0.0], [0.1], [1.0], [1.1]])
    >>> probe_accuracy(x, [0, 0, 1, 1], np.array([[0.05], [1.05], [0.9]]), [0, 1, 0])
    0.6666666666666666
    >>> probe_accuracy(x, [2, 2, 2, 2], x, [2, 2, 2, 2])
    nan
    """
    if len(set(learn_labels)) < 2:
        return float("nan")
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000))
    return float(probe.fit(learn, list(learn_labels)).score(test, list(test_labels)))


def tower_tokens(model: Any, processor: Any, samples: Sequence[Sample], data_root: str | Path, fps: float,
                 size: int, batch_size: int = 32) -> dict[str, list[torch.Tensor]]:
    """Per modality, each clip's tower output tokens (vision from its frames, audio from its sound track)."""
    out: dict[str, list[torch.Tensor]] = {"vision": [], "audio": []}
    with torch.no_grad():
        for i in range(0, len(samples), batch_size):
            paths = [str(resolve_media(data_root, x.video)) for x in samples[i:i + batch_size]]
            out["vision"] += vision_tokens(model, processor, [load_video(p, fps) for p in paths], size)
            out["audio"] += audio_tokens(model, audio_inputs(processor, [load_audio(p) for p in paths]))
    return out


def tower_separability(model: Any, processor: Any, learn: Sequence[Sample], test: Sequence[Sample],
                       data_root: str | Path, fps: float = 4.0, size: int = 112) -> dict[str, dict[str, float]]:
    """``{modality: {pooling: accuracy}}``: a probe fitted on ``learn`` clips' pooled tokens, scored on ``test``'s."""
    model.eval()
    tokens = {name: tower_tokens(model, processor, xs, data_root, fps, size) for name, xs in
              (("learn", learn), ("test", test))}
    result: dict[str, dict[str, float]] = {}
    for modality in ("vision", "audio"):
        labels = {name: [CLASSES.index(x.meta["cues"][modality]) for x in xs] for name, xs in
                  (("learn", learn), ("test", test))}
        result[modality] = {}
        for pool in POOLS:
            feats = {name: pooled(tokens[name][modality], pool).float().numpy() for name in tokens}
            result[modality][pool] = probe_accuracy(feats["learn"], labels["learn"], feats["test"], labels["test"])
    return result
