"""Where H_m is read: the entropy sites of a guided token, as completion indices whose distributions are averaged.

Token ``c_i`` of a completion is produced by the distribution ``d_i`` (the hidden state at prompt length
``T + i - 1``). For the guided token of modality ``m`` at index ``j`` (its first occurrence), H_m is the
mean Shannon entropy of the distributions ``d_i`` over the site's indices; p_m is always
``d_j(c_j)``, the probability of the chosen guided token:

- ``emitted`` (the default, the paper's literal reading): ``{j}``, the distribution that emitted the
  guided token. A model that has learned a fixed section order emits it almost surely: H_m near 0.
- ``following``: ``{j + 1}``, the distribution at the guided token's own position, over the first token
  of that modality's evidence (it may be the stop token). None when the completion ends at ``j``.
- ``section``: ``{j + 1, ..., e - 1}``, the distributions producing the section the guided token opens,
  up to the next guided token (any of the four) or, when none follows, to the token where ``</think>``
  begins, else to the end of the completion (stop token excluded). None when the section is empty.

Only the rows of these indices are projected through the LM head, so no ``(batch, time, vocab)`` logits
are materialised.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence

ENTROPY_SITES = ("emitted", "following", "section")
"""Where H_m is read (module docstring); ``emitted`` is the default."""

THINK_END = "</think>"


def check_site(site: str) -> str:
    """``site`` itself when it is one of :data:`ENTROPY_SITES`, else a ValueError naming them."""
    if site not in ENTROPY_SITES:
        raise ValueError(f"unknown entropy site {site!r}; choose one of {', '.join(ENTROPY_SITES)}")
    return site


def site_indices(row: Sequence[int], j: int, guided: Collection[int], site: str, stopped: bool = False,
                 think_end: Callable[[], int | None] | None = None) -> list[int]:
    """Completion indices whose distributions give H_m for the guided token at ``row[j]`` (module docstring).

    ``row`` holds the completion's ids before its stop token; ``stopped`` says whether a stop token
    follows it (then index ``len(row)`` exists too); ``think_end`` returns the index of the token where
    ``</think>`` begins (None without one) and is called only when the section needs it.

    >>> row = [7, 1, 5, 5, 2, 6, 9]  # 1 and 2 are guided ids; 9 begins </think>
    >>> site_indices(row, 1, {1, 2}, "emitted"), site_indices(row, 1, {1, 2}, "following")
    ([1], [2])
    >>> site_indices(row, 1, {1, 2}, "section"), site_indices(row, 4, {1, 2}, "section", think_end=lambda: 6)
    ([2, 3], [5])
    >>> site_indices([7, 1], 1, {1}, "following"), site_indices([7, 1], 1, {1}, "following", stopped=True)
    ([], [2])
    """
    if check_site(site) == "emitted":
        return [j]
    if site == "following":
        return [j + 1] if j + 1 < len(row) + int(stopped) else []
    end = next((k for k in range(j + 1, len(row)) if row[k] in guided), None)
    if end is None:
        found = think_end() if think_end is not None else None
        end = found if found is not None and found > j else len(row)
    return list(range(j + 1, end))


def tag_start(decode: Callable[[Sequence[int]], str], ids: Sequence[int], tag: str = THINK_END) -> int | None:
    """The index of the first token covering ``tag``'s first character in ``decode(ids)``, or None.

    >>> pieces = ["a", " b", "</", "think>", "x"]
    >>> tag_start(lambda ids: "".join(pieces[i] for i in ids), [0, 1, 2, 3, 4])
    2
    """
    ids = list(ids)
    pos = decode(ids).find(tag)
    if pos < 0:
        return None
    lo, hi = 1, len(ids)
    while lo < hi:  # smallest k whose decoded prefix reaches past the tag's first character
        mid = (lo + hi) // 2
        if len(decode(ids[:mid])) > pos:
            hi = mid
        else:
            lo = mid + 1
    return lo - 1


def mean_or_none(values: Sequence[float]) -> float | None:
    """The mean of ``values``, None when there are none.

    >>> mean_or_none([1.0, 2.0]), mean_or_none([])
    (1.5, None)
    """
    return sum(values) / len(values) if values else None
