"""yt8m extract's shards are written through core.atomic: a killed run's temporary shards are removed by the next."""

from __future__ import annotations

import os
import subprocess
import sys

from reelset.features.extraction import extract, shard_paths
from reelset.features.video import ExtractSettings, VideoInput
from reelset.sandbox.media import make_video
from reelset.yt8m.records import read_records


class StandInBackbone:
    """A backbone of the real interface that needs no model: each frame's mean colour, tiled to 8 features."""

    name = "efficientnet-lite0"
    width = 8
    input_size = (32, 32)
    device = "cpu"
    fingerprint = "stand-in"

    def embed(self, frames):
        import numpy as np

        means = frames.reshape(len(frames), -1, 3).mean(axis=1) / 255.0 * 4 - 2
        return np.tile(means, 3)[:, :8].astype(np.float32)

    def to_bytes(self, features):
        from reelset.yt8m.records import quantize

        return quantize(features)

    def from_bytes(self, quantized):
        from reelset.yt8m.records import dequantize

        return dequantize(quantized)


def test_a_killed_runs_shards_are_removed_and_the_rerun_writes_all(tmp_path):
    videos = [make_video(tmp_path / f"v{index}.mp4", seconds=2, width=64, height=48) for index in range(3)]
    out = tmp_path / "out" / "feat.tfrecord"
    out.parent.mkdir()
    ended = int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                               text=True, check=True).stdout)
    leftover = out.with_name(f".feat.tfrecord.tmp-{ended}-deadbeef")  # what kill -9 mid-shard leaves
    leftover.write_bytes(b"\x00" * 100)
    summary = extract([VideoInput(str(video)) for video in videos], out,
                      ExtractSettings(use_cache=False, shard_size=2), backbone=StandInBackbone())
    assert summary.outputs == shard_paths(out, 2)
    assert sorted(os.listdir(out.parent)) == ["feat-00000-of-00002.tfrecord", "feat-00001-of-00002.tfrecord"]
    assert [len(list(read_records(path))) for path in summary.outputs] == [2, 1]
