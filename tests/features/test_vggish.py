"""VGGish (:mod:`reelset.features.audio`): the torch network against TensorFlow running ``vggish_slim.py``'s graph on
the same checkpoint, the PCA and quantization against ``vggish_postprocess.py``, the sound decoded by ffmpeg, and the
two model files fetched once from their (local) URLs, recorded and verified as the Inception files are."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from reelset.core.errors import ReelsetError
from reelset.core.ffmpeg import MediaError
from reelset.core.http import ChecksumError, HttpError
from reelset.doctor import check_extraction, host_uses
from reelset.features.audio import decode_audio, load_vggish, log_mel_patches, vggish_features
from reelset.features.audio.network import VggishNetwork, _after_pools
from reelset.features.audio.vggish import VggishPca
from reelset.features.backbones.model_files import (
    CHECKSUMS_FILE,
    VGGISH_FILES,
    ModelFileError,
    check_model_dir,
    fetch_vggish_files,
)
from reelset.formats.tf_checkpoint import CheckpointError, read_checkpoint, write_checkpoint
from reelset.formats.yt8m_records import dequantize
from reelset.sandbox.media import make_video
from reelset.sandbox.servers import MediaServer
from reelset.sandbox.vggish_files import CHECKPOINT_NAME as CKPT
from reelset.sandbox.vggish_files import PCA_NAME as PCA
from reelset.sandbox.vggish_files import pca_params, vggish_tensors
from tests.support import vggish_reference as reference
from tests.support.media import ffmpeg_quietly

RATE = 16000


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def tone(seconds: float, frequency: float = 440.0, seed: int = 0) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return 0.4 * np.sin(2 * np.pi * frequency * t) + 0.02 * np.random.default_rng(seed).standard_normal(len(t))


@pytest.fixture()
def server(files):
    with MediaServer(files[CKPT].parent) as running:
        yield running


def urls_for(server: MediaServer, checkpoint: str = CKPT, pca: str = PCA) -> dict:
    return {CKPT: server.url_for(checkpoint), PCA: server.url_for(pca)}


def gets(server: MediaServer) -> list[str]:
    return [request.path for request in server.requests if request.method == "GET"]


# ------------------------------------------------------------------------------------------------ the network

def test_the_real_networks_flattened_width_is_its_fc1_input():
    # vggish/fc1/fc1_1/weights of the official checkpoint is (12288, 4096): 6 x 4 positions of 512 channels.
    assert _after_pools(96) * _after_pools(64) * 512 == 12288


def test_torch_runs_the_graph_tensorflow_runs_on_the_same_checkpoint(files, vggish):
    tf = pytest.importorskip("tensorflow")
    v1 = tf.compat.v1
    patches = log_mel_patches(np.concatenate([tone(2.5), 0.1 * tone(2.5, 3000, 1)]), [0, 1, 2, 3, 4])
    graph = tf.Graph()
    with graph.as_default():
        # vggish_slim.define_vggish_slim with TensorFlow's own ops (slim's conv2d/max_pool2d/flatten/fully_connected
        # are these, with ReLU, SAME padding and NHWC): the variables restored by a V1 Saver from our file.
        features = v1.placeholder(tf.float32, (None, 96, 64), name="vggish/input_features")
        net = tf.reshape(features, [-1, 96, 64, 1])
        variables = []

        def layer_variables(scope: str, tensor):
            weights = v1.get_variable(f"vggish/{scope}/weights", shape=read[f"vggish/{scope}/weights"].shape)
            biases = v1.get_variable(f"vggish/{scope}/biases", shape=read[f"vggish/{scope}/biases"].shape)
            variables.extend([weights, biases])
            return weights, biases

        read = read_checkpoint(files[CKPT])
        for scope in ("conv1", "conv2", "conv3/conv3_1", "conv3/conv3_2", "conv4/conv4_1", "conv4/conv4_2"):
            weights, biases = layer_variables(scope, net)
            net = tf.nn.relu(tf.nn.conv2d(net, weights, strides=1, padding="SAME") + biases)
            if scope in ("conv1", "conv2", "conv3/conv3_2", "conv4/conv4_2"):
                net = tf.nn.max_pool2d(net, ksize=2, strides=2, padding="SAME")
        net = tf.reshape(net, [tf.shape(net)[0], -1])
        for scope in ("fc1/fc1_1", "fc1/fc1_2", "fc2"):
            weights, biases = layer_variables(scope, net)
            net = tf.matmul(net, weights) + biases
            if scope != "fc2":  # the embedding is pre-activation (tensorflow/models#9080)
                net = tf.nn.relu(net)
        embedding = tf.identity(net, name="vggish/embedding")
        saver = v1.train.Saver(variables, write_version=v1.train.SaverDef.V1)
        with v1.Session(graph=graph) as session:
            saver.restore(session, str(files[CKPT]))
            expected = session.run(embedding, {features: patches})
    ours = vggish.embed(patches)
    assert ours.shape == expected.shape == (5, 128)
    np.testing.assert_allclose(ours, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())
    assert (expected < 0).any()  # no ReLU on the embedding
    assert not np.allclose(ours[0], ours[4], atol=0.1)  # the sound changed, so did the embedding


def test_widths_come_from_the_checkpoint_and_bad_variables_are_named(files):
    wider = vggish_tensors(2, convolutions=(2, 4, 8, 8, 8, 16), dense=(16, 32))
    network = VggishNetwork(wider, source="wider.ckpt")
    assert network.width == 128 and network(np.zeros((2, 96, 64), np.float32)).shape == (2, 128)
    missing = dict(wider)
    del missing["vggish/conv3/conv3_2/biases"]
    with pytest.raises(ReelsetError, match="^x.ckpt: no variable vggish/conv3/conv3_2/biases; not a VGGish"):
        VggishNetwork(missing, source="x.ckpt")
    misshapen = {**wider, "vggish/conv2/weights": np.zeros((3, 3, 3, 4), np.float32)}
    with pytest.raises(ReelsetError, match=r"vggish/conv2/weights has shape \(3, 3, 3, 4\), expected \(3, 3, 2, N\)"):
        VggishNetwork(misshapen, source="x.ckpt")
    flat = {**wider, "vggish/fc1/fc1_1/weights": np.zeros((100, 16), np.float32)}
    with pytest.raises(ReelsetError, match=r"fc1/fc1_1/weights has shape \(100, 16\), expected \(384, N\)"):
        VggishNetwork(flat, source="x.ckpt")
    with pytest.raises(ValueError, match="patches must be"):
        network(np.zeros((1, 64, 96), np.float32))


# ------------------------------------------------------------------------------------------------ PCA, bytes

def test_pca_and_bytes_are_the_postprocessors(files, vggish):
    params = pca_params(0)
    postprocessor = reference.Postprocessor(params["pca_eigen_vectors"], params["pca_means"])
    embeddings = vggish.embed(log_mel_patches(tone(6.0), np.arange(6.0)))
    embeddings = np.concatenate([embeddings, embeddings * 4])  # some beyond [-2, 2]: clipped
    floats, quantized = vggish.postprocess(embeddings)
    assert np.array_equal(quantized, postprocessor.postprocess(embeddings))
    expected = np.dot(params["pca_eigen_vectors"], embeddings.T - params["pca_means"].reshape(-1, 1)).T
    np.testing.assert_allclose(floats, expected.astype(np.float32), rtol=1e-6)
    assert floats.dtype == np.float32 and quantized.dtype == np.uint8
    assert (floats > 2).any() and (quantized == 255).any() and (quantized < 255).any()
    # Truncated, so the starter code's dequantize (+ 4/512, about half a step) lands within about half a step of
    # the float: in [4/512 - 4/255, 4/512].
    inside = np.abs(floats) < 2
    error = dequantize(quantized)[inside] - floats[inside]
    assert 4 / 512 - 4 / 255 - 1e-6 <= error.min() and error.max() <= 4 / 512 + 1e-6


def test_features_are_the_reference_pipeline_one_vector_per_timestamp(vggish):
    samples = tone(3.4)
    times = np.array([0.0, 1.0, 2.0, 3.0])
    audio = vggish.features(samples, times)
    params = pca_params(0)
    expected = reference.Postprocessor(params["pca_eigen_vectors"], params["pca_means"]).postprocess(
        vggish.embed(reference.examples_at(samples, times).astype(np.float32)))
    assert audio.features.shape == audio.quantized.shape == (4, 128)
    assert np.array_equal(audio.quantized, expected)
    assert audio.timestamps.tolist() == times.tolist()
    assert np.allclose(audio.mean, audio.features.mean(axis=0))
    assert vggish.features(samples, []).features.shape == (0, 128)


def test_pca_files_that_are_not_the_audiosets_are_refused(tmp_path):
    np.savez(tmp_path / "small.npz", pca_eigen_vectors=np.eye(64), pca_means=np.zeros(64))
    np.savez(tmp_path / "named.npz", eigen=np.eye(128), pca_means=np.zeros(128))
    np.save(tmp_path / "one.npy", np.eye(128))
    (tmp_path / "text.npz").write_text("not an archive")
    for name, reason in (("small.npz", "expected a 128 x 128 matrix and 128 means"),
                         ("named.npz", "no array pca_eigen_vectors"), ("one.npy", "one .npy array"),
                         ("text.npz", "not a readable .npz file")):
        with pytest.raises(ReelsetError, match=reason) as caught:
            VggishPca.from_file(tmp_path / name)
        assert str(caught.value).startswith(f"{tmp_path / name}: ") and "\n" not in str(caught.value)


# ------------------------------------------------------------------------------------------------ sound

def test_sound_is_16_khz_mono_on_the_files_timeline(tmp_path):
    video = make_video(tmp_path / "tone.mp4", seconds=2, width=64, height=48)
    decoded = decode_audio(video)
    assert abs(len(decoded.samples) - 2 * RATE) < 0.05 * RATE and decoded.warnings == ()
    assert -1 <= decoded.samples.min() < 0 < decoded.samples.max() < 1
    assert len(decode_audio(video, seconds=1.0).samples) == RATE
    assert decode_audio(make_video(tmp_path / "mute.mp4", seconds=1, width=64, height=48, audio=None)) is None
    # An audio stream that starts 0.7 s after the video gets 0.7 s of silence in front.
    late = tmp_path / "late.mp4"
    ffmpeg_quietly("-i", str(video), "-itsoffset", "0.7", "-i", str(video), "-map", "0:v", "-map", "1:a",
                   "-c", "copy", str(late))
    samples = decode_audio(late).samples
    first_sound = np.flatnonzero(np.abs(samples) > 0.01)[0] / RATE
    assert 0.65 < first_sound < 0.8
    # Stereo is mixed down to the mean of its channels, as vggish_input does: a tone on the left only is halved.
    stereo = tmp_path / "left.wav"
    ffmpeg_quietly("-f", "lavfi", "-i", "sine=f=440:r=16000:d=1", "-f", "lavfi", "-i", "anullsrc=r=16000:cl=mono:d=1",
                   "-filter_complex", "[0][1]amerge=inputs=2", "-t", "1", "-c:a", "pcm_s16le", str(stereo))
    assert decode_audio(stereo).samples.max() == pytest.approx(0.125 / 2, abs=1e-3)
    with pytest.raises(MediaError, match="nothing.mp4"):
        decode_audio(tmp_path / "nothing.mp4")


def test_vggish_features_of_a_video_and_of_one_without_sound(tmp_path, vggish):
    video = make_video(tmp_path / "tone.mp4", seconds=3, width=64, height=48)
    audio = vggish_features(video, [0.0, 1.0, 2.0], vggish)
    assert audio.quantized.shape == (3, 128) and audio.features.dtype == np.float32
    silent = vggish.features(np.zeros(3 * RATE), [0.0, 1.0, 2.0])
    assert not np.allclose(audio.features, silent.features, atol=0.05)
    assert vggish_features(make_video(tmp_path / "mute.mp4", seconds=1, width=64, height=48, audio=None),
                           [0.0], vggish) is None


# ------------------------------------------------------------------------------------------------ model files

def test_first_use_downloads_records_and_later_uses_verify(server, files, tmp_path):
    model_dir = tmp_path / "yt8m"
    progress = []
    loaded = load_vggish(model_dir, device="cpu", urls=urls_for(server),
                         on_progress=lambda name, done, total: progress.append(name))
    assert sorted(gets(server)) == [f"/{CKPT}", f"/{PCA}"] and set(progress) == {CKPT, PCA}
    record = json.loads((model_dir / CHECKSUMS_FILE).read_text())
    for name in (CKPT, PCA):
        content = files[name].read_bytes()
        assert (model_dir / name).read_bytes() == content
        assert record[name]["sha256"] == sha256(content) and record[name]["bytes"] == len(content)
        assert record[name]["url"] == server.url_for(name) and "members" not in record[name]
    assert loaded.fingerprint == f"vggish:{sha256(files[CKPT].read_bytes())},{sha256(files[PCA].read_bytes())}"
    server.clear_requests()
    again = fetch_vggish_files(model_dir, urls=urls_for(server))
    assert server.requests == [] and again.checkpoint == model_dir / CKPT and again.pca_params == model_dir / PCA
    # A deleted file is fetched again; a changed one is refused, naming it and both digests.
    (model_dir / PCA).unlink()
    fetch_vggish_files(model_dir, urls=urls_for(server))
    assert gets(server) == [f"/{PCA}"]
    (model_dir / CKPT).write_bytes(b"changed")
    with pytest.raises(ModelFileError, match=f"{model_dir / CKPT}: sha256 is {sha256(b'changed')} but "
                                             f"{sha256(files[CKPT].read_bytes())} was recorded"):
        load_vggish(model_dir, device="cpu", urls=urls_for(server))


def test_environment_variables_name_the_urls(server, tmp_path, monkeypatch):
    monkeypatch.setenv("REELSET_VGGISH_URL", server.url_for(CKPT))
    monkeypatch.setenv("REELSET_VGGISH_PCA_URL", server.url_for(PCA))
    fetch_vggish_files(tmp_path / "yt8m")
    assert sorted(gets(server)) == [f"/{CKPT}", f"/{PCA}"]
    uses = host_uses({"REELSET_VGGISH_URL": "http://models.example/v.ckpt"})
    assert {(use.url, use.step) for use in uses} >= {
        ("http://models.example/v.ckpt", "yt8m extract --audio vggish"),
        ("https://storage.googleapis.com/audioset/vggish_pca_params.npz", "yt8m extract --audio vggish")}


def test_pins_bad_urls_and_missing_files_are_one_line_errors(server, files, tmp_path):
    model_dir = tmp_path / "yt8m"
    with pytest.raises(ChecksumError, match=CKPT) as caught:
        fetch_vggish_files(model_dir, urls=urls_for(server), expected_sha256={CKPT: "0" * 64})
    assert "0" * 64 in str(caught.value) and not (model_dir / CKPT).exists()
    assert not (model_dir / CHECKSUMS_FILE).exists()
    with pytest.raises(ReelsetError, match="--audio-expected-sha256: unknown file 'model.ckpt'"):
        fetch_vggish_files(model_dir, urls=urls_for(server), expected_sha256="model.ckpt=" + "0" * 64)
    with pytest.raises(ReelsetError, match="--audio-expected-sha256: this audio recipe uses 2 files"):
        fetch_vggish_files(model_dir, urls=urls_for(server), expected_sha256="0" * 64)
    pins = f"{CKPT}={sha256(files[CKPT].read_bytes())},{PCA}={sha256(files[PCA].read_bytes())}"
    assert fetch_vggish_files(model_dir, urls=urls_for(server), expected_sha256=pins).checkpoint.exists()
    with pytest.raises(ModelFileError, match=rf"{PCA}: 'ftp://example.org/p.npz' \(urls=\) is not an http"):
        fetch_vggish_files(tmp_path / "other", urls={CKPT: server.url_for(CKPT), PCA: "ftp://example.org/p.npz"})
    with pytest.raises(HttpError, match="HTTP 404"):
        fetch_vggish_files(tmp_path / "404", urls=urls_for(server, pca="nowhere.npz"))


def test_files_that_are_not_vggishs_are_refused_when_loaded(server, files, tmp_path):
    root = files[CKPT].parent
    (root / "page.ckpt").write_bytes(b"<html>not found, but with status 200</html>")
    (root / "page.npz").write_bytes(b"<html>not found, but with status 200</html>")
    for name, urls in (("page.ckpt", urls_for(server, checkpoint="page.ckpt")),
                       ("page.npz", urls_for(server, pca="page.npz"))):
        with pytest.raises(ModelFileError, match=f"^{server.url_for(name)}: the download is not a "
                                                 "(TensorFlow V1 checkpoint|NumPy .npz file).*; nothing was kept$"):
            fetch_vggish_files(tmp_path / name, urls=urls)
    assert not (tmp_path / "page.ckpt").exists()  # the first file failed: no model dir is left behind
    assert json.loads((tmp_path / "page.npz" / CHECKSUMS_FILE).read_text()).keys() == {CKPT}
    assert not (tmp_path / "page.npz" / PCA).exists()
    (tmp_path / "page.npz" / PCA).write_bytes(b"copied by hand, but not an npz")
    with pytest.raises(ModelFileError, match=f"{PCA}: not a NumPy .npz file .*; delete it to download it again$"):
        fetch_vggish_files(tmp_path / "page.npz", urls=urls_for(server))
    damaged = bytearray(files[CKPT].read_bytes())
    damaged[len(damaged) // 2] ^= 0x10  # inside a block: its checksum no longer matches
    (root / "damaged.ckpt").write_bytes(bytes(damaged))
    with pytest.raises(CheckpointError, match="not a readable TensorFlow V1 checkpoint .*checksum mismatch"):
        load_vggish(tmp_path / "a", device="cpu", urls=urls_for(server, checkpoint="damaged.ckpt"))
    write_checkpoint(root / "other.ckpt", {"resnet/conv1/weights": np.zeros((3, 3, 1, 2), np.float32)})
    with pytest.raises(ReelsetError, match="no variable vggish/conv1/weights; not a VGGish checkpoint"):
        load_vggish(tmp_path / "b", device="cpu", urls=urls_for(server, checkpoint="other.ckpt"))
    np.savez(root / "small.npz", pca_eigen_vectors=np.eye(4), pca_means=np.zeros(4))
    with pytest.raises(ReelsetError, match=f"{PCA}: expected a 128 x 128 matrix"):
        load_vggish(tmp_path / "c", device="cpu", urls=urls_for(server, pca="small.npz"))
    with pytest.raises(ReelsetError, match="--device cuda"):
        load_vggish(tmp_path / "d", device="cuda", urls=urls_for(server))
    assert not (tmp_path / "d").exists()  # refused before anything was downloaded


def test_doctor_lists_the_vggish_files(server, tmp_path):
    model_dir = tmp_path / "yt8m"
    before = {check.name: check for check in check_extraction(model_dir)}
    assert not before[f"VGGish model files in {model_dir}"].ok
    assert "--audio vggish" in before[f"VGGish model files in {model_dir}"].fix
    fetch_vggish_files(model_dir, urls=urls_for(server))
    states = {check.path.name: check.state for check in check_model_dir(model_dir, VGGISH_FILES, "--audio vggish")}
    assert states == {CKPT: "ok", PCA: "ok"}
    (model_dir / PCA).write_bytes(b"changed")
    after = {check.name: check for check in check_extraction(model_dir)}
    assert after[f"model file {CKPT}"].ok
    assert after[f"model file {PCA}"].state == "error" and "recorded" in after[f"model file {PCA}"].detail
    assert f"inception-yt8m model files in {model_dir}" in after  # its files are still not downloaded
