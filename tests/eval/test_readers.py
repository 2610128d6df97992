"""Dataset readers on temporary image folders and JSONL files."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest
from PIL import Image

from socratic.errors import SocraticError
from socratic.eval.readers import (
    DatasetError,
    image_folder_classes,
    read_dataset,
    read_image_folder,
    read_jsonl,
)


def _image(path: Path, color: str = "red") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 6), color).save(path)
    return path


def _jsonl(path: Path, lines: list[object]) -> Path:
    text = "\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines)
    path.write_text(text + "\n", encoding="utf-8")
    return path


# ---------------------------------------------------------------- image folder


def test_image_folder_rows_sorted_and_filtered(tmp_path: Path) -> None:
    _image(tmp_path / "dog" / "b.png")
    _image(tmp_path / "dog" / "a.JPG")
    _image(tmp_path / "cat" / "z.jpeg")
    (tmp_path / "cat" / "readme.txt").write_text("not an image")
    _image(tmp_path / "cat" / ".hidden.png")
    _image(tmp_path / "cat" / "nested" / "deep.png")  # only direct files count
    _image(tmp_path / ".cache" / "x.png")  # hidden class folder skipped
    (tmp_path / "empty_class").mkdir()
    rows = list(read_image_folder(tmp_path))
    assert [(r["image"].relative_to(tmp_path).as_posix(), r["label"]) for r in rows] == [
        ("cat/z.jpeg", "cat"),
        ("dog/a.JPG", "dog"),
        ("dog/b.png", "dog"),
    ]
    assert all(isinstance(r["image"], Path) and r["image"].is_file() for r in rows)
    assert image_folder_classes(tmp_path) == ["cat", "dog", "empty_class"]


def test_image_folder_custom_extensions(tmp_path: Path) -> None:
    _image(tmp_path / "a" / "x.png")
    _image(tmp_path / "a" / "y.bmp")
    assert [r["image"].name for r in read_image_folder(tmp_path, extensions=["bmp"])] == ["y.bmp"]


def test_image_folder_errors_are_raised_at_call(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="not a directory"):
        read_image_folder(tmp_path / "missing")
    (tmp_path / "only_file.png").write_bytes(b"")
    with pytest.raises(DatasetError, match="no class folders"):
        read_image_folder(tmp_path)


# ---------------------------------------------------------------- JSONL


def test_jsonl_labels_and_captions_with_relative_paths(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    elsewhere = _image(tmp_path / "abs" / "q.png")
    f = _jsonl(
        data / "set.jsonl",
        [
            {"image": "img/a.png", "label": "cat", "id": 7},
            "",
            {"image": "../img/b.png", "caption": "a dog runs"},
            {"image": str(elsewhere), "captions": ["one", "two"], "label": "x"},
        ],
    )
    rows = list(read_jsonl(f))
    assert len(rows) == 3
    assert rows[0] == {"image": (data / "img" / "a.png").resolve(), "label": "cat", "id": 7}
    assert rows[1] == {"image": (tmp_path / "img" / "b.png").resolve(), "captions": ["a dog runs"]}
    assert rows[2]["image"] == elsewhere and rows[2]["captions"] == ["one", "two"]
    assert rows[2]["label"] == "x"


def test_jsonl_relative_paths_do_not_depend_on_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _jsonl(tmp_path / "d.jsonl", [{"image": "a.png", "label": "cat"}])
    monkeypatch.chdir(tmp_path)
    rows = list(read_jsonl("d.jsonl"))
    assert rows[0]["image"] == (tmp_path / "a.png").resolve()
    assert rows[0]["image"].is_absolute()


BAD_LINES = [
    ("{not json", "invalid JSON"),
    ("[1, 2]", "expected a JSON object, got list"),
    (json.dumps({"label": "cat"}), "missing 'image'"),
    (json.dumps({"image": "", "label": "cat"}), "missing 'image'"),
    (json.dumps({"image": "a.png"}), "needs a 'label', a 'caption' or 'captions'"),
    (json.dumps({"image": "a.png", "label": 3}), "'label' must be a string, got int"),
    (json.dumps({"image": "a.png", "caption": ["x"]}), "'caption' must be a string"),
    (json.dumps({"image": "a.png", "captions": []}), "'captions' must be a non-empty list"),
    (json.dumps({"image": "a.png", "captions": ["a", 1]}), "'captions' must be a non-empty"),
    (json.dumps({"image": "a.png", "caption": "a", "captions": ["b"]}), "not both"),
]


@pytest.mark.parametrize(("line", "reason"), BAD_LINES)
def test_jsonl_bad_line_names_file_and_line(tmp_path: Path, line: str, reason: str) -> None:
    f = _jsonl(tmp_path / "bad.jsonl", [{"image": "ok.png", "label": "cat"}, "", line])
    rows = read_jsonl(f)
    assert next(rows)["label"] == "cat"
    with pytest.raises(DatasetError) as info:
        next(rows)
    assert info.value.line == 3 and info.value.file == str(f)
    assert str(info.value).startswith(f"{f}:3: ")
    assert reason in str(info.value)
    assert isinstance(info.value, SocraticError)


def test_jsonl_invalid_utf8_line(tmp_path: Path) -> None:
    f = tmp_path / "enc.jsonl"
    f.write_bytes(b'\xef\xbb\xbf{"image": "a.png", "label": "cat"}\n{"image": "\xff", "label": "x"}\n')
    rows = read_jsonl(f)
    assert next(rows)["label"] == "cat"  # BOM on line 1 accepted
    with pytest.raises(DatasetError, match=r"enc\.jsonl:2: .*utf-8"):
        next(rows)


def test_jsonl_skip_invalid_reports_and_continues(tmp_path: Path) -> None:
    f = _jsonl(
        tmp_path / "mixed.jsonl",
        [
            {"image": "a.png", "label": "cat"},
            "{broken",
            {"image": "b.png", "label": "dog"},
            json.dumps({"image": "c.png"}),
            {"image": "d.png", "label": "bird"},
        ],
    )
    problems: list[DatasetError] = []
    with pytest.warns(UserWarning) as record:
        rows = list(read_jsonl(f, skip_invalid=True, problems=problems))
    messages = [str(w.message) for w in record]
    assert len(messages) == 2
    assert messages[0].startswith(f"skipped {f}:2: invalid JSON")
    assert messages[1] == f"skipped {f}:4: needs a 'label', a 'caption' or 'captions'"
    assert [r["label"] for r in rows] == ["cat", "dog", "bird"]
    assert [p.line for p in problems] == [2, 4]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert len(list(read_jsonl(f, skip_invalid=True))) == 3  # works without a list


def test_jsonl_check_exists(tmp_path: Path) -> None:
    _image(tmp_path / "there.png")
    f = _jsonl(
        tmp_path / "e.jsonl",
        [{"image": "there.png", "label": "a"}, {"image": "gone.png", "label": "b"}],
    )
    assert len(list(read_jsonl(f))) == 2  # not checked by default
    with pytest.raises(DatasetError, match=r"e\.jsonl:2: image file not found: .*gone\.png"):
        list(read_jsonl(f, check_exists=True))


def test_jsonl_missing_file_raises_at_call(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="file not found"):
        read_jsonl(tmp_path / "nope.jsonl")


# ---------------------------------------------------------------- dispatch


def test_read_dataset_dispatches(tmp_path: Path) -> None:
    _image(tmp_path / "folder" / "cat" / "1.png")
    f = _jsonl(tmp_path / "x.jsonl", [{"image": "1.png", "label": "cat"}])
    assert [r["label"] for r in read_dataset(tmp_path / "folder")] == ["cat"]
    assert [r["label"] for r in read_dataset(f)] == ["cat"]
    with pytest.raises(DatasetError, match=r"cannot tell the format from '\.xyz'"):
        read_dataset(tmp_path / "x.xyz")
    (tmp_path / "x.csv").write_text("image,label\n1.png,dog\n")
    assert [(r["image"].name, r["label"]) for r in read_dataset(tmp_path / "x.csv")] == [("1.png", "dog")]
