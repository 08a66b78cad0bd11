"""A full Common Voice release plus a chain of deltas, imported as the newest release.

Fixture chain: full 99.0 (speakers A, B in train, D in dev, T in test), delta 100.0 (A and D record
again, a new speaker N1 arrives while test is short of its share) and delta 101.0 (B1 invalidated,
a new speaker N2, and N3 reading a sentence dev already has). Neither delta has split TSVs.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

import pytest

from stt_tasks.errors import EXIT_BAD_INPUT, BadInputError
from stt_tasks.importers.common_voice import prepare_common_voice
from stt_tasks.languages import CommonVoiceRelease, LanguagePack
from stt_tasks.layout import DataRoot

from tests.importers.cv_releases import HEADER_7, make_release, row, tsv

FULL = "cv-corpus-99.0-2025-01-01-fr.tar.gz"
DELTA_100 = "cv-corpus-100.0-delta-2025-04-01-fr.tar.gz"
DELTA_101 = "cv-corpus-101.0-delta-2025-07-01-fr.tar.gz"
FULL_101 = "cv-corpus-101.0-2025-07-01-fr.tar.gz"

#: (clip, speaker, sentence) of each release's validated clips, and the full release's splits
BASE_SPLITS = {
    "train": [("a1", "A", "chat un"), ("a2", "A", "chat deux"), ("b1", "B", "chien un"), ("b2", "B", "chien deux")],
    "dev": [("d1", "D", "merle un"), ("d2", "D", "merle deux")],
    "test": [("t1", "T", "loup un"), ("t2", "T", "loup deux")],
}
DELTA_100_CLIPS = [("a3", "A", "chat trois"), ("d3", "D", "merle trois"), ("n1a", "N1", "ours un"),
                   ("n1b", "N1", "ours deux")]
DELTA_101_CLIPS = [("n2a", "N2", "lion un"), ("n3a", "N3", "Merle un !")]
#: what the rules give: A and D keep their splits, N1 fills test's share, N2 goes to train, B1 is
#: invalidated and N3's sentence is dev's
EXPECTED = {
    "train": ["a1", "a2", "a3", "b2", "n2a"],
    "dev": ["d1", "d2", "d3"],
    "test": ["n1a", "n1b", "t1", "t2"],
}


def _rows(clips: Sequence[Tuple[str, str, str]]) -> bytes:
    return tsv(HEADER_7, [row(HEADER_7, speaker, name + ".mp3", sentence) for name, speaker, sentence in clips])


def _payloads(clips: Sequence[Tuple[str, str, str]], payloads: List[bytes]) -> List[Tuple[str, bytes]]:
    return [(name + ".mp3", payloads[i % len(payloads)]) for i, (name, _s, _t) in enumerate(clips)]


def full_release(sources: Path, payloads: List[bytes]) -> Path:
    clips = [c for split in BASE_SPLITS.values() for c in split]
    tables = {split: _rows(rows) for split, rows in BASE_SPLITS.items()}
    tables.update(validated=_rows(clips), invalidated=_rows([]), other=_rows([]))
    return make_release(sources, _payloads(clips, payloads), tables, name=FULL)


def delta(sources: Path, payloads: List[bytes], name: str, clips: Sequence[Tuple[str, str, str]],
          invalidated: Sequence[Tuple[str, str, str]] = (), own_splits: Dict[str, List[str]] = None) -> Path:
    tables = {"validated": _rows(clips), "invalidated": _rows(invalidated), "other": _rows([]),
              "reported": b"sentence_id\tsentence\tlocale\treason\n"}
    for split, names in (own_splits or {}).items():
        tables[split] = _rows([c for c in clips if c[0] in names])
    return make_release(sources, _payloads(clips, payloads[2:]), tables, name=name)


def chain(sources: Path, payloads: List[bytes], with_100: bool = True) -> None:
    full_release(sources, payloads)
    if with_100:
        delta(sources, payloads, DELTA_100, DELTA_100_CLIPS)
    delta(sources, payloads, DELTA_101, DELTA_101_CLIPS, invalidated=[BASE_SPLITS["train"][2]])


def read_csv(path: Path) -> List[Dict[str, str]]:
    with open(path, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def clip_names(path: Path) -> List[str]:
    return sorted(Path(r["wav_filename"]).stem for r in read_csv(path))


def test_full_release_and_two_deltas_make_release_101(data_root: DataRoot, pack: LanguagePack, clip_payloads):
    chain(data_root.sources, clip_payloads)
    result = prepare_common_voice(data_root, pack, workers=2)
    assert {split: clip_names(path) for split, path in result.csvs.items()} == EXPECTED
    release = result.extra["release"]
    assert release["release"] == DELTA_101
    assert [link["release"] for link in release["chain"]] == [FULL, DELTA_100, DELTA_101]
    by_delta = {d["release"]: d for d in release["deltas"]}
    assert by_delta[DELTA_100]["added"] == {"train": 1, "dev": 1, "test": 2}
    assert by_delta[DELTA_101]["added"] == {"train": 1, "dev": 0, "test": 0}
    assert by_delta[DELTA_101]["invalidated"] == 1
    assert by_delta[DELTA_101]["left_out"] == {"sentence_already_recorded": 1}
    # clips are read from each extracted tarball in place: nothing copied between releases
    extracted = sorted(p.name for p in data_root.releases.iterdir() if p.is_dir())
    assert extracted == sorted(n[: -len(".tar.gz")] for n in (FULL, DELTA_100, DELTA_101))
    assert not (data_root.releases / DELTA_101[: -len(".tar.gz")] / "fr" / "clips" / "a1.mp3").exists()
    manifest = (result.directory / "cv-fr_manifest.tsv").read_text(encoding="utf-8").splitlines()
    assert {line.split("\t")[1] for line in manifest[1:]} == {"official", "delta"}


def test_the_chain_equals_the_full_release_with_the_same_content(tmp_path: Path, pack: LanguagePack, clip_payloads):
    """Release 101.0 as a full tarball whose official splits are the chain's gives the same CSVs and WAVs."""
    merged = DataRoot(tmp_path / "chain")
    merged.create()
    chain(merged.sources, clip_payloads)
    from_chain = prepare_common_voice(merged, pack, workers=2)

    everything = {c[0]: c for c in [c for s in BASE_SPLITS.values() for c in s] + DELTA_100_CLIPS + DELTA_101_CLIPS}
    payload_of = dict(_payloads([c for s in BASE_SPLITS.values() for c in s], clip_payloads))
    payload_of.update(_payloads(DELTA_100_CLIPS, clip_payloads[2:]))
    payload_of.update(_payloads(DELTA_101_CLIPS, clip_payloads[2:]))
    tables = {split: _rows([everything[n] for n in names]) for split, names in EXPECTED.items()}
    full = DataRoot(tmp_path / "full")
    full.create()
    make_release(full.sources, sorted(payload_of.items()), tables, name=FULL_101)
    from_full = prepare_common_voice(full, pack, workers=2)

    for split in ("train", "dev", "test"):
        assert from_chain.csvs[split].read_bytes() == from_full.csvs[split].read_bytes()
        for entry in read_csv(from_chain.csvs[split]):
            assert (merged.data / "cv-fr" / entry["wav_filename"]).read_bytes() == \
                (full.data / "cv-fr" / entry["wav_filename"]).read_bytes()


def test_splits_never_move_backwards(tmp_path: Path, pack: LanguagePack, clip_payloads):
    """Importing 99.0 + 100.0, then adding 101.0: every clip of the first import keeps its split."""
    root = DataRoot(tmp_path / "data")
    root.create()
    full_release(root.sources, clip_payloads)
    delta(root.sources, clip_payloads, DELTA_100, DELTA_100_CLIPS)
    first = prepare_common_voice(root, pack, workers=2)
    before = {name: split for split, path in first.csvs.items() for name in clip_names(path)}
    delta(root.sources, clip_payloads, DELTA_101, DELTA_101_CLIPS, invalidated=[BASE_SPLITS["train"][2]])
    second = prepare_common_voice(root, pack, workers=2)
    after = {name: split for split, path in second.csvs.items() for name in clip_names(path)}
    assert {n: s for n, s in before.items() if n != "b1"} == {n: after[n] for n in before if n != "b1"}
    assert "b1" in before and "b1" not in after


def test_a_delta_with_its_own_splits_places_its_clips(data_root: DataRoot, pack: LanguagePack, clip_payloads):
    full_release(data_root.sources, clip_payloads)
    delta(data_root.sources, clip_payloads, DELTA_100, DELTA_100_CLIPS,
          own_splits={"train": ["n1a", "n1b"], "dev": ["d3"], "test": []})
    result = prepare_common_voice(data_root, pack, workers=2)
    names = {split: clip_names(path) for split, path in result.csvs.items()}
    assert names["train"] == ["a1", "a2", "b1", "b2", "n1a", "n1b"]  # a3 is in none of its TSVs: left out
    assert names["dev"] == ["d1", "d2", "d3"]
    assert result.extra["release"]["deltas"][0]["added"] == {"train": 2, "dev": 1, "test": 0}


def test_a_rerun_changes_no_byte(data_root: DataRoot, pack: LanguagePack, clip_payloads):
    chain(data_root.sources, clip_payloads)
    first = prepare_common_voice(data_root, pack, workers=2)
    outputs = sorted(p for p in data_root.extracted.rglob("*") if p.is_file())
    before = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in outputs}
    second = prepare_common_voice(data_root, pack, workers=2)
    assert second.skipped and not first.skipped and second.clips == first.clips
    assert second.extra["release"]["deltas"] == first.extra["release"]["deltas"]
    assert {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in outputs} == before


def test_a_missing_delta_is_named(tmp_path: Path, clip_payloads, step):
    chain(tmp_path / "sources", clip_payloads, with_100=False)
    run = step("import", "common-voice", "--data-root", str(tmp_path))
    assert run.returncode == EXIT_BAD_INPUT, run.stderr
    message = run.stderr.strip().splitlines()[-1]
    assert "delta of release 100 is missing" in message and DELTA_101 in message and "Traceback" not in run.stderr


def test_every_delta_checksum_is_checked(data_root: DataRoot, pack: LanguagePack, clip_payloads):
    chain(data_root.sources, clip_payloads)
    digest = hashlib.sha256((data_root.sources / DELTA_100).read_bytes()).hexdigest()
    known = (CommonVoiceRelease("100.0", DELTA_100, "f" * 64, delta=True),)
    with pytest.raises(BadInputError, match="{}: SHA-256 is {} but f{{64}} was expected".format(DELTA_100, digest)):
        prepare_common_voice(data_root, dataclasses.replace(pack, common_voice_releases=known), workers=2)
    good = (CommonVoiceRelease("100.0", DELTA_100, digest, delta=True),)
    result = prepare_common_voice(data_root, dataclasses.replace(pack, common_voice_releases=good), workers=2)
    assert [link["sha256_known"] for link in result.extra["release"]["chain"]] == [False, True, False]


def test_a_delta_of_known_size_but_another_length_is_refused(data_root: DataRoot, pack: LanguagePack, clip_payloads):
    """The published statistics of most fr deltas repeat the full release's checksum: their size is checked."""
    chain(data_root.sources, clip_payloads)
    known = (CommonVoiceRelease("101.0", DELTA_101, None, size=12345, delta=True),)
    with pytest.raises(BadInputError, match="12345"):
        prepare_common_voice(data_root, dataclasses.replace(pack, common_voice_releases=known), workers=2)


def test_the_french_pack_knows_every_release_and_delta(pack: LanguagePack):
    for version in range(13, 26):
        full = [r for r in pack.common_voice_releases if r.version == "{}.0".format(version) and not r.delta]
        assert full and full[0].sha256 and full[0].size, version
    delta_25 = pack.release("cv-corpus-25.0-delta-2026-03-09-fr.tar.gz")
    assert delta_25 is not None and delta_25.size == 380533321 and delta_25.sha256.startswith("b19cf283")
    # the 12.0 delta's published checksum is the full release's: not trusted, the size is
    assert pack.release("cv-corpus-12.0-delta-2022-12-07-fr.tar.gz").sha256 is None  # type: ignore[union-attr]
