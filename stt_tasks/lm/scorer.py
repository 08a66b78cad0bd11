"""Coqui STT scorer packages, written without Coqui's native ``generate_scorer_package``.

A package is the KenLM binary (built with ``-v``: no vocabulary strings) followed by a small
header and the decoder's dictionary, an OpenFST ``ConstFst`` accepting every vocabulary word as a
sequence of alphabet labels. Coqui builds that FST with OpenFST (trie, RmEpsilon, Determinize,
Minimize) and the decoder walks it while decoding, so the bytes must be what OpenFST would write:
this module reproduces the same states, numbering and arc order. The proof is a test that rebuilds
upstream's ``pruned_lm.scorer`` byte for byte.

Facts this relies on (coqui-ai/STT 1.4.0 ``scorer.cpp``, ``decoder_utils.cpp``, vendored OpenFST
1.6.7): the dictionary of a vocabulary is its prefix trie; determinisation numbers the trie's
states breadth first with arcs in label order; acyclic minimisation (Revuz) merges states of equal
height and equal right language, keeping per class the state OpenFST's ``Partition`` lists first;
the merged automaton keeps its states in the order of those survivors.
"""

from __future__ import annotations

import mmap
import re
import shutil
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Dict, Iterable, List, Optional, Sequence, Tuple

from stt_tasks.errors import BadInputError
from stt_tasks.fsio import atomic_output

#: ``int32 'TRIE'`` as the C++ multi-character literal is stored on little-endian machines.
SCORER_MAGIC = 0x54524945
SCORER_VERSION = 6
FST_MAGIC = 2125659606
FST_ALIGNMENT = 16
#: ConstFst header ``version`` 1 is the aligned layout; flag 4 (``kIsAligned``) says so too.
CONST_FST_VERSION = 1
FST_FLAG_ALIGNED = 4
KENLM_MAGIC = b"mmap lm http://kheafield.com/code"
#: Offset of ``has_vocabulary`` in KenLM's binary header (after the magic and sanity block).
KENLM_HAS_VOCABULARY_OFFSET = 100
SPECIAL_TOKENS = (b"<s>", b"</s>", b"<unk>")
TROPICAL_ZERO = float("inf")

# OpenFST property bits (fst/properties.h). Everything a vocabulary dictionary has in common; only
# "top sorted" and "string" (a one-word vocabulary) depend on the words.
_EXPANDED = 0x1
_ACCEPTOR = 0x10000
_I_DETERMINISTIC = 0x40000
_O_DETERMINISTIC = 0x100000
_NO_EPSILONS = 0x800000
_NO_I_EPSILONS = 0x2000000
_NO_O_EPSILONS = 0x8000000
_I_LABEL_SORTED = 0x10000000
_O_LABEL_SORTED = 0x40000000
_UNWEIGHTED = 0x200000000
_ACYCLIC = 0x800000000
_INITIAL_ACYCLIC = 0x2000000000
_TOP_SORTED = 0x4000000000
_NOT_TOP_SORTED = 0x8000000000
_ACCESSIBLE = 0x10000000000
_CO_ACCESSIBLE = 0x40000000000
_STRING = 0x100000000000
_NOT_STRING = 0x200000000000
_UNWEIGHTED_CYCLES = 0x800000000000
_DICTIONARY_PROPERTIES = (
    _EXPANDED
    | _ACCEPTOR
    | _I_DETERMINISTIC
    | _O_DETERMINISTIC
    | _NO_EPSILONS
    | _NO_I_EPSILONS
    | _NO_O_EPSILONS
    | _I_LABEL_SORTED
    | _O_LABEL_SORTED
    | _UNWEIGHTED
    | _ACYCLIC
    | _INITIAL_ACYCLIC
    | _ACCESSIBLE
    | _CO_ACCESSIBLE
    | _UNWEIGHTED_CYCLES
)

# The native tool reads the vocabulary with ``operator>>``: words are separated by C whitespace.
_C_WHITESPACE = re.compile(rb"[ \t\n\v\f\r]+")


def float32(value: float) -> float:
    """``value`` rounded to float32, as the native tool parses ``--default_alpha/beta``."""
    return struct.unpack("<f", struct.pack("<f", value))[0]


@dataclass(frozen=True)
class Alphabet:
    """Coqui's character alphabet: label index of each UTF-8 character, and the space label."""

    labels: Tuple[bytes, ...]

    @classmethod
    def read(cls, path: Path) -> "Alphabet":
        """Parse an ``alphabet.txt`` as Coqui does (``#`` comments, ``\\#`` escape, empty lines skipped)."""
        try:
            text = path.read_bytes()
        except OSError as error:
            raise BadInputError("{}: cannot read the alphabet ({}). Run the alphabet step.".format(path, error))
        labels = []
        for line in re.split(rb"\r\n|\r|\n", text):
            if not line or line.startswith(b"#"):
                continue
            labels.append(b"#" if line == b"\\#" else line)
        if b" " not in labels:
            raise BadInputError(
                "{}: no space label (a line holding one space). Regenerate it with the alphabet step.".format(path)
            )
        return cls(tuple(labels))

    @property
    def space_label(self) -> int:
        return self.labels.index(b" ")

    def fst_labels(self) -> Dict[bytes, int]:
        """FST label of each character: its index + 1 (label 0 is epsilon)."""
        return {label: index + 1 for index, label in enumerate(self.labels)}


def _codepoints(word: bytes) -> List[bytes]:
    """Split UTF-8 bytes at code point boundaries (a byte not of the form 10xxxxxx starts one)."""
    starts = [i for i, byte in enumerate(word) if byte & 0xC0 != 0x80]
    if not starts or starts[0] != 0:
        starts.insert(0, 0)
    return [word[a:b] for a, b in zip(starts, starts[1:] + [len(word)])]


def read_vocabulary(path: Path) -> List[bytes]:
    """Unique whitespace-separated words of a vocabulary file, in first-seen order."""
    try:
        words = _C_WHITESPACE.split(path.read_bytes())
    except OSError as error:
        raise BadInputError("{}: cannot read the vocabulary ({}). Re-run the lm step.".format(path, error))
    return list(dict.fromkeys(w for w in words if w))


def looks_utf8_mode(words: Iterable[bytes]) -> bool:
    """Bytes output mode is inferred when every word is at most one code point (as upstream)."""
    return all(len(_codepoints(w)) <= 1 for w in words)


def word_labels(words: Iterable[bytes], alphabet: Optional[Alphabet], utf8_mode: bool) -> List[Tuple[int, ...]]:
    """Label sequences of the words the dictionary holds; words outside the alphabet are skipped.

    Character mode ends every word with the space label; bytes mode uses the bytes themselves.
    """
    sequences = []
    if utf8_mode:
        for word in words:
            if word not in SPECIAL_TOKENS and b"\0" not in word:
                sequences.append(tuple(word))
        return sequences
    assert alphabet is not None
    char_labels = alphabet.fst_labels()
    end = alphabet.space_label + 1
    for word in words:
        if word in SPECIAL_TOKENS:
            continue
        labels = [char_labels.get(c) for c in _codepoints(word)]
        if None not in labels:
            sequences.append(tuple(labels) + (end,))  # type: ignore[arg-type]
    return sequences


@dataclass
class Dictionary:
    """A minimal acyclic acceptor: per state, whether it is final and its (label, next) arcs."""

    final: List[bool]
    arcs: List[List[Tuple[int, int]]]

    @property
    def num_arcs(self) -> int:
        return sum(len(a) for a in self.arcs)

    def properties(self, words: int) -> int:
        top_sorted = all(target > state for state, arcs in enumerate(self.arcs) for _, target in arcs)
        return (
            _DICTIONARY_PROPERTIES
            | (_TOP_SORTED if top_sorted else _NOT_TOP_SORTED)
            | (_STRING if words == 1 else _NOT_STRING)
        )


def build_dictionary(sequences: Sequence[Tuple[int, ...]]) -> Dictionary:
    """The dictionary FST OpenFST makes from these label sequences (see the module docstring)."""
    # Prefix trie from the sorted words: a word shares the previous word's path up to their common
    # prefix, so no lookup is needed. Nodes are numbered in creation (depth-first) order here.
    depth = [0]
    label = [0]
    parent = [-1]
    final = [False]
    children: List[List[int]] = [[]]  # in label order, as the words are sorted
    path = [0]  # the previous word's nodes, by depth
    previous: Tuple[int, ...] = ()
    for word in sorted(set(sequences)):
        common = 0
        limit = min(len(word), len(previous))
        while common < limit and word[common] == previous[common]:
            common += 1
        del path[common + 1 :]
        node = path[common]
        for position in range(common, len(word)):
            child = len(depth)
            depth.append(position + 1)
            label.append(word[position])
            parent.append(node)
            final.append(False)
            children.append([])
            children[node].append(child)
            path.append(child)
            node = child
        final[node] = True
        previous = word
    count = len(depth)

    # Determinisation numbers the trie breadth first with arcs in label order: by depth, then by
    # prefix order, which is creation order within a depth (a stable sort by depth).
    order = sorted(range(count), key=depth.__getitem__)
    bfs = [0] * count
    for position, node in enumerate(order):
        bfs[node] = position

    # Height = longest path to a state without arcs; a child is always created after its parent.
    height = [0] * count
    for node in range(count - 1, 0, -1):
        if height[node] + 1 > height[parent[node]]:
            height[parent[node]] = height[node] + 1
    by_height: List[List[int]] = [[] for _ in range(height[0] + 1)]
    for node in reversed(order):  # OpenFST's Partition lists a class newest (highest id) first
        by_height[height[node]].append(node)

    # Revuz minimisation, one height at a time from the leaves up. The group of the class's first
    # listed state keeps it (the highest id); every other group is re-listed by moves that prepend,
    # so its first state, hence its survivor, is its lowest id.
    survivor = list(range(count))
    for states in by_height:
        groups: Dict[Tuple[bool, Tuple[Tuple[int, int], ...]], List[int]] = {}
        for state in states:
            signature = (final[state], tuple([(label[c], survivor[c]) for c in children[state]]))
            groups.setdefault(signature, []).append(state)
        first = True
        for members in groups.values():
            keeper = members[0] if first else members[-1]
            first = False
            for state in members:
                survivor[state] = keeper

    # The merged automaton keeps the survivors in their breadth-first order.
    kept = sorted(set(survivor), key=bfs.__getitem__)
    new_id = {state: index for index, state in enumerate(kept)}
    return Dictionary(
        final=[final[s] for s in kept],
        arcs=[[(label[c], new_id[survivor[c]]) for c in children[s]] for s in kept],
    )


def _fst_string(text: str) -> bytes:
    raw = text.encode("ascii")
    return struct.pack("<i", len(raw)) + raw


def _pad(handle: BinaryIO) -> None:
    """NUL bytes up to the next multiple of 16 of the *absolute* file offset, as OpenFST aligns."""
    remainder = handle.tell() % FST_ALIGNMENT
    if remainder:
        handle.write(b"\0" * (FST_ALIGNMENT - remainder))


def const_fst_parts(dictionary: Dictionary, properties: int) -> Tuple[bytes, bytes, bytes]:
    """An OpenFST ``ConstFst<StdArc>`` as its header, states and arcs; the writer pads between them."""
    header = struct.pack("<i", FST_MAGIC) + _fst_string("const") + _fst_string("standard")
    header += struct.pack(
        "<iiQqqq", CONST_FST_VERSION, FST_FLAG_ALIGNED, properties, 0, len(dictionary.final), dictionary.num_arcs
    )
    state = struct.Struct("<fIIII")
    states = bytearray()
    position = 0
    for is_final, arcs in zip(dictionary.final, dictionary.arcs):
        states += state.pack(0.0 if is_final else TROPICAL_ZERO, position, len(arcs), 0, 0)
        position += len(arcs)
    arc = struct.Struct("<iifi")
    packed = bytearray()
    for arcs in dictionary.arcs:
        for label, target in arcs:
            packed += arc.pack(label, label, 0.0, target)
    return header, bytes(states), bytes(packed)


def check_kenlm_binary(path: Path) -> None:
    """Refuse what the decoder cannot use: not a KenLM binary, or one that stores its vocabulary."""
    try:
        with open(path, "rb") as handle:
            header = handle.read(KENLM_HAS_VOCABULARY_OFFSET + 1)
    except OSError as error:
        raise BadInputError("{}: cannot read the KenLM binary ({}). Re-run the lm step.".format(path, error))
    if not header.startswith(KENLM_MAGIC) or len(header) <= KENLM_HAS_VOCABULARY_OFFSET:
        raise BadInputError("{}: not a KenLM binary. Build it with build_binary (re-run the lm step).".format(path))
    if header[KENLM_HAS_VOCABULARY_OFFSET] != 0:
        raise BadInputError(
            "{}: this KenLM binary stores its vocabulary; the scorer needs one built with "
            "`build_binary -v trie` (re-run the lm step).".format(path)
        )


@dataclass(frozen=True)
class ScorerPackage:
    """What a written package holds, for the step's report."""

    path: Path
    words: int
    skipped_words: int
    states: int
    arcs: int
    utf8_mode: bool
    alpha: float
    beta: float


@dataclass(frozen=True)
class PreparedDictionary:
    """The dictionary FST of a vocabulary for an alphabet, serialised, ready to follow any LM binary.

    Building it is the slow part of packaging (seconds for 500,000 words) and needs only the
    vocabulary, so the lm step builds it in another process while KenLM is still working; it is
    kept as bytes (cheap to pass between processes) without the alignment padding, which depends
    on where the package places it.
    """

    fst_parts: Tuple[bytes, bytes, bytes]
    words: int
    skipped_words: int
    utf8_mode: bool
    states: int
    arcs: int


def prepare_dictionary(
    vocabulary: Path, alphabet: Optional[Path], utf8_mode: Optional[bool] = None
) -> PreparedDictionary:
    """The dictionary of ``vocabulary``; ``utf8_mode`` None infers bytes mode as upstream does."""
    words = read_vocabulary(vocabulary)
    if utf8_mode is None:
        utf8_mode = looks_utf8_mode(words)
    if not utf8_mode and alphabet is None:
        raise BadInputError("{}: character-mode scorer needs an alphabet; run the alphabet step.".format(vocabulary))
    sequences = word_labels(words, Alphabet.read(alphabet) if alphabet else None, utf8_mode)
    if not sequences:
        raise BadInputError(
            "{}: no vocabulary word can be written with the alphabet {}. Check that both come from the "
            "same language and label rules.".format(vocabulary, alphabet)
        )
    specials = sum(1 for w in words if w in SPECIAL_TOKENS)
    dictionary = build_dictionary(sequences)
    return PreparedDictionary(
        fst_parts=const_fst_parts(dictionary, dictionary.properties(len(sequences))),
        words=len(sequences),
        skipped_words=len(words) - specials - len(sequences),
        utf8_mode=utf8_mode,
        states=len(dictionary.final),
        arcs=dictionary.num_arcs,
    )


def write_package(
    lm_binary: Path, prepared: PreparedDictionary, package: Path, alpha: float, beta: float
) -> ScorerPackage:
    """Write ``package`` (atomically): the KenLM binary, the header, the dictionary."""
    check_kenlm_binary(lm_binary)
    alpha32, beta32 = float32(alpha), float32(beta)
    header, states, arcs = prepared.fst_parts
    with atomic_output(package, "wb") as handle:
        with open(lm_binary, "rb") as source:
            shutil.copyfileobj(source, handle, 1 << 20)
        handle.write(struct.pack("<ii?dd", SCORER_MAGIC, SCORER_VERSION, prepared.utf8_mode, alpha32, beta32))
        for part in (header, states):
            handle.write(part)
            _pad(handle)
        handle.write(arcs)
    return ScorerPackage(
        path=package,
        words=prepared.words,
        skipped_words=prepared.skipped_words,
        states=prepared.states,
        arcs=prepared.arcs,
        utf8_mode=prepared.utf8_mode,
        alpha=alpha32,
        beta=beta32,
    )


def write_scorer(
    lm_binary: Path,
    vocabulary: Path,
    alphabet: Optional[Path],
    package: Path,
    alpha: float,
    beta: float,
    utf8_mode: Optional[bool] = None,
) -> ScorerPackage:
    """Write ``package`` from a KenLM binary, a vocabulary and an alphabet (what Coqui's tool does)."""
    return write_package(lm_binary, prepare_dictionary(vocabulary, alphabet, utf8_mode), package, alpha, beta)


#: The decoder header that follows the KenLM binary: magic, version, bytes mode, default alpha, beta.
SCORER_HEADER = struct.Struct("<ii?dd")
_CONST_FST_HEADER = struct.Struct("<iiQqqq")
_FST_STATE_SIZE = struct.calcsize("<fIIII")
_FST_ARC_SIZE = struct.calcsize("<iifi")
_CONST_FST_TYPES = _fst_string("const") + _fst_string("standard")


@dataclass(frozen=True)
class ScorerDefaults:
    """The decoder settings a scorer package carries: what the decoder uses when not given others."""

    path: Path
    #: where the decoder header starts, i.e. the length of the KenLM binary before it
    header_offset: int
    utf8_mode: bool
    alpha: float
    beta: float


def _aligned(offset: int) -> int:
    return -(-offset // FST_ALIGNMENT) * FST_ALIGNMENT


def _is_decoder_header(package: mmap.mmap, offset: int) -> bool:
    """Whether a decoder header (and a dictionary FST that ends the file exactly) starts at ``offset``.

    The KenLM binary's length is not stored in the package (the decoder asks KenLM where its search
    structures end), so a candidate is accepted only when everything after it is a well-formed header
    and ConstFst whose states and arcs fill the file to its last byte.
    """
    fst = offset + SCORER_HEADER.size
    types_end = fst + 4 + len(_CONST_FST_TYPES)
    if types_end + _CONST_FST_HEADER.size > len(package):
        return False
    magic, version, utf8_byte = struct.unpack_from("<iiB", package, offset)
    if magic != SCORER_MAGIC or version != SCORER_VERSION or utf8_byte > 1:
        return False
    if struct.unpack_from("<i", package, fst)[0] != FST_MAGIC or package[fst + 4:types_end] != _CONST_FST_TYPES:
        return False
    _version, _flags, _properties, _start, states, arcs = _CONST_FST_HEADER.unpack_from(package, types_end)
    if states < 0 or arcs < 0:
        return False
    states_end = _aligned(types_end + _CONST_FST_HEADER.size) + states * _FST_STATE_SIZE
    return _aligned(states_end) + arcs * _FST_ARC_SIZE == len(package)


def read_scorer_defaults(package: Path) -> ScorerDefaults:
    """The default alpha/beta (and mode) stored in a scorer package, ours or Coqui's.

    Decoding with "the scorer's own values" must use these: coqui's evaluation and the ``stt`` runtime
    are given alpha/beta explicitly, so a step reads them here to pass them on.
    """
    def refused(reason: str) -> BadInputError:
        return BadInputError("{}: not a Coqui scorer package ({}). Pass the scorer the lm or optimize-lm step "
                             "wrote (its JSON result names it).".format(package, reason))

    try:
        handle = open(package, "rb")
    except OSError as error:
        raise refused(str(error)) from None
    with handle:
        if handle.seek(0, 2) < SCORER_HEADER.size:
            raise refused("too short")
        with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
            # The header is near the end (only the dictionary follows it): search backwards for it.
            needle = struct.pack("<ii", SCORER_MAGIC, SCORER_VERSION)
            end = len(mapped)
            while True:
                offset = mapped.rfind(needle, 0, end)
                if offset < 0:
                    raise refused("no decoder header of version {} after a language model".format(SCORER_VERSION))
                if _is_decoder_header(mapped, offset):
                    _magic, _version, utf8_mode, alpha, beta = SCORER_HEADER.unpack_from(mapped, offset)
                    return ScorerDefaults(package, offset, bool(utf8_mode), alpha, beta)
                end = offset + len(needle) - 1


def write_package_with_defaults(source: Path, package: Path, alpha: float, beta: float) -> ScorerDefaults:
    """Write ``package`` (atomically): ``source``'s language model and dictionary with other default alpha/beta.

    Only the two header values differ from ``source``, which is left untouched: a step that tunes the
    decoder produces its own package instead of rewriting the lm step's.
    """
    found = read_scorer_defaults(source)
    header = SCORER_HEADER.pack(SCORER_MAGIC, SCORER_VERSION, found.utf8_mode, float32(alpha), float32(beta))
    with atomic_output(package, "wb") as handle, open(source, "rb") as original:
        shutil.copyfileobj(original, handle, 1 << 20)
        handle.seek(found.header_offset)
        handle.write(header)
    return read_scorer_defaults(package)
