"""TensorFlow's ``Example`` / ``SequenceExample`` messages: moved to :mod:`reelset.formats.proto`, re-exported here."""

from reelset.formats.proto import (PACKAGE, BytesList, Example, Feature, FeatureList, FeatureLists, Features, FloatList,
                                   Int64List, SequenceExample)

__all__ = ["BytesList", "Example", "Feature", "FeatureList", "FeatureLists", "Features", "FloatList", "Int64List",
           "PACKAGE", "SequenceExample"]
