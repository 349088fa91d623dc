"""Make the README's pictures from real runs (kept in docs/, not part of set-up or tests).

    .venv/bin/python docs/screenshots.py [--workdir demo-output] [--only app|terminal|tree]

- ``docs/images/fiftyone-app.png``: the FiftyOne App, served by ``reelset.action100m.app.serve_app`` on
  127.0.0.1, opened in headless Chromium on ``/datasets/<name>?id=<sample id>`` (the App's own modal URL), driven
  through the Chrome DevTools Protocol: the video is sought to ~34 s and the ``gpt_action_brief`` field is
  expanded in the modal's sidebar.
- ``docs/images/download.svg`` and ``.png``: ``reelset action100m download`` in a real pty (tmux) against the
  demo's video files served on 127.0.0.1, captured with its escape sequences while the bars run, drawn by rich.
- ``docs/images/tree.png``: ``reelset action100m show`` for the same video.

It needs the demo's outputs and runs ``reelset demo`` when they (or the FiftyOne dataset) are missing. It installs
Debian's ``chromium`` and ``tmux`` with apt when they are missing. Rerunning overwrites the pictures.
"""

from __future__ import annotations

import argparse
import base64
import io
import itertools
import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
IMAGES = REPO / "docs" / "images"
DATASET = "action100m-demo"
WINDOW = (1600, 1000)
SEEK_FRACTION = 0.38  # where on the App's timeline to click: mid-video, where the tree is deepest
EXPANDED_FIELD = "gpt_action_brief"
TERMINAL_SIZE = (110, 24)  # columns, rows of the tmux pane
THROTTLE_BYTES_PER_SECOND = 3_000_000  # per connection: slow enough to see the bars move
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--hide-scrollbars", "--mute-audio")


class ShotError(Exception):
    """A one-line reason why a picture could not be made."""


# --- tools -------------------------------------------------------------------------------------------------------


def ensure_apt(command: str, package: str) -> str:
    """The path of ``command``, installing Debian's ``package`` first when it is missing (sudo unless root)."""
    found = shutil.which(command)
    if found:
        return found
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    print(f"installing {package} with apt-get", file=sys.stderr)
    install = [*sudo, "apt-get", "install", "-y", "-q", package]
    if subprocess.run(install, env=env, stdout=subprocess.DEVNULL).returncode != 0:
        subprocess.run([*sudo, "apt-get", "update", "-q"], env=env, stdout=subprocess.DEVNULL)
        if subprocess.run(install, env=env, stdout=subprocess.DEVNULL).returncode != 0:
            raise ShotError(f"could not install {package} (apt-get install -y {package})")
    found = shutil.which(command)
    if not found:
        raise ShotError(f"{package} is installed but {command!r} is not on PATH")
    return found


def reelset_command() -> str:
    """The ``reelset`` entry point of the environment running this script (else the repo's .venv)."""
    for candidate in (Path(sys.executable).parent / "reelset", REPO / ".venv" / "bin" / "reelset"):
        if candidate.exists():
            return str(candidate)
    raise ShotError("reelset is not installed: run ./scripts/demo.sh (or scripts/setup.sh) first")


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def ensure_demo(workdir: Path, *, need_dataset: bool) -> None:
    """Run ``reelset demo`` when its outputs (or, with ``need_dataset``, the FiftyOne dataset) are missing.

    A rerun of the demo reuses its files and clips and only adds what is missing, so this is cheap after the first.
    """
    missing = not (workdir / "video_ids.txt").is_file() or not (workdir / "fake-youtube").is_dir()
    if not missing and need_dataset:
        import fiftyone as fo

        missing = not fo.dataset_exists(DATASET)
    if not missing:
        return
    print(f"running the demo in {workdir} (a few minutes the first time)", file=sys.stderr)
    result = subprocess.run([reelset_command(), "demo", "--workdir", str(workdir)], stdout=subprocess.DEVNULL)
    if result.returncode != 0:
        raise ShotError(f"`reelset demo --workdir {workdir}` failed (exit {result.returncode}); run it to see why")


def first_video_id(workdir: Path) -> str:
    """The first id of the demo (sorted order): the video every picture shows."""
    ids = (workdir / "video_ids.txt").read_text().split()
    if not ids:
        raise ShotError(f"{workdir / 'video_ids.txt'} is empty")
    return ids[0]


# --- a headless Chromium driven through the DevTools Protocol ------------------------------------------------------


class Browser:
    """Headless Chromium with one page, driven over the Chrome DevTools Protocol (a websocket, JSON messages)."""

    def __init__(self, size: tuple[int, int] = WINDOW):
        from websockets.sync.client import connect

        self._profile = tempfile.mkdtemp(prefix="reelset-shot-chromium-")
        self._process = subprocess.Popen(
            [ensure_apt("chromium", "chromium"), *CHROMIUM_FLAGS, f"--user-data-dir={self._profile}",
             "--remote-debugging-port=0", f"--window-size={size[0]},{size[1]}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        port_file = Path(self._profile) / "DevToolsActivePort"  # written by Chromium once it listens
        deadline = time.monotonic() + 30
        while not (port_file.exists() and port_file.read_text().strip()):
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.close()
                raise ShotError("chromium did not start (try: chromium --headless --no-sandbox about:blank)")
            time.sleep(0.1)
        port = port_file.read_text().split()[0]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as answer:
            page = next(target for target in json.load(answer) if target["type"] == "page")
        self._stack = ExitStack()
        self._socket = self._stack.enter_context(connect(page["webSocketDebuggerUrl"], max_size=None,
                                                         open_timeout=10))
        self._ids = itertools.count(1)
        self.resize(*size)

    def call(self, method: str, **params) -> dict:
        """Send one command and return its result (events arriving meanwhile are dropped)."""
        message_id = next(self._ids)
        self._socket.send(json.dumps({"id": message_id, "method": method, "params": params}))
        while True:
            message = json.loads(self._socket.recv(timeout=60))
            if message.get("id") == message_id:
                if "error" in message:
                    raise ShotError(f"chromium: {method}: {message['error'].get('message')}")
                return message.get("result", {})

    def resize(self, width: int, height: int) -> None:
        self.call("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1,
                  mobile=False)

    def open(self, url: str) -> None:
        self.call("Page.navigate", url=url)

    def evaluate(self, expression: str):
        """The JSON value of a JavaScript expression in the page."""
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        return result.get("result", {}).get("value")

    def click(self, x: float, y: float) -> None:
        """A real mouse click (move, press, release) at page coordinates."""
        for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
            self.call("Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left", clickCount=1)

    def screenshot(self, path: Path) -> None:
        data = self.call("Page.captureScreenshot", format="png")["data"]
        path.write_bytes(base64.b64decode(data))

    def close(self) -> None:
        if getattr(self, "_stack", None) is not None:
            self._stack.close()
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
        for _ in range(3):  # Chromium's helper processes may still write a file or two as they exit
            shutil.rmtree(self._profile, ignore_errors=True)
            if not Path(self._profile).exists():
                break
            time.sleep(0.5)


@contextmanager
def browser(size: tuple[int, int] = WINDOW) -> Iterator[Browser]:
    """A :class:`Browser` closed (Chromium stopped, its profile removed) on the way out."""
    page = Browser(size)
    try:
        yield page
    finally:
        page.close()


def wait_for(describe: str, check, timeout: float = 90.0, every: float = 0.5):
    """Poll ``check()`` until it returns something truthy; return it, or fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every)
    raise ShotError(f"timed out after {timeout:.0f} s waiting for {describe}")


# --- 1. the FiftyOne App -------------------------------------------------------------------------------------------

# The modal's sidebar sits on the right; the grid's own sidebar (same data-cy names) on the left.
_MODAL_RECT_JS = """(() => {
  const boxes = [...document.querySelectorAll(%s)].map(e => e.getBoundingClientRect())
      .filter(r => r.width > 0 && r.x > window.innerWidth / 2);
  return boxes.length ? [boxes[0].x, boxes[0].y, boxes[0].width, boxes[0].height] : null;
})()"""
_TIMELINE_RECT_JS = """(() => {
  const e = document.querySelector('[class*="_timeline_"]');
  if (!e) return null;
  const r = e.getBoundingClientRect();
  return r.width > 0 ? [r.x, r.y, r.width, r.height] : null;
})()"""
_VIDEO_TIME_JS = "document.querySelector('[data-cy=\"looker-video-time\"]')?.textContent || ''"


def modal_rect(page: Browser, selector: str):
    """[x, y, width, height] of the first visible element matching ``selector`` in the modal, or None."""
    return page.evaluate(_MODAL_RECT_JS % json.dumps(selector))


def click_center(page: Browser, rect) -> None:
    """Click the middle of a [x, y, width, height] box."""
    page.click(rect[0] + rect[2] / 2, rect[1] + rect[3] / 2)


def collapse_group(page: Browser, group: str) -> None:
    """Collapse a group of the modal's sidebar (its "-" icon turns into "+"), clicking again if a click was lost."""
    expanded = f'[data-cy="sidebar-group-{group}"] svg[data-testid="RemoveIcon"]'
    for _ in range(5):
        rect = wait_for(f"the {group} group", lambda: modal_rect(page, f'[data-cy="sidebar-group-{group}"] svg'))
        if not modal_rect(page, expanded):
            return
        click_center(page, rect)
        time.sleep(1)  # the sidebar animates; positions are stale until it settles
    raise ShotError(f"could not collapse the {group} group of the App's sidebar")


def shoot_app(workdir: Path, out: Path) -> Path:
    """Screenshot the App's sample modal on the first demo video, its temporal labels visible."""
    import fiftyone as fo

    from reelset.action100m.app import serve_app

    ensure_demo(workdir, need_dataset=True)
    video_id = first_video_id(workdir)
    samples = fo.load_dataset(DATASET).match({"video_uid": video_id})
    if len(samples) == 0:
        raise ShotError(f"{video_id} is not in the FiftyOne dataset {DATASET!r}; rerun `reelset demo`")
    sample_id = samples.first().id
    port = free_port()
    session = serve_app(DATASET, address="127.0.0.1", port=port, wait=False, on_ready=lambda line: None)
    try:
        with browser() as page:
            # ?id=<sample id> is the App's own URL for an open modal (what it writes when a sample is clicked)
            page.open(f"http://127.0.0.1:{port}/datasets/{DATASET}?id={sample_id}")
            wait_for("the App's modal video player", lambda: "/" in page.evaluate(_VIDEO_TIME_JS)
                     and modal_rect(page, f'[data-cy="sidebar-field-arrow-enabled-{EXPANDED_FIELD}"]'))
            for group in ("TAGS", "METADATA"):  # collapsed, so that the labels come to the top of the sidebar
                collapse_group(page, group)
            click_center(page, modal_rect(page, f'[data-cy="sidebar-field-arrow-enabled-{EXPANDED_FIELD}"]'))
            timeline = wait_for("the video timeline", lambda: page.evaluate(_TIMELINE_RECT_JS))
            before = page.evaluate(_VIDEO_TIME_JS)
            page.click(timeline[0] + SEEK_FRACTION * timeline[2], timeline[1] + 0.8 * timeline[3])
            wait_for("the seek", lambda: page.evaluate(_VIDEO_TIME_JS) != before, timeout=20)
            time.sleep(3)  # the frame and its label overlay are drawn after the seek settles
            page.screenshot(out)
    finally:
        session.close()
    return out


# --- 2. the download in a terminal ---------------------------------------------------------------------------------


def served_media(root: Path) -> dict[str, str]:
    """The demo's page -> media redirects (``/watch/<id>``), from the files it generated under ``root``."""
    redirects = {f"/watch/{path.stem}": f"/files/{path.name}" for path in (root / "files").glob("*.mp4")}
    for master in (root / "hls").glob("*/master.m3u8"):
        redirects[f"/watch/{master.parent.name}"] = f"/hls/{master.parent.name}/master.m3u8"
    return redirects


class Tmux:
    """A detached tmux session on a private server socket, running bash in a pty of a fixed size."""

    def __init__(self, cwd: Path, size: tuple[int, int], env: dict[str, str]):
        self._binary = ensure_apt("tmux", "tmux")
        self._socket = f"reelset-shot-{os.getpid()}"
        self.name = "shot"
        shell = shlex.join(["env", *(f"{key}={value}" for key, value in env.items()), "bash", "--norc",
                            "--noprofile"])
        self._run("new-session", "-d", "-s", self.name, "-x", str(size[0]), "-y", str(size[1]), "-c", str(cwd),
                  shell)
        self._run("set-option", "-g", "status", "off")

    def _run(self, *args: str) -> str:
        result = subprocess.run([self._binary, "-L", self._socket, "-f", "/dev/null", *args],
                                capture_output=True, text=True)
        if result.returncode != 0:
            raise ShotError(f"tmux {args[0]}: {result.stderr.strip() or 'failed'}")
        return result.stdout

    def type(self, text: str) -> None:
        self._run("send-keys", "-t", self.name, "-l", text)
        self._run("send-keys", "-t", self.name, "Enter")

    def capture(self) -> str:
        """The visible pane with its colours (SGR escape sequences)."""
        return self._run("capture-pane", "-t", self.name, "-p", "-e")

    def interrupt(self, timeout: float = 30.0) -> None:
        """Ctrl-C the running command and wait for the prompt (``$``) to come back."""
        self._run("send-keys", "-t", self.name, "C-c")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not plain_text(self.capture()).rstrip().endswith("$"):
            time.sleep(0.2)

    def close(self) -> None:
        subprocess.run([self._binary, "-L", self._socket, "kill-server"], capture_output=True)


_VIDEO_BAR = re.compile(r"^\s+[A-Za-z0-9_-]{11} .*?([\d.]+)/([\d.]+)")
_OVERALL_BAR = re.compile(r"^videos .*?(\d+)/(\d+)")


def plain_text(capture: str) -> str:
    """A terminal capture without its escape sequences."""
    from rich.text import Text

    return Text.from_ansi(capture).plain


def capture_score(plain: str) -> tuple[int, int, int] | None:
    """How good a capture is: (finished videos, per-video bars in progress, per-video bars); None if no bars."""
    overall = None
    running = partial = 0
    for line in plain.splitlines():
        if match := _OVERALL_BAR.match(line):
            overall = int(match.group(1))
        elif match := _VIDEO_BAR.match(line):
            running += 1
            partial += 0 < float(match.group(1)) < float(match.group(2))
    return None if overall is None else (overall, partial, running)


def render_ansi(capture: str, svg: Path, title: str, columns: int) -> None:
    """Draw a terminal capture (text with escape sequences) as an SVG, the way rich records a console."""
    from rich.console import Console
    from rich.text import Text

    lines = capture.rstrip("\n").splitlines()
    while lines and not Text.from_ansi(lines[-1]).plain.strip():
        lines.pop()
    console = Console(record=True, width=columns, file=io.StringIO(), force_terminal=True,
                      color_system="truecolor")
    console.print(Text.from_ansi("\n".join(lines)), soft_wrap=True)
    console.save_svg(str(svg), title=title)


def svg_to_png(svg: Path, png: Path) -> None:
    """Render an SVG (its viewBox size) to PNG with the same headless Chromium."""
    match = re.search(r'viewBox="0 0 ([\d.]+) ([\d.]+)"', svg.read_text())
    width, height = (round(float(value)) for value in match.groups()) if match else WINDOW
    with browser((width, height)) as page:
        page.open(svg.resolve().as_uri())
        wait_for("the SVG", lambda: page.evaluate("document.readyState") == "complete", timeout=20)
        time.sleep(0.5)
        page.screenshot(png)


def shoot_terminal(workdir: Path, svg: Path, png: Path) -> list[Path]:
    """``reelset action100m download`` in tmux against the demo's files on 127.0.0.1, captured mid-run."""
    from reelset.sandbox.servers import MediaServer

    ensure_demo(workdir, need_dataset=False)
    redirects = served_media(workdir / "fake-youtube")
    if not redirects:
        raise ShotError(f"{workdir / 'fake-youtube'} holds no demo videos; rerun `reelset demo`")
    run_dir = Path(tempfile.mkdtemp(prefix="reelset-shot-download-"))
    shutil.copy(workdir / "video_ids.txt", run_dir / "video_ids.txt")
    env = {"PATH": f"{Path(reelset_command()).parent}:{os.environ.get('PATH', '/usr/bin:/bin')}", "PS1": "$ ",
           "TERM": "xterm-256color", "COLORTERM": "truecolor", "HOME": str(run_dir), "HISTFILE": ""}
    best, best_score = "", None
    media = MediaServer(workdir / "fake-youtube", bytes_per_second=THROTTLE_BYTES_PER_SECOND)
    terminal = None
    try:
        for path, target in redirects.items():
            media.add_redirect(path, target)
        terminal = Tmux(run_dir, TERMINAL_SIZE, env)
        terminal.type("clear")
        time.sleep(0.3)
        terminal.type(f"export REELSET_URL_TEMPLATE='{media.url}/watch/{{id}}'  # the demo's video server")
        terminal.type("reelset action100m download --jobs 4 --sleep 0 --max-sleep 0 --sleep-requests 0")
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            capture = terminal.capture()
            plain = plain_text(capture)
            score = capture_score(plain)
            if score and (best_score is None or score > best_score):
                best, best_score = capture, score
            if score and score[0] >= 5 and score[1] >= 3:
                break  # several results above and three bars on their way: the picture we want
            if best_score and plain.rstrip().endswith("$"):
                break  # the run is over (the prompt is back): keep the best moment seen
            time.sleep(0.4)
    finally:
        if terminal is not None:
            terminal.interrupt()  # the download stops cleanly (its lock, its temp files) before its folder goes
            terminal.close()
        media.close()
        shutil.rmtree(run_dir, ignore_errors=True)
    if best_score is None:
        raise ShotError("the download showed no progress bars in the terminal (is rich's live display on?)")
    render_ansi(best, svg, "reelset action100m download", TERMINAL_SIZE[0])
    svg_to_png(svg, png)
    return [svg, png]


# --- 3. the Tree-of-Captions -------------------------------------------------------------------------------------


def shoot_tree(workdir: Path, out: Path) -> Path:
    """``reelset action100m show`` for the first demo video, the clip's end marked at 90 s."""
    ensure_demo(workdir, need_dataset=False)
    command = [reelset_command(), "action100m", "show", "--data-dir", str(workdir / "action100m-preview"),
               "--out", str(out), "--clip-seconds", "90", "--", first_video_id(workdir)]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        reason = (result.stderr.strip() or result.stdout.strip() or "failed").splitlines()[-1]
        raise ShotError(f"{shlex.join(command[1:])}: {reason}")
    return out


# --- command line ------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Make the README's pictures in docs/images/ from real runs.")
    parser.add_argument("--workdir", type=Path, default=REPO / "demo-output",
                        help="The demo's folder (made by `reelset demo` when missing). Default: demo-output")
    parser.add_argument("--only", choices=("app", "terminal", "tree"), help="Make one picture only.")
    args = parser.parse_args(argv)
    workdir = args.workdir.resolve()
    IMAGES.mkdir(parents=True, exist_ok=True)
    steps = {
        "app": lambda: [shoot_app(workdir, IMAGES / "fiftyone-app.png")],
        "terminal": lambda: shoot_terminal(workdir, IMAGES / "download.svg", IMAGES / "download.png"),
        "tree": lambda: [shoot_tree(workdir, IMAGES / "tree.png")],
    }
    try:
        for name, step in steps.items():
            if args.only in (None, name):
                for path in step():
                    print(f"wrote {path.relative_to(REPO) if path.is_relative_to(REPO) else path}")
    except ShotError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
