"""Downloads against a real HTTP server on 127.0.0.1 serving the fixtures (with HTTP Range support)."""

from __future__ import annotations

import hashlib
import http.server
import re
import socket
import threading
from pathlib import Path
from typing import Dict, Iterator, List, Optional

import dataclasses

import pytest

from stt_tasks import download
from stt_tasks.errors import BadInputError
from stt_tasks.importers import ccpmf
from stt_tasks.importers.ccpmf import prepare_ccpmf
from stt_tasks.importers.lingua_libre import prepare_lingua_libre
from stt_tasks.languages import LanguagePack
from stt_tasks.layout import DataRoot
from tests.importers import fixtures


class Server:
    """Serves files from a folder; honours ``Range``; records the Range headers it was sent."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.ranges: List[Optional[str]] = []
        #: when set, a response is cut after this many bytes (a dropped connection)
        self.cut_after: Optional[int] = None
        #: served path -> file name announced in Content-Disposition
        self.attachments: Dict[str, str] = {}
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_HEAD(self) -> None:  # noqa: N802
                self._serve(body=False)

            def do_GET(self) -> None:  # noqa: N802
                self._serve(body=True)

            def _serve(self, body: bool) -> None:
                path = server.folder / self.path.lstrip("/")
                if not path.is_file():
                    self.send_error(404)
                    return
                payload = path.read_bytes()
                wanted = self.headers.get("Range")
                server.ranges.append(wanted)
                start = int(re.match(r"bytes=(\d+)-", wanted).group(1)) if wanted else 0  # type: ignore[union-attr]
                if start >= len(payload) and wanted:
                    self.send_response(416)
                    self.end_headers()
                    return
                self.send_response(206 if wanted else 200)
                self.send_header("Content-Length", str(len(payload) - start))
                if self.path.lstrip("/") in server.attachments:
                    name = server.attachments[self.path.lstrip("/")]
                    self.send_header("Content-Disposition", 'attachment; filename="{}"'.format(name))
                self.end_headers()
                if body:
                    chunk = payload[start:]
                    if server.cut_after is not None:
                        chunk = chunk[: server.cut_after]
                        server.cut_after = None
                    self.wfile.write(chunk)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:{}/".format(self.httpd.server_address[1])
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Server]:
    folder = tmp_path / "upstream"
    folder.mkdir()
    server = Server(folder)
    yield server
    server.httpd.shutdown()
    server.httpd.server_close()


def test_download_resumes_with_range_and_verifies(served: Server, tmp_path: Path) -> None:
    payload = bytes(range(256)) * 4000
    (served.folder / "corpus.zip").write_bytes(payload)
    target = tmp_path / "sources" / "corpus.zip"
    checksum = ("sha1", hashlib.sha1(payload).hexdigest())

    served.cut_after = 300000  # the connection drops mid-way
    with pytest.raises(download.DownloadError, match="Run again to resume"):
        download.fetch(served.url + "corpus.zip", target, checksum)
    assert not target.exists()
    partial = target.with_name("corpus.zip.part")
    assert 0 < partial.stat().st_size < len(payload)

    download.fetch(served.url + "corpus.zip", target, checksum)
    assert served.ranges[-1] == "bytes={}-".format(300000)
    assert target.read_bytes() == payload and not partial.exists()


def test_a_complete_partial_file_is_finished_not_downloaded_again(served: Server, tmp_path: Path) -> None:
    payload = b"corpus bytes" * 1000
    (served.folder / "corpus.zip").write_bytes(payload)
    target = tmp_path / "corpus.zip"
    target.with_name("corpus.zip.part").write_bytes(payload)  # killed before the rename
    download.fetch(served.url + "corpus.zip", target, ("sha256", hashlib.sha256(payload).hexdigest()))
    assert target.read_bytes() == payload and served.ranges == ["bytes={}-".format(len(payload))]


def test_checksum_mismatch_deletes_the_download(served: Server, tmp_path: Path) -> None:
    (served.folder / "corpus.zip").write_bytes(b"not the published bytes")
    target = tmp_path / "corpus.zip"
    with pytest.raises(BadInputError, match="SHA1 is .* but 863d"):
        download.fetch(served.url + "corpus.zip", target, ("sha1", "863d39a06a388c6491c6ff2f6450b151f38f1b57"))
    assert not target.exists() and not target.with_name("corpus.zip.part").exists()


def test_offline_and_missing_files_say_so(served: Server, tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(download.DownloadError, match="offline"):
        download.fetch("http://127.0.0.1:{}/x.zip".format(port), tmp_path / "x.zip")
    with pytest.raises(download.NotOnServerError, match="404"):
        download.fetch(served.url + "absent.zip", tmp_path / "absent.zip")


def test_import_with_download_from_a_mirror(served: Server, data_root: DataRoot, pack: LanguagePack) -> None:
    fixtures.lingua_libre(served.folder)
    result = prepare_lingua_libre(data_root, pack, download=True, workers=1, mirror=served.url)
    assert (data_root.sources / "Q21-fra-French.zip").is_file()
    assert result.clips["train"] > 0


def test_split_archive_parts_are_checked_against_the_pinned_sha1(
    served: Server, data_root: DataRoot, pack: LanguagePack
) -> None:
    fixtures.ccpmf(served.folder)
    with pytest.raises(BadInputError, match="SHA1 is .* published for transcriptionsxml.*\\.001"):
        prepare_ccpmf(data_root, pack, download=True, workers=1, mirror=served.url)
    assert not list(data_root.sources.iterdir())


def test_split_archive_parts_are_fetched_until_the_mirror_has_no_more(
    served: Server, data_root: DataRoot, pack: LanguagePack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the fixture's parts are not the published ones
    monkeypatch.setattr(ccpmf, "CORPUS", dataclasses.replace(ccpmf.CORPUS, checksums={}))
    fixture = fixtures.ccpmf(served.folder, parts=4)
    result = prepare_ccpmf(data_root, pack, download=True, workers=1, mirror=served.url)
    assert sorted(p.name for p in data_root.sources.iterdir()) == sorted(p.name for p in fixture.archives)
    assert result.clips == fixture.kept


def test_split_archive_from_the_upstream_index(
    served: Server, data_root: DataRoot, pack: LanguagePack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Upstream CCPMF: an index CSV lists one URL per part; each part's name comes from the server."""
    monkeypatch.delenv(download.MIRROR_ENV, raising=False)
    fixture = fixtures.ccpmf(served.folder / "parts")
    for number, part in enumerate(fixture.archives):
        served.attachments["parts/{}".format(part.name)] = part.name
    urls = [served.url + "parts/" + part.name for part in reversed(fixture.archives)]  # any order
    (served.folder / "index.csv").write_bytes(("Lien\r\n" + "\r\n".join(urls) + "\r\n").encode("utf-8"))
    local = dataclasses.replace(ccpmf.CORPUS, checksums={}, url=served.url + "index.csv")
    monkeypatch.setattr(ccpmf, "CORPUS", local)
    result = prepare_ccpmf(data_root, pack, download=True, workers=1)
    assert sorted(p.name for p in data_root.sources.iterdir() if not p.name.startswith(".")) == sorted(
        p.name for p in fixture.archives
    )
    assert result.clips == fixture.kept
