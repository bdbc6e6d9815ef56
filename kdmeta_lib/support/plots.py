"""Figures shared by the notebooks. matplotlib is imported inside each function so that the
library imports fast and works without a display."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor

from ..episodes import Episode


def plot_episode(episode: Episode, title: str = "", max_query: int = 4):
    """Draw one task: a row per class, support shots on the left, a few queries on the right.

    Returns:
        The matplotlib figure (call ``plt.show()`` in a notebook).
    """
    import matplotlib.pyplot as plt

    if episode.is_batch:
        episode = episode.task(0)
    n_way = episode.n_way
    k_shot = len(episode.support_y) // n_way
    n_query = min(max_query, len(episode.query_y) // n_way)
    figure, axes = plt.subplots(n_way, k_shot + n_query, squeeze=False,
                                figsize=(1.1 * (k_shot + n_query) + 0.6, 1.1 * n_way + 0.5))
    for label in range(n_way):
        shots = episode.support_x[episode.support_y == label][:k_shot]
        queries = episode.query_x[episode.query_y == label][:n_query]
        for column, image in enumerate([*shots, *queries]):
            axis = axes[label, column]
            axis.imshow(_as_image(image), cmap="gray_r", vmin=0, vmax=1)
            axis.set_xticks([])
            axis.set_yticks([])
            if label == 0:
                axis.set_title("support" if column < k_shot else "query", fontsize=9)
        axes[label, 0].set_ylabel(f"class {label}", fontsize=9)
    figure.suptitle(title or f"{n_way}-way {k_shot}-shot episode")
    figure.tight_layout()
    return figure


def plot_image_grid(images: Tensor, title: str = "", row_labels: Sequence[str] = ()):
    """Draw ``[rows, columns, (1,) H, W]`` images as a grid, e.g. a few drawings per class."""
    import matplotlib.pyplot as plt

    rows, columns = images.shape[:2]
    figure, axes = plt.subplots(rows, columns, squeeze=False,
                                figsize=(0.9 * columns + 0.6, 0.9 * rows + 0.5))
    for row in range(rows):
        for column in range(columns):
            axes[row, column].imshow(_as_image(images[row, column]), cmap="gray_r", vmin=0, vmax=1)
            axes[row, column].set_xticks([])
            axes[row, column].set_yticks([])
        if row < len(row_labels):
            axes[row, 0].set_ylabel(row_labels[row], fontsize=8)
    figure.suptitle(title)
    figure.tight_layout()
    return figure


def _as_image(image: Tensor):
    """``[1, H, W]`` or ``[H, W]`` tensor → ``[H, W]`` NumPy array for ``imshow``."""
    return image.detach().cpu().reshape(image.shape[-2], image.shape[-1]).numpy()
