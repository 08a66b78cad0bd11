"""Corpus metadata files (TSVs read by header name, header-less transcript lines), tolerant of bad rows.

Common Voice TSVs change columns between releases (``accent``/``accents``, ``variant``,
``sentence_id``, ``sentence_domain``) and are not quoted, so rows are split on TAB only (the csv
module's quote handling would merge rows at a stray ``"``). A row with the wrong number of fields
or invalid UTF-8 is counted and skipped, never fatal.
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, Iterator, Sequence, Tuple

from stt_tasks.errors import BadInputError
from stt_tasks.importers.records import SourceIssues


def read_tsv(path: Path, required: Sequence[str], issues: SourceIssues) -> Iterator[Tuple[int, Dict[str, str]]]:
    """Yield (line number, row by column name) for each well-formed row of ``path``."""
    with open(path, "rb") as handle:
        header_line = handle.readline()
        try:
            header = header_line.decode("utf-8-sig").rstrip("\r\n").split("\t")
        except UnicodeDecodeError:
            raise BadInputError("{} line 1: the header is not UTF-8; is this a Common Voice TSV?".format(path)) from None
        missing = [column for column in required if column not in header]
        if missing:
            raise BadInputError(
                "{}: missing column(s) {} (found: {}). Pass the TSV of a Common Voice release.".format(
                    path, ", ".join(missing), ", ".join(header)
                )
            )
        for number, raw in enumerate(handle, start=2):
            where = "{} line {}".format(path.name, number)
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError:
                issues.add("invalid_utf8", where)
                continue
            line = line.rstrip("\r\n")
            if not line.strip():
                continue
            fields = line.split("\t")
            if len(fields) != len(header):
                issues.add("malformed_row", "{} ({} fields, {} expected)".format(where, len(fields), len(header)))
                continue
            yield number, dict(zip(header, fields))


def read_lines(path: Path, issues: SourceIssues) -> Iterator[Tuple[int, str]]:
    """Yield (line number, text) of each non-blank UTF-8 line of a header-less transcript file.

    A line that is not UTF-8 is counted as ``invalid_utf8`` and skipped, never fatal (the
    original importers crashed on one, or depended on the machine's locale).
    """
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                line = raw.decode("utf-8-sig" if number == 1 else "utf-8").rstrip("\r\n")
            except UnicodeDecodeError:
                issues.add("invalid_utf8", "{} line {}".format(path.name, number))
                continue
            if line.strip():
                yield number, line
