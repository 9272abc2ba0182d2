"""The demo behind ``pipemap demo``: a 2-D parameter sweep of a driven, damped oscillator.

For every drive frequency ``omega[i]`` and damping ``gamma[j]`` the oscillator is integrated
numerically and its steady-state amplitude measured (``amplitude[i, j]``); a reduction over
the frequency axis finds the resonance peak for each damping (``peak[j]``), and a final
function summarises the sweep.

>>> from pipemap.demo import demo_pipeline
>>> sorted(demo_pipeline().all_output_names)
['amplitude', 'peak', 'summary']
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Literal

import numpy as np

from pipemap.runner import Pipeline, pipefunc

__all__ = ["demo_inputs", "demo_pipeline", "plot_resonance", "run_demo"]


@pipefunc(output_name="amplitude", mapspec="omega[i], gamma[j] -> amplitude[i, j]")
def steady_state_amplitude(omega: float, gamma: float, steps: int = 400) -> float:
    """Integrate x'' + gamma x' + x = cos(omega t) (semi-implicit Euler) and return the late-time amplitude."""
    dt = 2 * math.pi / omega / 40
    x = v = t = 0.0
    peak = 0.0
    for step in range(steps):
        a = math.cos(omega * t) - gamma * v - x
        v += a * dt
        x += v * dt
        t += dt
        if step >= steps // 2:
            peak = max(peak, abs(x))
    return peak


@pipefunc(output_name="peak", mapspec="amplitude[:, j] -> peak[j]")
def resonance_peak(amplitude: Any, omega: Any) -> float:
    """The drive frequency with the largest amplitude, for one damping value."""
    values = np.asarray(amplitude, dtype=float)
    return float(np.asarray(omega)[int(np.argmax(values))])


@pipefunc(output_name="summary")
def summarize(peak: Any, gamma: Any) -> dict[str, float]:
    """Where the resonance sits for the lightest and the heaviest damping."""
    peaks = np.asarray(peak, dtype=float)
    return {
        "lightest_damping": float(gamma[0]),
        "peak_at_lightest": float(peaks[0]),
        "heaviest_damping": float(gamma[-1]),
        "peak_at_heaviest": float(peaks[-1]),
    }


def demo_pipeline() -> Pipeline:
    """The three-function demo pipeline.

    >>> len(demo_pipeline().functions)
    3
    """
    return Pipeline([steady_state_amplitude, resonance_peak, summarize])


def demo_inputs(n_omega: int = 60, n_gamma: int = 50) -> dict[str, Any]:
    """Inputs of the demo: ``n_omega`` frequencies around resonance, ``n_gamma`` dampings.

    >>> {k: len(v) for k, v in demo_inputs(3, 2).items()}
    {'omega': 3, 'gamma': 2}
    """
    return {
        "omega": np.linspace(0.5, 1.5, n_omega),
        "gamma": np.linspace(0.05, 0.8, n_gamma),
    }


def run_demo(
    run_folder: str | None = "pipemap_demo_run",
    *,
    n_omega: int = 60,
    n_gamma: int = 50,
    parallel: bool = False,
    show_progress: bool | Literal["rich", "ipywidgets", "headless"] | None = True,
) -> dict[str, Any]:
    """Run the demo sweep (default storage in ``run_folder``) and return its summary.

    >>> summary = run_demo(None, n_omega=4, n_gamma=2, show_progress=False)
    >>> sorted(summary)
    ['heaviest_damping', 'lightest_damping', 'peak_at_heaviest', 'peak_at_lightest']
    """
    from pipemap.runner import run_map

    results = run_map(
        demo_pipeline(),
        demo_inputs(n_omega, n_gamma),
        run_folder=run_folder,
        parallel=parallel,
        show_progress=show_progress,
    )
    return results["summary"].output


def plot_resonance(run_folder: str | Path, path: str | Path | None = None, *, curves: int = 6) -> Path | None:
    """Draw the resonance curves stored in ``run_folder`` (amplitude against drive frequency for
    ``curves`` dampings, with each curve's peak) to ``path`` (default
    ``<run_folder>/resonance.png``); returns the path, or None when matplotlib is not installed.

    >>> import tempfile
    >>> folder = tempfile.mkdtemp() + "/demo"
    >>> _ = run_demo(folder, n_omega=8, n_gamma=3, show_progress=False)
    >>> plot_resonance(folder).name
    'resonance.png'
    """
    try:
        import matplotlib
    except ImportError:
        return None
    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    from pipemap.io import load_outputs

    amplitude = np.asarray(load_outputs("amplitude", run_folder=run_folder).filled(np.nan), dtype=float)
    inputs = demo_inputs(*amplitude.shape)
    omega, gamma = inputs["omega"], inputs["gamma"]
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for j in np.unique(np.linspace(0, amplitude.shape[1] - 1, min(curves, amplitude.shape[1])).astype(int)):
        (line,) = ax.plot(omega, amplitude[:, j], label=f"damping {gamma[j]:.2f}")
        k = int(np.nanargmax(amplitude[:, j]))
        ax.plot(omega[k], amplitude[k, j], "o", color=line.get_color())
    ax.set_xlabel("drive frequency omega")
    ax.set_ylabel("steady-state amplitude")
    ax.set_title("pipemap demo: resonance curves (dots: peaks)")
    ax.legend(fontsize="small")
    fig.tight_layout()
    out = Path(path) if path is not None else Path(run_folder) / "resonance.png"
    try:
        fig.savefig(out, dpi=110)
    finally:
        plt.close(fig)
    return out
