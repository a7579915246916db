"""SynthEmo: a generated omni-modal emotion data set with designed modality conflicts."""

from emoomni.data.synthemo.design import CLASSES, CONDITIONS, MODALITIES, gold_label
from emoomni.data.synthemo.generate import SynthEmoConfig, generate, plan

__all__ = ["CLASSES", "CONDITIONS", "MODALITIES", "SynthEmoConfig", "generate", "gold_label", "plan"]
