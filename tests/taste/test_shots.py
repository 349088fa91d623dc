"""Shot detection (``reelset.taste.shots``) on videos made with the real ffmpeg from shots whose cuts are known: a
test pattern fading in, a slow pan over a photo, a cat and the same cat mirrored, two flat colours of equal
brightness; and a single shot that fades in, pans and fades out (no cut at all)."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from reelset.core.errors import ReelsetError
from reelset.core.ffmpeg import run_ffmpeg
from reelset.sandbox.media import make_video
from reelset.taste.samples import sample_photo
from reelset.taste.shots import Shot, detect_shots, shots_from_cuts

FPS = 15
WIDTH, HEIGHT = 320, 180
SHOT_SECONDS = 2.0
NOISE = "noise=alls=6:allf=t+u"  # sensor noise: every frame differs from the last, as in a real video


def photo_input(folder: Path, name: str, *, mirrored: bool = False) -> list[str]:
    still = folder / f"{name}{'-mirrored' if mirrored else ''}.png"
    picture = Image.fromarray(sample_photo(name))
    (picture.transpose(Image.Transpose.FLIP_LEFT_RIGHT) if mirrored else picture).save(still)
    return ["-loop", "1", "-framerate", str(FPS), "-i", str(still)]


def lavfi_input(source: str) -> list[str]:
    options = f"size={WIDTH}x{HEIGHT}:rate={FPS}"
    return ["-f", "lavfi", "-i", f"{source}:{options}" if "=" in source else f"{source}={options}"]


def join_shots(path: Path, shots: list[tuple[list[str], str]]) -> Path:
    """Encode ``(input arguments, filter chain)`` shots of SHOT_SECONDS each, joined by hard cuts."""
    inputs, chains = [], []
    for index, (source, chain) in enumerate(shots):
        inputs += ["-t", f"{SHOT_SECONDS}", *source]
        chains.append(f"[{index}:v]{chain},fps={FPS},format=yuv420p,setsar=1,trim=duration={SHOT_SECONDS},"
                      f"setpts=PTS-STARTPTS[v{index}]")
    graph = ";".join(chains) + ";" + "".join(f"[v{i}]" for i in range(len(shots)))
    graph += f"concat=n={len(shots)}:v=1:a=0[out]"
    run_ffmpeg(["-loglevel", "error", "-y", *inputs, "-filter_complex", graph, "-map", "[out]", "-c:v", "libx264",
                "-preset", "ultrafast", "-crf", "23", str(path)], label=f"making {path}")
    return path


def fill() -> str:
    return f"scale={WIDTH}:{HEIGHT}:force_original_aspect_ratio=increase,crop={WIDTH}:{HEIGHT}"


def slow_pan() -> str:
    """About 3 pixels a frame across a photo twice the frame's height."""
    return f"scale=-2:{2 * HEIGHT},crop={WIDTH}:{HEIGHT}:x='(iw-{WIDTH})*t/{SHOT_SECONDS}/2':y='(ih-{HEIGHT})/2'"


@pytest.fixture(scope="module")
def cuts_video(tmp_path_factory) -> Path:
    """Six shots of 2 s: cuts at 2, 4, 6, 8 and 10 s."""
    folder = tmp_path_factory.mktemp("shots")
    return join_shots(folder / "cuts.mp4", [
        (lavfi_input("testsrc2"), "fade=t=in:st=0:d=1"),
        (photo_input(folder, "coffee"), f"{slow_pan()},{NOISE}"),
        (photo_input(folder, "chelsea"), f"{fill()},{NOISE}"),
        (photo_input(folder, "chelsea", mirrored=True), f"{fill()},{NOISE}"),
        # Red to green of the same brightness (luma 86 and 84): a cut in colour only.
        (lavfi_input("color=c=0xB03030"), NOISE),
        (lavfi_input("color=c=0x307030"), f"{NOISE},fade=t=out:st=1:d=1"),
    ])


def test_cuts_are_found_where_the_shots_change(cuts_video):
    shots = detect_shots(cuts_video)

    starts = [shot.start for shot in shots]
    assert starts == pytest.approx([0, 2, 4, 6, 8, 10], abs=1 / FPS)
    assert shots[-1].end == pytest.approx(12, abs=1 / FPS)
    assert all(shot.end == following.start for shot, following in zip(shots, shots[1:]))


def test_a_fade_and_a_pan_are_no_cut(tmp_path):
    """One shot: a photo fading in from black, panning slowly, fading out to black."""
    video = join_shots(tmp_path / "fade.mp4", [
        (photo_input(tmp_path, "astronaut"), f"{slow_pan()},{NOISE},fade=t=in:st=0:d=0.8,fade=t=out:st=1.2:d=0.8"),
    ])

    assert detect_shots(video) == [Shot(0.0, pytest.approx(SHOT_SECONDS, abs=1 / FPS))]


def test_threshold_decides_what_counts_as_a_cut(cuts_video):
    """Above every cut's score, the video is one shot; the default finds the cuts (previous test)."""
    shots = detect_shots(cuts_video, threshold=99)

    assert len(shots) == 1
    assert shots[0].start == 0.0 and shots[0].end == pytest.approx(12, abs=1 / FPS)


def test_cuts_are_looked_for_in_the_first_seconds_only_when_asked(cuts_video):
    shots = detect_shots(cuts_video, max_seconds=5)

    assert [shot.start for shot in shots] == pytest.approx([0, 2, 4], abs=1 / FPS)
    assert shots[-1].end == pytest.approx(12, abs=1 / FPS)  # the last shot runs to the video's end


def test_a_video_too_short_to_cut_is_one_shot(tmp_path):
    video = make_video(tmp_path / "short.mp4", seconds=0.3, width=64, height=48, audio=None)

    shots = detect_shots(video)

    assert len(shots) == 1
    assert shots[0].start == 0.0 and shots[0].end == pytest.approx(0.3, abs=0.11)


@pytest.mark.parametrize("kind", ["missing", "text", "audio only"])
def test_an_unreadable_video_is_one_error_naming_it(tmp_path, kind):
    path = tmp_path / "holiday clip.mp4"
    if kind == "text":
        path.write_text("not a video\n")
    elif kind == "audio only":
        run_ffmpeg(["-loglevel", "error", "-f", "lavfi", "-i", "sine=duration=1", "-c:a", "aac", "-f", "mp4",
                    str(path)], label="making audio")

    with pytest.raises(ReelsetError) as caught:
        detect_shots(path)

    message = str(caught.value)
    assert message.startswith(f"{path}: ") and "\n" not in message
    if kind == "audio only":
        assert message.endswith("no video stream")


def test_of_close_cuts_the_strongest_is_kept():
    """The frame after a cut into motion scores too (a weaker second cut): one cut remains. Cuts too close to the
    start or the end make no shot of their own."""
    cuts = [(2.0, 40.0), (2.0667, 9.5), (5.1, 12.0), (5.0, 30.0), (0.2, 50.0), (9.9, 50.0)]

    shots = shots_from_cuts(cuts, 10.0, min_shot_seconds=0.5)

    assert shots == [Shot(0.0, 2.0), Shot(2.0, 5.0), Shot(5.0, 10.0)]
    assert shots_from_cuts([], 0.0) == [Shot(0.0, 0.0)]
