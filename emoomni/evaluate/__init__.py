"""Evaluation: batched prediction with the exact guided-token statistics (H_m, p_m) and p*."""

from emoomni.evaluate.predict import Prediction, predict, read_predictions
from emoomni.evaluate.stats import MODALITIES, answer_probs, completion_stats, guided_stats, p_star

__all__ = ["MODALITIES", "Prediction", "answer_probs", "completion_stats", "guided_stats", "p_star", "predict",
           "read_predictions"]
