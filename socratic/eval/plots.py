"""PNG plots for evaluation results (matplotlib, imported only when a plot is drawn).

The figures are drawn with ``matplotlib.figure.Figure`` and its Agg canvas, never ``pyplot``:
no global backend is switched and no window opens, so they are safe in scripts, servers and
tests. Each function writes one PNG (creating missing parent folders) and returns its path.

* :func:`plot_per_class_accuracy`: bar chart of per-class accuracy.
* :func:`plot_descriptor_contributions`: horizontal bars of descriptor scores for one image.
* :func:`plot_retrieval_grid`: query texts, each with its top-k image thumbnails.
* :func:`plot_captions`: images with their predicted and reference captions.

Example:
    >>> import tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "acc.png"
    >>> plot_per_class_accuracy({"cat": 0.9, "dog": 0.7}, out).name
    'acc.png'
"""

from __future__ import annotations

import os
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.figure import Figure
    from PIL import Image

__all__ = ["plot_captions", "plot_descriptor_contributions", "plot_per_class_accuracy", "plot_retrieval_grid"]

PathLike = str | os.PathLike[str]

_PREDICTED_COLOR = "#d62728"
_OTHER_COLORS = ("#1f77b4", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22")


def _new_figure(width: float, height: float) -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height))
    FigureCanvasAgg(figure)
    return figure


def _save(figure: Figure, path: PathLike, dpi: int) -> Path:
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(target, format="png", dpi=dpi)
    return target


def plot_per_class_accuracy(
    per_class: Mapping[str, float | None],
    path: PathLike,
    *,
    title: str = "Per-class accuracy",
    sort: bool = True,
    dpi: int = 100,
) -> Path:
    """Bar chart of accuracy per class (best first when ``sort``), with the mean as a line.

    Args:
        per_class: class -> accuracy in [0, 1]; ``classification_report(...)["per_class"]``
            works as is. Classes whose value is ``None`` (no examples) are left out.
        path: the PNG to write.

    Example:
        >>> import tempfile, pathlib
        >>> out = pathlib.Path(tempfile.mkdtemp()) / "acc.png"
        >>> plot_per_class_accuracy({"cat": 1.0, "dog": 0.5, "bird": None}, out).exists()
        True
    """
    values = {name: float(v) for name, v in per_class.items() if v is not None}
    if not values:
        raise ValueError("no class with an accuracy to plot")
    names = sorted(values, key=lambda c: -values[c]) if sort else list(values)
    heights = [values[c] for c in names]
    figure = _new_figure(min(max(4.0, 0.35 * len(names) + 1.5), 60.0), 4.5)
    axes = figure.add_subplot()
    axes.bar(range(len(names)), heights, color=_OTHER_COLORS[0])
    mean = sum(heights) / len(heights)
    axes.axhline(
        mean, color=_PREDICTED_COLOR, linestyle="--", linewidth=1, label=f"mean {mean:.3f}"
    )
    axes.set_xticks(range(len(names)), names, rotation=60 if len(names) > 6 else 0, ha="right")
    axes.set_ylim(0, 1.05)
    axes.set_ylabel("accuracy")
    axes.set_title(title)
    axes.legend(loc="lower left")
    figure.tight_layout()
    return _save(figure, path, dpi)


def plot_descriptor_contributions(
    contributions: Mapping[str, Sequence[tuple[str, float]]],
    predicted: str,
    path: PathLike,
    *,
    top_classes: int = 3,
    top_descriptors: int | None = 8,
    title: str | None = None,
    dpi: int = 100,
) -> Path:
    """Horizontal bars of each descriptor's score for the top classes of one image.

    Classes are ranked by the mean score of their descriptors (as in classification by
    description); the ``top_classes`` best are shown, the predicted class always among them and
    drawn in red, each with its ``top_descriptors`` best descriptors (all when ``None``).

    Args:
        contributions: class -> ``[(descriptor, score), ...]`` for one image.
        predicted: the predicted class (must be a key of ``contributions``).
        path: the PNG to write.

    Example:
        >>> import tempfile, pathlib
        >>> out = pathlib.Path(tempfile.mkdtemp()) / "why.png"
        >>> scores = {"cat": [("whiskers", 0.31), ("pointy ears", 0.28)], "dog": [("a snout", 0.2)]}
        >>> plot_descriptor_contributions(scores, "cat", out).exists()
        True
    """
    if predicted not in contributions:
        raise ValueError(f"predicted class {predicted!r} is not in contributions")
    if top_classes < 1:
        raise ValueError("top_classes must be at least 1")
    means = {c: sum(s for _, s in d) / len(d) for c, d in contributions.items() if d}
    if predicted not in means:
        raise ValueError(f"predicted class {predicted!r} has no descriptors")
    ranked = sorted(means, key=lambda c: -means[c])
    others = [c for c in ranked if c != predicted]
    shown = [predicted, *others[: top_classes - 1]]

    labels: list[str] = []
    widths: list[float] = []
    colors: list[str] = []
    for i, name in enumerate(shown):
        pairs = sorted(contributions[name], key=lambda p: -p[1])[:top_descriptors]
        color = _PREDICTED_COLOR if name == predicted else _OTHER_COLORS[i % len(_OTHER_COLORS)]
        for descriptor, score in pairs:
            labels.append(f"{name}: {textwrap.shorten(descriptor, 60)}")
            widths.append(float(score))
            colors.append(color)

    figure = _new_figure(9.0, max(2.5, 0.32 * len(labels) + 1.2))
    axes = figure.add_subplot()
    positions = list(range(len(labels)))[::-1]  # first bar on top
    axes.barh(positions, widths, color=colors)
    axes.set_yticks(positions, labels, fontsize=8)
    axes.axvline(0, color="black", linewidth=0.6)
    axes.set_xlabel("descriptor score")
    means_text = ", ".join(f"{c} {means[c]:.3f}" for c in shown)
    axes.set_title(title or f"predicted: {predicted}  (class means: {means_text})", fontsize=9)
    figure.tight_layout()
    return _save(figure, path, dpi)


def _thumbnail(image: Image.Image | PathLike, size: int) -> Image.Image:
    from PIL import Image

    picture = image if isinstance(image, Image.Image) else Image.open(image)
    picture = picture.convert("RGB")
    picture.thumbnail((size, size))
    return picture


def plot_retrieval_grid(
    queries: str | Sequence[str],
    results: Sequence[Sequence[Image.Image | PathLike]],
    path: PathLike,
    *,
    scores: Sequence[Sequence[float]] | None = None,
    correct: Sequence[Sequence[bool]] | None = None,
    thumb_size: int = 128,
    dpi: int = 100,
) -> Path:
    """One row per query: its text, then its top-k images (PIL images or file paths).

    Args:
        queries: the query texts (a single string is one query).
        results: per query, the retrieved images best first (rows may differ in length).
        scores: optional per-image scores, printed under each thumbnail.
        correct: optional per-image flags; a relevant image gets a green frame, others red.
        thumb_size: longest side of a thumbnail in pixels (before the figure's scaling).

    Example:
        >>> import tempfile, pathlib
        >>> from PIL import Image
        >>> out = pathlib.Path(tempfile.mkdtemp()) / "grid.png"
        >>> images = [Image.new("RGB", (40, 30), c) for c in ("red", "blue")]
        >>> plot_retrieval_grid("a red square", [images], out, correct=[[True, False]]).exists()
        True
    """
    texts = [queries] if isinstance(queries, str) else list(queries)
    if len(texts) != len(results) or not texts:
        raise ValueError(f"{len(texts)} queries but {len(results)} result rows")
    for name, extra in (("scores", scores), ("correct", correct)):
        if extra is not None and [len(r) for r in extra] != [len(r) for r in results]:
            raise ValueError(f"{name} must have the same shape as results")
    columns = max(1, max(len(r) for r in results))
    cell = thumb_size / dpi * 1.15
    figure = _new_figure(2.6 + cell * columns, cell * len(texts) + 0.2)
    grid = figure.add_gridspec(
        len(texts),
        columns + 1,
        width_ratios=[2.6 / cell] + [1] * columns,
        left=0.01,
        right=0.99,
        top=0.96,
        bottom=0.06,
        wspace=0.08,
    )
    for row, (text, images) in enumerate(zip(texts, results, strict=True)):
        text_axes = figure.add_subplot(grid[row, 0])
        text_axes.axis("off")
        text_axes.text(0, 0.5, textwrap.fill(text, 28), va="center", ha="left", fontsize=9)
        for col, image in enumerate(images):
            axes = figure.add_subplot(grid[row, col + 1])
            axes.imshow(_thumbnail(image, thumb_size))
            axes.set_xticks([])
            axes.set_yticks([])
            if correct is not None:
                color = "#2ca02c" if correct[row][col] else _PREDICTED_COLOR
                for spine in axes.spines.values():
                    spine.set_edgecolor(color)
                    spine.set_linewidth(3)
            if scores is not None:
                axes.set_xlabel(f"{scores[row][col]:.3f}", fontsize=8)
    return _save(figure, path, dpi)


def plot_captions(
    images: Sequence[Image.Image | PathLike],
    predictions: Sequence[str],
    references: Sequence[Sequence[str]],
    path: PathLike,
    *,
    thumb_size: int = 128,
    dpi: int = 100,
) -> Path:
    """One row per image: its thumbnail, the predicted caption and the first references.

    Example:
        >>> import tempfile, pathlib
        >>> from PIL import Image
        >>> out = pathlib.Path(tempfile.mkdtemp()) / "captions.png"
        >>> plot_captions([Image.new("RGB", (40, 30), "red")], ["a red square"], [["red"]], out).exists()
        True
    """
    if not images or not len(images) == len(predictions) == len(references):
        counts = f"{len(images)} images, {len(predictions)} predictions, {len(references)} references"
        raise ValueError(f"one of each per row: {counts}")
    cell = thumb_size / dpi * 1.15
    figure = _new_figure(cell + 5.0, cell * len(images) + 0.2)
    grid = figure.add_gridspec(len(images), 2, width_ratios=[1, 5.0 / cell], left=0.01, right=0.99,
                               top=0.98, bottom=0.02, wspace=0.05)
    for row, (image, predicted, refs) in enumerate(zip(images, predictions, references, strict=True)):
        axes = figure.add_subplot(grid[row, 0])
        axes.imshow(_thumbnail(image, thumb_size))
        axes.set_xticks([])
        axes.set_yticks([])
        text = figure.add_subplot(grid[row, 1])
        text.axis("off")
        shown = "\n".join(f"ref: {textwrap.shorten(r, 70)}" for r in list(refs)[:2])
        text.text(0, 0.5, f"predicted: {textwrap.shorten(predicted, 70)}\n{shown}", va="center",
                  ha="left", fontsize=8)
    return _save(figure, path, dpi)
