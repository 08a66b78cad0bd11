"""Common Voice release names (one parser for the importer and the watcher) and delta releases."""

from __future__ import annotations

from pathlib import Path

import pytest

from stt_tasks.errors import EXIT_BAD_INPUT, EXIT_NOTHING_TO_DO, BadInputError
from stt_tasks.importers.common_voice import find_release
from stt_tasks.importers.cv_release import (BrokenChainError, newest_full_release, parse_release, release_chain,
                                            releases_in)
from tests.importers.cv_releases import small_release

FIXTURES = Path("/work/shared/fixtures/cv-dataset-fr")
FULL = "cv-corpus-99.0-2025-02-01-fr.tar.gz"
DELTA = "cv-corpus-100.0-delta-2025-03-01-fr.tar.gz"


def test_names_of_full_and_delta_releases() -> None:
    full = parse_release(Path("cv-corpus-16.1-2023-12-06-fr.tar.gz"))
    assert full is not None and not full.delta
    assert (full.stem, full.version, full.date, full.language) == ("cv-corpus-16.1-2023-12-06", (16, 1), "2023-12-06", "fr")
    delta = parse_release(Path("cv-corpus-25.0-delta-2026-03-09-zh-CN.tar.gz"))
    assert delta is not None and delta.delta and delta.language == "zh-CN" and delta.stem == "cv-corpus-25.0-delta-2026-03-09"
    folder = parse_release(Path("cv-corpus-5-2020-06-22"))
    assert folder is not None and folder.version == (5,) and folder.language is None
    for name in ("cv-corpus-5-singleword-fr.tar.gz", "fr.tar.gz", "cv-corpus-7.0-2021-07-21-fr.tar.gz.part"):
        assert parse_release(Path(name)) is None


@pytest.mark.skipif(not FIXTURES.is_dir(), reason="the cv-dataset statistics are not here")
def test_every_published_release_name_parses() -> None:
    """The cv-dataset statistics name every release and delta; each name is a release, deltas marked."""
    stems = [p.name[: -len(".json")] for p in FIXTURES.glob("cv-corpus-*-*-*-*.json")]
    assert len(stems) > 30
    for stem in stems:
        parsed = parse_release(Path(stem + "-fr.tar.gz"))
        assert parsed is not None and parsed.stem == stem and parsed.delta == ("-delta-" in stem), stem


def test_versions_compare_as_numbers(tmp_path: Path) -> None:
    for name in ("cv-corpus-9.0-2022-04-27-fr.tar.gz", "cv-corpus-10.0-2022-07-04-fr.tar.gz", "cv-corpus-10.0-2022-07-04-de.tar.gz"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "cv-corpus-11.0-2022-09-21").mkdir()  # extracted, but not French
    newest = newest_full_release(tmp_path, "fr")
    assert newest is not None and newest.filename == "cv-corpus-10.0-2022-07-04-fr.tar.gz"
    (tmp_path / "cv-corpus-11.0-2022-09-21" / "fr").mkdir()
    assert newest_full_release(tmp_path, "fr").filename == "cv-corpus-11.0-2022-09-21"  # type: ignore[union-attr]
    assert newest_full_release(tmp_path, "fr", folders=False).filename == "cv-corpus-10.0-2022-07-04-fr.tar.gz"  # type: ignore[union-attr]


def test_a_newer_delta_joins_the_chain(tmp_path: Path) -> None:
    for name in (FULL, DELTA):
        (tmp_path / name).write_bytes(b"x")
    assert [r.filename for r in releases_in(tmp_path, "fr")] == [FULL, DELTA]
    assert newest_full_release(tmp_path, "fr").filename == FULL  # type: ignore[union-attr]
    chain = release_chain(tmp_path, "fr")
    assert chain is not None and chain.names() == [FULL, DELTA] and chain.version == (100, 0)
    assert find_release(tmp_path, "fr", None) == tmp_path / DELTA


def test_a_chain_keeps_one_delta_per_major_version_and_names_a_gap(tmp_path: Path) -> None:
    """16.1 (a re-release of 16.0) and its delta build on 15.0; a missing delta is named."""
    names = ["cv-corpus-15.0-2023-09-08-fr.tar.gz", "cv-corpus-16.0-delta-2023-12-06-fr.tar.gz",
             "cv-corpus-16.1-delta-2023-12-06-fr.tar.gz", "cv-corpus-17.0-delta-2024-03-15-fr.tar.gz"]
    for name in names:
        (tmp_path / name).write_bytes(b"x")
    assert release_chain(tmp_path, "fr").names() == [names[0], names[2], names[3]]  # type: ignore[union-attr]
    (tmp_path / "cv-corpus-19.0-delta-2024-09-13-fr.tar.gz").write_bytes(b"x")
    with pytest.raises(BrokenChainError, match="the Common Voice delta of release 18 is missing"):
        release_chain(tmp_path, "fr")
    until = parse_release(tmp_path / names[3])
    assert release_chain(tmp_path, "fr", until=until).newest == until  # type: ignore[union-attr]


def test_a_delta_alone_is_a_clear_error(tmp_path: Path, clip_payloads, step) -> None:
    delta = small_release(tmp_path / "sources", clip_payloads, name=DELTA, splits=("validated",))
    run = step("import", "common-voice", "--data-root", str(tmp_path))
    assert run.returncode == EXIT_BAD_INPUT, run.stderr
    message = run.stderr.strip().splitlines()[-1]
    assert str(delta) in message and "delta" in message
    assert "no full release precedes it: place the full release cv-corpus-100.0-2025-03-01-fr.tar.gz" in message
    assert "Traceback" not in run.stderr
    assert not (tmp_path / "extracted" / "releases").exists() or not any((tmp_path / "extracted" / "releases").iterdir())


def test_a_delta_named_with_release_brings_its_chain(tmp_path: Path) -> None:
    (tmp_path / FULL).write_bytes(b"x")
    (tmp_path / DELTA).write_bytes(b"x")
    (tmp_path / "cv-corpus-101.0-delta-2025-04-01-fr.tar.gz").write_bytes(b"x")
    assert find_release(tmp_path, "fr", DELTA) == tmp_path / DELTA
    (tmp_path / FULL).unlink()
    with pytest.raises(BadInputError, match="delta release .* no full release precedes it"):
        find_release(tmp_path, "fr", DELTA)


def test_no_release_at_all_is_nothing_to_do(tmp_path: Path, step) -> None:
    (tmp_path / "sources").mkdir()
    run = step("import", "common-voice", "--data-root", str(tmp_path))
    assert run.returncode == EXIT_NOTHING_TO_DO and "cv-corpus-<version>-<date>-fr.tar.gz" in run.stderr
