"""The Common Voice importer on generated releases: happy path, bad inputs, idempotence."""

from __future__ import annotations

import csv
import tarfile
import wave
from pathlib import Path

import pytest

from stt_tasks.errors import EXIT_BAD_INPUT, EXIT_NOTHING_TO_DO
from stt_tasks.importers.common_voice import prepare_common_voice

from tests.importers.cv_releases import HEADER_17, make_release, row, small_release, tsv


def read_csv(path: Path):
    with open(path, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def test_sample_corpus_import_through_the_cli(sample_data_root, step):
    run = step("import", "common-voice", "--data-root", str(sample_data_root.root))
    assert run.returncode == 0, run.stderr
    result = run.result
    assert result["clips"] == {"train": 96, "dev": 16, "test": 16}
    assert result["release"]["sha256_known"] is False
    corpus = sample_data_root.data / "cv-fr"
    for split in ("train", "dev", "test"):
        assert Path(result["csv"][split]) == corpus / "cv-fr_{}.csv".format(split)
    report = __import__("json").loads(Path(result["report"]).read_text())
    assert report["dropped"] == {"invalid_label": 1, "undecodable": 1}
    assert report["kept"]["train"]["speakers"] == 6
    assert report["release"] == result["release"]  # what was read, for the later steps (package, report)
    assert "invalid_label" in Path(result["report_text"]).read_text()

    raw = (corpus / "cv-fr_train.csv").read_bytes()
    assert raw.startswith(b"wav_filename,wav_filesize,transcript\r\n")
    rows = read_csv(corpus / "cv-fr_train.csv")
    assert len(rows) == 96
    for entry in rows:
        wav_path = corpus / entry["wav_filename"]  # relative to the CSV's folder
        assert not Path(entry["wav_filename"]).is_absolute()
        assert wav_path.stat().st_size == int(entry["wav_filesize"])
        assert entry["transcript"] == entry["transcript"].lower()
    with wave.open(str(corpus / rows[0]["wav_filename"])) as clip:
        assert (clip.getframerate(), clip.getnchannels(), clip.getsampwidth()) == (16000, 1, 2)
        assert clip.getnframes() > 16000 * 0.5
    assert {r["transcript"] for r in rows} >= {"le chat dort sur le canapé", "il fait beau aujourd'hui"}
    # the source tree is never written into
    assert not list(sample_data_root.releases.rglob("*.wav"))


def test_second_run_changes_nothing(sample_data_root, fr_pack):
    first = prepare_common_voice(sample_data_root, fr_pack, workers=2)
    outputs = sorted(p for p in (sample_data_root.data / "cv-fr").rglob("*") if p.is_file())
    before = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in outputs}
    second = prepare_common_voice(sample_data_root, fr_pack, workers=2)
    assert second.skipped and not first.skipped
    assert second.clips == first.clips
    assert {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in outputs} == before


def test_changed_parameters_reimport(sample_data_root, fr_pack):
    prepare_common_voice(sample_data_root, fr_pack, workers=2)
    english = prepare_common_voice(sample_data_root, fr_pack, english_compatible=True, workers=2)
    assert not english.skipped
    transcripts = {r["transcript"] for r in read_csv(english.csvs["train"])}
    assert "le chat dort sur le canape" in transcripts
    assert all(set(t) <= set(" 'abcdefghijklmnopqrstuvwxyz") for t in transcripts)


def test_no_release_means_nothing_to_do(tmp_path, step):
    run = step("import", "common-voice", "--data-root", str(tmp_path))
    assert run.returncode == EXIT_NOTHING_TO_DO
    assert "cv-corpus-<version>-<date>-fr.tar.gz" in run.stderr and str(tmp_path / "sources") in run.stderr


def test_bad_clips_are_counted_not_fatal(tmp_path, clip_payloads, step):
    clips = [
        ("good1.mp3", clip_payloads[0]),
        ("good2.mp3", clip_payloads[1]),
        ("good3.mp3", clip_payloads[2]),
        ("truncated.mp3", clip_payloads[3][:40]),
        ("empty.mp3", b""),
        ("noise.mp3", b"this is not audio at all" * 20),
    ]
    header = HEADER_17  # a newer release with extra columns, read by name
    train_rows = [
        row(header, "a", "good1.mp3", "Le chat dort."),
        row(header, "a", "truncated.mp3", "Bonjour."),
        row(header, "a", "empty.mp3", "Merci beaucoup."),
        row(header, "a", "noise.mp3", "Au revoir."),
        row(header, "a", "missing.mp3", "Il fait beau."),  # listed but not in clips/
        row(header, "a", "good1.mp3", "Le chat dort."),  # listed twice
    ]
    train = tsv(header, train_rows)
    train += "\t".join(["x", "bad.mp3", "too few fields"]).encode() + b"\n"
    train += b"\t".join([b"y", b"latin1.mp3", b"", b"caf\xe9", b"", b"", b"", b"", b"", b"", b"", b"fr", b""]) + b"\n"
    train += b"\n"  # a blank line is not an error
    tables = {
        "train": train,
        "dev": tsv(header, [row(header, "b", "good2.mp3", "Il fait beau.")]),
        "test": tsv(header, [row(header, "c", "good3.mp3", "La mer est calme.")]),
    }
    make_release(tmp_path / "sources", clips, tables)
    run = step("import", "common-voice", "--data-root", str(tmp_path), "--workers", "2")
    assert run.returncode == 0, run.stderr
    assert run.result["clips"] == {"train": 1, "dev": 1, "test": 1}
    report = __import__("json").loads(Path(run.result["report"]).read_text())
    assert report["dropped"] == {"duplicate_clip": 1, "missing_file": 1, "undecodable": 3}
    assert report["source_issues"] == {"invalid_utf8": 1, "malformed_row": 1}
    assert any("train.tsv line 8" in e for e in report["source_issue_examples"]["malformed_row"])
    assert any("missing.mp3" in e for e in report["dropped_examples"]["missing_file"])


def test_tsv_without_required_column_names_the_file(tmp_path, clip_payloads, step):
    header = ("client_id", "filename", "sentence")
    tables = {name: tsv(header, [["a", "x.mp3", "bonjour"]]) for name in ("train", "dev", "test")}
    make_release(tmp_path / "sources", [("x.mp3", clip_payloads[0])], tables)
    run = step("import", "common-voice", "--data-root", str(tmp_path))
    assert run.returncode == EXIT_BAD_INPUT
    assert "train.tsv" in run.stderr and "missing column(s) path" in run.stderr


_small_release = small_release


def test_wrong_sha256_is_refused_and_nothing_extracted(tmp_path, clip_payloads, step):
    _small_release(tmp_path / "sources", clip_payloads)
    run = step("import", "common-voice", "--data-root", str(tmp_path), "--sha256", "0" * 64)
    assert run.returncode == EXIT_BAD_INPUT
    assert "SHA-256" in run.stderr and "download it again" in run.stderr
    assert not (tmp_path / "extracted" / "releases").exists() or not any((tmp_path / "extracted" / "releases").iterdir())


def test_known_release_with_wrong_checksum_is_refused(tmp_path, clip_payloads, step):
    _small_release(tmp_path / "sources", clip_payloads, name="cv-corpus-12.0-2022-12-07-fr.tar.gz")
    run = step("import", "common-voice", "--data-root", str(tmp_path))
    assert run.returncode == EXIT_BAD_INPUT
    assert "00afc519d48d749a4724386dc203b8a0286060efe4ccb46963555794fef216eb was expected" in run.stderr


def test_unknown_release_is_refused_when_strict(tmp_path, clip_payloads, step):
    archive = _small_release(tmp_path / "sources", clip_payloads)
    run = step("import", "common-voice", "--data-root", str(tmp_path), "--strict")
    assert run.returncode == EXIT_BAD_INPUT and "--sha256" in run.stderr
    digest = __import__("hashlib").sha256(archive.read_bytes()).hexdigest()
    run = step("import", "common-voice", "--data-root", str(tmp_path), "--strict", "--sha256", digest)
    assert run.returncode == 0, run.stderr
    assert run.result["release"] == {
        "release": archive.name,
        "sha256": digest,
        "sha256_known": True,
        "size": archive.stat().st_size,
    }


def _member(name: str, kind: bytes, linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    return info


@pytest.mark.parametrize(
    "member,reason",
    [
        # extracted into <data root>/extracted/releases/<scratch>/: this climbs to <data root>/escape.txt
        (_member("cv-corpus-98.0-2025-01-01/fr/../../../../../escape.txt", tarfile.REGTYPE), "'..'"),
        (_member("/tmp/absolute.txt", tarfile.REGTYPE), "absolute path"),
        (_member("cv-corpus-98.0-2025-01-01/fr/dev0", tarfile.CHRTYPE), "device"),
        (_member("cv-corpus-98.0-2025-01-01/fr/link", tarfile.SYMTYPE, "../../../etc/passwd"), "outside"),
        (_member("cv-corpus-98.0-2025-01-01/fr/hard", tarfile.LNKTYPE, "/etc/passwd"), "outside"),
    ],
)
def test_hostile_archive_members_are_refused(tmp_path, clip_payloads, step, member, reason):
    _small_release(tmp_path / "sources", clip_payloads, extra=[(member, None)])
    run = step("import", "common-voice", "--data-root", str(tmp_path))
    assert run.returncode == EXIT_BAD_INPUT, run.stderr
    assert reason in run.stderr and repr(member.name) in run.stderr
    assert not (tmp_path / "escape.txt").exists()
    assert not list(tmp_path.rglob("escape.txt"))
    releases = tmp_path / "extracted" / "releases"
    assert not releases.exists() or not any(releases.iterdir())


def _symlink(name: str, target: str) -> tarfile.TarInfo:
    return _member(name, tarfile.SYMTYPE, target)


def _payload(name: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = len(b"owned")
    return info


@pytest.mark.parametrize(
    "chain,refused,reason",
    [
        # Each link looks inside on its own path, yet together they lead out: d1/l1 is the top folder,
        # so d1/l1/l2 is "l2" there and points one level above the extraction folder.
        ([_symlink("d1/l1", ".."), _symlink("d1/l1/l2", ".."), _payload("l2/evil.txt")], "d1/l1", "outside"),
        # A link pointing down is allowed, but nothing is written through it.
        ([_symlink("d1/l1", "sub"), _payload("d1/l1/evil.txt")], "d1/l1/evil.txt", "through the symbolic link"),
        ([_symlink("l1", "sub"), _symlink("l1", "sub2")], "l1", "through the symbolic link"),
        ([_symlink("l1", "sub"), _member("hard", tarfile.LNKTYPE, "l1/x")], "hard", "through the symbolic link"),
    ],
)
def test_chained_links_cannot_write_outside(tmp_path, clip_payloads, step, chain, refused, reason):
    extra = [(member, b"owned" if member.isfile() else None) for member in chain]
    _small_release(tmp_path / "sources", clip_payloads, extra=extra)
    run = step("import", "common-voice", "--data-root", str(tmp_path))
    assert run.returncode == EXIT_BAD_INPUT, run.stderr
    assert reason in run.stderr and repr(refused) in run.stderr
    assert not [p for p in tmp_path.rglob("*") if p.name == "evil.txt"]
    releases = tmp_path / "extracted" / "releases"
    assert not releases.exists() or not any(releases.iterdir())


def test_truncated_tarball_is_a_clear_error(tmp_path, clip_payloads, step):
    archive = _small_release(tmp_path / "sources", clip_payloads)
    archive.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    run = step("import", "common-voice", "--data-root", str(tmp_path))
    assert run.returncode == EXIT_BAD_INPUT
    assert archive.name in run.stderr and "truncated" in run.stderr


def test_extracted_release_folder_is_accepted(tmp_path, sample_data_root, fr_pack, sample_release):
    with tarfile.open(sample_release["archive"]) as tar:
        tar.extractall(str(tmp_path / "unpacked"))
    folder = next((tmp_path / "unpacked").iterdir())
    result = prepare_common_voice(sample_data_root, fr_pack, release=str(folder), workers=2)
    assert result.clips == {"train": 96, "dev": 16, "test": 16}
    assert result.extra["release"]["release"] == folder.name


def test_newest_release_is_chosen(tmp_path, clip_payloads, fr_pack):
    from stt_tasks.importers.common_voice import find_release

    _small_release(tmp_path, clip_payloads, name="cv-corpus-9.0-2022-04-27-fr.tar.gz")
    _small_release(tmp_path, clip_payloads, name="cv-corpus-10.0-2022-07-04-fr.tar.gz")
    _small_release(tmp_path, clip_payloads, name="cv-corpus-11.0-2022-09-21-de.tar.gz")
    assert find_release(tmp_path, "fr", None).name == "cv-corpus-10.0-2022-07-04-fr.tar.gz"
