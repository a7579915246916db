"""Plain-words descriptions of a clip's designed cues, in the wording the offline extractors use.

The tiny base's description pre-training (:mod:`emoomni.train.pretrain`) answers with these lines,
and the tiny tokenizer's corpus (:mod:`emoomni.model.tiny_tokenizer`) is trained on them: one line
per modality (face, voice, words) that opens with what the face-geometry and signal extractors would
write for the cue and closes with a short phrase for it in one of three styles (:data:`TEMPLATES`).
"""

from __future__ import annotations

from collections.abc import Mapping

from emoomni.data.synthemo.design import CLASSES
from emoomni.extract import face_geometry
from emoomni.extract.face_geometry import Change
from emoomni.extract.signal import PROTOTYPES, SignalAudio

# Per style: the closing phrase of the face, voice and words lines (``{}`` takes the cue phrase) and the
# no-speech line. Every line opens with the same wording the offline extractors use for that modality.
TEMPLATES = (
    (("The face looks {}.", "The voice sounds {}.", "The words sound {}."), "No speech is heard."),
    (("The person looks {}.", "The voice is {}.", "The words are {}."), "No speech is heard."),
    (("Face: {}.", "Voice: {}.", "Words: {}."), "Words: none."),
)
# Phrases per modality and cue; style k uses phrase k % 2. Voice phrases follow SynthEmo's prosody
# (:data:`emoomni.data.synthemo.voice.PROSODY`), face phrases its geometry, in words the tiny tokenizer knows.
FACE = {
    "neutral": ("calm", "neutral"),
    "happy": ("happy, with a smile", "smiling"),
    "sad": ("sad", "sad, with the brows raised inside"),
    "angry": ("angry, with lowered brows", "angry"),
    "worried": ("worried, with wide eyes", "anxious"),
    "surprised": ("surprised, with raised brows and an open mouth", "surprised"),
}
VOICE = {
    "neutral": ("calm and flat", "flat"),
    "happy": ("bright, high and fast", "happy"),
    "sad": ("low, slow and quiet", "sad and quiet"),
    "angry": ("loud and fast", "angry and loud"),
    "worried": ("high, fast and quiet", "anxious"),
    "surprised": ("very high and loud", "surprised"),
}
WORDS = {
    "neutral": ("neutral", "plain"),
    "happy": ("happy", "joyful"),
    "sad": ("sad", "sad"),
    "angry": ("angry", "angry"),
    "worried": ("worried", "fearful"),
    "surprised": ("surprised", "surprised"),
}
PHRASES = {"vision": FACE, "audio": VOICE, "text": WORDS}


def _face_change(cue: str):
    """The change of expression SynthEmo draws for a face cue, in the face-geometry measurements' terms."""
    return {
        "neutral": Change(0.0, 0.0, 1.0, 0.0, 0.0),
        "happy": Change(0.0, 0.0, 1.0, 0.1, 0.0),
        "sad": Change(0.0, 0.0, 0.8, -0.1, 0.0),
        "angry": Change(-0.1, -0.1, 0.8, -0.1, 0.0),
        "worried": Change(0.1, 0.1, 1.3, -0.1, 0.1),
        "surprised": Change(0.1, 0.0, 1.3, 0.0, 0.1),
    }[cue]


def modality_sentence(modality: str, cue: str) -> str:
    """The extractors' kind of sentence for a designed cue: face geometry or voice prosody (no emotion named).

    >>> modality_sentence("vision", "happy")
    'Over the clip the mouth corners turn up.'
    >>> modality_sentence("audio", "sad")
    'The voice is low-pitched with a flat, narrow pitch range; it is soft and the speech is slow, with a neutral timbre.'
    """
    if modality == "vision":
        return face_geometry.describe(_face_change(cue))
    if modality == "audio":
        return SignalAudio.text(PROTOTYPES[cue], CLASSES).split(" Reason:")[0]
    raise ValueError(f"no sentence for modality {modality!r}")



def describe(cues: Mapping[str, str], style: int = 0, transcript: str | None = None) -> str:
    """A plain-words description of each modality's cue (face, voice, words) in one of the styles, one line each.

    The face and voice lines open with what the offline extractors would measure for the cue; the words
    line quotes the transcript when one is given. An empty transcript gets the style's no-speech line.

    >>> print(describe({"vision": "angry", "audio": "neutral", "text": "worried"}, 0, "Watch out."))
    Over the clip the brows lower, their inner ends pull down into a frown, the eyes narrow, the mouth corners turn down. The face looks angry, with lowered brows.
    The voice is at a middling pitch with a moderate pitch range; it is of moderate loudness and the speech is at an even pace, with a neutral timbre. The voice sounds calm and flat.
    The speaker says: "Watch out." The words sound worried.
    >>> describe({"vision": "happy", "audio": "sad", "text": "neutral"}, 2, transcript="").splitlines()[-1]
    'Words: none.'
    """
    parts, silent = TEMPLATES[style]
    out = []
    for modality, part in zip(("vision", "audio", "text"), parts):
        cue = cues[modality]
        if cue not in PHRASES[modality]:
            raise ValueError(f"no description for {modality} cue {cue!r}")
        phrases = PHRASES[modality][cue]
        closing = part.format(phrases[style % len(phrases)])
        if modality != "text":
            out.append(f"{modality_sentence(modality, cue)} {closing}")
        elif transcript is not None and not transcript.strip():
            out.append(silent)
        elif transcript is not None:
            out.append(f'The speaker says: "{transcript.strip()}" {closing}')
        else:
            out.append(closing)
    return "\n".join(out)
