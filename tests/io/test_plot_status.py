"""``pipemap.io.plot_status``, ``pipemap status --png`` and the demo's resonance picture."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("matplotlib")
import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from pipemap.io import OutputNotFoundError, RunFolderError, plot_status  # noqa: E402
from pipemap.io.cli import main  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from _dashboard_helpers import FAIL_ROWS, finished_run  # noqa: E402


def image(ax: object) -> np.ndarray:
    return np.asarray(ax.images[0].get_array())  # type: ignore[attr-defined]


@pytest.fixture(autouse=True)
def _close_figures() -> object:
    yield
    plt.close("all")


def test_every_mapped_output_gets_a_panel_with_its_failed_rows(tmp_path: Path) -> None:
    folder = finished_run(tmp_path / "run", storage="chunked")
    fig = plot_status(folder)
    titles = [ax.get_title() for ax in fig.axes if ax.images]
    assert titles == ["z: 36 done, 12 failed, 0 missing", "w: 36 done, 12 failed, 0 missing"]
    z, w = (image(ax) for ax in fig.axes if ax.images)
    expected = np.zeros((8, 6), dtype=int)
    expected[list(FAIL_ROWS)] = 1
    np.testing.assert_array_equal(z, expected)
    np.testing.assert_array_equal(w, expected * 2)  # skipped because their input failed
    labels = [t.get_text() for t in fig.axes[-1].get_legend().get_texts()]
    assert labels == ["done", "failed", "skipped"]


def test_axes_choice_and_a_given_ax(tmp_path: Path) -> None:
    folder = finished_run(tmp_path / "run")
    fig, ax = plt.subplots()
    assert plot_status(folder, output="z", axes=("j", "i"), ax=ax) is fig
    assert image(ax).shape == (6, 8) and (ax.get_ylabel(), ax.get_xlabel()) == ("j", "i")
    assert image(ax)[:, FAIL_ROWS[0]].tolist() == [1] * 6
    with pytest.raises(ValueError, match="choose one output"):
        plot_status(folder, ax=ax)


def test_partial_run_and_a_one_d_output(tmp_path: Path) -> None:
    import pipemap.io as pio

    folder = pio.example_run_folder(tmp_path / "run", missing=[1])
    fig = plot_status(folder, output="y")
    assert image(fig.axes[0]).tolist() == [[0, 3, 0]]
    fig = plot_status(folder, output="z", axes=("j",))  # i aggregated: some of each column missing
    assert image(fig.axes[0]).tolist() == [[4, 4]]


def test_bad_input(tmp_path: Path) -> None:
    folder = finished_run(tmp_path / "run", fail=False)
    with pytest.raises(OutputNotFoundError, match="nope"):
        plot_status(folder, output="nope")
    with pytest.raises(OutputNotFoundError, match="`total` is not a mapped output"):
        plot_status(folder, output="total")
    with pytest.raises(RunFolderError, match="not a run folder"):
        plot_status(tmp_path / "nothing")


def test_status_png(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = finished_run(tmp_path / "run")
    out = tmp_path / "status.png"
    assert main(["status", str(folder), "--png", str(out)]) == 1  # the run has failed elements
    assert f"wrote {out}" in capsys.readouterr().out
    picture = plt.imread(out)
    assert picture.ndim == 3 and picture.shape[0] > 100
    assert main(["status", str(folder), "--png", str(out), "--output", "w"]) == 1
    capsys.readouterr()
    assert main(["status", str(folder), "--png", str(out), "--json"]) == 1
    captured = capsys.readouterr()
    assert json.loads(captured.out)["has_failures"] and f"wrote {out}" in captured.err


def test_status_png_without_matplotlib(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    folder = finished_run(tmp_path / "run", fail=False)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    assert main(["status", str(folder), "--png", str(tmp_path / "x.png")]) == 2
    assert "--png needs matplotlib" in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists()


def test_demo_draws_the_resonance_curves(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    from pipemap.cli import main as umbrella

    folder = tmp_path / "demo"
    assert umbrella(["demo", "--run-folder", str(folder), "--no-progress"]) == 0
    assert f"resonance curves drawn in {folder / 'resonance.png'}" in capsys.readouterr().out
    picture = plt.imread(folder / "resonance.png")
    assert picture.shape[0] > 200
    # without matplotlib the demo runs as before and says nothing about a picture
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    assert umbrella(["demo", "--run-folder", str(tmp_path / "demo2"), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "resonance peak at omega" in out and "resonance curves" not in out
    assert not (tmp_path / "demo2" / "resonance.png").exists()
