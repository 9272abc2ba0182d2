"""Physics-style sweep: magnetisation of a small 2-D Ising model over temperature x field x seed.

Run: ``uv run python examples/ising_sweep.py``. Results go to ``examples_runs/ising`` (resumable:
run it twice and the second run recomputes nothing), then load as an xarray Dataset.
"""

from __future__ import annotations

import numpy as np

from pipemap.runner import Pipeline, pipefunc


@pipefunc(output_name="magnetisation", mapspec="temperature[t], field[h], seed[s] -> magnetisation[t, h, s]")
def simulate(temperature: float, field: float, seed: int, size: int = 12, sweeps: int = 60) -> float:
    """Metropolis Monte Carlo on a size x size periodic lattice; returns |m| per spin."""
    rng = np.random.default_rng(int(seed))
    spins = rng.choice(np.array([-1, 1]), size=(size, size))
    beta = 1.0 / temperature
    for _ in range(sweeps):
        for _ in range(size * size):
            i, j = rng.integers(0, size, 2)
            neighbours = (
                spins[(i + 1) % size, j] + spins[i - 1, j] + spins[i, (j + 1) % size] + spins[i, j - 1]
            )
            delta = 2 * spins[i, j] * (neighbours + field)
            if delta <= 0 or rng.random() < np.exp(-beta * delta):
                spins[i, j] *= -1
    return float(abs(spins.mean()))


@pipefunc(output_name="mean_magnetisation", mapspec="magnetisation[t, h, :] -> mean_magnetisation[t, h]")
def average_over_seeds(magnetisation: np.ndarray) -> float:
    """Average over the seed axis."""
    return float(np.mean(np.asarray(magnetisation, dtype=float)))


@pipefunc(output_name="critical_temperature", mapspec="mean_magnetisation[:, h] -> critical_temperature[h]")
def critical_temperature(mean_magnetisation: np.ndarray, temperature: np.ndarray) -> float:
    """Temperature of the steepest drop of the magnetisation, per field value."""
    m = np.asarray(mean_magnetisation, dtype=float)
    return float(np.asarray(temperature)[int(np.argmin(np.diff(m)))])


pipeline = Pipeline([simulate, average_over_seeds, critical_temperature])

if __name__ == "__main__":
    inputs = {
        "temperature": np.linspace(1.5, 3.5, 9),
        "field": np.array([0.0, 0.05, 0.1]),
        "seed": np.arange(4),
    }
    results = pipeline.map(inputs, run_folder="examples_runs/ising", parallel=True, resume=True)
    print("critical temperature per field:", results["critical_temperature"].output)
