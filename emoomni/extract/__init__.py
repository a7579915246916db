"""Modality-specific evidence extraction: protocols, a registry, and the backends that fill it."""

from emoomni.extract.base import MODALITIES, Evidence, Extractor, make_extractor, register

__all__ = ["MODALITIES", "Evidence", "Extractor", "make_extractor", "register"]
