"""Evaluation: prediction with the exact guided-token statistics, benchmarks, ablations and diagnostics."""

from emoomni.evaluate.predict import Prediction, predict, read_predictions
from emoomni.model.guided_stats import MODALITIES, answer_probs, completion_stats, guided_stats, p_star

__all__ = ["MODALITIES", "Prediction", "answer_probs", "completion_stats", "guided_stats", "p_star", "predict",
           "read_predictions"]
