"""Byte-reproducible TFLite models: custom operators' options in one canonical key order.

The legacy TFLite converter writes the attributes of each custom operator (coqui's ``AudioSpectrogram``
and ``Mfcc``) as a FlexBuffer map, in the iteration order of the TensorFlow node's attribute map: a
protobuf map, whose order changes from one process to the next. Two exports of one checkpoint then
differ in those bytes only. Re-encoding each map with its keys in sorted order gives the same bytes
whatever the order was; the map keeps its length (same keys, same values), so it is patched in place
and the rest of the model is untouched. The ``stt`` runtime reads the options by key.
"""

from __future__ import annotations

from typing import Iterator, Tuple

from stt_tasks.errors import StepError

# Field slots of tensorflow/lite/schema/schema.fbs (vtable offset = 4 + 2 * field index).
_MODEL_SUBGRAPHS = 8  # Model.subgraphs, field 2
_SUBGRAPH_OPERATORS = 10  # SubGraph.operators, field 3
_OPERATOR_CUSTOM_OPTIONS = 14  # Operator.custom_options, field 5


def custom_options(model: bytearray) -> Iterator[Tuple[int, int]]:
    """(offset, length) of every operator's custom options in a TFLite flatbuffer."""
    from flatbuffers import encode, number_types, table

    root = table.Table(model, encode.Get(number_types.UOffsetTFlags.packer_type, model, 0))
    subgraphs = root.Offset(_MODEL_SUBGRAPHS)
    for i in range(root.VectorLen(subgraphs) if subgraphs else 0):
        subgraph = table.Table(model, root.Indirect(root.Vector(subgraphs) + 4 * i))
        operators = subgraph.Offset(_SUBGRAPH_OPERATORS)
        for j in range(subgraph.VectorLen(operators) if operators else 0):
            operator = table.Table(model, subgraph.Indirect(subgraph.Vector(operators) + 4 * j))
            options = operator.Offset(_OPERATOR_CUSTOM_OPTIONS)
            if options:
                yield operator.Vector(options), operator.VectorLen(options)


def canonical_model(model: bytes) -> bytes:
    """``model`` with every custom operator's FlexBuffer map re-encoded with sorted keys."""
    from flatbuffers import flexbuffers

    patched = bytearray(model)
    for start, length in custom_options(patched):
        original = bytes(patched[start:start + length])
        options = flexbuffers.Loads(original)
        if not isinstance(options, dict):
            continue
        canonical = flexbuffers.Dumps({key: options[key] for key in sorted(options)})
        if len(canonical) != length or flexbuffers.Loads(canonical) != options:
            raise StepError("custom operator options {} at byte {} of the TFLite model do not re-encode to the "
                            "same length: the converter's output changed (TensorFlow is not 2.15.x?); see "
                            "stt_tasks/training/tflite_canonical.py".format(options, start))
        patched[start:start + length] = canonical
    return bytes(patched)
