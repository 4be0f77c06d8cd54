"""The DET curve of an evaluation: FNMR against FMR on log axes, one line per matcher, with each EER
and the operating threshold marked, so matchers measured on the same photos can be compared at a glance.

A rate of 0 is drawn on the axes' edge rather than left out, and a run with nothing to draw writes no
file; matplotlib is loaded only when a curve is drawn.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from triage.errors import BadInput
from triage.evaluation.metrics import MatcherResult


def plot_det(results: Sequence[MatcherResult], path: Path, title: str) -> str | None:
    """A detection error trade-off curve (FNMR against FMR, both on log axes), one line per matcher, with
    the EER and the operating threshold marked in the line's colour; None when no matcher has both
    genuine and impostor comparisons, so there is nothing to draw."""
    drawable = [r for r in results if len(r.scores.genuine) and len(r.scores.impostor)]
    if not drawable:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    xlabel, ylabel = "False match rate (FMR)", "False non-match rate (FNMR)"
    # A rate of 0 has no place on log axes: the axes start at half of one error in each count, and a
    # rate of 0 is drawn on that edge, so a matcher with few or no errors still shows as a line.
    xmin = min(0.5 / len(r.scores.impostor) for r in drawable)
    ymin = min(0.5 / len(r.scores.genuine) for r in drawable)
    fig, ax = plt.subplots(figsize=(6.4, 5.6), dpi=110)
    try:
        for r in drawable:
            _, fmr, fnmr = r.scores.curve()
            (line,) = ax.step(
                np.maximum(fmr, xmin),
                np.maximum(fnmr, ymin),
                where="post",
                label=f"{r.enc.matcher.name} ({r.enc.matcher.model_id})",
            )
            eer = r.scores.eer()
            ax.plot(
                [max(eer["rate"], xmin)],
                [max(eer["rate"], ymin)],
                "o",
                color=line.get_color(),
                markeredgecolor="black",
                markersize=5,
            )
            op = r.scores.at(r.threshold)
            ax.plot(
                [max(op["fmr"]["rate"], xmin)],
                [max(op["fnmr"]["rate"], ymin)],
                "s",
                markersize=7,
                color=line.get_color(),
                markeredgecolor="black",
                label=f"{r.enc.matcher.name} at threshold {r.threshold:g}",
            )
        ax.plot(
            [min(xmin, ymin), 1],
            [min(xmin, ymin), 1],
            ":",
            color="grey",
            linewidth=0.8,
            label="FMR = FNMR (circles: each EER)",
        )
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlim(xmin * 0.8, 1)
        ax.set_ylim(ymin * 0.8, 1)
        ax.set_xlabel(xlabel + f"; 0 drawn at {xmin:.2g}")
        ax.set_ylabel(ylabel + f"; 0 drawn at {ymin:.2g}")
        ax.set_title(title, fontsize=9)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8, loc="upper right")
        fig.tight_layout()
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(
            path,
            format="png",
            metadata={"Title": f"DET curve: {title}", "Description": f"x axis: {xlabel}; y axis: {ylabel}"},
        )
    except OSError as e:
        raise BadInput(f"--plot {path}: cannot write the plot ({e})") from None
    finally:
        plt.close(fig)
    return str(path)
