"""``tools/bench/compare.py`` keeps working: a missing pipemap feature gives ``n/a (reason)``, not a crash.

No timing is asserted; only the table's shape, the error path and the JSON output.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("pipefunc")

BENCH = Path(__file__).resolve().parents[2] / "tools" / "bench"


@pytest.fixture
def compare() -> Any:
    sys.path.insert(0, str(BENCH))
    try:
        import compare as module
    finally:
        sys.path.remove(str(BENCH))
    return module


def test_a_failing_engine_is_reported_as_not_available(compare: Any) -> None:
    def missing() -> None:
        msg = "storage `chunked` not found"
        raise ValueError(msg)

    wl = compare.Workload("demo", 10, pipefunc=lambda: sum(range(10)), pipemap=missing, floor=lambda: None)
    row = compare.run_workload(wl, repeats=2)
    assert row["errors"] == {"pipemap": "ValueError: storage `chunked` not found"}
    assert row["pipemap_s"] is None and row["ratio"] is None and row["target_met"] is None
    assert len(row["samples"]["pipefunc"]) == 2
    table = compare.format_table([row])
    assert "n/a (ValueError: storage `chunked` not found)" in table


def test_quick_mapspec_group_prints_a_table_and_writes_json(
    compare: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "bench.json"
    assert compare.main(["--quick", "--repeats", "1", "--only", "mapspec", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "mapspec scalar keys" in printed and "pf/pm" in printed
    payload = json.loads(out.read_text())
    assert payload["machine"]["cpus"] >= 1
    assert {r["name"] for r in payload["rows"]} == {"mapspec scalar keys", "mapspec batched plan"}
    assert all(r["ratio"] is not None for r in payload["rows"])


def test_unknown_group_is_refused(compare: Any) -> None:
    with pytest.raises(SystemExit):
        compare.main(["--only", "nonsense"])
