"""The ``inception-yt8m`` backbone (the original YouTube-8M recipe) and its model files, with TensorFlow for real.

The real Inception graph is 90 MB and the real PCA comes from data.yt8m.org; neither is fetched here. Instead a tiny
TF1 GraphDef with the same tensor names (``DecodeJpeg:0`` in, ``pool_3/_reshape:0`` out, the batch axis added by an
``ExpandDims`` after the input, a bilinear resize inside) and random PCA arrays of the real shapes are packed in
archives of the real names and served over HTTP from 127.0.0.1. The tiny graph puts the height and width of the frame
it received in its first two outputs, so the tests see what the backbone feeds it.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest

from reelset.core.errors import ReelsetError
from reelset.core.http import ChecksumError, HttpError
from reelset.features.backbones import Backbone, DeviceError, load_backbone
from reelset.features.backbones.inception import EXTRA_HINT, InceptionYt8m, Yt8mPca, import_tensorflow
from reelset.features.backbones.model_files import (
    CHECKSUMS_FILE,
    ModelFileError,
    check_model_dir,
    fetch_inception_files,
)
from reelset.sandbox.servers import Fault, MediaServer

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
tf = pytest.importorskip("tensorflow", reason="the inception-yt8m backbone runs on the optional tensorflow extra")

INCEPTION = "inception-2015-12-05.tgz"
PCA = "yt8m_pca.tgz"
GRAPH = "classify_image_graph_def.pb"
PCA_MEMBERS = ("mean.npy", "eigenvals.npy", "eigenvecs.npy")
MEMBERS = (GRAPH, *PCA_MEMBERS)
RESIZED = 4  # the tiny graph resizes every frame to 4 x 4 (the real one to 299 x 299)


# ------------------------------------------------------------------------------------------------ fixtures


def tiny_graph_bytes() -> bytes:
    """A serialized TF1 GraphDef with the real graph's input and output tensor names.

    ``pool_3/_reshape:0`` is ``[height, width, resized_pixels / 255 @ W]``: 2 + 2046 = 2048 floats.
    """
    v1 = tf.compat.v1
    weights = np.random.default_rng(0).uniform(0, 2 / 48, (RESIZED * RESIZED * 3, 2046)).astype(np.float32)
    with tf.Graph().as_default() as graph:
        image = v1.placeholder(tf.uint8, [None, None, 3], name="DecodeJpeg")
        batch = tf.expand_dims(tf.cast(image, tf.float32), 0)  # ExpandDims: the batch axis is fixed at 1
        resized = tf.raw_ops.ResizeBilinear(images=batch, size=tf.constant([RESIZED, RESIZED]))
        flat = tf.reshape(resized, [1, RESIZED * RESIZED * 3]) * (1 / 255)
        size = tf.reshape(tf.cast(tf.shape(image)[:2], tf.float32), [1, 2])
        features = tf.concat([size, tf.matmul(flat, tf.constant(weights))], axis=1)
        output = tf.reshape(features, [1, 2048], name="pool_3/_reshape")
    assert output.name == "pool_3/_reshape:0" and image.name == "DecodeJpeg:0"
    return graph.as_graph_def().SerializeToString()


def run_graph(graph_bytes: bytes, frame: np.ndarray) -> np.ndarray:
    """The graph's pool_3 for one frame, by TensorFlow directly: the tests' independent view."""
    graph_def = tf.compat.v1.GraphDef()
    graph_def.ParseFromString(graph_bytes)
    with tf.Graph().as_default() as graph:
        tf.compat.v1.import_graph_def(graph_def, name="")
    with tf.compat.v1.Session(graph=graph) as session:
        return session.run("pool_3/_reshape:0", {"DecodeJpeg:0": frame})


def npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def regular(name: str, data: bytes) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    return info, data


def special(name: str, kind: bytes, linkname: str = "") -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    return info, None


def write_tgz(path: Path, members) -> Path:
    """A gzip tarball with ``members`` ((TarInfo, bytes or None) pairs) in that order."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz", compresslevel=1) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Served:
    """The archives' contents and where the server root keeps them."""

    def __init__(self, root: Path):
        self.root = root
        self.graph = tiny_graph_bytes()
        rng = np.random.default_rng(2048)
        self.mean = rng.normal(0.5, 0.2, (2048, 1)).astype(np.float32)
        self.eigenvals = rng.uniform(0.5, 4.0, (2048, 1)).astype(np.float32)
        self.eigenvecs = rng.standard_normal((2048, 2048), dtype=np.float32) / np.float32(np.sqrt(2048))
        self.members = {GRAPH: self.graph, "mean.npy": npy_bytes(self.mean),
                        "eigenvals.npy": npy_bytes(self.eigenvals), "eigenvecs.npy": npy_bytes(self.eigenvecs)}
        # As the real archives: the graph among other files at the top level; the PCA arrays named "./x.npy".
        write_tgz(root / "good" / INCEPTION, [
            regular("LICENSE", b"Apache License 2.0\n"),
            regular(GRAPH, self.graph),
            regular("cropped_panda.jpg", b"\xff\xd8 not really a jpeg"),
        ])
        write_tgz(root / "good" / PCA, [special(".", tarfile.DIRTYPE)]
                  + [regular(f"./{name}", self.members[name]) for name in PCA_MEMBERS])
        # For the tests of the files alone (nothing loads them): the same layout with small arrays, fast to serve.
        self.small = {name: npy_bytes(np.full((4, 1), index, np.float32)) for index, name in enumerate(PCA_MEMBERS)}
        write_tgz(root / "small" / PCA, [regular(name, self.small[name]) for name in PCA_MEMBERS])

    def archive_bytes(self, name: str) -> bytes:
        return (self.root / "good" / name).read_bytes()


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> Served:
    return Served(tmp_path_factory.mktemp("served"))


@pytest.fixture()
def server(served):
    with MediaServer(served.root) as running:
        yield running


def urls_for(server: MediaServer, inception: str = f"good/{INCEPTION}", pca: str = f"good/{PCA}") -> dict:
    """The archives' URLs; the full PCA by default, ``pca=SMALL_PCA`` where nothing loads the arrays."""
    return {INCEPTION: server.url_for(inception), PCA: server.url_for(pca)}


SMALL_PCA = f"small/{PCA}"


def gets(server: MediaServer) -> list[str]:
    return [request.path for request in server.requests if request.method == "GET"]


@pytest.fixture(scope="module")
def backbone(served, tmp_path_factory):
    """One loaded backbone for the module (its model dir fetched once from a server of its own)."""
    with MediaServer(served.root) as running:
        loaded = load_backbone("inception-yt8m", model_dir=tmp_path_factory.mktemp("models"), device="cpu",
                               urls=urls_for(running))
    yield loaded
    loaded.close()


def random_frames(n: int, height: int, width: int, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, height, width, 3), dtype=np.uint8)


# ------------------------------------------------------------------------------------------------ PCA


def test_pca_on_a_hand_example():
    mean = np.array([[1], [2], [3], [4]], np.float32)
    # + 1e-4 makes the first two 4 and 0.25 (square roots 2 and 0.5); the last two are not kept.
    eigenvals = np.array([[3.9999], [0.2499], [7], [9]], np.float32)
    eigenvecs = np.array([[0.5, 0.5, 0.5, 0.5],  # eigenvector 0 is row 0 (column 0 is [0.5, 1, 9, 9])
                          [1, -1, 0, 0],
                          [9, 9, 9, 9],
                          [9, 9, 9, 9]], np.float32)
    features = np.array([[3, 1, 4, 8],  # minus the mean: [2, -1, 1, 4]
                         [1, 2, 3, 4]], np.float32)  # the mean itself
    # Row 0: 0.5 * (2 - 1 + 1 + 4) = 3, / 2 = 1.5; (2 - -1) = 3, / 0.5 = 6. Row 1: zeros.
    expected = np.array([[1.5, 6.0], [0.0, 0.0]], np.float32)
    pca = Yt8mPca(mean, eigenvals, eigenvecs, components=2)
    projected = pca.apply(features)
    assert projected.dtype == np.float32 and projected.shape == (2, 2)
    np.testing.assert_allclose(projected, expected, rtol=1e-5, atol=1e-6)


def test_pca_refuses_wrong_shapes():
    good = (np.zeros((4, 1), np.float32), np.ones((4, 1), np.float32), np.eye(4, dtype=np.float32))
    with pytest.raises(ValueError, match="eigenvecs has shape"):
        Yt8mPca(good[0], good[1], np.eye(3, dtype=np.float32), components=2)
    with pytest.raises(ValueError, match="eigenvals has shape"):
        Yt8mPca(good[0], np.ones((4,), np.float32), good[2], components=2)
    with pytest.raises(ValueError, match="components"):
        Yt8mPca(*good, components=5)
    with pytest.raises(ValueError, match=r"features must be \(n, 4\)"):
        Yt8mPca(*good, components=2).apply(np.zeros((1, 3), np.float32))


def test_embed_is_the_graph_then_the_yt8m_pca(backbone, served):
    frame = random_frames(1, 90, 120, seed=4)
    pool3 = run_graph(served.graph, frame[0]).astype(np.float64)  # (1, 2048), by TensorFlow directly
    assert pool3.shape == (1, 2048)
    # The original's formula on the arrays as stored, in float64.
    mean = served.mean.astype(np.float64)
    eigenvals = served.eigenvals.astype(np.float64)
    eigenvecs = served.eigenvecs.astype(np.float64)
    expected = ((pool3 - mean.T) @ eigenvecs.T[:, :1024]) / np.sqrt(eigenvals[:1024].T + 1e-4)
    features = backbone.embed(frame)
    assert features.shape == (1, 1024) and features.dtype == np.float32
    assert np.abs(expected).max() > 1  # not a degenerate comparison
    np.testing.assert_allclose(features, expected, rtol=1e-4, atol=1e-4)


def test_embed_of_several_frames_is_each_frame_alone(backbone):
    frames = random_frames(3, 31, 47, seed=5)
    together = backbone.embed(frames)
    assert together.shape == (3, 1024)
    for index in range(3):
        np.testing.assert_allclose(together[index], backbone.embed(frames[index:index + 1])[0], rtol=0, atol=1e-5)


# ------------------------------------------------------------------------------------------------ the graph


def test_backbone_follows_the_protocol(backbone):
    assert isinstance(backbone, Backbone) and isinstance(backbone, InceptionYt8m)
    assert backbone.name == "inception-yt8m" and backbone.width == 1024 and backbone.device == "cpu"
    assert backbone.input_size is None
    # Cached features are keyed by the four files' contents: their verified digests.
    files = backbone.files
    paths = (files.graph, files.pca_mean, files.pca_eigenvals, files.pca_eigenvecs)
    assert backbone.fingerprint == "inception-yt8m:" + ",".join(sha256(path.read_bytes()) for path in paths)


@pytest.mark.parametrize(("height", "width"), [(37, 53), (360, 640), (1, 1)])
def test_the_graph_gets_the_whole_frame_at_its_own_size(backbone, served, height, width):
    frames = random_frames(2, height, width, seed=height)
    pool3 = backbone.pool3(frames)
    assert pool3.shape == (2, 2048) and pool3.dtype == np.float32
    np.testing.assert_array_equal(pool3[:, :2], [[height, width]] * 2)  # what the graph received
    for index in range(2):
        np.testing.assert_allclose(pool3[index], run_graph(served.graph, frames[index])[0], rtol=1e-6, atol=1e-6)


def test_wrong_frames_are_refused(backbone):
    with pytest.raises(ValueError, match="uint8"):
        backbone.embed(np.zeros((1, 8, 8, 3), np.float32))
    with pytest.raises(ValueError, match="uint8"):
        backbone.embed(np.zeros((8, 8, 3), np.uint8))


def test_no_frames_give_no_features(backbone):
    assert backbone.embed(np.zeros((0, 8, 8, 3), np.uint8)).shape == (0, 1024)


def test_cuda_without_a_tensorflow_gpu_is_refused(backbone):
    if tf.config.list_physical_devices("GPU"):
        pytest.skip("TensorFlow sees a GPU here")
    with pytest.raises(DeviceError, match="no CUDA GPU is visible to TensorFlow"):
        InceptionYt8m(backbone.files, device="cuda")


# ------------------------------------------------------------------------------------------------ quantization


def test_to_bytes_is_yt8m_quantize(backbone):
    values = np.array([[-2.0, 2.0, 0.0, -2.5, 7.0, 1.0, -1.0]], np.float32)
    # (x + 2) * 255 / 4 after clipping: 0, 255, 127.5 -> 128 (half to even), clipped 0 and 255, 191.25, 63.75.
    quantized = backbone.to_bytes(values)
    assert quantized.dtype == np.uint8
    assert quantized.tolist() == [[0, 255, 128, 0, 255, 191, 64]]


def test_from_bytes_is_the_starter_codes_dequantize(backbone):
    restored = backbone.from_bytes(np.array([[0, 255, 128, 191]], np.uint8))
    assert restored.dtype == np.float32
    # q * 4/255 + 4/512 - 2: -1.9921875, 4 - 1.9921875, 512/255 - 1.9921875, 764/255 - 1.9921875.
    np.testing.assert_allclose(restored, [[-1.9921875, 2.0078125, 0.0156556373, 1.0038909314]], atol=1e-6)


def test_round_trip_error_on_real_output(backbone):
    features = backbone.embed(random_frames(2, 20, 30, seed=9))
    inside = np.clip(features, -2, 2)
    error = backbone.from_bytes(backbone.to_bytes(features)) - inside
    assert np.abs(error).max() <= 4 / 255 + 1e-6


# ------------------------------------------------------------------------------------------------ model files


def test_first_use_downloads_extracts_and_records(server, served, tmp_path):
    model_dir = tmp_path / "yt8m"
    progress = []
    files = fetch_inception_files(model_dir, urls=urls_for(server, pca=SMALL_PCA),
                                  on_progress=lambda name, done, total: progress.append((name, done, total)))
    assert sorted(gets(server)) == sorted([f"/good/{INCEPTION}", f"/{SMALL_PCA}"])
    members = {GRAPH: served.graph, **served.small}
    for name in MEMBERS:
        assert (model_dir / name).read_bytes() == members[name]
    assert (files.graph, files.pca_mean, files.pca_eigenvals, files.pca_eigenvecs) == \
        tuple(model_dir / name for name in MEMBERS)
    # The archives stay beside their members, as the original extractor leaves them; nothing else is extracted.
    inception_bytes = served.archive_bytes(INCEPTION)
    pca_bytes = (served.root / SMALL_PCA).read_bytes()
    assert (model_dir / INCEPTION).read_bytes() == inception_bytes
    assert (model_dir / PCA).read_bytes() == pca_bytes
    assert not (model_dir / "LICENSE").exists() and not (model_dir / "cropped_panda.jpg").exists()
    assert not list(model_dir.glob("*.part"))
    record = json.loads((model_dir / CHECKSUMS_FILE).read_text())
    assert set(record) == {INCEPTION, PCA}
    assert record[INCEPTION]["sha256"] == sha256(inception_bytes)
    assert record[PCA]["sha256"] == sha256(pca_bytes)
    assert record[INCEPTION]["members"] == {GRAPH: sha256(served.graph)}
    assert record[PCA]["members"] == {name: sha256(served.small[name]) for name in PCA_MEMBERS}
    assert record[PCA]["url"] == server.url_for(SMALL_PCA)
    assert record[INCEPTION]["bytes"] == len(inception_bytes)
    last = {name: (done, total) for name, done, total in progress}
    assert last == {INCEPTION: (len(inception_bytes),) * 2, PCA: (len(pca_bytes),) * 2}


def test_second_use_verifies_without_downloading(server, tmp_path):
    model_dir = tmp_path / "yt8m"
    fetch_inception_files(model_dir, urls=urls_for(server, pca=SMALL_PCA))
    record = (model_dir / CHECKSUMS_FILE).read_bytes()
    server.clear_requests()
    fetch_inception_files(model_dir, urls=urls_for(server, pca=SMALL_PCA))
    assert server.requests == []
    assert (model_dir / CHECKSUMS_FILE).read_bytes() == record


def test_environment_variables_point_at_the_archives_and_a_second_load_downloads_nothing(server, tmp_path,
                                                                                          monkeypatch):
    monkeypatch.setenv("REELSET_INCEPTION_URL", server.url_for(f"good/{INCEPTION}"))
    monkeypatch.setenv("REELSET_YT8M_PCA_URL", server.url_for(f"good/{PCA}"))
    model_dir = tmp_path / "yt8m"
    first = load_backbone("inception-yt8m", model_dir=model_dir, device="cpu")
    assert sorted(gets(server)) == sorted([f"/good/{INCEPTION}", f"/good/{PCA}"])
    server.clear_requests()
    second = load_backbone("inception-yt8m", model_dir=model_dir, device="cpu")
    assert server.requests == []
    frames = random_frames(1, 10, 12)
    features = first.embed(frames)
    assert features.shape == (1, 1024)
    np.testing.assert_array_equal(second.embed(frames), features)
    first.close()
    second.close()


def test_a_deleted_member_is_extracted_again_from_the_kept_archive(server, served, tmp_path):
    model_dir = tmp_path / "yt8m"
    fetch_inception_files(model_dir, urls=urls_for(server, pca=SMALL_PCA))
    (model_dir / "eigenvals.npy").unlink()
    server.clear_requests()
    fetch_inception_files(model_dir, urls=urls_for(server, pca=SMALL_PCA))
    assert server.requests == []
    assert (model_dir / "eigenvals.npy").read_bytes() == served.small["eigenvals.npy"]


@pytest.mark.parametrize("tampered", ["mean.npy", PCA])
def test_a_file_changed_after_it_was_recorded_is_refused(server, tmp_path, tampered):
    model_dir = tmp_path / "yt8m"
    fetch_inception_files(model_dir, urls=urls_for(server, pca=SMALL_PCA))
    with open(model_dir / tampered, "r+b") as handle:
        handle.seek(100)
        handle.write(b"\x01\x02\x03")
    server.clear_requests()
    with pytest.raises(ModelFileError, match="recorded") as caught:
        load_backbone("inception-yt8m", model_dir=model_dir, device="cpu", urls=urls_for(server, pca=SMALL_PCA))
    assert str(model_dir / tampered) in str(caught.value)
    assert server.requests == []  # refused, not silently fetched again


def test_a_wrong_pin_on_first_download_records_nothing(server, tmp_path):
    model_dir = tmp_path / "yt8m"
    with pytest.raises(ChecksumError, match=INCEPTION) as caught:
        load_backbone("inception-yt8m", model_dir=model_dir, device="cpu", urls=urls_for(server, pca=SMALL_PCA),
                      expected_sha256={INCEPTION: "0" * 64})
    assert isinstance(caught.value, ReelsetError)
    assert "0" * 64 in str(caught.value)
    assert not (model_dir / CHECKSUMS_FILE).exists()
    assert not (model_dir / INCEPTION).exists() and not list(model_dir.glob("*.part"))
    assert not any((model_dir / name).exists() for name in MEMBERS)


def test_right_pins_load_and_a_pin_must_agree_with_the_record(server, served, tmp_path):
    model_dir = tmp_path / "yt8m"
    pca_digest = sha256((served.root / SMALL_PCA).read_bytes())
    pins = f"{INCEPTION}={sha256(served.archive_bytes(INCEPTION))},{PCA}={pca_digest.upper()}"
    fetch_inception_files(model_dir, urls=urls_for(server, pca=SMALL_PCA), expected_sha256=pins)
    fetch_inception_files(model_dir, urls=urls_for(server, pca=SMALL_PCA), expected_sha256=pins)  # vs the record
    with pytest.raises(ModelFileError, match="differs from .* recorded"):
        fetch_inception_files(model_dir, urls=urls_for(server, pca=SMALL_PCA), expected_sha256={PCA: "a" * 64})


def test_malformed_pins_are_refused(server, tmp_path):
    with pytest.raises(ReelsetError, match="NAME=SHA256"):
        fetch_inception_files(tmp_path, urls=urls_for(server), expected_sha256="0" * 64)  # two files to pin
    with pytest.raises(ReelsetError, match="unknown file 'model.pb'"):
        fetch_inception_files(tmp_path, urls=urls_for(server), expected_sha256={"model.pb": "0" * 64})
    assert server.requests == []


UNSAFE = {
    "parent": (lambda outside: regular("../evil.txt", b"evil"), "../evil.txt", "'..'"),
    "absolute": (lambda outside: regular(str(outside / "absolute-evil.txt"), b"evil"), "absolute-evil.txt",
                 "absolute path"),
    "symlink": (lambda outside: special("evil-link", tarfile.SYMTYPE, "../evil.txt"), "evil-link", "symbolic link"),
    "symlink-as-member": (lambda outside: special("./mean.npy", tarfile.SYMTYPE, "/etc/passwd"), "mean.npy",
                          "symbolic link"),
    "hardlink": (lambda outside: special("hard", tarfile.LNKTYPE, "/etc/passwd"), "hard", "hard link"),
    "fifo": (lambda outside: special("pipe", tarfile.FIFOTYPE), "pipe", "FIFO"),
}


@pytest.mark.parametrize("case", list(UNSAFE))
def test_an_unsafe_archive_is_refused_before_anything_is_written(server, served, tmp_path, case):
    make_member, member_name, reason = UNSAFE[case]
    outside = tmp_path / "outside"
    outside.mkdir()
    model_dir = outside / "yt8m"
    # The expected members come first, so an extractor that wrote as it read would have written them already.
    write_tgz(served.root / "unsafe" / case / PCA,
              [regular(name, b"fake") for name in PCA_MEMBERS] + [make_member(outside)])
    with pytest.raises(ModelFileError, match="refusing member") as caught:
        fetch_inception_files(model_dir, urls=urls_for(server, pca=f"unsafe/{case}/{PCA}"))
    message = str(caught.value)
    assert member_name in message and reason in message and "\n" not in message
    assert sorted(path.name for path in outside.iterdir()) == ["yt8m"]  # nothing beside the model dir
    assert not (tmp_path / "evil.txt").exists() and not (tmp_path / "absolute-evil.txt").exists()
    for name in PCA_MEMBERS + ("evil-link", "hard", "pipe", "evil.txt"):
        assert not (model_dir / name).exists() and not (model_dir / name).is_symlink()
    record = json.loads((model_dir / CHECKSUMS_FILE).read_text())  # the inception archive was fine
    assert set(record) == {INCEPTION}


def test_an_archive_without_a_member_names_it(server, served, tmp_path):
    write_tgz(served.root / "incomplete" / PCA,
              [regular(name, served.small[name]) for name in ("mean.npy", "eigenvals.npy")])
    with pytest.raises(ModelFileError, match="expected member 'eigenvecs.npy' is not in the archive"):
        fetch_inception_files(tmp_path / "yt8m", urls=urls_for(server, pca=f"incomplete/{PCA}"))
    assert not (tmp_path / "yt8m" / "mean.npy").exists()


def test_members_in_a_folder_are_not_top_level_members(server, served, tmp_path):
    write_tgz(served.root / "nested" / PCA,
              [regular(f"yt8m_pca/{name}", served.small[name]) for name in PCA_MEMBERS])
    with pytest.raises(ModelFileError, match="expected member 'mean.npy' is not in the archive"):
        fetch_inception_files(tmp_path / "yt8m", urls=urls_for(server, pca=f"nested/{PCA}"))


def test_a_member_twice_is_refused(server, served, tmp_path):
    write_tgz(served.root / "twice" / PCA,
              [regular(name, served.small[name]) for name in PCA_MEMBERS] + [regular("./mean.npy", b"other")])
    with pytest.raises(ModelFileError, match="appears twice"):
        fetch_inception_files(tmp_path / "yt8m", urls=urls_for(server, pca=f"twice/{PCA}"))


def test_not_an_archive_is_refused(server, served, tmp_path):
    (served.root / "garbage").mkdir(exist_ok=True)
    (served.root / "garbage" / PCA).write_bytes(b"<html>not found, but with status 200</html>")
    with pytest.raises(ModelFileError, match="extraction failed"):
        fetch_inception_files(tmp_path / "yt8m", urls=urls_for(server, pca=f"garbage/{PCA}"))


def test_a_missing_file_on_the_server_is_an_http_error(server, tmp_path):
    with pytest.raises(HttpError, match="HTTP 404") as caught:
        load_backbone("inception-yt8m", model_dir=tmp_path / "yt8m", device="cpu",
                      urls=urls_for(server, inception=f"nowhere/{INCEPTION}"))
    assert caught.value.status == 404
    assert server.url_for(f"nowhere/{INCEPTION}") in str(caught.value)
    assert len(gets(server)) == 1  # a 404 is final: no retries
    assert not (tmp_path / "yt8m" / CHECKSUMS_FILE).exists()


def test_a_failing_server_is_an_http_error_after_retries(server, tmp_path, monkeypatch):
    import reelset.core.http

    monkeypatch.setattr(reelset.core.http, "_pause", lambda attempt, base: None)  # no back-off waits in tests
    server.set_fault(PCA, Fault("status", status=500))
    with pytest.raises(HttpError, match="HTTP 500") as caught:
        load_backbone("inception-yt8m", model_dir=tmp_path / "yt8m", device="cpu",
                      urls=urls_for(server, pca=SMALL_PCA))
    assert caught.value.status == 500
    assert len([path for path in gets(server) if path.endswith(PCA)]) > 1  # retried before giving up
    assert set(json.loads((tmp_path / "yt8m" / CHECKSUMS_FILE).read_text())) == {INCEPTION}


def test_check_model_dir_reports_missing_ok_and_changed(server, tmp_path):
    model_dir = tmp_path / "yt8m"
    before = {check.path.name: check for check in check_model_dir(model_dir)}
    assert set(before) == {INCEPTION, PCA, *MEMBERS}
    assert {name: before[name].state for name in MEMBERS} == dict.fromkeys(MEMBERS, "missing")
    assert not any(before[name].ok for name in MEMBERS)
    fetch_inception_files(model_dir, urls=urls_for(server, pca=SMALL_PCA))
    after = check_model_dir(model_dir)
    assert [check.state for check in after] == ["ok"] * 6 and all(check.ok for check in after)
    (model_dir / "mean.npy").write_bytes(b"changed")
    tampered = {check.path.name: check for check in check_model_dir(model_dir)}
    assert tampered["mean.npy"].state == "changed" and not tampered["mean.npy"].ok
    assert "recorded" in tampered["mean.npy"].detail
    assert all(check.ok for name, check in tampered.items() if name != "mean.npy")
    (model_dir / CHECKSUMS_FILE).write_text("{not json")
    broken = check_model_dir(model_dir)
    assert [(check.path.name, check.state) for check in broken] == [(CHECKSUMS_FILE, "changed")]


def test_a_graph_that_is_not_a_graphdef_is_refused(server, served, tmp_path):
    write_tgz(served.root / "badgraph" / INCEPTION, [regular(GRAPH, b"\xff" * 64)])
    with pytest.raises(ReelsetError, match="not a TensorFlow GraphDef"):
        load_backbone("inception-yt8m", model_dir=tmp_path / "yt8m", device="cpu",
                      urls=urls_for(server, inception=f"badgraph/{INCEPTION}"))


def test_a_graph_without_the_tensors_is_refused(server, served, tmp_path):
    with tf.Graph().as_default() as graph:
        tf.compat.v1.placeholder(tf.uint8, [None, None, 3], name="DecodeJpeg")
    write_tgz(served.root / "othergraph" / INCEPTION, [regular(GRAPH, graph.as_graph_def().SerializeToString())])
    with pytest.raises(ReelsetError, match="has no tensor pool_3/_reshape:0"):
        load_backbone("inception-yt8m", model_dir=tmp_path / "yt8m", device="cpu",
                      urls=urls_for(server, inception=f"othergraph/{INCEPTION}"))


def test_pca_arrays_of_the_wrong_shape_are_refused(server, served, tmp_path):
    # mean.npy is loaded first and refused, so the others can stay small.
    members = dict(served.small, **{"mean.npy": npy_bytes(np.zeros((1024, 1), np.float32))})
    write_tgz(served.root / "badpca" / PCA, [regular(name, members[name]) for name in PCA_MEMBERS])
    with pytest.raises(ReelsetError, match=r"mean.npy: expected a float array of shape \(2048, 1\)"):
        load_backbone("inception-yt8m", model_dir=tmp_path / "yt8m", device="cpu",
                      urls=urls_for(server, pca=f"badpca/{PCA}"))


# ------------------------------------------------------------------------------------------------ the extra


def test_without_tensorflow_the_error_names_the_extra(server, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorflow", None)  # "import tensorflow" now raises ImportError
    with pytest.raises(ReelsetError, match=r"reelset\[tensorflow\]") as caught:
        import_tensorflow()
    assert EXTRA_HINT in str(caught.value)
    with pytest.raises(ReelsetError, match="tensorflow-cpu"):
        load_backbone("inception-yt8m", model_dir=tmp_path / "yt8m", urls=urls_for(server))
    assert server.requests == []  # checked before any download
    assert not (tmp_path / "yt8m").exists()
