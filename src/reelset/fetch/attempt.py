"""One attempt at one video: the task of ``reelset action100m download`` (:func:`attempt_task`), run in a thread
here or on a Dask worker.

The attempt waits for a start slot of the run's pacer just before yt-dlp's first request to the video's page, then
resolves and clips the video (:func:`reelset.fetch.clip.fetch_clip`), writing ``<out>/<id>.mp4`` (the task for that
id is its only writer, through one atomic rename) and ``<out>/logs/<id>.log`` (secrets redacted). Cookies travel
inside the task as values (loaded once by the calling process; use TLS between the Dask processes on a network you
do not trust); they never reach a disk or a log.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reelset.fetch.classify import OK
from reelset.fetch.clip import LOGS_DIR, ClipSettings, Outcome, Redactor, VideoLog, fetch_clip
from reelset.fetch.ytdlp import StartCancelled, YtdlpSession


@dataclass(frozen=True)
class AttemptTask:
    """One attempt at one video (the output folder in ``clip`` as the task must open it).

    Attributes:
        pacer: the run's start schedule (``wait(stop)``), shared by every task of the run.
        stop: the run's stop flag (``is_set``/``wait``): set, a task waiting for its slot ends without starting and
            an ffmpeg run in flight is cancelled.
        progress: called with the seconds of clip written so far (only for tasks in this process; None elsewhere).
    """

    video_id: str
    attempt: int
    tries: int
    clip: ClipSettings
    session: YtdlpSession
    pacer: Any
    stop: Any
    progress: Callable[[float], None] | None = None


def attempt_task(task: AttemptTask) -> Outcome | None:
    """The paced attempt, its failures returned as an :class:`~reelset.fetch.clip.Outcome`; None when the run was
    stopped before it began."""
    redact = Redactor(task.session.secrets)
    log = VideoLog(Path(task.clip.out_dir) / LOGS_DIR / f"{task.video_id}.log", redact)

    def wait_for_slot() -> None:
        if not task.pacer.wait(task.stop):
            raise StartCancelled()

    log.write(f"[reelset] attempt {task.attempt}/{task.tries}")
    try:
        outcome = fetch_clip(task.video_id, task.clip, task.session, log, on_progress=task.progress,
                             cancel=task.stop, before_request=wait_for_slot)
    except StartCancelled:
        log.write("[reelset] stopped before the start")
        return None
    outcome.message = redact(outcome.message)
    if outcome.status != OK:
        log.write(f"[reelset] {outcome.status}: {outcome.message}")
    return outcome
