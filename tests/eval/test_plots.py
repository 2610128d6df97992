"""The plots write valid, non-trivial PNG files."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from socratic.eval.classification import classification_report
from socratic.eval.plots import (
    plot_descriptor_contributions,
    plot_per_class_accuracy,
    plot_retrieval_grid,
)


def _check_png(path: Path, min_width: int = 300, min_height: int = 150) -> tuple[int, int]:
    assert path.is_file()
    assert path.stat().st_size > 1_000
    with Image.open(path) as image:
        assert image.format == "PNG"
        image.load()  # decodes the whole file: a truncated PNG fails here
        width, height = image.size
        colors = image.convert("RGB").getcolors(maxcolors=width * height)
    assert len(colors) >= 10  # something was drawn, not a blank canvas
    assert width >= min_width and height >= min_height
    return width, height


def test_per_class_accuracy_from_mapping_and_report(tmp_path: Path) -> None:
    out = plot_per_class_accuracy({"cat": 0.9, "dog": 0.4, "bird": None}, tmp_path / "a" / "b.png")
    assert out == tmp_path / "a" / "b.png"  # parent folders created
    _check_png(out)
    report = classification_report(["x", "y", "y"], ["x", "x", "y"], ["x", "y", "z"])
    _check_png(plot_per_class_accuracy(report["per_class"], tmp_path / "r.png", sort=False))


def test_per_class_accuracy_grows_with_many_classes(tmp_path: Path) -> None:
    few = _check_png(plot_per_class_accuracy({"a": 0.5, "b": 0.2}, tmp_path / "few.png"))
    many_values = {f"class {i}": i / 20 for i in range(20)}
    many = _check_png(plot_per_class_accuracy(many_values, tmp_path / "many.png"))
    assert many[0] > few[0]


def test_per_class_accuracy_needs_a_value(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no class"):
        plot_per_class_accuracy({"a": None}, tmp_path / "x.png")


CONTRIBUTIONS = {
    "tiger": [("orange fur with black stripes", 0.31), ("a large cat", 0.27), ("whiskers", 0.22)],
    "lion": [("a mane", 0.24), ("tawny fur", 0.26)],
    "zebra": [("black and white stripes", 0.29), ("hooves", 0.18)],
    "car": [("wheels", 0.10)],
}


def test_descriptor_contributions(tmp_path: Path) -> None:
    small = _check_png(
        plot_descriptor_contributions(CONTRIBUTIONS, "tiger", tmp_path / "d1.png", top_classes=1)
    )
    large = _check_png(
        plot_descriptor_contributions(CONTRIBUTIONS, "car", tmp_path / "d4.png", top_classes=4)
    )
    assert large[1] > small[1]  # more bars, taller figure


def test_descriptor_contributions_rejects_unknown_prediction(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="'horse' is not in contributions"):
        plot_descriptor_contributions(CONTRIBUTIONS, "horse", tmp_path / "x.png")
    with pytest.raises(ValueError, match="has no descriptors"):
        plot_descriptor_contributions({"a": []}, "a", tmp_path / "x.png")


def test_retrieval_grid_from_paths_and_images(tmp_path: Path) -> None:
    paths = []
    for i, color in enumerate(("red", "green", "blue")):
        paths.append(tmp_path / f"{i}.png")
        Image.new("RGB", (64, 48), color).save(paths[-1])
    images = [Image.new("L", (30, 60), 128), Image.new("RGBA", (50, 50), (0, 0, 255, 128))]
    out = plot_retrieval_grid(
        ["a red square", "a grey bar and a long query text that has to wrap onto lines"],
        [paths, images],
        tmp_path / "grid.png",
        scores=[[0.3, 0.2, 0.1], [0.5, 0.4]],
        correct=[[True, False, False], [False, True]],
    )
    _, height = _check_png(out)
    one_row = _check_png(plot_retrieval_grid("one query", [paths], tmp_path / "one.png"))
    assert height > one_row[1]


def test_retrieval_grid_shape_errors(tmp_path: Path) -> None:
    image = Image.new("RGB", (8, 8))
    with pytest.raises(ValueError, match="2 queries but 1 result rows"):
        plot_retrieval_grid(["a", "b"], [[image]], tmp_path / "x.png")
    with pytest.raises(ValueError, match="scores must have the same shape"):
        plot_retrieval_grid(["a"], [[image]], tmp_path / "x.png", scores=[[0.1, 0.2]])
