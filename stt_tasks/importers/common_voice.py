"""Common Voice: the release tarball (gated download) placed in ``sources/``.

Layout (datasets.md 3.1): ``cv-corpus-<version>-<date>/<lang>/`` holding ``clips/*.mp3`` and the
TSVs. The official train/dev/test are used as they are, unless ``duplicate_sentence_count`` > 1
asks for a re-split of ``validated.tsv``. The release imported is the newest full release present
plus every delta after it (:func:`~stt_tasks.importers.cv_release.release_chain`): the deltas' clips
are merged and split so that no clip moves (:mod:`stt_tasks.importers.cv_delta`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Dict, Iterator, List, Optional, Tuple, Union

from stt_tasks.errors import BadInputError, NothingToDoError
from stt_tasks.fsio import CompletionMarker, file_fingerprint, write_text_atomic
from stt_tasks.importers import corpus
from stt_tasks.importers.archives import extract_tar_verified
from stt_tasks.importers.cv_release import (BrokenChainError, CvRelease, ReleaseChain, delta_message, parse_release,
                                            release_chain, releases_in)
from stt_tasks.importers.records import OFFICIAL, RESPLIT, SPLITS, ClipRecord, CorpusSpec, SourceIssues
from stt_tasks.importers.tsv import read_tsv
from stt_tasks.languages import LanguagePack
from stt_tasks.layout import DataRoot
from stt_tasks.progress import LOG
from stt_tasks.stepspec import Option

if TYPE_CHECKING:  # the engine imports audio libraries: loaded only when importing (see corpus.py)
    from stt_tasks.importers.engine import ImportResult

MAX_SECONDS = 10.0
MS_PER_CHAR = 20
REQUIRED_COLUMNS = ("client_id", "path", "sentence")
#: the output folder under ``extracted/data/``
FOLDER = "cv-{code}"


def corpus_spec(language: str) -> CorpusSpec:
    return CorpusSpec(name=FOLDER.format(code=language), ms_per_char=MS_PER_CHAR, max_seconds=MAX_SECONDS)


def find_release(sources: Path, language: str, release: Optional[str]) -> Path:
    """The newest tarball or extracted release of the chain to import (see :func:`find_chain`)."""
    chain = find_chain(sources, language, release)
    return chain.newest.path if isinstance(chain, ReleaseChain) else chain


def find_chain(sources: Path, language: str, release: Optional[str]) -> Union[ReleaseChain, Path]:
    """What to import: ``release`` if given (a full release alone, or a delta with the chain before it),
    else the newest full release present and every delta after it.

    A delta without a full release before it, or a chain with a gap, is a BadInputError naming what to place.
    """
    until: Optional[CvRelease] = None
    if release:
        candidate = Path(release) if Path(release).is_absolute() else sources / release
        if not candidate.exists():
            raise BadInputError(
                "Common Voice release {} not found. Place the tarball from the Common Voice site in {}.".format(
                    candidate, sources
                )
            )
        until = parse_release(candidate)
        if until is None or not until.delta:
            return candidate
        sources = candidate.parent
    try:
        chain = release_chain(sources, language, until=until)
    except BrokenChainError as error:
        raise BadInputError(str(error)) from None
    if chain is None:
        deltas = [r for r in releases_in(sources, language) if r.delta]
        if deltas:
            raise BadInputError(delta_message(until or deltas[-1], language))
        raise NothingToDoError(
            "no Common Voice {} release in {}: download cv-corpus-<version>-<date>-{}.tar.gz from the "
            "Common Voice site (the download asks for an e-mail address) and place it there.".format(
                language, sources, language
            )
        )
    if until is not None and chain.newest != until:
        raise BadInputError("{}: no chain of releases leads to it in {}; place the full release before it."
                            .format(until.path, sources))
    return chain


def _language_dir(root: Path, language: str) -> Path:
    """``<root>/cv-corpus-*/<lang>`` or ``<root>/<lang>`` (extracted layouts)."""
    for candidate in [root / language] + sorted(root.glob("cv-corpus-*/{}".format(language))):
        if (candidate / "clips").is_dir():
            return candidate
    raise BadInputError(
        "{}: no '{}/clips' folder inside; is this a Common Voice {} release?".format(root, language, language)
    )


def unpack_release(
    release: Path, data_root: DataRoot, pack: LanguagePack, sha256: Optional[str], strict: bool
) -> Tuple[Path, Dict[str, Any]]:
    """Verify and extract a tarball once; return the language folder and what identifies the release."""
    if release.is_dir():
        return _language_dir(release, pack.code), {"release": release.name, "extracted_directory": str(release)}
    known = pack.release(release.name)
    expected = sha256 or (known.sha256 if known else None)
    stat = release.stat()
    if expected is None and known is not None and known.size and stat.st_size != known.size:  # size: all there is
        raise BadInputError("{}: {} bytes, but the published release has {}; the download is incomplete or another "
                            "file: download it again.".format(release, stat.st_size, known.size))
    if expected is None:
        if strict:
            raise BadInputError(
                "{}: unknown Common Voice release (no published SHA-256 in the '{}' language pack). "
                "Pass --sha256 with the checksum from the release page, or drop --strict.".format(release, pack.code)
            )
        LOG.warning("%s has no known SHA-256 (%s): it will be recorded but cannot be checked", release.name,
                    "the published statistics repeat the full release's" if known else "not a known release")
    target = data_root.releases / release.name[: -len(".tar.gz")]
    marker = CompletionMarker(target.parent, ".{}.extracted.json".format(target.name))
    identity = {"archive": release.name, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    recorded = marker.read()
    if recorded and recorded.get("inputs") == identity and target.is_dir():
        digest = recorded["result"]["sha256"]
        if expected and digest != expected.lower():
            raise BadInputError("{}: SHA-256 is {} but {} was expected.".format(release, digest, expected))
        LOG.info("%s already verified and extracted in %s", release.name, target)
    else:
        LOG.info("verifying and extracting %s into %s", release.name, target)
        digest = extract_tar_verified(release, target, expected)
        marker.write(identity, [], {"sha256": digest})
    info = {"release": release.name, "sha256": digest, "sha256_known": bool(expected), "size": stat.st_size}
    return _language_dir(target, pack.code), info


def _clip_record(
    language_dir: Path, row: Dict[str, str], split: Optional[str], origin: str, split_by: str = OFFICIAL
) -> ClipRecord:
    name = row["path"] if "." in row["path"] else row["path"] + ".mp3"
    return ClipRecord(
        audio=language_dir / "clips" / name,
        transcript=row["sentence"],
        speaker=row["client_id"],
        clip_id="clips/" + name.rsplit(".", 1)[0],
        origin=origin,
        split=split,
        split_by=split_by,
    )


def official_records(language_dir: Path, issues: SourceIssues) -> Iterator[ClipRecord]:
    """Clips of the release's own train/dev/test TSVs."""
    for split in SPLITS:
        tsv = language_dir / "{}.tsv".format(split)
        if not tsv.is_file():
            raise BadInputError("{} is missing: the release is incomplete, extract or download it again.".format(tsv))
        for number, row in read_tsv(tsv, REQUIRED_COLUMNS, issues):
            yield _clip_record(language_dir, row, split, "{}.tsv line {}".format(split, number))


def resplit_records(
    language_dir: Path,
    destination: Path,
    max_per_sentence: int,
    issues: SourceIssues,
    labels: Callable[[List[str]], List[Optional[str]]],
) -> Iterator[ClipRecord]:
    """Clips of ``validated.tsv`` re-split with up to ``max_per_sentence`` recordings per sentence.

    ``labels`` are the label rules the engine will apply (of many sentences at once): sentences are
    counted and kept apart by label. The records say the split is ours, so the leakage step holds
    us to it.
    """
    import pandas as pd  # only for a re-split: the corpus declaration stays importable without it

    from stt_tasks.importers.resplit import resplit

    tsv = language_dir / "validated.tsv"
    if not tsv.is_file():
        raise BadInputError("{} is missing: re-splitting needs validated.tsv from the release.".format(tsv))
    rows = [dict(row, line=number) for number, row in read_tsv(tsv, REQUIRED_COLUMNS, issues)]
    frame = pd.DataFrame(rows, columns=list(REQUIRED_COLUMNS) + ["line"])
    sentences = [" ".join(s.split()) for s in frame["sentence"]]
    # A sentence the rules reject is dropped by the engine later; meanwhile it is its own sentence.
    frame["label"] = [label or "\0" + raw for label, raw in zip(labels(sentences), sentences)]
    split = resplit(frame, max_per_sentence, sentence_key="label")
    for name in SPLITS:
        chosen = split[split["split"] == name][list(REQUIRED_COLUMNS)]
        write_text_atomic(destination / "resplit" / "{}.tsv".format(name), chosen.to_csv(sep="\t", index=False))
    LOG.info(
        "re-split validated.tsv (up to %d recordings per sentence): %s",
        max_per_sentence,
        ", ".join("{} {}".format(n, int((split["split"] == n).sum())) for n in SPLITS),
    )
    for row in split.itertuples(index=False):
        record_row = {"path": row.path, "sentence": row.sentence, "client_id": row.client_id}
        yield _clip_record(language_dir, record_row, row.split, "validated.tsv line {}".format(row.line), RESPLIT)


def prepare_common_voice(
    data_root: DataRoot,
    pack: LanguagePack,
    english_compatible: bool = False,
    duplicate_sentence_count: int = 1,
    release: Optional[str] = None,
    sha256: Optional[str] = None,
    strict: bool = False,
    workers: Optional[int] = None,
) -> ImportResult:
    """Import a Common Voice release into ``extracted/data/cv-<lang>/``."""
    from stt_tasks.importers import engine  # audio libraries: only when importing (see corpus.py)

    spec = corpus_spec(pack.code)
    chain = find_chain(data_root.sources, pack.code, release)
    if isinstance(chain, ReleaseChain) and chain.deltas:
        return _prepare_chain(chain, data_root, pack, english_compatible, duplicate_sentence_count, sha256, strict,
                              workers)
    source = chain.newest.path if isinstance(chain, ReleaseChain) else chain
    language_dir, release_info = unpack_release(source, data_root, pack, sha256, strict)
    tsvs = [language_dir / "{}.tsv".format(n) for n in ("train", "dev", "test", "validated")]
    destination = data_root.corpus_dir(spec.name)

    def records(issues: SourceIssues) -> Iterator[ClipRecord]:
        if duplicate_sentence_count > 1:
            return resplit_records(
                language_dir,
                destination,
                duplicate_sentence_count,
                issues,
                lambda sentences: pack.validate_labels(sentences, english_compatible),
            )
        return official_records(language_dir, issues)

    return engine.import_corpus(
        spec,
        data_root,
        pack,
        english_compatible,
        workers,
        release_info,
        records,
        more_inputs={
            "tsv": [file_fingerprint(p, with_hash=False) for p in tsvs if p.is_file()],
            "duplicate_sentence_count": duplicate_sentence_count,
        },
        source_key="release",
    )


def _prepare_chain(
    chain: ReleaseChain,
    data_root: DataRoot,
    pack: LanguagePack,
    english_compatible: bool,
    duplicate_sentence_count: int,
    sha256: Optional[str],
    strict: bool,
    workers: Optional[int],
) -> ImportResult:
    """Import a full release and the deltas after it as the newest release (see :mod:`cv_delta`)."""
    from stt_tasks.importers import cv_delta, engine  # audio libraries: only when importing (see corpus.py)

    if duplicate_sentence_count > 1:
        raise BadInputError(
            "{}: duplicate_sentence_count {} re-splits the whole release, which would move clips of earlier "
            "releases between splits; with deltas it must be 1 (or place the full release {} alone).".format(
                chain.newest.path, duplicate_sentence_count, chain.base.filename))
    links, infos = [], []
    for link in chain.links:
        given = sha256 if link == chain.newest else None  # --sha256 names the newest file
        language_dir, info = unpack_release(link.path, data_root, pack, given, strict)
        links.append(cv_delta.ChainLink(link.filename, language_dir))
        infos.append(info)
    issues = SourceIssues()
    plan = cv_delta.plan_chain(links, lambda sentences: pack.validate_labels(sentences, english_compatible), issues)
    for line in cv_delta.summary_text(plan.deltas):
        LOG.info("%s", line)
    release_info = dict(infos[-1], chain=infos, deltas=plan.deltas)
    tsvs = [link.language_dir / "{}.tsv".format(n) for link in links
            for n in ("train", "dev", "test", "validated", "invalidated")]
    return engine.import_corpus(
        corpus_spec(pack.code), data_root, pack, english_compatible, workers, release_info,
        cv_delta.chain_records(plan, issues),
        more_inputs={"tsv": [file_fingerprint(p, with_hash=False) for p in tsvs if p.is_file()],
                     "duplicate_sentence_count": duplicate_sentence_count},
        source_key="release",
    )


def _present(sources: Path, pack: LanguagePack) -> List[Path]:
    """The releases ``import common-voice`` would use (the newest full one and the deltas after it)."""
    try:
        chain = release_chain(sources, pack.code)
    except BrokenChainError:
        return []
    return [link.path for link in chain.links] if chain else []


RELEASE = Option(("--release",), "tarball or folder name in sources/; a delta brings the chain before it "
                 "(default: the newest full release and the deltas after it)")
SHA256 = Option(("--sha256",), "expected SHA-256 of the tarball (overrides the language pack's)")
STRICT = Option(("--strict",), "refuse releases without a known SHA-256", action="store_true", default=False)

CORPUS: corpus.CorpusSpec[corpus.NoSettings] = corpus.CorpusSpec(
    name="common-voice",
    help="Common Voice: the newest full release tarball placed in sources/ and any deltas after it (gated download)",
    folder=FOLDER,
    archive="cv-corpus-<version>-<date>-{code}.tar.gz",
    url="https://commonvoice.mozilla.org/datasets (gated: place the tarball by hand)",
    prepare=prepare_common_voice,
    records=official_records,
    parameters=corpus.IMPORT_PARAMETERS + ("duplicate_sentence_count",),
    options=(RELEASE, SHA256, STRICT, corpus.WORKERS),
    downloadable=False,
    present_in=_present,
    rank=0,
)
