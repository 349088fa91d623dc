"""The v2 vocabulary: reading the real format, refusing v1's label_names.csv, label id checks, the cached download."""

from __future__ import annotations

from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from reelset.cli import cli
from reelset.cli.yt8m.vocab import vocabulary_option
from reelset.core.http import HttpError
from reelset.sandbox.servers import MediaServer
from reelset.yt8m.vocabulary import (
    V2_HEADER,
    VocabularyError,
    cached_vocabulary_path,
    default_cache_dir,
    fetch_vocabulary,
    load_vocabulary,
    resolve_vocabulary,
)

VERTICALS = ("Arts & Entertainment", "Autos & Vehicles", "Beauty & Fitness", "Books & Literature",
             "Business & Industrial", "Computers & Electronics", "Finance", "Food & Drink", "Games", "Health",
             "Hobbies & Leisure", "Home & Garden", "Internet & Telecom", "Jobs & Education", "Law & Government",
             "News", "People & Society", "Pets & Animals", "Real Estate", "Reference", "Science", "Shopping", "Sports",
             "Travel", "(Unknown)")
FIRST_ROWS = (  # the first classes of the real file
    ("Game", "/m/03bt1gh", ("Games",)),
    ("Video game", "/m/01mw1", ("Games",)),
    ("Vehicle", "/m/07yv9", ("Autos & Vehicles",)),
)
UNNAMED = 3001  # one of the classes written without a Name
QUOTED = 7  # its description holds "" escapes and commas


def _csv_field(value: str, *, always_quote: bool = False) -> str:
    if always_quote or any(char in value for char in ',"\n'):
        return '"' + value.replace('"', '""') + '"'
    return value


def write_vocabulary(path: Path, classes: int = 3862, *, skip_index: int | None = None) -> Path:
    """A vocabulary.csv in the real v2 format: the header, Index 0..classes-1, TrainVideoCount falling, Knowledge
    Graph ids, some empty Names (and then no WikiUrl), one to three of the 25 verticals, and a WikiDescription
    always in quotes with "" for a quote."""
    lines = [",".join(V2_HEADER)]
    for index in range(classes):
        if index == skip_index:
            continue
        if index < len(FIRST_ROWS):
            name, kg_id, verticals = FIRST_ROWS[index]
        else:
            name = "" if index % 1000 == 1 else f"Topic {index}"
            kg_id = f"/m/0{index:x}q"
            verticals = tuple(VERTICALS[(index + step * 7) % len(VERTICALS)] for step in range(1 + index % 3))
        url = f"https://en.wikipedia.org/wiki/{name.replace(' ', '_')}" if name else ""
        description = f"{name or 'This topic'} is a thing, with commas, that people film."
        if index == QUOTED:
            description = 'The "Joker", a "quoted" name, in a description.'
        columns = [str(index), str(400_000 - index * 100), kg_id, _csv_field(name), url,
                   *(_csv_field(vertical) for vertical in (verticals + ("", "", ""))[:3]),
                   _csv_field(description, always_quote=True)]
        lines.append(",".join(columns))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_label_names(path: Path) -> Path:
    """The 2017 label_names.csv: label_id,label_name, 4,716 classes (id 1 = Vehicle)."""
    names = {0: "Games", 1: "Vehicle", 2: "Video game"}
    rows = [f"{index},{names.get(index, f'Label {index}')}" for index in range(4716)]
    path.write_text("label_id,label_name\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def vocabulary_file(tmp_path_factory) -> Path:
    return write_vocabulary(tmp_path_factory.mktemp("vocab") / "vocabulary.csv")


def test_reads_the_real_format(vocabulary_file):
    vocabulary = load_vocabulary(vocabulary_file)
    assert vocabulary.size == len(vocabulary) == 3862 and vocabulary.version == 2
    assert vocabulary.name(1) == "Video game" and vocabulary.vertical(2) == "Autos & Vehicles"
    assert vocabulary.index_of("video game") == 1
    assert vocabulary.verticals == sorted(VERTICALS)
    assert vocabulary.name(UNNAMED) == "" and vocabulary.display_name(UNNAMED) == f"/m/0{UNNAMED:x}q"
    entry = vocabulary.entry(QUOTED)
    assert '"The ""Joker"", a ""quoted"" name, in a description."' in vocabulary_file.read_text()  # as written
    assert entry.wiki_description == 'The "Joker", a "quoted" name, in a description.'
    assert entry.train_video_count == 400_000 - QUOTED * 100
    assert entry.verticals == (VERTICALS[(QUOTED + 0) % 25], VERTICALS[(QUOTED + 7) % 25])
    assert vocabulary.path == vocabulary_file


def test_v1_label_names_are_refused_for_v2_data(tmp_path):
    label_names = write_label_names(tmp_path / "label_names.csv")
    with pytest.raises(VocabularyError) as caught:
        load_vocabulary(label_names)
    message = str(caught.value)
    assert "2017 (v1)" in message and "v1 id 1 = Vehicle, v2 id 1 = Video game" in message and "\n" not in message
    v1 = load_vocabulary(label_names, data_version=1)  # for v1 data it is the right file
    assert (v1.size, v1.name(1), v1.version) == (4716, "Vehicle", 1)
    with pytest.raises(VocabularyError, match="ids do not match v1"):
        load_vocabulary(write_vocabulary(tmp_path / "vocabulary.csv", classes=5), data_version=1)


def test_label_ids_out_of_range_are_refused(vocabulary_file):
    vocabulary = load_vocabulary(vocabulary_file)
    vocabulary.check_ids([0, 17, 3861])
    with pytest.raises(VocabularyError) as caught:
        vocabulary.check_ids([5, 3862], where="train0208.tfrecord record 3")
    assert str(caught.value) == (
        f"train0208.tfrecord record 3: label id 3862 is out of range: the vocabulary {vocabulary_file} has 3862 "
        f"classes (ids 0..3861); ids up to 4715 are v1's (2017): is this v1 data?")
    with pytest.raises(VocabularyError, match="label id -1 is out of range"):
        vocabulary.name(-1)
    with pytest.raises(VocabularyError, match="label id 9999 is out of range"):
        vocabulary.vertical(9999)


def test_malformed_files_are_clear_errors(tmp_path):
    gap = write_vocabulary(tmp_path / "gap.csv", classes=10, skip_index=4)
    with pytest.raises(VocabularyError, match="line 6 has Index '5' where 4 was expected"):
        load_vocabulary(gap)
    other = tmp_path / "other.csv"
    other.write_text("id,name\n0,a\n")
    with pytest.raises(VocabularyError, match="not a YouTube-8M vocabulary.csv: the header is 'id,name'"):
        load_vocabulary(other)
    with pytest.raises(VocabularyError, match="vocabulary file not found"):
        load_vocabulary(tmp_path / "missing.csv")
    with pytest.raises(VocabularyError, match="no class is named 'Nothing'"):
        load_vocabulary(write_vocabulary(tmp_path / "ok.csv", classes=5)).index_of("Nothing")


@pytest.fixture()
def vocabulary_server(tmp_path, vocabulary_file):
    """The official path on a local server, with a v1 file and a broken one beside it."""
    root = tmp_path / "site"
    csv_dir = root / "youtube8m" / "csv" / "2"
    csv_dir.mkdir(parents=True)
    (csv_dir / "vocabulary.csv").write_bytes(vocabulary_file.read_bytes())
    write_label_names(csv_dir / "label_names.csv")
    write_vocabulary(csv_dir / "gap.csv", classes=20, skip_index=3)
    with MediaServer(root) as server:
        yield server


def test_fetch_downloads_once_then_uses_the_cache(tmp_path, vocabulary_server, vocabulary_file):
    url = vocabulary_server.url_for("youtube8m/csv/2/vocabulary.csv")
    cache = tmp_path / "cache"
    first = fetch_vocabulary(url, cache)
    assert first.downloaded and first.path == cache / "yt8m" / "vocabulary.csv" == cached_vocabulary_path(cache)
    assert first.path.read_bytes() == vocabulary_file.read_bytes() and first.vocabulary.size == 3862
    assert sorted(path.name for path in first.path.parent.iterdir()) == ["vocabulary.csv"]
    second = fetch_vocabulary(url, cache)
    assert not second.downloaded and second.vocabulary.name(1) == "Video game"
    assert len(vocabulary_server.requests) == 1
    assert fetch_vocabulary(url, cache, refresh=True).downloaded and len(vocabulary_server.requests) == 2


def test_an_invalid_download_never_takes_the_cache_name(tmp_path, vocabulary_server):
    cache = tmp_path / "cache"
    v1_url = vocabulary_server.url_for("youtube8m/csv/2/label_names.csv")
    with pytest.raises(VocabularyError, match="2017 \\(v1\\)"):
        fetch_vocabulary(v1_url, cache)
    with pytest.raises(VocabularyError, match="Index '4' where 3 was expected"):
        fetch_vocabulary(vocabulary_server.url_for("youtube8m/csv/2/gap.csv"), cache)
    with pytest.raises(HttpError, match="HTTP 404"):
        fetch_vocabulary(vocabulary_server.url_for("nothing.csv"), cache)
    assert list((cache / "yt8m").iterdir()) == []
    # A cached file damaged later is reported with the way out.
    write_label_names(cached_vocabulary_path(cache))
    with pytest.raises(VocabularyError, match="--refresh"):
        fetch_vocabulary(v1_url, cache)


def test_resolve_vocabulary_and_the_cache_location(tmp_path, vocabulary_file, monkeypatch):
    cache = tmp_path / "cache"
    assert resolve_vocabulary(None, cache_dir=cache) is None
    assert resolve_vocabulary(vocabulary_file).size == 3862
    write_vocabulary(cached_vocabulary_path(cache), classes=12)
    assert resolve_vocabulary(None, cache_dir=cache).size == 12
    monkeypatch.setenv("REELSET_CACHE_DIR", str(cache))
    assert default_cache_dir() == cache and resolve_vocabulary(None).size == 12
    monkeypatch.delenv("REELSET_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "reelset"


def test_vocab_command(tmp_path, vocabulary_server):
    url = vocabulary_server.url_for("youtube8m/csv/2/vocabulary.csv")
    cache = tmp_path / "cache"
    result = CliRunner().invoke(cli, ["yt8m", "vocab", "--url", url, "--cache-dir", str(cache)])
    assert result.exit_code == 0, result.output
    path = cache / "yt8m" / "vocabulary.csv"
    assert result.stdout.splitlines() == [f"vocabulary: {path}", f"source: downloaded from {url}",
                                          f"bytes: {path.stat().st_size}", "classes: 3862", "verticals: 25"]
    again = CliRunner().invoke(cli, ["yt8m", "vocab", "--url", url], env={"REELSET_CACHE_DIR": str(cache)})
    assert again.exit_code == 0 and "source: cache (--refresh downloads again)" in again.stdout
    refused = CliRunner().invoke(cli, ["yt8m", "vocab", "--refresh", "--cache-dir", str(cache),
                                       "--url", vocabulary_server.url_for("youtube8m/csv/2/label_names.csv")])
    assert refused.exit_code == 1
    assert refused.stderr.startswith("error: http://127.0.0.1:") and "v1 id 1 = Vehicle" in refused.stderr
    assert len(refused.stderr.splitlines()) == 1
    assert load_vocabulary(path).size == 3862  # the good cached file is still there


def test_vocabulary_option_for_other_commands(tmp_path, vocabulary_file):
    @click.command()
    @vocabulary_option
    def show(vocabulary):
        found = resolve_vocabulary(vocabulary, cache_dir=tmp_path / "empty-cache")
        click.echo(found.name(1) if found else "ids only")

    assert CliRunner().invoke(show, ["--vocabulary", str(vocabulary_file)]).output == "Video game\n"
    assert CliRunner().invoke(show, []).output == "ids only\n"
    refused = CliRunner().invoke(show, ["--vocabulary", str(write_label_names(tmp_path / "label_names.csv"))])
    assert isinstance(refused.exception, VocabularyError)
    assert CliRunner().invoke(show, ["--vocabulary", str(tmp_path / "none.csv")]).exit_code == 2
