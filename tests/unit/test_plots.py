"""Plots are plain data until they are drawn, by a child forked before training that has loaded matplotlib."""

from __future__ import annotations

import json
import os
import threading
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest

from mlops.training import plots
from mlops.training.plotter import Plotter

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def every_kind_of_figure() -> list[plots.Figure]:
    rng = np.random.default_rng(0)
    y = np.array([0, 1] * 20)
    scores = np.column_stack([1 - rng.random(40), rng.random(40)])
    points = rng.normal(size=(40, 3))
    return [
        plots.confusion_matrix([0, 1], [[18, 2], [3, 17]]),
        plots.roc(y, scores, [0, 1]),
        plots.residuals(rng.normal(size=40), rng.normal(size=40)),
        plots.clusters(points, np.array([0, 1, -1, 1] * 10)),
        plots.projection(points[:, :1], None),
        plots.return_curve(list(rng.random(120))),
    ]


def test_every_figure_is_plain_json_data() -> None:
    # GIVEN one figure of each kind, built from numpy arrays
    # WHEN they are written as JSON and read back THEN nothing is lost (no numpy types, nothing to pickle)
    for figure in every_kind_of_figure():
        assert plots.Figure(**json.loads(json.dumps(asdict(figure)))) == figure


def test_the_forked_plotter_draws_every_figure_it_is_handed(tmp_path: Path) -> None:
    # GIVEN a plotter started before "training"
    plotter = Plotter.start()
    # WHEN it is handed one figure of each kind and the job waits for it
    plotter.draw(every_kind_of_figure(), tmp_path / "plots")
    plotter.finish()
    # THEN each is a PNG file in the plots directory
    names = sorted(p.name for p in (tmp_path / "plots").iterdir())
    assert names == sorted(f.file for f in every_kind_of_figure())
    assert all((tmp_path / "plots" / name).read_bytes().startswith(PNG_MAGIC) for name in names)


def test_a_plotter_never_handed_figures_draws_nothing_and_does_not_hang(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a plotter whose training failed before anything could be drawn, in an empty working directory
    monkeypatch.chdir(tmp_path)
    plotter = Plotter.start()
    child = plotter._pid
    assert child is not None, "fork is available here: the plotter must have forked its child"
    # WHEN the job finishes without calling draw
    finishing = threading.Thread(target=plotter.finish, daemon=True)
    finishing.start()
    finishing.join(timeout=60)
    # THEN it returns, its child has left cleanly (reaped, no warning), and nothing was written anywhere near
    assert not finishing.is_alive(), "finish() hangs when nothing was drawn"
    with pytest.raises(ChildProcessError):
        os.waitpid(child, os.WNOHANG)
    assert "warning" not in capfd.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_a_figure_that_cannot_be_drawn_is_skipped_with_a_warning(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a confusion matrix whose data is broken, beside a sound residual plot
    broken = plots.Figure("confusion_matrix.png", "confusion_matrix", {"labels": [0, 1], "matrix": "not a matrix"})
    sound = plots.residuals(np.arange(5.0), np.arange(5.0))
    # WHEN both are drawn
    written = plots.render([broken, sound], tmp_path)
    # THEN the sound one is written and the broken one is named in a warning
    assert written == [tmp_path / "residuals.png"]
    assert "could not draw confusion_matrix.png" in capfd.readouterr().err
