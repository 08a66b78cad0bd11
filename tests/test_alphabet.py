"""The alphabet step: Coqui's format, code-point order, clear errors on stray characters."""

from __future__ import annotations

from pathlib import Path

from stt_tasks.alphabet import alphabet_text
from stt_tasks.errors import EXIT_BAD_INPUT
from stt_tasks.importers.engine import csv_text


def write_corpus_csv(root: Path, name: str, transcripts) -> Path:
    path = root / "extracted" / "data" / name.split("_")[0] / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(csv_text([("clips/{}.wav".format(i), 100, t) for i, t in enumerate(transcripts)]), encoding="utf-8")
    return path


def coqui_labels(text: str):
    """What Coqui's Alphabet::init reads: non-comment, non-empty lines, ``\\#`` meaning ``#``."""
    labels = []
    for line in text.split("\n"):
        if not line or line.startswith("#"):
            continue
        labels.append("#" if line == "\\#" else line)
    return labels


def test_alphabet_from_the_sample_corpus(sample_data_root, step, fr_pack):
    assert step("import", "common-voice", "--data-root", str(sample_data_root.root)).returncode == 0
    run = step("alphabet", "--data-root", str(sample_data_root.root))
    assert run.returncode == 0, run.stderr
    path = Path(run.result["alphabet"])
    assert path == sample_data_root.models / "alphabet.txt"
    text = path.read_text(encoding="utf-8")
    labels = coqui_labels(text)
    assert labels[0] == " " and labels[1] == "'"
    assert labels == sorted(labels) and len(set(labels)) == len(labels)
    expected = set("".join(fr_pack.validate_label(s) for s in fr_pack.sample_sentences()))
    assert set(labels) == expected and {"é", "è", "î", "ê"} <= expected
    assert text.endswith("\n") and "\n\n" not in text
    assert run.result["labels"] == len(labels)
    assert len(run.result["csv_files"]) == 3
    # idempotent: same transcripts, same bytes, not reported as changed
    again = step("alphabet", "--data-root", str(sample_data_root.root))
    assert again.result["changed"] is False and path.read_text(encoding="utf-8") == text


def test_english_compatible_alphabet_is_the_stock_english_one(tmp_path, step):
    write_corpus_csv(tmp_path, "x_train.csv", ["le chat", "l'eau"])
    run = step("alphabet", "--data-root", str(tmp_path), "--english-compatible", "1")
    assert run.returncode == 0, run.stderr
    assert coqui_labels(Path(run.result["alphabet"]).read_text()) == [" "] + list("abcdefghijklmnopqrstuvwxyz") + ["'"]


def test_english_mode_refuses_accents_left_in_a_csv(tmp_path, step):
    csv_path = write_corpus_csv(tmp_path, "x_dev.csv", ["le chat", "un café"])
    run = step("alphabet", "--data-root", str(tmp_path), "--english-compatible", "1")
    assert run.returncode == EXIT_BAD_INPUT
    assert str(csv_path) in run.stderr and "row 3" in run.stderr and "U+00E9" in run.stderr


def test_stray_character_names_csv_and_row(tmp_path, step):
    csv_path = write_corpus_csv(tmp_path, "other_test.csv", ["bonjour", "au revoir", "prix: 5 €"])
    run = step("alphabet", "--data-root", str(tmp_path))
    assert run.returncode == EXIT_BAD_INPUT
    assert str(csv_path) in run.stderr and "row 4" in run.stderr and "Re-run this corpus's importer" in run.stderr
    assert not (tmp_path / "models" / "alphabet.txt").exists()


def test_hash_label_is_escaped():
    assert coqui_labels(alphabet_text([" ", "#", "a"])) == [" ", "#", "a"]
    assert alphabet_text([" ", "#", "a"]) == " \n\\#\na\n"


def test_no_csv_is_a_clear_error(tmp_path, step):
    run = step("alphabet", "--data-root", str(tmp_path))
    assert run.returncode == EXIT_BAD_INPUT and "run an importer first" in run.stderr


def test_only_training_csvs_count(tmp_path, step):
    write_corpus_csv(tmp_path, "x_train.csv", ["abc"])
    write_corpus_csv(tmp_path, "x_validated.csv", ["xyz"])  # not read by training, so not by alphabet
    run = step("alphabet", "--data-root", str(tmp_path))
    assert run.result["characters"] == "abc"
