"""The tiny Inception-format archives, for the tests: they live in the package's sandbox
(:mod:`reelset.sandbox.inception_files`), where the demo uses them too; imported here so the tests keep one name."""

from reelset.sandbox.inception_files import POOL3, RESIZED, tiny_graph_bytes, write_tiny_inception_archives

__all__ = ["POOL3", "RESIZED", "tiny_graph_bytes", "write_tiny_inception_archives"]
