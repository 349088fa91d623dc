"""The Arrow schema of Action100M rows and the check that a parquet file can be read as one.

``ACTION100M_SCHEMA`` is the schema of the ``facebook/action100m-preview`` shards, field for field as verified
against real rows: one row per video, its YouTube metadata, and its Tree-of-Captions as a flat list of nodes in
BFS order. The sample generator writes exactly this schema, so that the tests read what the real files contain.

:func:`check_schema` runs before a reader touches any row, so a wrong file fails with one line naming the file and
the column, not with a ``KeyError`` deep in a loop. It checks the *kind* of each field, not the exact Arrow type: a
file rewritten by another tool may use ``large_string``, ``large_list``, an ``item`` list field name or wider
integers, and readers handle all of those alike.
"""

from __future__ import annotations

from collections.abc import Iterable

import pyarrow as pa

from reelset.core.errors import ReelsetError

VIDEO_UID = "video_uid"
METADATA = "metadata"
NODES = "nodes"
COLUMNS = (VIDEO_UID, METADATA, NODES)

NODE_ID = "node_id"
PARENT_ID = "parent_id"
LEVEL = "level"
START = "start"
END = "end"
PLM_ACTION = "plm_action"
PLM_CAPTION = "plm_caption"
LLAMA3_CAPTION = "llama3_caption"
GPT = "gpt"

# Parquet's standard name for the items of a LIST; pyarrow writes and reads it back under this name.
_LIST_ELEMENT = "element"


def _list_of(item_type: pa.DataType) -> pa.ListType:
    return pa.list_(pa.field(_LIST_ELEMENT, item_type))


TRANSCRIPT_ENTRY_TYPE = pa.struct([("time", pa.string()), ("text", pa.string())])

METADATA_TYPE = pa.struct(
    [
        ("title", pa.string()),
        ("description", pa.string()),
        ("view_count", pa.int64()),
        ("like_count", pa.int64()),
        ("duration", pa.int64()),
        ("upload_date", pa.string()),
        ("transcript", _list_of(TRANSCRIPT_ENTRY_TYPE)),
    ]
)

GPT_TYPE = pa.struct(
    [
        ("summary", pa.struct([("brief", pa.string()), ("detailed", pa.string())])),
        ("action", pa.struct([("brief", pa.string()), ("detailed", pa.string()), ("actor", pa.string())])),
    ]
)

NODE_TYPE = pa.struct(
    [
        (NODE_ID, pa.string()),
        (PARENT_ID, pa.string()),
        (LEVEL, pa.int16()),
        (START, pa.float32()),
        (END, pa.float32()),
        (PLM_ACTION, pa.string()),
        (PLM_CAPTION, pa.string()),
        (LLAMA3_CAPTION, pa.string()),
        (GPT, GPT_TYPE),
    ]
)

ACTION100M_SCHEMA = pa.schema(
    [
        (VIDEO_UID, pa.string()),
        (METADATA, METADATA_TYPE),
        (NODES, _list_of(NODE_TYPE)),
    ]
)


def check_schema(schema: pa.Schema, *, source: str, columns: Iterable[str] = COLUMNS) -> None:
    """Raise :class:`ReelsetError` unless ``schema`` has ``columns`` in a form readers of Action100M understand.

    Every field of the spec below a checked column must be present with a compatible kind (string, integer,
    float, list, struct); extra fields are allowed. Pass only the columns a step reads (the ids step needs just
    ``video_uid``) so that it does not reject files for columns it never touches.

    Args:
        schema: the schema of a file or table, e.g. ``pyarrow.parquet.read_schema(path)``.
        source: what the schema came from (a path), named in the error message.
        columns: top-level columns to check, names from :data:`COLUMNS`.

    Raises:
        ReelsetError: a checked column is missing, duplicated, or has an incompatible type.
    """
    for name in columns:
        expected = ACTION100M_SCHEMA.field(name).type
        indices = schema.get_all_field_indices(name)
        if not indices:
            raise ReelsetError(f"{source}: column {name!r} is missing (columns: {', '.join(schema.names)})")
        if len(indices) > 1:
            raise ReelsetError(f"{source}: column {name!r} appears {len(indices)} times")
        problem = _incompatibility(schema.field(indices[0]).type, expected, name)
        if problem:
            raise ReelsetError(f"{source}: {problem}")


def _incompatibility(actual: pa.DataType, expected: pa.DataType, path: str) -> str | None:
    """Describe the first way ``actual`` cannot be read as ``expected`` (``path`` names the field), or None."""
    if pa.types.is_struct(expected):
        if not pa.types.is_struct(actual):
            return f"{path} is {actual}, expected a struct"
        for field in expected:
            index = actual.get_field_index(field.name)
            if index < 0:
                return f"{path}.{field.name} is missing"
            problem = _incompatibility(actual.field(index).type, field.type, f"{path}.{field.name}")
            if problem:
                return problem
        return None
    if pa.types.is_list(expected):
        if not (pa.types.is_list(actual) or pa.types.is_large_list(actual)):
            return f"{path} is {actual}, expected a list"
        return _incompatibility(actual.value_type, expected.value_type, f"{path}[]")
    if _kind(actual) != _kind(expected):
        return f"{path} is {actual}, expected {expected}"
    return None


def _kind(data_type: pa.DataType) -> str:
    """The family of a scalar type; types of one family read into the same Python values."""
    if pa.types.is_string(data_type) or pa.types.is_large_string(data_type) or pa.types.is_string_view(data_type):
        return "string"
    if pa.types.is_integer(data_type):
        return "integer"
    if pa.types.is_floating(data_type):
        return "float"
    return str(data_type)
