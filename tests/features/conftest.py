"""Fixtures shared by the VGGish tests: a narrow checkpoint in the real format with its PCA file, and VGGish on it."""

from __future__ import annotations

import pytest

from reelset.features.audio import Vggish
from reelset.features.backbones.model_files import VggishFiles
from reelset.sandbox.vggish_files import CHECKPOINT_NAME as CKPT
from reelset.sandbox.vggish_files import PCA_NAME as PCA
from reelset.sandbox.vggish_files import write_vggish_files


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict:
    return write_vggish_files(tmp_path_factory.mktemp("vggish"))


@pytest.fixture(scope="module")
def vggish(files) -> Vggish:
    return Vggish(VggishFiles(files[CKPT], files[PCA]), device="cpu")
