"""Corpora register themselves: discovery, their declarations, settings from the language pack."""

from __future__ import annotations

import dataclasses
import inspect
import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any, Dict, List

import pytest

from stt_tasks.cli import main
from stt_tasks.errors import EXIT_OK, BadInputError
from stt_tasks.importers import m_ailabs
from stt_tasks.importers.registry import EXTRA_MODULES_ENV, corpora, listing
from stt_tasks.languages import LanguagePack
from stt_tasks.layout import DataRoot
from tests.importers import fixtures

REPO = Path(__file__).resolve().parents[2]
ORIGINAL = ["common-voice", "lingua-libre", "trainingspeech", "african-accented-french", "m-ailabs", "mls", "ccpmf"]

#: A whole new corpus, as someone adding one writes it: one module, nothing else edited.
TINY_CORPUS = '''
from stt_tasks.importers import corpus
from stt_tasks.importers.records import ClipRecord, CorpusSpec


def tiny_records(root, issues):
    for wav in sorted(root.rglob("*.wav")):
        yield ClipRecord(audio=wav, transcript=wav.stem.replace("_", " "), speaker=wav.stem, clip_id=wav.stem, origin=wav.name)


def prepare_tiny(data_root, pack, english_compatible=False, download=False, mirror=None, workers=None):
    from stt_tasks.importers import engine

    root, source = corpus.unpacked(CORPUS, pack, data_root, download, mirror)
    rules = CorpusSpec(name="tiny", ms_per_char=10, max_seconds=10.0)
    return engine.import_corpus(rules, data_root, pack, english_compatible, workers, source,
                                lambda issues: tiny_records(root, issues))


CORPUS = corpus.CorpusSpec(
    name="tiny", help="a tiny corpus", folder="tiny", archive="tiny.zip", url="https://example.invalid/{archive}",
    prepare=prepare_tiny, records=tiny_records,
    parameters=corpus.DOWNLOAD_PARAMETERS, options=corpus.DOWNLOAD_OPTIONS,
)
'''


def add_tiny_corpus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The tiny corpus as a module of a package of its own, named in $STT_CORPUS_MODULES (for this test)."""
    package = tmp_path / "site_corpora"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "tiny.py").write_text(textwrap.dedent(TINY_CORPUS))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv(EXTRA_MODULES_ENV, "site_corpora.tiny")


def cli(capsys: pytest.CaptureFixture, argv: List[str]) -> Dict[str, Any]:
    code = main(argv)
    out = capsys.readouterr().out.strip().splitlines()
    assert code == EXIT_OK
    return json.loads(out[-1])  # type: ignore[no-any-return]


def test_the_original_corpora_in_order_with_their_declarations() -> None:
    found = corpora()
    assert list(found) == ORIGINAL
    assert all(spec.name == name for name, spec in found.items())
    for spec in found.values():
        assert "english_compatible" in spec.parameters and "--workers" in [o.flags[0] for o in spec.options]
        assert spec.downloadable == (spec.name != "common-voice")
        assert ("download" in spec.parameters) == spec.downloadable
        assert ("--mirror" in [o.flags[0] for o in spec.options]) == spec.downloadable
    cv = found["common-voice"]
    assert cv.parameters == ("english_compatible", "duplicate_sentence_count")
    assert [o.dest for o in cv.options] == ["release", "sha256", "strict", "workers"]


@pytest.mark.parametrize("name", ORIGINAL)
def test_prepare_takes_exactly_the_declared_arguments(name: str) -> None:
    spec = corpora()[name]
    taken = list(inspect.signature(spec.prepare).parameters)
    assert taken[:2] == ["data_root", "pack"]
    assert sorted(taken[2:]) == sorted(spec.argument_names)


def test_a_corpus_module_named_in_the_environment_is_listed_and_imported(
    tmp_path: Path, data_root: DataRoot, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    add_tiny_corpus(tmp_path, monkeypatch)
    fixtures.write_zip(data_root.sources / "tiny.zip", [("bonjour_le_monde.wav", fixtures.wav(2.0)), ("au_revoir.wav", fixtures.wav(2.0))])

    listed = cli(capsys, ["import", "--list", "--data-root", str(data_root.root)])["corpora"]
    assert [row["corpus"] for row in listed] == ORIGINAL + ["tiny"]
    assert listed[-1] == {"corpus": "tiny", "archive": "tiny.zip", "present": True, "url": "https://example.invalid/tiny.zip"}

    result = cli(capsys, ["import", "tiny", "--data-root", str(data_root.root), "--workers", "1"])
    assert sum(result["clips"].values()) == 2 and Path(result["csv"]["train"]).parent == data_root.data / "tiny"

    monkeypatch.delenv(EXTRA_MODULES_ENV)
    assert "tiny" not in corpora()


def test_a_misnamed_corpus_module_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(EXTRA_MODULES_ENV, "no_such_package.corpus")
    with pytest.raises(BadInputError, match="no_such_package.corpus cannot be imported.*STT_CORPUS_MODULES"):
        corpora()


def test_declarations_load_without_the_audio_and_table_libraries() -> None:
    """The Airflow image installs stt_tasks without its dependencies, yet derives the DAG from the
    corpora: reading the declarations (and the watcher's release parser) imports none of them."""
    code = textwrap.dedent(
        """
        import sys
        for name in ("numpy", "pandas", "miniaudio", "soundfile", "soxr", "num2words"):
            sys.modules[name] = None  # importing any of them now fails
        from stt_tasks.importers.registry import corpora
        from stt_tasks.importers.cv_release import newest_full_release
        print(",".join(corpora()))
        """
    )
    completed = subprocess.run([sys.executable, "-c", code], cwd=str(REPO), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert completed.returncode == 0, completed.stderr.decode()
    assert completed.stdout.decode().split() == [",".join(ORIGINAL)]


def test_settings_come_typed_from_the_language_pack(pack: LanguagePack) -> None:
    settings = m_ailabs.CORPUS.settings_of(pack)
    assert settings == m_ailabs.Settings(language="fr_FR", skipped_books=("monsieur_lecoq", "les_mysteres_de_paris"))
    assert corpora()["ccpmf"].settings_of(pack).max_seconds == 4.5


@pytest.mark.parametrize(
    "values, message",
    [
        ({"language": "fr_FR", "skipped_books": "monsieur_lecoq"}, r"\['skipped_books'\] is 'monsieur_lecoq', but a list of str"),
        ({"skipped_books": []}, r"the setting 'language' is missing"),
        ({"language": "fr_FR", "skiped_books": []}, r"unknown setting\(s\) skiped_books"),
        ({"language": 7}, r"\['language'\] is 7, but a str is expected"),
    ],
)
def test_a_wrong_setting_names_the_entry_and_the_fix(pack: LanguagePack, values: Dict[str, object], message: str) -> None:
    broken = dataclasses.replace(pack, corpus_parameters=dict(pack.corpus_parameters, **{"m-ailabs": values}))
    with pytest.raises(BadInputError, match="language pack 'fr', corpus_parameters\\['m-ailabs'\\]" + ".*" + message):
        m_ailabs.CORPUS.settings_of(broken)


def test_a_pack_without_a_corpus_does_not_list_it(pack: LanguagePack, data_root: DataRoot) -> None:
    german = dataclasses.replace(pack, code="de", corpus_parameters={"mls": {"language": "german"}})
    rows = listing(german, data_root)
    assert [row["corpus"] for row in rows] == ["common-voice", "mls"]
    assert rows[1]["archive"] == "mls_german_opus.tar.gz"
    with pytest.raises(BadInputError, match="declares no 'lingua-libre' corpus"):
        corpora()["lingua-libre"].settings_of(german)
