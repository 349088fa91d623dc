"""The ``reelset`` command: thin click commands over the library functions they are named after.

The top-level group is lazy (click's LazyGroup pattern): a command's module is imported only when that command runs
or shows its help, so ``reelset --version`` and ``reelset --help`` import nothing but click and this module (the
command list's short helps are in :data:`COMMANDS`: listing the commands loads none of them).
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import click

from reelset import __version__

EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report a command stopped by Ctrl-C
WHAT_FINISHED = "what finished is kept"  # every step writes atomically and resumes; said when no better text applies


def interrupted_line(kept: str = WHAT_FINISHED) -> str:
    """The one line a Ctrl-C ends with (``reelset.__main__`` prints the same for one during start-up)."""
    return f"interrupted: {kept}; rerun the same command to resume"


class LazyCommand(NamedTuple):
    target: str  # "module:attribute" of the click command
    short_help: str  # its line in `reelset --help`


COMMANDS = {
    "action100m": LazyCommand("reelset.cli.action100m:group",
                              "Action100M: ids, clips, a FiftyOne dataset, the App, timelines."),
    "yt8m": LazyCommand("reelset.cli.yt8m:group", "YouTube-8M: download, read, extract features, train, predict."),
    "taste": LazyCommand("reelset.cli.taste:command", "Tag your own videos: what do you love to film?"),
    "doctor": LazyCommand("reelset.cli.doctor:command", "Check what reelset needs, and how to fix what is missing."),
    "demo": LazyCommand("reelset.cli.demo:command", "Run the whole pipeline offline, on generated sample data."),
}

# ---------------------------------------------------------------------------------------- what Ctrl-C leaves
# What an interrupted command keeps, by command path: a text whose {fields} are the command's parameters (as click
# passed them to it) and {cache} (its --cache-dir, else reelset's cache folder), or a function of the parameters
# choosing the text. Each follows what that step writes and when (docs/architecture.md, "Invariants");
# tests/test_cli_errors.py checks that every path and field named here exists.

NOTHING = "nothing is written"

KEPT: dict[tuple[str, ...], str | Callable[[Mapping[str, Any]], str]] = {
    ("action100m", "ids"): "the shards fetched so far in {data_dir}/data/ are kept",
    ("action100m", "download"): "the verified clips in {out_dir}/ and {out_dir}/status.jsonl are kept",
    ("action100m", "fiftyone"): "the samples added to dataset '{name}' are kept",
    ("action100m", "build"): "what each step finished is kept (shards in {data_dir}/data/, clips in {out_dir}/, "
                             "samples in dataset '{name}')",
    ("action100m", "app"): "dataset '{name}' is unchanged",
    ("action100m", "show"): "{out} is not written",
    ("action100m", "export"): "the complete shards in {out_dir}/ are kept; run it again to finish",
    ("action100m", "stats"): "nothing is written to {out_dir}/",
    ("action100m", "index"): "the shards indexed so far are kept in the search index (a rebuild: the previous index)",
    ("action100m", "search"): "the shards indexed so far are kept in the search index",
    ("yt8m", "download"): lambda params: NOTHING if params["dry_run"] else (
        "the verified files in {out_dir}/ are kept, a partial one continues where it stopped"),
    ("yt8m", "vocab"): "the cached vocabulary is unchanged",
    ("yt8m", "youtube-ids"): lambda params: NOTHING if params["no_cache"] else (
        "the answers so far are kept in {cache}/yt8m/youtube_ids.sqlite"),
    ("yt8m", "inspect"): NOTHING,
    ("yt8m", "export"): lambda params: "the files finished in {out_dir}/ are kept" if params["out_dir"] else NOTHING,
    ("yt8m", "extract"): lambda params: "no output file is written" if params["no_cache"] else (
        "cached features in {cache}/features/ are kept, no output file is written"),
    ("yt8m", "train"): "the checkpoint of the last finished epoch in {out}/ is kept",
    ("yt8m", "evaluate"): NOTHING,
    ("yt8m", "predict"): NOTHING,
    ("taste",): lambda params: (
        # The paths of reelset.taste.yt8m_loop: YT8M_SUBDIR, the partition's folder, MODELS_SUBDIR (cached whatever
        # --no-cache says: that flag is the feature cache's).
        (f"the Inception + PCA{' and VGGish' if params.get('audio') == 'vggish' else ''} files, the YouTube-8M "
         "files downloaded so far in {cache}/yt8m/2_video_train/ (a partial one continues where it stopped), the "
         "last training checkpoint in {cache}/yt8m/models/, " if params.get("yt8m") else "")
        + ("the thumbnails in {out}/thumbnails/" if params["no_cache"]
           else "the features cached in {cache}/features/ and the thumbnails in {out}/thumbnails/")
    ) + " are kept, no new report is written",
    ("doctor",): NOTHING,
    ("demo",): "what finished in {workdir}/ is kept",
}


class _Fields(dict):
    """A command's parameters for :data:`KEPT`'s texts, and ``{cache}``."""

    def __missing__(self, key: str) -> Any:
        if key != "cache":
            raise KeyError(key)
        from reelset.core.cache import default_cache_dir

        return self.get("cache_dir") or default_cache_dir()


def command_path(ctx: click.Context) -> tuple[str, ...]:
    """``("yt8m", "export")`` for the context of ``reelset yt8m export``: its names below the top-level group."""
    names = []
    while ctx.parent is not None:
        names.append(ctx.info_name or "")
        ctx = ctx.parent
    return tuple(reversed(names))


def kept_text(ctx: click.Context) -> str:
    """What the command of ``ctx`` keeps when interrupted (:data:`KEPT`), or :data:`WHAT_FINISHED`."""
    entry = KEPT.get(command_path(ctx))
    if entry is None:
        return WHAT_FINISHED
    try:
        return (entry(ctx.params) if callable(entry) else entry).format_map(_Fields(ctx.params))
    except KeyError:  # a parameter renamed since the table was written: a vaguer text beats a traceback
        return WHAT_FINISHED


def _innermost_context(ctx: click.Context, interrupt: BaseException) -> click.Context:
    """The context of the command that was running when ``interrupt`` was raised. Click drops a sub-command's
    context once its ``with`` block has unwound; the frames the interrupt passed through (``Command.invoke(ctx)``,
    a callback's ``ctx``) still hold it."""
    innermost, frame = ctx, interrupt.__traceback__
    while frame is not None:
        found = frame.tb_frame.f_locals.get("ctx")
        if isinstance(found, click.Context):
            innermost = found
        frame = frame.tb_next
    return innermost


class ReelsetGroup(click.Group):
    """A group whose ``lazy_commands`` (:data:`COMMANDS` for ``reelset``) are imported when first needed, and which
    ends every command with one line and its exit code, never a traceback: a
    :class:`~reelset.core.errors.ReelsetError` as ``error: <message>``; an operating system's refusal that no step
    caught (a full disk, a read-only folder, a path under a file) as ``error: <path>: <what> (<hint>)``, exit 1;
    Ctrl-C as ``interrupted: <what is kept>; rerun the same command to resume`` (:data:`KEPT`), exit 130."""

    def __init__(self, *args: Any, lazy_commands: Mapping[str, LazyCommand] | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.lazy_commands = dict(lazy_commands or {})

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy_commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.lazy_commands and cmd_name not in self.commands:
            module, attribute = self.lazy_commands[cmd_name].target.split(":")
            self.add_command(getattr(importlib.import_module(module), attribute), cmd_name)
        return super().get_command(ctx, cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        names = self.list_commands(ctx)
        limit = formatter.width - 6 - max(map(len, names), default=0)
        rows = []
        for name in names:
            if name in self.lazy_commands:  # its short help from the table: listing it does not import it
                rows.append((name, self.lazy_commands[name].short_help))
            elif (command := self.get_command(ctx, name)) is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(limit)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def make_context(self, info_name: str | None, args: list[str], parent: click.Context | None = None,
                     **extra: Any) -> click.Context:
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except KeyboardInterrupt:  # while parsing or showing the top-level help: before any command ran
            click.echo("\n" + interrupted_line(), err=True)
            raise click.exceptions.Exit(EXIT_INTERRUPTED) from None
        except click.UsageError as exc:
            _usage_error(exc)

    def invoke(self, ctx: click.Context):
        try:
            return self._invoke(ctx)
        except click.UsageError as exc:  # a sub-command's options, arguments or name: parsed inside this invoke
            _usage_error(exc)

    def _invoke(self, ctx: click.Context):
        try:
            # Imported here (--version and --help never come this far); inside the try, so that a Ctrl-C even now
            # ends as one line: the KeyboardInterrupt clause comes first, before the names imported are needed.
            from reelset.core.errors import ReelsetError, os_error_line

            return super().invoke(ctx)
        except KeyboardInterrupt as interrupt:
            click.echo("\n" + interrupted_line(kept_text(_innermost_context(ctx, interrupt))), err=True)
            ctx.exit(EXIT_INTERRUPTED)
        except ReelsetError as exc:
            click.echo(f"error: {exc}", err=True)
            ctx.exit(exc.exit_code)
        except OSError as exc:
            click.echo(f"error: {os_error_line(exc)}", err=True)
            ctx.exit(1)


def _usage_error(exc: click.UsageError) -> None:
    """A command line click cannot take (an unknown option, a missing file, a bad value) as one line, exit 2, like
    every other error: ``error: <what> (see 'reelset ... --help')``; click's own form is four lines. A group given no
    command shows its help (exit 0): asking what it has is not a mistake."""
    if isinstance(exc, click.exceptions.NoArgsIsHelpError):
        click.echo(exc.format_message())
        raise click.exceptions.Exit(0) from None
    hinted = getattr(exc, "hinted", False)  # the message already says what to do
    where = f" (see '{exc.ctx.command_path} --help')" if exc.ctx is not None and not hinted else ""
    message = " ".join(exc.format_message().split())
    click.echo(f"error: {message}{where}", err=True)
    raise click.exceptions.Exit(exc.exit_code) from None


@click.group(cls=ReelsetGroup, lazy_commands=COMMANDS,
             context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="reelset")
def cli() -> None:
    """Build video datasets and study what is in videos.

    \b
    Action100M:   reelset action100m ids | download | fiftyone | build | app | show
    YouTube-8M:   reelset yt8m download | vocab | youtube-ids | inspect | export | extract | train | evaluate |
                  predict
    Your videos:  reelset taste PATH...   (what you love to film)
    Checks:       reelset doctor
    Try it:       reelset demo   (offline, on generated sample data)
    """


def main() -> None:
    """Run the command line (the ``reelset`` command goes through :func:`reelset.__main__.main`, which also turns a
    Ctrl-C during these imports into one line)."""
    # pyarrow's default allocator (jemalloc) keeps freed memory for reuse, which makes long streaming runs look
    # like they grow; the system allocator gives memory back (measured: flat and lower peak RSS). An explicit
    # ARROW_DEFAULT_MEMORY_POOL wins.
    os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")
    cli(prog_name="reelset")


if __name__ == "__main__":
    sys.exit(main())
