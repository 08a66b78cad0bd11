"""Text sources: compressed formats, damaged files, downloads from a local HTTP server."""

from __future__ import annotations

import bz2
import dataclasses
import functools
import hashlib
import gzip
import http.server
import lzma
import threading
from pathlib import Path
from typing import Iterator

import pytest

from stt_tasks.errors import BadInputError
from stt_tasks.languages import LanguagePack
from stt_tasks.lm import sources
from stt_tasks.lm.sources import DownloadError, PackSource, fetch_source, read_blocks, resolve_sources

TEXT = "".join("Ligne numéro {} du corpus, avec des accents : été, œuvre.\n".format(n) for n in range(50000))


@pytest.mark.parametrize(
    "suffix, compress",
    [(".txt", lambda b: b), (".xz", lzma.compress), (".gz", gzip.compress), (".bz2", bz2.compress)],
)
def test_every_format_reads_to_the_same_lines(tmp_path: Path, suffix: str, compress, monkeypatch) -> None:
    monkeypatch.setattr(sources, "BLOCK_SIZE", 4096)  # many blocks, lines cut across them
    path = tmp_path / ("corpus" + suffix)
    path.write_bytes(compress(TEXT.encode("utf-8")))
    consumed = []
    blocks = list(read_blocks(path, consumed.append))
    assert all(block.endswith(b"\n") for block in blocks) and len(blocks) > 10
    assert b"".join(blocks).decode("utf-8") == TEXT
    assert sum(consumed) == path.stat().st_size


def test_last_line_without_newline_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "corpus.txt"
    path.write_bytes(b"une\ndeux")
    assert b"".join(read_blocks(path)) == b"une\ndeux\n"


def test_damaged_xz_names_the_file(tmp_path: Path) -> None:
    data = bytearray(lzma.compress(TEXT.encode("utf-8")))
    data[len(data) // 2] ^= 0xFF
    path = tmp_path / "wiki.txt.xz"
    path.write_bytes(bytes(data))
    with pytest.raises(BadInputError, match=r"wiki\.txt\.xz: damaged xz data"):
        b"".join(read_blocks(path))


def test_truncated_gz_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "corpus.gz"
    path.write_bytes(gzip.compress(TEXT.encode("utf-8"))[:5000])
    with pytest.raises(BadInputError, match=r"corpus\.gz: damaged gz data"):
        b"".join(read_blocks(path))


@pytest.fixture
def http_root(tmp_path: Path) -> Iterator[str]:
    """A local HTTP server (127.0.0.1 only) serving ``tmp_path/served``."""
    served = tmp_path / "served"
    served.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    handler.log_message = lambda *args: None  # type: ignore[assignment]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield "http://127.0.0.1:{}/".format(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


def test_download_writes_the_file(tmp_path: Path, http_root: str) -> None:
    payload = lzma.compress(TEXT.encode("utf-8"))
    (tmp_path / "served" / "wiki.txt.xz").write_bytes(payload)
    target = fetch_source(PackSource("wiki.txt.xz", http_root + "wiki.txt.xz"), tmp_path / "sources")
    assert target == tmp_path / "sources" / "wiki.txt.xz" and target.read_bytes() == payload
    assert [p.name for p in target.parent.iterdir()] == ["wiki.txt.xz"]


def test_failed_download_is_clear_and_leaves_nothing(tmp_path: Path, http_root: str) -> None:
    sources_dir = tmp_path / "sources"
    with pytest.raises(DownloadError, match=r"http://127\.0\.0\.1:\d+/wiki\.txt\.xz: not found on the server \(HTTP 404\)"):
        fetch_source(PackSource("wiki.txt.xz", http_root + "wiki.txt.xz"), sources_dir)
    assert not list(sources_dir.glob("*"))


def test_lm_text_downloads_like_a_corpus_archive(tmp_path: Path, http_root: str) -> None:
    """The shared downloader: a partial download is completed (this server ignores Range, so restarted:
    Range resumes are tests/importers/test_download.py's), and a published checksum is verified."""
    payload = lzma.compress(TEXT.encode("utf-8"))
    (tmp_path / "served" / "wiki.txt.xz").write_bytes(payload)
    sources_dir = tmp_path / "sources"
    sources_dir.mkdir()
    (sources_dir / "wiki.txt.xz.part").write_bytes(payload[:1000])  # a download cut short, with the right bytes
    good = PackSource("wiki.txt.xz", http_root + "wiki.txt.xz", ("sha256", hashlib.sha256(payload).hexdigest()))
    assert fetch_source(good, sources_dir).read_bytes() == payload
    bad = PackSource("other.txt.xz", http_root + "wiki.txt.xz", ("sha256", "0" * 64))
    with pytest.raises(BadInputError, match="SHA256 is .* but 0{64} is published for other.txt.xz"):
        fetch_source(bad, sources_dir)
    assert sorted(p.name for p in sources_dir.iterdir()) == ["wiki.txt.xz"]


def test_pack_corpora_come_from_the_mirror_when_one_is_set(
    tmp_path: Path, http_root: str, pack: LanguagePack, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "served" / "wiki.txt.xz").write_bytes(lzma.compress(b"Bonjour.\n"))
    unreachable = dataclasses.replace(
        pack, corpus_parameters={"lm": {"sources": [{"name": "wiki.txt.xz", "url": "http://127.0.0.1:9/wiki.txt.xz"}]}}
    )
    monkeypatch.setenv("STT_CORPUS_MIRROR", http_root)
    resolved = resolve_sources(tmp_path / "sources", unreachable, [], download=True)
    assert [s.path for s in resolved.sources] == [tmp_path / "sources" / "wiki.txt.xz"]


def test_pack_corpora_are_downloaded_only_when_asked(tmp_path: Path, http_root: str, pack: LanguagePack) -> None:
    names = ["wiki.txt.xz", "debats-assemblee-nationale.txt.xz"]
    for name in names:
        (tmp_path / "served" / name).write_bytes(lzma.compress(b"Bonjour.\n"))
    # The French pack, its corpora served from the local server instead of GitHub.
    local = dataclasses.replace(
        pack, corpus_parameters={"lm": {"sources": [{"name": n, "url": http_root + n} for n in names]}}
    )
    sources_dir = tmp_path / "sources"
    sources_dir.mkdir()
    with pytest.raises(BadInputError, match="--download"):
        resolve_sources(sources_dir, local, [], download=False)
    resolved = resolve_sources(sources_dir, local, [], download=True)
    assert [s.path.name for s in resolved.sources] == names
    assert resolved.missing == []


def test_french_pack_names_the_original_corpora(pack: LanguagePack) -> None:
    named = sources.pack_sources(pack)
    assert [s.name for s in named] == ["wiki.txt.xz", "debats-assemblee-nationale.txt.xz"]
    release = "https://github.com/Common-Voice/commonvoice-fr/releases/download/lm-0.1/"
    assert [s.url for s in named] == [release + s.name for s in named]


def test_missing_user_text_is_named(tmp_path: Path, pack: LanguagePack) -> None:
    with pytest.raises(BadInputError, match="nothere.txt: no such text file"):
        resolve_sources(tmp_path, pack, [tmp_path / "nothere.txt"], download=False)
