"""Miniature corpora in the exact upstream layouts and audio formats (datasets.md section 3).

Audio is a short tone per clip (the importers never listen to it; only formats and durations
matter), written with libsndfile in each corpus's real format: Ogg/Vorbis (Lingua Libre), WAV
(TrainingSpeech, OpenSLR 57, M-AILABS), Ogg/Opus (MLS), mp3 (CCPMF). Speaker and book names are
picked so that the engine's stable speaker hash puts them in the split a test needs. Each builder
also plants the corpus's typical bad inputs and returns what a test should expect.
"""

from __future__ import annotations

import gzip
import io
import tarfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np
import soundfile

from stt_tasks.importers.engine import speaker_split


@dataclass
class Fixture:
    """What was built: archive paths in ``sources/`` and what the import should report."""

    corpus: str
    archives: List[Path]
    kept: Dict[str, int]
    dropped: Dict[str, int] = field(default_factory=dict)
    source_issues: Dict[str, int] = field(default_factory=dict)


def tone(seconds: float, rate: int, pitch: float = 220.0) -> np.ndarray:
    t = np.arange(int(round(seconds * rate))) / rate
    return (0.3 * np.sin(2 * np.pi * pitch * t)).astype(np.float32)


def encoded(seconds: float, rate: int, fmt: str, subtype: Optional[str] = None) -> bytes:
    buffer = io.BytesIO()
    soundfile.write(buffer, tone(seconds, rate), rate, format=fmt, subtype=subtype)
    return buffer.getvalue()


def wav(seconds: float, rate: int = 16000) -> bytes:
    return encoded(seconds, rate, "WAV", "PCM_16")


def names_in_split(split: str, count: int, prefix: str, suffix: str = "") -> List[str]:
    """The first ``count`` names ``<prefix><n><suffix>`` that the engine's speaker hash sends to ``split``."""
    found: List[str] = []
    number = 0
    while len(found) < count:
        name = "{}{}{}".format(prefix, number, suffix)
        if speaker_split(name) == split:
            found.append(name)
        number += 1
    return found


def write_zip(path: Path, members: Sequence[Tuple[str, bytes]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(str(path), "w", zipfile.ZIP_DEFLATED) as bundle:
        for name, payload in members:
            info = zipfile.ZipInfo(name, date_time=(2020, 4, 25, 0, 0, 0))
            bundle.writestr(info, payload)
    return path


class _RawNameInfo(zipfile.ZipInfo):
    """A member whose name is stored as raw bytes without the UTF-8 flag (as old zip tools do)."""

    raw_name = b""

    def _encodeFilenameFlags(self):  # type: ignore[no-untyped-def]
        return self.raw_name, self.flag_bits & ~0x800


def add_raw_names(path: Path, members: Sequence[Tuple[bytes, bytes]]) -> None:
    """Append members named by raw bytes (in one session: appending re-encodes earlier names)."""
    with zipfile.ZipFile(str(path), "a") as bundle:
        for raw_name, payload in members:
            info = _RawNameInfo(raw_name.decode("cp437"), date_time=(2020, 4, 25, 0, 0, 0))
            info.raw_name = raw_name
            bundle.writestr(info, payload)


def write_tar(path: Path, members: Sequence[Tuple[str, bytes]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as zipped:
        with tarfile.open(fileobj=zipped, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for name, payload in members:
                info = tarfile.TarInfo(name)
                info.size = len(payload)
                info.mtime = 0
                info.mode = 0o644
                tar.addfile(info, io.BytesIO(payload))
    return path


# ---------------------------------------------------------------------------------------------
# Lingua Libre: Q21-fra-French.zip, per-speaker folders of Ogg/Vorbis files named by their word.


def lingua_libre(sources: Path) -> Fixture:
    train = names_in_split("train", 2, "Locutrice")
    dev = names_in_split("dev", 1, "Locuteur")
    test = names_in_split("test", 1, "Voix")
    top = "Q21-fra-French/"
    ogg = lambda seconds=1.2: encoded(seconds, 48000, "OGG", "VORBIS")  # noqa: E731
    members = [
        (top + train[0] + "/chat.ogg", ogg()),
        (top + train[0] + "/maison.ogg", ogg()),
        (top + train[0] + "/pomme de terre.ogg", ogg()),
        (top + train[1] + " (Marie Lefèvre)/arc-en-ciel.ogg", ogg()),
        (top + train[1] + " (Marie Lefèvre)/chaise (meuble).ogg", ogg()),
        (top + train[1] + " (Marie Lefèvre)/soleil.ogg", ogg()),  # also said by the test speaker
        (top + dev[0] + "/fenêtre.ogg", ogg()),
        (top + dev[0] + "/jardin.ogg", ogg()),
        (top + test[0] + "/soleil.ogg", ogg()),
        (top + test[0] + "/lune.ogg", ogg()),
        # bad inputs: skiplisted speaker, digits, corrupt audio, too long (> 10 s)
        (top + "Modjou/bonjour.ogg", ogg()),
        (top + "Modjou/merci.ogg", ogg()),
        (top + train[0] + "/2 chats.ogg", ogg()),
        (top + train[0] + "/cassé.ogg", b"OggS" + b"\x00" * 40),
        (top + train[0] + "/discours.ogg", ogg(10.5)),
    ]
    archive = write_zip(sources / "Q21-fra-French.zip", members)
    # Names as an old zip tool stores them: UTF-8 bytes without the flag (recovered), Latin-1 (dropped).
    add_raw_names(
        archive,
        [((top + dev[0] + "/élève.ogg").encode("utf-8"), ogg()), ((top + dev[0] + "/école.ogg").encode("latin-1"), ogg())],
    )
    return Fixture(
        "lingua-libre",
        [archive],
        kept={"train": 5, "dev": 3, "test": 2},
        dropped={"invalid_label": 2, "undecodable": 1, "too_long": 1, "sentence_in_other_split": 1},
        source_issues={"skiplisted_speaker": 2},
    )


# ---------------------------------------------------------------------------------------------
# TrainingSpeech: flat zip, data.csv (path,duration,text) and 16 kHz WAVs <Source>_<NNNN>.wav.


def trainingspeech(sources: Path) -> Fixture:
    books = {split: names_in_split(split, 1, "LivreChap")[0] for split in ("train", "dev", "test")}
    rows = [
        (books["train"] + "_0001.wav", 2.0, "Chapitre premier."),
        (books["train"] + "_0002.wav", 2.5, '"Il marchait vite, sans se retourner."'),
        (books["train"] + "_0003.wav", 2.0, "L\u2019homme sourit."),
        (books["train"] + "_0010.wav", 2.5, "* * *\u00a0Le jour [enfin] se leva ; l\u2019aube°"),  # pre-cleaned
        (books["dev"] + "_0001.wav", 2.0, "La nuit tombait."),
        (books["test"] + "_0001.wav", 2.0, "Le vent soufflait."),
        (books["test"] + "_0002.wav", 1.5, "Fin."),
        # bad inputs: too long, too short, missing audio, digits
        (books["train"] + "_0004.wav", 15.5, "Une très longue phrase."),
        (books["train"] + "_0005.wav", 0.3, "Une phrase bien trop longue pour un clip si court."),
        (books["train"] + "_0006.wav", 2.0, "Ce fichier manque."),
        (books["train"] + "_0007.wav", 2.0, "En 1850 il partit."),
    ]
    lines = ["path,duration,text"] + ["{},{},{}".format(name, seconds, text) for name, seconds, text in rows]
    table = ("\n".join(lines) + "\n").encode("utf-8")
    table += "{}_0008.wav,2.0,Le caf\u00e9 br\u00fble.\n".format(books["train"]).encode("latin-1")  # bad encoding
    table += "{}_0009.wav,2.0\n".format(books["train"]).encode("utf-8")  # malformed row
    members = [("data.csv", table)]
    members += [(name, wav(seconds)) for name, seconds, _text in rows if not name.endswith("_0006.wav")]
    members += [(books["train"] + "_0008.wav", wav(2.0)), (books["train"] + "_0009.wav", wav(2.0))]
    return Fixture(
        "trainingspeech",
        [write_zip(sources / "ts_2019-04-11_fr_FR.zip", members)],
        kept={"train": 4, "dev": 1, "test": 2},
        dropped={"too_long": 1, "too_short": 1, "missing_file": 1, "invalid_label": 1},
        source_issues={"invalid_utf8": 1, "malformed_row": 1},
    )


# ---------------------------------------------------------------------------------------------
# OpenSLR 57: African_Accented_French.tar.gz, speech/<partition>/... WAVs, seven transcript files.


def african_accented_french(sources: Path) -> Fixture:
    top = "African_Accented_French/"
    audio = {
        "speech/train/yaounde/read/d01/mach1-spk01-0001.wav": "bonjour à tous",
        "speech/train/yaounde/answers/d01/mach1-spk01-0002.wav": "je vais bien merci",
        "speech/train/ca16/spk07/gabon_conv_spk07_x_0012.wav": "bonjour je m'appelle paul",
        "speech/train/ca16/spk08/ca16_read_spk08_0001.wav": "où se trouve la gare",
        "speech/dev/niger_west_african_fr/spk21/niger_spk21_0001.wav": "il fait chaud",
        "speech/devtest/ca16/spk30/ca16_devtest_spk30_0001.wav": "la pluie tombe",
        "speech/test/ca16/spk40/ca16_test_spk40_0001.wav": "où se trouve la gare",
        "speech/test/ca16/spk40/ca16_test_spk40_0002.wav": "Le marché est ouvert, venez !",
        "speech/test/ca16/spk41/ca16_test_spk41_0001.wav": "sans transcription",  # no transcript line
    }
    transcripts = {
        "transcripts/train/yaounde/fn_text.txt": [
            "read/d01/mach1-spk01-0001.wav bonjour à tous",
            "answers/d01/mach1-spk01-0002.wav je vais bien merci",
        ],
        "transcripts/train/ca16_conv/transcripts.txt": ["gabon_conv_spk07_x_0012.tdf bonjour je m'appelle paul"],
        "transcripts/train/ca16_read/conditioned.txt": [
            "ca16_read_spk08_0001 où se trouve la gare",
            "ca16_read_spk99_0001 une phrase sans audio",  # refers to unknown audio
        ],
        "transcripts/dev/niger_west_african_fr/transcripts.txt": [],
        "transcripts/devtest/ca16_read/conditioned.txt": ["ca16_devtest_spk30_0001 la pluie tombe"],
        "transcripts/test/ca16/prompts.txt": [
            "ca16_test_spk40_0001 Où se trouve la gare ?",
            "ca16_test_spk40_0002 Le marché est ouvert, venez !",
        ],
        "speech/dev/niger_west_african_fr/niger_wav_file_name_transcript.tsv": ["niger_spk21_0001.wav\til fait chaud"],
    }
    members = [(top + name, wav(2.0)) for name in audio]
    for name, lines in transcripts.items():
        payload = "".join(line + "\n" for line in lines).encode("utf-8")
        if name.endswith("prompts.txt"):
            payload += "ca16_test_spk40_0003 d\u00e9j\u00e0 vu\n".encode("latin-1")  # bad encoding
        members.append((top + name, payload))
    return Fixture(
        "african-accented-french",
        [write_tar(sources / "African_Accented_French.tar.gz", members)],
        kept={"train": 4, "dev": 2, "test": 2},
        source_issues={"audio_without_transcript": 1, "transcript_without_audio": 1, "invalid_utf8": 1},
    )


# ---------------------------------------------------------------------------------------------
# M-AILABS: fr_FR.tgz, by_book/<gender>/<speaker>/<book>/{metadata.csv,wavs/*.wav} (22.05 kHz).


def m_ailabs(sources: Path) -> Fixture:
    speakers = {split: names_in_split(split, 1, "lecteur_")[0] for split in ("train", "dev", "test")}
    top = "fr_FR/by_book/"
    books = [
        ("female/{}/livre_un".format(speakers["train"]), ["Il était une fois.", "Un roi et une reine.", "En 1900."]),
        ("male/{}/livre_deux".format(speakers["dev"]), ["La mer est calme."]),
        ("female/{}/livre_trois".format(speakers["test"]), ["Le ciel est bleu.", "Les oiseaux chantent."]),
        ("mix/monsieur_lecoq", ["Un livre à ne pas importer."]),
        ("male/{}/les_mysteres_de_paris".format(speakers["train"]), ["Un autre livre écarté."]),
    ]
    members = []
    for book, sentences in books:
        name = book.rsplit("/", 1)[-1]
        lines = []
        for number, sentence in enumerate(sentences, start=1):
            clip = "{}_f{:06d}".format(name, number)
            lines.append("{}|{}|{}".format(clip, sentence, sentence))
            members.append(("{}{}/wavs/{}.wav".format(top, book, clip), wav(2.0, 22050)))
        metadata = ("\n".join(lines) + "\n").encode("utf-8")
        if name == "livre_un":
            metadata += b"\nlivre_un_f000009|trop peu de champs\nlivre_un_f000010|Absent.|Absent.\n"
            # not UTF-8 (its WAV is there): counted and skipped, never fatal
            metadata += "livre_un_f000011|Le café brûle.|Le café brûle.\n".encode("latin-1")
            members.append(("{}{}/wavs/livre_un_f000011.wav".format(top, book), wav(2.0, 22050)))
        members.append(("{}{}/metadata.csv".format(top, book), metadata))
    return Fixture(
        "m-ailabs",
        [write_tar(sources / "fr_FR.tgz", members)],
        kept={"train": 2, "dev": 1, "test": 2},
        dropped={"invalid_label": 1, "missing_file": 1},
        source_issues={"skipped_book": 2, "malformed_row": 1, "invalid_utf8": 1},
    )


# ---------------------------------------------------------------------------------------------
# MLS: mls_french_opus.tar.gz, <split>/transcripts.txt and <split>/audio/<spk>/<book>/<id>.opus.


def mls(sources: Path) -> Fixture:
    top = "mls_french_opus/"
    clips = {
        "train": [("1234_5678_000012", "et il s'en alla sans rien dire", 2.0), ("1234_5678_000013", "puis il revint", 1.5)],
        "dev": [("2001_3001_000001", "le jour se levait", 2.0)],
        "test": [("3001_4001_000001", "la porte était close", 2.0), ("3001_4001_000002", "oui", 0.5)],
    }
    members = []
    for split, rows in clips.items():
        lines = []
        for clip, text, seconds in rows:
            speaker, book, _ = clip.split("_")
            members.append(
                ("{}{}/audio/{}/{}/{}.opus".format(top, split, speaker, book, clip), encoded(seconds, 48000, "OGG", "OPUS"))
            )
            lines.append("{}\t{}".format(clip, text))
        transcripts = ("\n".join(lines) + "\n").encode("utf-8")
        if split == "train":
            transcripts += b"1234_5678_000014\tce fichier manque\n1234_5678_000015\tun\ttab de trop\n"
            # not UTF-8 (its audio is there): counted and skipped, never fatal
            transcripts += "1234_5678_000016\tle café brûle\n".encode("latin-1")
            members.append(("{}train/audio/1234/5678/1234_5678_000016.opus".format(top), encoded(2.0, 48000, "OGG", "OPUS")))
        members.append(("{}{}/transcripts.txt".format(top, split), transcripts))
        members.append(("{}{}/segments.txt".format(top, split), b""))
    members.append((top + "metainfo.txt", b"SPEAKER | GENDER | PARTITION | MINUTES | BOOK ID | TITLE | CHAPTER\n"))
    return Fixture(
        "mls",
        [write_tar(sources / "mls_french_opus.tar.gz", members)],
        kept={"train": 2, "dev": 1, "test": 1},
        dropped={"too_short": 1, "missing_file": 1},
        source_issues={"malformed_row": 1, "invalid_utf8": 1},
    )


# ---------------------------------------------------------------------------------------------
# CCPMF: a raw zip split into .001/.002/.003 holding an inner zip of <year>/<name>.{xml,mp3}.

CCPMF_TOP = "transcriptionsXML_audioMP3_MEFR_CCPMF_2012-2020"
CCPMF_PART = "transcriptionsxml_audiomp3_mefr_ccpmf_2012-2020_2.zip"


def _ccpmf_xml(rows: Sequence[Tuple[object, float, str]]) -> bytes:
    body = "".join('  <row timestamp="{}" timedur="{}">{}</row>\n'.format(start, dur, text) for start, dur, text in rows)
    return '<?xml version="1.0" encoding="UTF-8"?>\n<transcript>\n{}</transcript>\n'.format(body).encode("utf-8")


def ccpmf_recordings() -> Dict[str, List[Tuple[object, float, str]]]:
    """Per recording stem, its rows: contiguous rows merge up to 4.5 s, a 0.5 s gap ends a segment.

    Texts are dense (over 23 characters per second) to pass the 1,400-bytes-per-character rule.
    """
    stems = {split: names_in_split(split, 1, "20190101_Conference", "_minefi")[0] for split in ("train", "dev", "test")}
    return {
        stems["train"]: [
            (0.5, 1.5, "Bonjour à toutes et à tous, mesdames et messieurs,"),
            (2.0, 1.5, "merci d'être venus si nombreux ce matin à Bercy."),  # merges with the row before
            (4.0, 2.0, "La croissance atteint deux % cette année en France, dit-on."),
            (6.5, 2.0, "Elle était de 3,5 % l'an dernier, en 2019."),  # digits: spelled out
            (9.0, 6.0, "Une intervention bien trop longue pour un seul segment de ce corpus-ci."),  # > 4.5 s
            (15.5, 3.0, "Oui."),  # misaligned: 3 s of audio for 3 characters
        ],
        stems["dev"]: [
            (1.0, 2.0, "Nous commençons la séance plénière de ce matin, merci bien."),
            (3.5, 2.0, "Le budget de l'État est voté sans aucune modification ici."),
            (6.0, 2.0, "Le nouveau modèle en 3D sera présenté demain à tous."),  # "3D": unreadable, dropped
        ],
        stems["test"]: [
            (1.0, 2.0, "Les marchés financiers sont ouverts depuis ce matin tôt."),
            ("x", 2.0, "Malformé"),  # a row whose timestamp is not a number
        ],
    }


def ccpmf(sources: Path, parts: int = 3) -> Fixture:
    recordings = ccpmf_recordings()
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w", zipfile.ZIP_STORED) as bundle:
        for stem, rows in recordings.items():
            bundle.writestr("{}/2019/{}.xml".format(CCPMF_TOP, stem), _ccpmf_xml(rows))
            bundle.writestr("{}/2019/{}.mp3".format(CCPMF_TOP, stem), encoded(19.0, 44100, "MP3"))
        bundle.writestr("{}/2020/20200202_Sans_transcription.mp3".format(CCPMF_TOP), encoded(1.0, 44100, "MP3"))
        bundle.writestr("{}/2020/20200303_Sans_audio_minefi.xml".format(CCPMF_TOP), _ccpmf_xml([(1.0, 2.0, "Rien.")]))
        # declared UTF-8, written in Latin-1
        latin = _ccpmf_xml([(1.0, 2.0, "Déjà vu.")]).decode("utf-8").encode("latin-1")
        bundle.writestr("{}/2020/20200404_Encodage_minefi.xml".format(CCPMF_TOP), latin)
        bundle.writestr("{}/2020/20200404_Encodage_minefi.mp3".format(CCPMF_TOP), encoded(4.0, 44100, "MP3"))
    outer = io.BytesIO()
    with zipfile.ZipFile(outer, "w", zipfile.ZIP_STORED) as bundle:
        bundle.writestr("{}/{}.zip".format(CCPMF_TOP, CCPMF_TOP), inner.getvalue())
    payload = outer.getvalue()
    size = len(payload) // parts + 1
    archives = []
    sources.mkdir(parents=True, exist_ok=True)
    for number in range(parts):
        path = sources / "{}.{:03d}".format(CCPMF_PART, number + 1)
        path.write_bytes(payload[number * size : (number + 1) * size])
        archives.append(path)
    return Fixture(
        "ccpmf",
        archives,
        kept={"train": 3, "dev": 2, "test": 1},
        dropped={"invalid_label": 1, "too_long": 1, "misaligned": 1},
        source_issues={"malformed_row": 1, "mp3_without_xml": 1, "xml_without_mp3": 1, "unreadable_xml": 1},
    )


BUILDERS = {
    "lingua-libre": lingua_libre,
    "trainingspeech": trainingspeech,
    "african-accented-french": african_accented_french,
    "m-ailabs": m_ailabs,
    "mls": mls,
    "ccpmf": ccpmf,
}


def all_fixtures(sources: Path) -> Iterator[Fixture]:
    for build in BUILDERS.values():
        yield build(sources)
