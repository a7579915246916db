"""EmoOmni: OmniCoT, cold-start SFT and DyME-GRPO for omni-modal emotion reasoning."""

__version__ = "0.1.0"
