"""Which corpora exist: found, not listed.

A module of :mod:`stt_tasks.importers` is a corpus when it defines ``CORPUS = CorpusSpec(...)``
(:mod:`stt_tasks.importers.corpus`); modules named in ``$STT_CORPUS_MODULES`` (comma-separated,
e.g. ``my_pkg.my_corpus``) are added, so a site or a test adds a corpus without editing this
package. Adding a corpus is one module plus its fixture and test: ``import <corpus>``,
``import --list`` and the DAG's import tasks and ``corpora`` Param all derive from :func:`corpora`.
"""

from __future__ import annotations

import ast
import functools
import importlib
import importlib.util
import os
import pkgutil
from typing import Any, Dict, Iterator, List

from stt_tasks.errors import BadInputError
from stt_tasks.importers.corpus import CorpusSpec
from stt_tasks.languages import LanguagePack
from stt_tasks.layout import DataRoot

__all__ = ["CorpusSpec", "EXTRA_MODULES_ENV", "corpora", "corpus", "listing"]

EXTRA_MODULES_ENV = "STT_CORPUS_MODULES"
_PACKAGE = "stt_tasks.importers"


def _declares_corpus(module: str) -> bool:
    """True when ``module``'s source assigns ``CORPUS`` at top level (read, not imported: the engine
    and other machinery modules import numpy and audio libraries the Airflow image lacks)."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        return False
    with open(spec.origin, encoding="utf-8") as handle:
        tree = ast.parse(handle.read(), spec.origin)
    return any(
        isinstance(node, (ast.Assign, ast.AnnAssign))
        and any(isinstance(t, ast.Name) and t.id == "CORPUS" for t in (node.targets if isinstance(node, ast.Assign) else [node.target]))
        for node in tree.body
    )


def _corpus_modules(extra_modules: str) -> Iterator[str]:
    package = importlib.import_module(_PACKAGE)
    for info in pkgutil.iter_modules(package.__path__):  # type: ignore[attr-defined]
        name = "{}.{}".format(_PACKAGE, info.name)
        if not info.ispkg and _declares_corpus(name):
            yield name
    for name in extra_modules.split(","):
        if name.strip():
            yield name.strip()


def _spec_of(module_name: str) -> CorpusSpec[Any]:
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise BadInputError(
            "the corpus module {} cannot be imported ({}); check ${}.".format(module_name, error, EXTRA_MODULES_ENV)
        ) from None
    spec = getattr(module, "CORPUS", None)
    if not isinstance(spec, CorpusSpec):
        raise BadInputError("{}: no CORPUS = CorpusSpec(...) in it; is it a corpus module?".format(module_name))
    return spec


def corpora() -> Dict[str, CorpusSpec[Any]]:
    """Every corpus by CLI name, by their ``rank`` (Common Voice first, then the original pipeline's order).

    A function, not a constant, so that discovery happens on first use (importing the registry
    stays cheap) and follows ``$STT_CORPUS_MODULES`` as it is when called.
    """
    return dict(_discover(os.environ.get(EXTRA_MODULES_ENV, "")))


@functools.lru_cache(maxsize=None)
def _discover(extra_modules: str) -> Dict[str, CorpusSpec[Any]]:
    found: Dict[str, CorpusSpec[Any]] = {}
    for module_name in _corpus_modules(extra_modules):
        spec = _spec_of(module_name)
        if spec.name in found and found[spec.name] is not spec:
            raise BadInputError("two corpus modules declare the corpus {!r} ({}).".format(spec.name, module_name))
        found[spec.name] = spec
    return {name: found[name] for name in sorted(found, key=lambda n: (found[n].rank, n))}


def corpus(name: str) -> CorpusSpec[Any]:
    """The corpus called ``name``; BadInputError listing the known ones otherwise."""
    found = corpora()
    if name not in found:
        raise BadInputError("no corpus {!r}; known corpora: {}.".format(name, ", ".join(found)))
    return found[name]


def listing(pack: LanguagePack, data_root: DataRoot) -> List[Dict[str, Any]]:
    """One row per corpus the language pack offers: CLI name, archive, whether it is in sources/, URL."""
    rows = []
    for spec in corpora().values():
        if not spec.offered_by(pack):
            continue
        try:
            present = bool(spec.present(data_root.sources, pack))
        except BadInputError:  # parts with gaps: present, but not usable
            present = False
        rows.append({"corpus": spec.name, "archive": spec.archive_name(pack), "present": present, "url": spec.upstream_url(pack)})
    return rows
