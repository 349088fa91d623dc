"""Every command's help ends with one to three examples that still run: each example names the command itself, and
its options, environment variables, values and arguments are the ones the command takes today (so a renamed or
removed option fails here, not in a user's terminal). Renamed options keep their old names, hidden."""

from __future__ import annotations

import re
import shlex

import click
import pytest
from click.core import ParameterSource
from click.testing import CliRunner

from reelset.cli import cli

SHELL_OPERATORS = {">", ">>", "<", "|", "&&", "||", ";", "2>", "&"}


def leaf_commands(group: click.Group, ctx: click.Context, path: tuple[str, ...] = ()):
    """``(path, command)`` of every command below ``group`` (the top-level group lists its commands lazily)."""
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        if isinstance(command, click.Group):
            yield from leaf_commands(command, click.Context(command, info_name=name, parent=ctx), (*path, name))
        else:
            yield (*path, name), command


COMMANDS = dict(leaf_commands(cli, click.Context(cli, info_name="reelset")))


def help_text(path: tuple[str, ...]) -> str:
    result = CliRunner().invoke(cli, [*path, "--help"], prog_name="reelset", terminal_width=100)
    assert result.exit_code == 0, result.output
    return result.output


def examples(text: str) -> tuple[list[str], list[str]]:
    """The example command lines of a help text (a line ending in ``\\`` continues on the next), and the lines
    that follow the block up to the options."""
    lines = text.splitlines()
    assert "  Examples:" in lines, "no 'Examples:' block"
    start = lines.index("  Examples:") + 1
    end = next((index for index in range(start, len(lines)) if not lines[index].strip()), len(lines))
    block, current = [], ""
    for line in lines[start:end]:
        current += " " + line.strip().removesuffix("\\").strip()
        if not line.rstrip().endswith("\\"):
            block.append(current.strip())
            current = ""
    return block, [line for line in lines[end:] if line.strip()]


def option_names(command: click.Command) -> dict[str, click.Parameter]:
    return {name: param for param in command.params if isinstance(param, click.Option)
            for name in (*param.opts, *param.secondary_opts)}


def envvars(command: click.Command) -> set[str]:
    names = set()
    for param in command.params:
        envvar = getattr(param, "envvar", None)
        names.update([envvar] if isinstance(envvar, str) else envvar or [])
    return names


def check_example(path: tuple[str, ...], command: click.Command, line: str) -> list[str]:
    """What is wrong with one example line of ``command`` (nothing: an empty list).

    An environment variable set before the command must be one of its options' or one its help names (some are
    read by the library, as the official downloader's ``mirror``)."""
    tokens = shlex.split(line, comments=True)
    tokens = tokens[:next((i for i, token in enumerate(tokens) if token in SHELL_OPERATORS), len(tokens))]
    problems = []
    environment = {}
    while tokens and "=" in tokens[0] and not tokens[0].startswith("-"):
        name, _, value = tokens.pop(0).partition("=")
        environment[name] = value
        if name not in envvars(command) and not re.search(rf"\b{re.escape(name)}\b", help_text(path)):
            problems.append(f"{name} is not an environment variable of the command")
    prefix = ["reelset", *path]
    if tokens[:len(prefix)] != prefix:
        return [*problems, f"does not run {' '.join(prefix)}"]
    args = tokens[len(prefix):]
    options = option_names(command)
    for token in args[:args.index("--")] if "--" in args else args:
        if token.startswith("-") and len(token) > 1:
            name = token.partition("=")[0]
            if name not in options:
                problems.append(f"{name}: no such option")
            elif options[name].hidden:
                problems.append(f"{name}: a hidden (old) name; examples show the current one")
    if problems:
        return problems
    # click's own parser, as a run would use it: option values, arguments, required parameters. Paths need not
    # exist here (resilient parsing skips conversions that fail); the choices and numbers of the example must.
    try:
        # The parser alone says when an option lacks its value (resilient parsing lets that pass).
        command.make_parser(click.Context(command, info_name=" ".join(prefix))).parse_args(list(args))
        ctx = command.make_context(" ".join(prefix), list(args), resilient_parsing=True)
    except click.UsageError as exc:
        return [exc.format_message()]
    if ctx.args:
        problems.append(f"unexpected arguments {ctx.args}")
    for param in command.params:
        source = ctx.get_parameter_source(param.name)
        given = source == ParameterSource.COMMANDLINE or (
            isinstance(param, click.Option) and set(environment) & envvars_of(param))
        if param.required and not given:
            problems.append(f"{label(param)} is required")
        if (source == ParameterSource.COMMANDLINE and ctx.params.get(param.name) is None
                and not isinstance(param.type, click.Path)):
            problems.append(f"{label(param)}: invalid value")
    return problems


def label(param: click.Parameter) -> str:
    """``--jobs`` for an option, ``VIDEO_ID`` for an argument: as the help shows them."""
    return param.opts[0] if isinstance(param, click.Option) else param.human_readable_name


def envvars_of(param: click.Option) -> set[str]:
    return {param.envvar} if isinstance(param.envvar, str) else set(param.envvar or ())


@pytest.mark.parametrize("path", sorted(COMMANDS), ids=" ".join)
def test_help_ends_with_one_to_three_examples_that_match_the_command(path):
    command = COMMANDS[path]
    lines, after = examples(help_text(path))
    assert 1 <= len(lines) <= 3, lines
    assert after[:1] == ["Options:"], f"the examples are not the end of the help text: {after[:3]}"
    problems = {line: check_example(path, command, line) for line in lines}
    assert not any(problems.values()), {line: found for line, found in problems.items() if found}


def test_the_checker_catches_drift():
    build = COMMANDS[("action100m", "build")]
    show = COMMANDS[("action100m", "show")]
    assert check_example(("action100m", "build"), build, "reelset action100m build --jobs 2 --sample 5") == []
    assert check_example(("action100m", "build"), build, "reelset action100m build --workers 2") == [
        "--workers: a hidden (old) name; examples show the current one"]
    assert check_example(("action100m", "build"), build, "reelset action100m build --threads 2") == [
        "--threads: no such option"]
    assert check_example(("action100m", "build"), build, "NO_SUCH=1 reelset action100m build") == [
        "NO_SUCH is not an environment variable of the command"]
    assert check_example(("action100m", "build"), build, "reelset action100m ids") == [
        "does not run reelset action100m build"]
    assert check_example(("action100m", "build"), build, "reelset action100m build --jobs 0") == [
        "--jobs: invalid value"]
    assert check_example(("action100m", "build"), build, "reelset action100m build --jobs") == [
        "Option '--jobs' requires an argument."]
    assert check_example(("action100m", "show"), show, "reelset action100m show --out x.png") == [
        "VIDEO_ID is required"]
    assert check_example(("action100m", "show"), show, "reelset action100m show a b --out x.png") != []
    assert check_example(("action100m", "show"), show,
                         "reelset action100m show --out x.png -- -AbCdEfGhIj  # an id") == []
    train = COMMANDS[("yt8m", "train")]
    assert check_example(("yt8m", "train"), train, "reelset yt8m train a.tfrecord --out m --model nope") == [
        "--model: invalid value"]


# Options renamed for one vocabulary (reelset.cli.options): (command, old name, current name).
RENAMED = [
    (("action100m", "ids"), "--out", "--ids"),
    (("action100m", "fiftyone"), "--workers", "--jobs"),
    (("action100m", "build"), "--workers", "--jobs"),
    (("yt8m", "youtube-ids"), "--ids-file", "--ids"),
    (("yt8m", "extract"), "--insert-zero-audio-features", "--audio"),
]


@pytest.mark.parametrize(("path", "old", "new"), RENAMED, ids=lambda value: " ".join(value) if isinstance(
    value, tuple) else value)
def test_renamed_options_keep_their_old_name_hidden(path, old, new):
    options = option_names(COMMANDS[path])
    assert options[old].hidden and not options[new].hidden
    shown = help_text(path).split("Options:", 1)[1]
    assert re.search(rf"{new}(?![\w-])", shown) and not re.search(rf"{old}(?![\w-])", shown)


def test_every_hidden_option_is_left_out_of_the_help():
    for path, command in COMMANDS.items():
        shown = help_text(path).split("Options:", 1)[1]
        for param in command.params:
            if isinstance(param, click.Option) and param.hidden:
                assert not any(re.search(rf"{name}(?![\w-])", shown) for name in param.opts), (path, param.opts)


@pytest.mark.parametrize("flag", ["--ids", "--ids-file"])
def test_youtube_ids_reads_the_ids_file_under_both_names(tmp_path, flag):
    empty, binary, not_ids = tmp_path / "empty.txt", tmp_path / "ids.bin", tmp_path / "words.txt"
    empty.write_text("# nothing yet\n\n")
    binary.write_bytes(b"\x00\x01XE00\x00" * 8)
    not_ids.write_text("hello\nworld\n")
    for path, message in ((empty, "no ids (the file is empty or holds only comments)"),
                          (binary, "a binary file, expected an ids file"),
                          (not_ids, "no valid YouTube-8M id in its 2 line(s); the first: 'hello'")):
        result = CliRunner().invoke(cli, ["yt8m", "youtube-ids", flag, str(path), "--no-cache",
                                          "--base-url", "http://127.0.0.1:9"])
        assert result.exit_code == 1, result.output
        [line] = result.stderr.splitlines()
        assert line.startswith(f"error: {path}: {message}"), line
