"""Which corpora exist, where their archives come from, and finding (or fetching) them.

Every archive is read from ``sources/`` under its upstream file name (datasets.md section 3), so a
file placed by hand and a downloaded one are the same thing. ``--download`` fetches what is
missing from the upstream URL, or from a mirror (``--mirror`` / ``$STT_CORPUS_MIRROR``) serving
the same file names, which is how an offline site or a test serves them.
"""

from __future__ import annotations

import importlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

from stt_tasks.errors import BadInputError, NothingToDoError
from stt_tasks.importers import download
from stt_tasks.importers.archives import archive_identity, unpack_once
from stt_tasks.languages import LanguagePack
from stt_tasks.layout import DataRoot

MIRROR_ENV = "STT_CORPUS_MIRROR"
CCPMF_ARCHIVE = "transcriptionsxml_audiomp3_mefr_ccpmf_2012-2020_2.zip"
CCPMF_INDEX = (
    "https://data.economie.gouv.fr/explore/dataset/transcriptionsxml_audiomp3_mefr_ccpmf_2012-2020/download/"
    "?format=csv&timezone=Europe/Berlin&lang=fr&use_labels_for_header=true&csv_separator=%3B"
)
#: SHA-1 of the CCPMF parts as pinned by the original importer (the two datasets.md quotes).
CCPMF_SHA1 = {
    CCPMF_ARCHIVE + ".001": ("sha1", "863d39a06a388c6491c6ff2f6450b151f38f1b57"),
    CCPMF_ARCHIVE + ".040": ("sha1", "c8e1e565a0e7a1f6ff1dbfcefe677aa74a41d2f2"),
}
_PART = re.compile(r"\.(\d{3})$")
#: CLI corpus name -> module of ``stt_tasks.importers`` defining ``prepare_<module>`` and ``<module>_records``
CORPUS_MODULES = {
    "lingua-libre": "lingua_libre",
    "trainingspeech": "trainingspeech",
    "african-accented-french": "african_accented_french",
    "m-ailabs": "m_ailabs",
    "mls": "mls",
    "ccpmf": "ccpmf",
}


@dataclass(frozen=True)
class CorpusSource:
    """One corpus: its CLI name, output folder, upstream archive and where to fetch it."""

    corpus: str
    directory: str
    archive: str
    url: str
    #: the archive is split into numbered parts (``<archive>.001``...); ``url`` lists their URLs
    split_archive: bool = False
    checksums: Mapping[str, download.Checksum] = field(default_factory=dict)

    def present(self, sources: Path) -> List[Path]:
        """The archive files in ``sources`` (parts in order), empty when absent."""
        if not self.split_archive:
            path = sources / self.archive
            return [path] if path.is_file() else []
        parts = sorted(sources.glob(self.archive + ".[0-9][0-9][0-9]"))
        numbers = [int(_PART.search(p.name).group(1)) for p in parts]  # type: ignore[union-attr]
        if parts and numbers != list(range(1, len(parts) + 1)):
            raise BadInputError(
                "{}: parts {} present but not numbered 001 to {:03d} without gaps; place the missing "
                "parts or pass --download.".format(sources, ", ".join(p.name for p in parts), len(parts))
            )
        return parts


#: (CLI name, output folder, archive name, upstream URL); ``{...}`` are filled from the language
#: pack's parameters for that corpus, ``{archive}`` in the URL by the archive name.
_CATALOGUE = (
    ("lingua-libre", "lingualibre", "Q{qid}-{iso639_3}-{english_name}.zip", "https://lingualibre.fr/datasets/{archive}"),
    ("trainingspeech", "trainingspeech", "{release}.zip", "{url}"),
    (
        "african-accented-french",
        "African_Accented_French",
        "African_Accented_French.tar.gz",
        "http://www.openslr.org/resources/57/{archive}",
    ),
    ("m-ailabs", "M-AILABS", "{language}.tgz", "http://www.caito.de/data/Training/stt_tts/{archive}"),
    ("mls", "MLS", "mls_{language}_opus.tar.gz", "https://dl.fbaipublicfiles.com/mls/{archive}"),
)


def sources(pack: LanguagePack) -> Dict[str, CorpusSource]:
    """Every corpus the language pack declares, by CLI name (Common Voice has its own finder)."""
    declared = pack.corpus_parameters
    found: Dict[str, CorpusSource] = {}
    for corpus, directory, archive, url in _CATALOGUE:
        if corpus in declared:
            name = archive.format(**declared[corpus])
            found[corpus] = CorpusSource(corpus, directory, name, url.format(archive=name, **declared[corpus]))
    if "ccpmf" in declared:
        found["ccpmf"] = CorpusSource("ccpmf", "ccpmf", CCPMF_ARCHIVE, CCPMF_INDEX, True, CCPMF_SHA1)
    return found


def corpus_module(corpus: str) -> ModuleType:
    """The module importing ``corpus`` (imported on demand: the CLI loads only what it runs)."""
    return importlib.import_module("stt_tasks.importers." + CORPUS_MODULES[corpus])


def prepare_function(corpus: str) -> Callable[..., Any]:
    """``prepare_<module>(data_root, pack, english_compatible, download, workers, mirror)`` of ``corpus``."""
    return getattr(corpus_module(corpus), "prepare_" + CORPUS_MODULES[corpus])  # type: ignore[no-any-return]


def mirror_url(mirror: Optional[str]) -> Optional[str]:
    value = mirror or os.environ.get(MIRROR_ENV)
    return value.rstrip("/") + "/" if value else None


def locate(source: CorpusSource, data_root: DataRoot, fetch: bool, mirror: Optional[str] = None) -> List[Path]:
    """The archive files of ``source`` in ``sources/``, downloaded first when ``fetch`` is set.

    Raises NothingToDoError when the archive is absent and no download was asked for: the corpus
    is optional, so its task is skipped rather than failed.
    """
    folder = data_root.sources
    present = source.present(folder) if folder.is_dir() else []
    if present and not (fetch and source.split_archive):
        return present
    if not fetch:
        raise NothingToDoError(
            "{}: {} is not in {}. Place it there (from {}) or pass --download.".format(
                source.corpus, source.archive + (".001..." if source.split_archive else ""), folder, source.url
            )
        )
    base = mirror_url(mirror)
    if not source.split_archive:
        url = base + source.archive if base else source.url
        return [download.fetch(url, folder / source.archive, source.checksums.get(source.archive))]
    return _fetch_parts(source, folder, base)


def _fetch_parts(source: CorpusSource, folder: Path, base: Optional[str]) -> List[Path]:
    """Every part of a split archive: from the upstream index of URLs, or numbered from a mirror."""
    if base is None:
        index = folder / ".{}.index.csv".format(source.corpus)
        if index.exists():  # the index changes upstream: always fetch it afresh
            index.unlink()
        download.fetch(source.url, index)
        urls = [line.strip() for line in index.read_text(encoding="utf-8").splitlines()[1:] if line.strip()]
        if not urls:
            raise download.DownloadError(
                "{}: the index of {} parts lists no URL; the dataset page may have changed.".format(source.url, source.corpus)
            )
        named = sorted((download.attachment_name(url) or "{}.{:03d}".format(source.archive, n), url) for n, url in enumerate(urls, 1))
        return [download.fetch(url, folder / name, source.checksums.get(name)) for name, url in named]
    parts: List[Path] = []
    while True:
        name = "{}.{:03d}".format(source.archive, len(parts) + 1)
        try:
            parts.append(download.fetch(base + name, folder / name, source.checksums.get(name)))
        except download.NotOnServerError:
            if not parts:
                raise
            return parts


def listing(pack: LanguagePack, data_root: DataRoot) -> List[Dict[str, Any]]:
    """One row per corpus: CLI name, archive, whether it is in sources/, upstream URL."""
    rows = []
    cv_present = sorted(p.name for p in data_root.sources.glob("cv-corpus-*-{}.tar.gz".format(pack.code))) if data_root.sources.is_dir() else []
    rows.append(
        {
            "corpus": "common-voice",
            "archive": "cv-corpus-<version>-<date>-{}.tar.gz".format(pack.code),
            "present": bool(cv_present),
            "url": "https://commonvoice.mozilla.org/datasets (gated: place the tarball by hand)",
        }
    )
    for source in sources(pack).values():
        try:
            present = bool(source.present(data_root.sources)) if data_root.sources.is_dir() else False
        except BadInputError:
            present = False
        rows.append({"corpus": source.corpus, "archive": source.archive, "present": present, "url": source.url})
    return rows


def source_of(pack: LanguagePack, corpus: str) -> CorpusSource:
    """The registry entry of ``corpus``; BadInputError when the language pack does not have it."""
    found = sources(pack)
    if corpus not in found:
        raise BadInputError(
            "the '{}' language pack declares no '{}' corpus (it has: {}).".format(pack.code, corpus, ", ".join(sorted(found)))
        )
    return found[corpus]


def unpacked(
    corpus: str,
    pack: LanguagePack,
    data_root: DataRoot,
    fetch: bool,
    mirror: Optional[str] = None,
    unpack: Optional[Callable[[List[Path], Path], None]] = None,
) -> Tuple[Path, Dict[str, Any]]:
    """Find (or download) a corpus's archive, extract it once under ``extracted/releases/``.

    Returns the extracted folder and what identifies the archive (recorded in the import marker).
    ``unpack(archives, scratch)`` replaces plain extraction (CCPMF's split, nested zip).
    """
    source = source_of(pack, corpus)
    archives = locate(source, data_root, fetch, mirror)
    target = data_root.releases / source.directory
    custom = (lambda scratch: unpack(archives, scratch)) if unpack else None
    root = unpack_once(archives, target, custom)
    return root, {"archives": archive_identity(archives)}


# --- TEMPORARY shim until the self-registering corpora land (replaced on merge) ---
from stt_tasks.stepspec import Option  # noqa: E402


@dataclass(frozen=True)
class CorpusSpec:
    name: str
    parameters: Tuple[str, ...]
    options: Tuple[Option, ...]
    downloadable: bool
    run: Callable[..., Dict[str, Any]]


def _shim_run(name: str) -> Callable[..., Dict[str, Any]]:
    def run(root: DataRoot, pack: LanguagePack, arguments: Mapping[str, Any]) -> Dict[str, Any]:
        if name == "common-voice":
            from stt_tasks.importers.common_voice import prepare_common_voice

            return prepare_common_voice(root, pack, english_compatible=arguments["english_compatible"],
                                        duplicate_sentence_count=arguments["duplicate_sentence_count"],
                                        release=arguments["release"], sha256=arguments["sha256"],
                                        strict=arguments["strict"], workers=arguments["workers"]).as_json()
        return prepare_function(name)(root, pack, english_compatible=arguments["english_compatible"],
                                      download=arguments["download"], workers=arguments["workers"],
                                      mirror=arguments["mirror"]).as_json()
    return run


def corpora() -> Dict[str, CorpusSpec]:
    workers = Option(("--workers",), "conversion processes (default: every core)", type=int)
    cv = CorpusSpec("common-voice", ("english_compatible", "duplicate_sentence_count"), (
        Option(("--release",), "Common Voice: tarball or folder name in sources/ (default newest)"),
        Option(("--sha256",), "expected SHA-256 of the archive"),
        Option(("--strict",), "refuse releases without a known SHA-256", action="store_true", default=False),
        workers), False, _shim_run("common-voice"))
    found = {"common-voice": cv}
    for name in CORPUS_MODULES:
        found[name] = CorpusSpec(name, ("english_compatible", "download"), (
            Option(("--mirror",), "download from this base URL instead"), workers), True, _shim_run(name))
    return found
