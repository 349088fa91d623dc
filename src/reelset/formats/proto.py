"""TensorFlow's ``tf.train.Example`` / ``SequenceExample`` messages, without TensorFlow and without protoc.

The classes are built at import time from a ``FileDescriptorProto`` that restates
``tensorflow/core/example/feature.proto`` and ``example.proto`` field by field (same names, numbers, types, labels,
options and ``syntax = "proto3"``; a test compares the descriptors with TensorFlow's), so they read and write the
same bytes as TensorFlow's. Two deliberate differences keep the
two apart when both are imported in one process, in either order:

- the proto package is ``reelset.tfexample``, not ``tensorflow``, so no full name is registered twice;
- the descriptors live in a private ``DescriptorPool``, never in protobuf's default pool that TensorFlow fills.

The wire format does not carry names, so a message serialised here parses as TensorFlow's and the other way round.
``SerializeToString(deterministic=True)`` sorts map keys, which is what makes our files byte-identical to
``tf.io.TFRecordWriter``'s for the same content.
"""

from __future__ import annotations

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

PACKAGE = "reelset.tfexample"

_FIELD = descriptor_pb2.FieldDescriptorProto
_REPEATED, _OPTIONAL = _FIELD.LABEL_REPEATED, _FIELD.LABEL_OPTIONAL


def _field(message: descriptor_pb2.DescriptorProto, name: str, number: int, kind: int, *,
           label: int = _OPTIONAL, type_name: str | None = None, packed: bool = False, js_string: bool = False,
           oneof_index: int | None = None) -> None:
    field = message.field.add(name=name, number=number, type=kind, label=label)
    if type_name is not None:
        field.type_name = f".{PACKAGE}.{type_name}"
    if packed:
        field.options.packed = True
    if js_string:  # TensorFlow's Int64List says so; it only matters to JavaScript, but the descriptor is the same
        field.options.jstype = descriptor_pb2.FieldOptions.JS_STRING
    if oneof_index is not None:
        field.oneof_index = oneof_index


def _map_field(message: descriptor_pb2.DescriptorProto, name: str, entry_name: str, value_type: str) -> None:
    """``map<string, value_type> name = 1;`` as protoc lowers it: a nested ``<Name>Entry`` message plus a field."""
    entry = message.nested_type.add(name=entry_name)
    entry.options.map_entry = True
    _field(entry, "key", 1, _FIELD.TYPE_STRING)
    _field(entry, "value", 2, _FIELD.TYPE_MESSAGE, type_name=value_type)
    _field(message, name, 1, _FIELD.TYPE_MESSAGE, label=_REPEATED, type_name=f"{message.name}.{entry_name}")


def _file_descriptor() -> descriptor_pb2.FileDescriptorProto:
    proto = descriptor_pb2.FileDescriptorProto(name="reelset/tfexample/example.proto", package=PACKAGE,
                                               syntax="proto3")
    # feature.proto
    bytes_list = proto.message_type.add(name="BytesList")
    _field(bytes_list, "value", 1, _FIELD.TYPE_BYTES, label=_REPEATED)
    float_list = proto.message_type.add(name="FloatList")
    _field(float_list, "value", 1, _FIELD.TYPE_FLOAT, label=_REPEATED, packed=True)
    int64_list = proto.message_type.add(name="Int64List")
    _field(int64_list, "value", 1, _FIELD.TYPE_INT64, label=_REPEATED, packed=True, js_string=True)
    feature = proto.message_type.add(name="Feature")
    feature.oneof_decl.add(name="kind")
    _field(feature, "bytes_list", 1, _FIELD.TYPE_MESSAGE, type_name="BytesList", oneof_index=0)
    _field(feature, "float_list", 2, _FIELD.TYPE_MESSAGE, type_name="FloatList", oneof_index=0)
    _field(feature, "int64_list", 3, _FIELD.TYPE_MESSAGE, type_name="Int64List", oneof_index=0)
    _map_field(proto.message_type.add(name="Features"), "feature", "FeatureEntry", "Feature")
    feature_list = proto.message_type.add(name="FeatureList")
    _field(feature_list, "feature", 1, _FIELD.TYPE_MESSAGE, label=_REPEATED, type_name="Feature")
    _map_field(proto.message_type.add(name="FeatureLists"), "feature_list", "FeatureListEntry", "FeatureList")
    # example.proto
    example = proto.message_type.add(name="Example")
    _field(example, "features", 1, _FIELD.TYPE_MESSAGE, type_name="Features")
    sequence_example = proto.message_type.add(name="SequenceExample")
    _field(sequence_example, "context", 1, _FIELD.TYPE_MESSAGE, type_name="Features")
    _field(sequence_example, "feature_lists", 2, _FIELD.TYPE_MESSAGE, type_name="FeatureLists")
    return proto


POOL = descriptor_pool.DescriptorPool()
POOL.Add(_file_descriptor())


def _message_class(name: str):
    return message_factory.GetMessageClass(POOL.FindMessageTypeByName(f"{PACKAGE}.{name}"))


BytesList = _message_class("BytesList")
FloatList = _message_class("FloatList")
Int64List = _message_class("Int64List")
Feature = _message_class("Feature")
Features = _message_class("Features")
FeatureList = _message_class("FeatureList")
FeatureLists = _message_class("FeatureLists")
Example = _message_class("Example")
SequenceExample = _message_class("SequenceExample")

__all__ = ["BytesList", "Example", "Feature", "FeatureList", "FeatureLists", "Features", "FloatList", "Int64List",
           "PACKAGE", "SequenceExample"]
