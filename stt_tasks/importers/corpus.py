"""What a corpus module declares about itself (:class:`CorpusSpec`), and finding or fetching its archive.

Each corpus module of :mod:`stt_tasks.importers` ends with ``CORPUS = CorpusSpec(...)``: its CLI
name, output folder, archive and URL, records function, the typed settings the language pack
supplies, the run parameters and CLI options it takes, and its ``prepare_*`` function. The registry
finds these declarations; nothing else lists corpora.

Every archive is read from ``sources/`` under its upstream file name (datasets.md section 3), so a
file placed by hand and a downloaded one are the same thing. ``--download`` fetches what is missing
from the upstream URL or from a mirror (:mod:`stt_tasks.download`).

This module and the corpus modules import nothing heavy at module level (no numpy, pandas or audio
library): the Airflow side reads the declarations to build the DAG's import tasks.
"""

from __future__ import annotations

import dataclasses
import re
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Generic, Iterator, List, Mapping, Optional, Tuple, Type, TypeVar

from stt_tasks import download
from stt_tasks.errors import BadInputError, NothingToDoError
from stt_tasks.importers.archives import archive_identity, unpack_once
from stt_tasks.importers.records import ClipRecord
from stt_tasks.languages import LanguagePack
from stt_tasks.layout import DataRoot
from stt_tasks.stepspec import Option

#: CLI options shared by corpora (declared once, listed in each corpus's ``options``)
WORKERS = Option(("--workers",), "conversion processes (default: every core)", type=int)
MIRROR = Option(("--mirror",), "download from this base URL instead ($STT_CORPUS_MIRROR)")
#: the run parameters of every corpus, and of one that can be downloaded
IMPORT_PARAMETERS: Tuple[str, ...] = ("english_compatible",)
DOWNLOAD_PARAMETERS: Tuple[str, ...] = IMPORT_PARAMETERS + ("download",)
DOWNLOAD_OPTIONS: Tuple[Option, ...] = (MIRROR, WORKERS)

_PART = re.compile(r"\.(\d{3})$")
Settings = TypeVar("Settings")


@dataclass(frozen=True)
class NoSettings:
    """The settings of a corpus that needs none from the language pack."""


def parse_settings(kind: Type[Settings], values: Mapping[str, object], where: str) -> Settings:
    """The language pack's ``values`` for a corpus as its typed settings dataclass ``kind``.

    Unknown keys, missing keys and values of the wrong type are a BadInputError naming ``where``
    (the pack's entry): a typo in a language pack fails at once, not deep inside an import. Written
    by hand because the Airflow image installs stt_tasks without dependencies (no pydantic there).
    """
    hints = typing.get_type_hints(kind)
    fields = {f.name: f for f in dataclasses.fields(kind)}  # type: ignore[arg-type]
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise BadInputError("{}: unknown setting(s) {}; expected some of {}.".format(where, ", ".join(unknown), ", ".join(sorted(fields))))
    parsed: Dict[str, Any] = {}
    for name, declared in fields.items():
        if name not in values:
            if _required(declared):
                raise BadInputError("{}: the setting {!r} is missing; add it to the language pack.".format(where, name))
            continue
        parsed[name] = _typed(values[name], hints[name], "{}[{!r}]".format(where, name))
    return kind(**parsed)


def _required(declared: "dataclasses.Field[Any]") -> bool:
    return declared.default is dataclasses.MISSING and declared.default_factory is dataclasses.MISSING


def _typed(value: object, expected: Any, where: str) -> Any:
    """``value`` checked against a settings field's type (str, int, float, bool or Tuple[str, ...])."""
    if typing.get_origin(expected) is tuple:
        item = typing.get_args(expected)[0]
        if isinstance(value, (list, tuple)) and all(isinstance(v, item) for v in value):
            return tuple(value)
    elif expected is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    elif isinstance(value, expected) and (expected is bool or not isinstance(value, bool)):
        return value
    raise BadInputError("{} is {!r}, but a {} is expected; fix the language pack.".format(where, value, _type_name(expected)))


def _type_name(expected: Any) -> str:
    if typing.get_origin(expected) is tuple:
        return "list of {}".format(typing.get_args(expected)[0].__name__)
    return str(expected.__name__)


@dataclass(frozen=True)
class CorpusSpec(Generic[Settings]):
    """Everything about one corpus, declared once in its module as ``CORPUS``."""

    #: CLI name (``lingua-libre``): ``import <name>``, the DAG's task and the key of the language pack's settings
    name: str
    help: str
    #: output folder under ``extracted/data/`` (``{code}`` is the pack's code); the archive is
    #: extracted into the same name under ``extracted/releases/``
    folder: str
    #: archive file name in ``sources/`` and its upstream URL; ``{...}`` are the settings' fields,
    #: ``{code}`` the pack's code, and ``{archive}`` (in the URL) the archive name
    archive: str
    url: str
    #: ``prepare_<module>(data_root, pack, **arguments)``: keyword arguments are exactly the names
    #: of ``parameters`` and ``options``; returns the engine's ImportResult
    prepare: Callable[..., Any]
    #: maps the extracted layout to ClipRecords (the benchmark times it alone)
    records: Callable[..., Iterator[ClipRecord]]
    #: the dataclass the language pack's ``corpus_parameters[name]`` is parsed into
    settings: Type[Settings] = NoSettings  # type: ignore[assignment]
    #: run parameters (names of :data:`stt_tasks.parameters.PARAMETERS`) it takes
    parameters: Tuple[str, ...] = IMPORT_PARAMETERS
    #: its command-line options that are not run parameters
    options: Tuple[Option, ...] = (WORKERS,)
    #: ``--download`` can fetch the archive (Common Voice's download is gated: placed by hand)
    downloadable: bool = True
    #: the archive is split into numbered parts (``<archive>.001``...); ``url`` is an index of their URLs
    split_archive: bool = False
    #: published checksums by file name, verified on download
    checksums: Mapping[str, download.Checksum] = field(default_factory=dict)
    #: ``unpack(archives, scratch)`` replaces plain extraction (CCPMF's split, nested zip)
    unpack: Optional[Callable[[List[Path], Path], None]] = None
    #: the archives present in ``sources/`` when not found by ``archive`` (Common Voice: newest release)
    present_in: Optional[Callable[[Path, LanguagePack], List[Path]]] = None
    #: position among the corpora (``import --list``, the DAG's import tasks): Common Voice leads
    rank: int = 1000
    #: language packs offering it without an entry of their own (empty: every one); see :meth:`offered_by`
    languages: Tuple[str, ...] = ()

    @property
    def argument_names(self) -> Tuple[str, ...]:
        """Every keyword ``prepare`` takes: the run parameters, then the options' Python names."""
        return self.parameters + tuple(option.dest for option in self.options)

    def offered_by(self, pack: LanguagePack) -> bool:
        """True when the language pack has this corpus: it has an entry in its ``corpus_parameters``,
        or the corpus needs none (no setting without a default) and is not limited to other languages."""
        if self.name in pack.corpus_parameters:
            return True
        required = [f for f in dataclasses.fields(self.settings) if _required(f)]  # type: ignore[arg-type]
        return not required and (not self.languages or pack.code in self.languages)

    def settings_of(self, pack: LanguagePack) -> Settings:
        """The language pack's settings for this corpus, typed; BadInputError when it has none."""
        if not self.offered_by(pack):
            raise BadInputError(
                "the '{}' language pack declares no '{}' corpus; add it to corpus_parameters in "
                "stt_tasks/languages/{}/__init__.py.".format(pack.code, self.name, pack.code)
            )
        where = "language pack '{}', corpus_parameters[{!r}]".format(pack.code, self.name)
        return parse_settings(self.settings, pack.corpus_parameters.get(self.name, {}), where)

    def output_folder(self, pack: LanguagePack) -> str:
        return self.folder.format(code=pack.code)

    def archive_name(self, pack: LanguagePack) -> str:
        return self.archive.format(code=pack.code, **dataclasses.asdict(self.settings_of(pack)))

    def upstream_url(self, pack: LanguagePack) -> str:
        fields = dataclasses.asdict(self.settings_of(pack))
        return self.url.format(archive=self.archive_name(pack), code=pack.code, **fields)

    def present(self, sources: Path, pack: LanguagePack) -> List[Path]:
        """The archive files in ``sources`` (parts in order), empty when absent."""
        if self.present_in is not None:
            return self.present_in(sources, pack)
        if not sources.is_dir():
            return []
        archive = self.archive_name(pack)
        if not self.split_archive:
            path = sources / archive
            return [path] if path.is_file() else []
        parts = sorted(sources.glob(archive + ".[0-9][0-9][0-9]"))
        numbers = [int(match.group(1)) for match in (_PART.search(p.name) for p in parts) if match]
        if parts and numbers != list(range(1, len(parts) + 1)):
            raise BadInputError(
                "{}: parts {} present but not numbered 001 to {:03d} without gaps; place the missing "
                "parts or pass --download.".format(sources, ", ".join(p.name for p in parts), len(parts))
            )
        return parts

    def run(self, root: DataRoot, pack: LanguagePack, arguments: Mapping[str, Any]) -> Dict[str, Any]:
        """Import the corpus with ``arguments`` (every parameter and option by Python name; extra
        names are ignored, missing ones take ``prepare``'s defaults); return the step's JSON result."""
        given = {name: arguments[name] for name in self.argument_names if name in arguments}
        return self.prepare(root, pack, **given).as_json()  # type: ignore[no-any-return]


def locate(spec: CorpusSpec[Any], pack: LanguagePack, data_root: DataRoot, fetch: bool, mirror: Optional[str] = None) -> List[Path]:
    """The archive files of ``spec`` in ``sources/``, downloaded first when ``fetch`` is set.

    Raises NothingToDoError when the archive is absent and no download was asked for: the corpus
    is optional, so its task is skipped rather than failed.
    """
    folder = data_root.sources
    archive = spec.archive_name(pack)
    present = spec.present(folder, pack)
    if present and not (fetch and spec.split_archive):
        return present
    if not fetch:
        raise NothingToDoError(
            "{}: {} is not in {}. Place it there (from {}) or pass --download.".format(
                spec.name, archive + (".001..." if spec.split_archive else ""), folder, spec.upstream_url(pack)
            )
        )
    if not spec.split_archive:
        url = download.source_url(spec.upstream_url(pack), archive, mirror)
        return [download.fetch(url, folder / archive, spec.checksums.get(archive))]
    return _fetch_parts(spec, pack, folder, download.mirror_url(mirror))


def _fetch_parts(spec: CorpusSpec[Any], pack: LanguagePack, folder: Path, base: Optional[str]) -> List[Path]:
    """Every part of a split archive: from the upstream index of URLs, or numbered from a mirror."""
    archive = spec.archive_name(pack)
    if base is None:
        index = folder / ".{}.index.csv".format(spec.name)
        if index.exists():  # the index changes upstream: always fetch it afresh
            index.unlink()
        download.fetch(spec.upstream_url(pack), index)
        urls = [line.strip() for line in index.read_text(encoding="utf-8").splitlines()[1:] if line.strip()]
        if not urls:
            raise download.DownloadError(
                "{}: the index of {} parts lists no URL; the dataset page may have changed.".format(spec.upstream_url(pack), spec.name)
            )
        named = sorted((download.attachment_name(url) or "{}.{:03d}".format(archive, n), url) for n, url in enumerate(urls, 1))
        return [download.fetch(url, folder / name, spec.checksums.get(name)) for name, url in named]
    parts: List[Path] = []
    while True:
        name = "{}.{:03d}".format(archive, len(parts) + 1)
        try:
            parts.append(download.fetch(base + name, folder / name, spec.checksums.get(name)))
        except download.NotOnServerError:
            if not parts:
                raise
            return parts


def unpacked(
    spec: CorpusSpec[Any], pack: LanguagePack, data_root: DataRoot, fetch: bool, mirror: Optional[str] = None
) -> Tuple[Path, Dict[str, Any]]:
    """Find (or download) a corpus's archive, extract it once under ``extracted/releases/<folder>``.

    Returns the extracted folder and what identifies the archive (recorded in the import marker).
    """
    archives = locate(spec, pack, data_root, fetch, mirror)
    target = data_root.releases / spec.output_folder(pack)
    unpack = spec.unpack
    custom = (lambda scratch: unpack(archives, scratch)) if unpack else None  # type: ignore[misc]
    root = unpack_once(archives, target, custom)
    return root, {"archives": archive_identity(archives)}
