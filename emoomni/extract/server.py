"""Backends for any OpenAI-compatible endpoint (vLLM, ``transformers serve``, a hosted API).

Four backends, each registered as ``"server"``: a vision extractor (evenly sampled frames as
base64 image parts), an audio extractor (16 kHz wav as an ``input_audio`` part), a dialogue
extractor (the audio transcriptions endpoint, or the manifest transcript) and a verifier. All
talk through the official ``openai`` client, whose own retry loop (exponential backoff with
jitter on connection errors, timeouts, 408 / 409 / 429 and 5xx) is what ``max_retries`` sets.

Options (every backend): ``base_url``, ``model``, ``api_key_env`` (the *name* of the environment
variable holding the key; unset means a placeholder key, fine for local servers), ``max_concurrency``,
``timeout`` (seconds per attempt), ``max_retries``, ``max_tokens``, ``temperature``, ``prompts``
(a :class:`~emoomni.prompts.Prompts` or a dict of overrides) and ``extra_body`` (server-specific
request fields, e.g. ``{"chat_template_kwargs": {"enable_thinking": False}}`` for Qwen3 on vLLM).
The key itself is never an option, so it never reaches ``options``, ``cache_key()``, a log line
or an error message (messages are scrubbed of it as well).

Per-sample failures (no video or audio, an empty reply, a request that failed after all retries)
never lose the rest of the batch: ``describe`` / ``judge`` finish every request, then raise
:class:`ServerBatchError`, an :class:`ExtractionError` whose ``results`` hold every successful
result in place (``None`` where a sample failed) and whose ``errors`` map sample id to message.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import logging
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from emoomni.progress import tqdm

from emoomni.data.manifest import ManifestError, Sample, resolve_media
from emoomni.extract.base import MODALITIES, Evidence, ExtractionError, Extractor, load_clip_audio, register
from emoomni.extract.verify import Verdict, Verifier, llm_verdict, register_verifier
from emoomni.media import MediaError
from emoomni.prompts import Prompts

log = logging.getLogger(__name__)

PLACEHOLDER_KEY = "EMPTY"
"""Sent when the key variable is unset: local servers (vLLM, ``transformers serve``) ignore the key."""

COMMON_DEFAULTS: dict[str, Any] = {
    "base_url": "http://127.0.0.1:8000/v1",
    "model": None,
    "api_key_env": "OPENAI_API_KEY",
    "max_concurrency": 4,
    "timeout": 120.0,
    "max_retries": 3,
    "max_tokens": 256,
    "temperature": 0.0,
    "prompts": None,
    "extra_body": None,
}
# Options that change how requests are sent, not what comes back: left out of cache_key().
TRANSPORT_OPTIONS = frozenset({"api_key_env", "max_concurrency", "timeout", "max_retries"})
FORBIDDEN_OPTIONS = frozenset({"api_key", "key", "token", "password", "secret"})


class ServerBatchError(ExtractionError):
    """Some samples of a batch failed; ``results`` keeps the others in place (None where failed)."""

    def __init__(self, backend: str, results: list[Any], errors: dict[str, str]) -> None:
        self.results = results
        self.errors = errors
        shown = "; ".join(f"{sid}: {msg}" for sid, msg in list(errors.items())[:5])
        more = f"; and {len(errors) - 5} more" if len(errors) > 5 else ""
        super().__init__(f"{backend}: {len(errors)} of {len(results)} samples failed: {shown}{more}")


def sample_indices(total: int, num: int) -> list[int]:
    """``num`` evenly spaced frame indices out of ``total`` (all of them when there are fewer).

    >>> sample_indices(100, 4)
    [0, 33, 66, 99]
    >>> sample_indices(3, 8)
    [0, 1, 2]
    >>> sample_indices(10, 1)
    [5]
    """
    if total <= 0 or num <= 0:
        return []
    if num >= total:
        return list(range(total))
    if num == 1:
        return [total // 2]
    return sorted({int(round(i)) for i in np.linspace(0, total - 1, num)})


def read_sampled_frames(path: str | Path, num: int) -> list[np.ndarray]:
    """Decode ``num`` evenly spaced RGB frames of a video, without holding every frame in memory."""
    import av

    path = Path(path)
    if not path.is_file():
        raise MediaError(f"{path}: file not found")
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise MediaError(f"{path}: no video stream")
            total = sum(1 for p in container.demux(video=0) if p.size)
        with av.open(str(path)) as container:
            wanted = set(sample_indices(total, num))
            last = max(wanted, default=-1)
            frames = []
            for i, frame in enumerate(container.decode(video=0)):
                if i in wanted:
                    frames.append(frame.to_ndarray(format="rgb24"))
                if i >= last:
                    break
    except MediaError:
        raise
    except (av.error.FFmpegError, UnicodeDecodeError, IndexError) as e:
        raise MediaError(f"{path}: corrupt or unreadable media ({type(e).__name__}: {e})") from None
    if not frames:
        raise MediaError(f"{path}: no decodable frames")
    return frames


def image_data_url(frame: np.ndarray, fmt: str = "jpeg", max_side: int | None = None) -> str:
    """An RGB frame as a ``data:image/...;base64,`` URL (downscaled so its longer side is at most ``max_side``)."""
    from PIL import Image

    image = Image.fromarray(np.ascontiguousarray(frame, dtype=np.uint8))
    if max_side and max(image.size) > max_side:
        image.thumbnail((max_side, max_side))
    buf = io.BytesIO()
    if fmt == "jpeg":
        image.save(buf, format="JPEG", quality=90)
    elif fmt == "png":
        image.save(buf, format="PNG")
    else:
        raise ValueError(f"image_format must be 'jpeg' or 'png', not {fmt!r}")
    return f"data:image/{fmt};base64,{base64.b64encode(buf.getvalue()).decode('ascii')}"


def wav_bytes(audio: np.ndarray, sample_rate: int = 16000) -> bytes:
    """Mono float audio as 16-bit PCM wav bytes.

    >>> wav_bytes(np.zeros(160, np.float32))[:4], wav_bytes(np.zeros(160, np.float32))[8:12]
    (b'RIFF', b'WAVE')
    """
    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, np.clip(audio, -1.0, 1.0), sample_rate, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def sample_wav(sample: Sample, data_root: Path, sample_rate: int = 16000) -> bytes:
    """The sample's audio (its audio file, else its video's track) as 16 kHz mono wav bytes."""
    try:
        return wav_bytes(load_clip_audio(sample, data_root, sample_rate), sample_rate)
    except ManifestError as e:
        raise ExtractionError(f"sample {sample.id!r}: {e}") from None


class _ServerBackend:
    """Options, the openai client, bounded concurrency and per-sample error collection, shared by all four."""

    name: ClassVar[str] = "server"
    extra_defaults: ClassVar[dict[str, Any]] = {}
    options: dict[str, Any]

    def _setup(self, options: dict[str, Any], http_client: Any = None) -> None:
        bad = sorted(FORBIDDEN_OPTIONS & set(options))
        if bad:
            raise ValueError(f"option {bad[0]!r} is not accepted: put the key in an environment variable "
                             "and name that variable with api_key_env")
        defaults = {**COMMON_DEFAULTS, **self.extra_defaults}
        unknown = sorted(set(options) - set(defaults))
        if unknown:
            raise ValueError(f"unknown option(s) {unknown} for the server backend; known: {', '.join(sorted(defaults))}")
        merged = {**defaults, **options}
        if not merged["model"]:
            raise ValueError("the server backend needs option 'model' (the name the endpoint serves)")
        if int(merged["max_concurrency"]) < 1:
            raise ValueError("max_concurrency must be at least 1")
        if not str(merged["api_key_env"]).isidentifier():
            raise ValueError("api_key_env must be the name of an environment variable")
        self.prompts = Prompts.resolve(merged["prompts"])
        merged["prompts"] = asdict(self.prompts)
        self.options = merged
        self._http_client = http_client
        self._client: Any = None

    # -- the key and the client ------------------------------------------------------------

    def _key(self) -> str | None:
        return os.environ.get(self.options["api_key_env"]) or None

    def _scrub(self, text: str) -> str:
        """Remove the key from a message, should a server or library ever echo it."""
        key = self._key()
        return text.replace(key, "***") if key else text

    @property
    def client(self) -> Any:
        """The ``openai.OpenAI`` client (built on first use)."""
        if self._client is None:
            try:
                import openai
            except ModuleNotFoundError as e:
                raise ModuleNotFoundError("the server backends need the openai client: "
                                          "pip install -e '.[server]'", name=e.name) from None

            key = self._key()
            if key is None:
                log.info("server backend: environment variable %s is not set; sending a placeholder key",
                         self.options["api_key_env"])
            self._client = openai.OpenAI(api_key=key or PLACEHOLDER_KEY, base_url=self.options["base_url"],
                                         timeout=float(self.options["timeout"]),
                                         max_retries=int(self.options["max_retries"]),
                                         http_client=self._http_client)
        return self._client

    def close(self) -> None:
        """Close the client's connection pool."""
        if self._client is not None:
            self._client.close()
            self._client = None

    def __enter__(self):
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def cache_key(self) -> str:
        """Name, modality and the options that decide the output (not the transport, never the key)."""
        kept = {k: v for k, v in self.options.items() if k not in TRANSPORT_OPTIONS}
        blob = json.dumps({"name": self.name, "modality": getattr(self, "modality", "verifier"), "options": kept},
                          sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    # -- requests ----------------------------------------------------------------------------

    def _describe_error(self, e: Exception) -> str:
        import openai

        attempts = int(self.options["max_retries"]) + 1
        if isinstance(e, ExtractionError):
            msg = str(e)
        elif isinstance(e, openai.APITimeoutError):
            msg = f"request timed out after {self.options['timeout']} s per attempt ({attempts} attempts)"
        elif isinstance(e, openai.APIConnectionError):
            cause = e.__cause__ or e
            msg = f"could not reach {self.options['base_url']} ({attempts} attempts; {type(cause).__name__}: {cause})"
        elif isinstance(e, openai.APIStatusError):
            msg = f"the server answered HTTP {e.status_code} ({str(e.message)[:300]})"
        else:  # a malformed reply, or anything else that went wrong with this one request
            msg = f"the request failed or its reply could not be read ({type(e).__name__}: {str(e)[:300]})"
        return self._scrub(msg)

    def _chat(self, content: str | list[dict[str, Any]]) -> str:
        """One chat completion: the system prompt, then ``content`` as the user turn; the reply text."""
        o = self.options
        kwargs: dict[str, Any] = {}
        if o["extra_body"]:
            kwargs["extra_body"] = dict(o["extra_body"])
        response = self.client.chat.completions.create(
            model=o["model"],
            messages=[{"role": "system", "content": self.prompts.system}, {"role": "user", "content": content}],
            max_tokens=int(o["max_tokens"]), temperature=float(o["temperature"]), **kwargs)
        if not response.choices:
            return ""
        return response.choices[0].message.content or ""

    def _map(self, ids: Sequence[str], fn: Callable[[int], Any], desc: str) -> tuple[list[Any], dict[str, str]]:
        """Run ``fn(i)`` for every item with at most ``max_concurrency`` in flight; results and errors by id."""
        results: list[Any] = [None] * len(ids)
        errors: dict[str, str] = {}
        if not ids:
            return results, errors
        _ = self.client  # build it once, before the threads share it

        def run(i: int) -> tuple[int, Any, str | None]:
            start = time.perf_counter()
            try:
                out = fn(i)
            except Exception as e:  # noqa: BLE001 - one request's failure must not lose the batch
                return i, None, self._describe_error(e)
            log.debug("server %s: %s in %.2f s", desc, ids[i], time.perf_counter() - start)
            return i, out, None

        workers = min(int(self.options["max_concurrency"]), len(ids))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="emoomni-server") as pool:
            futures = [pool.submit(run, i) for i in range(len(ids))]
            for fut in tqdm(futures, desc=f"server {desc}", leave=False, disable=len(ids) < 2):
                i, out, err = fut.result()
                if err is None:
                    results[i] = out
                else:
                    errors[ids[i]] = err
                    log.warning("server %s: sample %r failed: %s", desc, ids[i], err)
        return results, errors


class _ServerExtractor(_ServerBackend, Extractor):
    """An extractor whose per-sample work is :meth:`describe_one`."""

    def __init__(self, *, http_client: Any = None, **options: Any) -> None:
        Extractor.__init__(self)
        self._setup(options, http_client)

    def request_content(self, sample: Sample, data_root: Path, labels: Sequence[str]) -> list[dict[str, Any]]:
        """The user turn's content parts for one sample."""
        raise NotImplementedError

    def describe_one(self, sample: Sample, data_root: Path, labels: Sequence[str]) -> str:
        """The evidence text for one sample: the reply to the system prompt and :meth:`request_content`."""
        return self._chat(self.request_content(sample, data_root, labels))

    def describe(self, batch: Sequence[Sample], data_root: Path, labels: Sequence[str]) -> list[str]:
        """One evidence text per sample; raise ServerBatchError (carrying the others' results) if any failed."""
        data_root = Path(data_root)

        def one(i: int) -> str:
            text = self.describe_one(batch[i], data_root, labels).strip()
            if not text:
                raise ExtractionError(f"sample {batch[i].id!r}: the server returned an empty reply")
            return text

        results, errors = self._map([s.id for s in batch], one, self.modality)
        if errors:
            raise ServerBatchError(f"server {self.modality}", results, errors)
        return results


@register
class ServerVision(_ServerExtractor):
    """Send ``num_frames`` evenly sampled frames as base64 image parts with the vision prompt."""

    modality = "vision"
    extra_defaults = {"num_frames": 8, "image_format": "jpeg", "max_side": None}

    def request_content(self, sample: Sample, data_root: Path, labels: Sequence[str]) -> list[dict[str, Any]]:
        """The user turn's content parts: the frames as ``image_url`` data URLs, then the prompt."""
        if sample.video is None:
            raise ExtractionError(f"sample {sample.id!r}: no video to describe")
        try:
            frames = read_sampled_frames(resolve_media(data_root, sample.video), int(self.options["num_frames"]))
        except (MediaError, ManifestError) as e:
            raise ExtractionError(f"sample {sample.id!r}: {e}") from None
        fmt, side = self.options["image_format"], self.options["max_side"]
        parts: list[dict[str, Any]] = [{"type": "image_url", "image_url": {"url": image_data_url(f, fmt, side)}}
                                       for f in frames]
        return parts + [{"type": "text", "text": self.prompts.extract("vision", labels)}]


@register
class ServerAudio(_ServerExtractor):
    """Send the sample's audio (its file or its video's track) as a 16 kHz wav ``input_audio`` part."""

    modality = "audio"

    def request_content(self, sample: Sample, data_root: Path, labels: Sequence[str]) -> list[dict[str, Any]]:
        """The user turn's content parts: the audio as base64 wav, then the prompt."""
        data = base64.b64encode(sample_wav(sample, data_root)).decode("ascii")
        return [{"type": "input_audio", "input_audio": {"data": data, "format": "wav"}},
                {"type": "text", "text": self.prompts.extract("audio", labels)}]


@register
class ServerDialogue(_ServerExtractor):
    """Transcribe the audio through ``/audio/transcriptions``, or take the manifest transcript."""

    modality = "dialogue"
    extra_defaults = {"prefer_transcript": False, "language": None}

    def describe_one(self, sample: Sample, data_root: Path, labels: Sequence[str]) -> str:
        """The manifest transcript (with ``prefer_transcript``) or the endpoint's transcription."""
        if self.options["prefer_transcript"] and sample.transcript and sample.transcript.strip():
            return sample.transcript
        wav = sample_wav(sample, data_root)
        kwargs: dict[str, Any] = {}
        if self.options["language"]:
            kwargs["language"] = self.options["language"]
        if self.options["extra_body"]:
            kwargs["extra_body"] = dict(self.options["extra_body"])
        result = self.client.audio.transcriptions.create(
            model=self.options["model"], file=(f"{sample.id}.wav", wav, "audio/wav"), **kwargs)
        text = result if isinstance(result, str) else getattr(result, "text", "")
        if not (text or "").strip():
            raise ExtractionError(f"sample {sample.id!r}: the server returned an empty transcription")
        return text


def evidence_texts(evidence: Evidence) -> dict[str, str]:
    """The three modalities' evidence for the verifier prompt, ``(none)`` where one is missing."""
    return {m: getattr(evidence, m) or "(none)" for m in MODALITIES}


@register_verifier
class ServerVerifier(_ServerBackend, Verifier):
    """Ask the endpoint whether the evidence supports the label; parse the reply with :func:`llm_verdict`."""

    def __init__(self, *, http_client: Any = None, **options: Any) -> None:
        Verifier.__init__(self)
        self._setup(options, http_client)

    def request_prompt(self, evidence: Evidence, label: str, labels: Sequence[str]) -> str:
        """The user turn for one item (after the system prompt), every piece of evidence delimited and escaped."""
        return self.prompts.verification(evidence_texts(evidence), label, labels)

    def judge(self, items: Sequence[tuple[Evidence, str]], labels: Sequence[str]) -> list[Verdict]:
        """One Verdict per item; raise ServerBatchError (carrying the others' verdicts) if a request failed."""
        def one(i: int) -> Verdict:
            evidence, label = items[i]
            reply = self._chat(self.request_prompt(evidence, label, labels))
            return llm_verdict(evidence.sample_id, reply, self.name)

        results, errors = self._map([ev.sample_id for ev, _ in items], one, "verifier")
        if errors:
            raise ServerBatchError("server verifier", results, errors)
        return results
