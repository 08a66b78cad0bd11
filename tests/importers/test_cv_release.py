"""Common Voice release names (one parser for the importer and the watcher) and delta releases."""

from __future__ import annotations

from pathlib import Path

import pytest

from stt_tasks.errors import EXIT_BAD_INPUT, EXIT_NOTHING_TO_DO, BadInputError
from stt_tasks.importers.common_voice import find_release
from stt_tasks.importers.cv_release import ignored_deltas, newest_full_release, parse_release, releases_in
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


def test_a_newer_delta_is_left_out(tmp_path: Path) -> None:
    for name in (FULL, DELTA):
        (tmp_path / name).write_bytes(b"x")
    assert [r.filename for r in releases_in(tmp_path, "fr")] == [FULL, DELTA]
    assert newest_full_release(tmp_path, "fr").filename == FULL  # type: ignore[union-attr]
    assert [r.filename for r in ignored_deltas(tmp_path, "fr")] == [DELTA]
    assert find_release(tmp_path, "fr", None) == tmp_path / FULL


def test_a_delta_beside_a_full_release_imports_the_full_one(tmp_path: Path, clip_payloads, step) -> None:
    sources = tmp_path / "sources"
    small_release(sources, clip_payloads, name=FULL)
    small_release(sources, clip_payloads, name=DELTA, splits=("validated",))  # no train.tsv, like a delta
    run = step("import", "common-voice", "--data-root", str(tmp_path), "--workers", "1")
    assert run.returncode == 0, run.stderr
    assert run.result["release"]["release"] == FULL
    assert run.result["clips"] == {"train": 1, "dev": 1, "test": 1}
    assert DELTA in run.stderr and "delta" in run.stderr  # said, not silently ignored
    assert sorted(p.name for p in (tmp_path / "extracted" / "releases").iterdir() if not p.name.startswith(".")) == [
        FULL[: -len(".tar.gz")]
    ]


def test_a_delta_alone_is_a_clear_error(tmp_path: Path, clip_payloads, step) -> None:
    delta = small_release(tmp_path / "sources", clip_payloads, name=DELTA, splits=("validated",))
    run = step("import", "common-voice", "--data-root", str(tmp_path))
    assert run.returncode == EXIT_BAD_INPUT, run.stderr
    message = run.stderr.strip().splitlines()[-1]
    assert str(delta) in message and "delta" in message
    assert "place the full release cv-corpus-100.0-2025-03-01-fr.tar.gz" in message
    assert "Traceback" not in run.stderr
    assert not (tmp_path / "extracted" / "releases").exists() or not any((tmp_path / "extracted" / "releases").iterdir())


def test_a_delta_named_with_release_is_refused(tmp_path: Path) -> None:
    (tmp_path / FULL).write_bytes(b"x")
    (tmp_path / DELTA).write_bytes(b"x")
    with pytest.raises(BadInputError, match="delta release .* place the full release"):
        find_release(tmp_path, "fr", DELTA)


def test_no_release_at_all_is_nothing_to_do(tmp_path: Path, step) -> None:
    (tmp_path / "sources").mkdir()
    run = step("import", "common-voice", "--data-root", str(tmp_path))
    assert run.returncode == EXIT_NOTHING_TO_DO and "cv-corpus-<version>-<date>-fr.tar.gz" in run.stderr
