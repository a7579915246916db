"""The data-set adapters ``emoomni data index`` knows: which options each reads, how to run and write it.

Each option is one command-line flag with one meaning; an adapter reads some of them, under its
own keyword (``--label-file`` is MER's ``label_csv=``). An option given to a data set that does not
read it is an error, not silently ignored (:func:`unread`).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emoomni.data.manifest import SkipReport, write_manifest
from emoomni.data.omnibench import write_items


def comma_list(value: str) -> list[str]:
    """Split a comma-separated option value.

    >>> comma_list("train, val"), comma_list("01")
    (['train', 'val'], ['01'])
    """
    return [v.strip() for v in value.split(",") if v.strip()]


@dataclass(frozen=True)
class Option:
    """One ``emoomni data index`` flag: its name, help text, and the type or choices argparse checks."""

    flag: str
    help: str
    type: Callable[[str], Any] = str
    choices: tuple[str, ...] | None = None
    metavar: str | None = None


OPTIONS: dict[str, Option] = {  # argparse dest -> option
    "edition": Option("--edition", "MER edition (default mer2025)", choices=("mer2023", "mer2024", "mer2025")),
    "split": Option("--split", "MELD: splits, comma-separated (train,val,test; dev = val; default all); "
                               "MER: one split (default train)", metavar="SPLIT"),
    "fold": Option("--fold", "DFEW cross-validation fold, 1-5 (default 1)", int, metavar="K"),
    "protocol": Option("--protocol", "IEMOCAP class protocol (default iemocap4)",
                       choices=("iemocap4", "iemocap6", "iemocap_paper")),
    "test_session": Option("--test-session", "IEMOCAP session held out as the test split (default 5)", int,
                           metavar="N"),
    "marker_side": Option("--marker-side", "IEMOCAP: the video half showing the session's marker actor",
                          choices=("left", "right")),
    "label_file": Option("--label-file", "MER label file (relative to ROOT or absolute) instead of the edition's",
                         metavar="FILE"),
    "subtitle_file": Option("--subtitle-file", "MER subtitle file instead of the edition's", metavar="FILE"),
    "subtitle_lang": Option("--subtitle-lang", "MER subtitle language (default english)",
                            choices=("english", "chinese")),
    "clip_dir": Option("--clip-dir", "DFEW clip folder relative to ROOT (default Clip/original)", metavar="DIR"),
    "modalities": Option("--modalities", "RAVDESS modality codes, comma-separated: 01 audio-video, 02 video, "
                                         "03 audio (default 01)", metavar="CODES"),
    "channel": Option("--channel", "RAVDESS vocal channel (default speech)", choices=("speech", "song")),
    "items_file": Option("--items-file", "OmniBench item file (relative to ROOT or absolute)", metavar="FILE"),
}


@dataclass(frozen=True)
class Adapter:
    """A data set: its module, which options it reads (dest -> ``index`` keyword) and how values convert."""

    module: str
    reads: dict[str, str]
    about: str
    convert: dict[str, Callable[[Any], Any]] = field(default_factory=dict)
    write: Callable[[list[Any], Path], Path] = write_manifest


ADAPTERS: dict[str, Adapter] = {
    "ravdess": Adapter("emoomni.data.ravdess", {"modalities": "modalities", "channel": "channel"},
                       "Actor_NN/MM-VV-EE-II-SS-RR-AA.mp4|wav at any depth", {"modalities": comma_list}),
    "iemocap": Adapter("emoomni.data.iemocap",
                       {"protocol": "protocol", "test_session": "test_session", "marker_side": "marker_side"},
                       "IEMOCAP_full_release/ (or the folder itself) with Session1..5"),
    "meld": Adapter("emoomni.data.meld", {"split": "splits"},
                    "MELD.Raw/ (or the folder itself): release archive or flat layout", {"split": comma_list}),
    "mer": Adapter("emoomni.data.mer", {"edition": "edition", "split": "split", "label_file": "label_csv",
                                        "subtitle_file": "subtitle_csv", "subtitle_lang": "subtitle_lang"},
                   "<edition>-dataset[-process]/ (or the folder itself)"),
    "dfew": Adapter("emoomni.data.dfew", {"fold": "fold", "clip_dir": "clip_dir"},
                    "Clip/original/ with EmoLabel_DataSplit/ or label/single_<split>set_<k>.csv"),
    "omnibench": Adapter("emoomni.data.omnibench", {"items_file": "items_file"},
                         "dataset/*.jsonl + mm_data/, or data/*.parquet", write=write_items),
}


def flags(dataset: str) -> list[str]:
    """The flags a data set reads, in declaration order.

    >>> flags("meld"), flags("dfew")
    (['--split'], ['--fold', '--clip-dir'])
    """
    return [OPTIONS[dest].flag for dest in OPTIONS if dest in ADAPTERS[dataset].reads]


def unread(dataset: str, given: dict[str, Any]) -> list[str]:
    """The flags among ``given`` (dest -> value) that ``dataset`` does not read.

    >>> unread("meld", {"split": "test", "fold": 2}), unread("mer", {"edition": "mer2024"})
    (['--fold'], [])
    """
    return [OPTIONS[dest].flag for dest in given if dest not in ADAPTERS[dataset].reads]


def describe() -> str:
    """One line per data set: its layout and the options it reads (for ``--help``)."""
    width = max(map(len, ADAPTERS))
    return "\n".join(f"  {name:<{width}}  {a.about}; reads {', '.join(flags(name)) or 'no option'}"
                     for name, a in ADAPTERS.items())


def index(dataset: str, root: str | Path, **options: Any) -> tuple[list[Any], SkipReport]:
    """Run a data set's adapter on ``root`` with options given by dest (``label_file``, ``split`` ...)."""
    adapter = ADAPTERS[dataset]
    if bad := unread(dataset, options):
        raise ValueError(f"{dataset} does not read {', '.join(bad)}; it reads {', '.join(flags(dataset)) or 'none'}")
    kwargs = {adapter.reads[dest]: adapter.convert.get(dest, lambda v: v)(value) for dest, value in options.items()}
    return importlib.import_module(adapter.module).index(root, **kwargs)


def write(dataset: str, records: list[Any], out: str | Path) -> Path:
    """Write what a data set's adapter returned: a Sample manifest, or BenchItems for OmniBench."""
    return ADAPTERS[dataset].write(records, Path(out))
