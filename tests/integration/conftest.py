"""Fixtures for the pipefunc parity corpus: run one pipefunc pipeline through both engines and compare.

The ``parity`` fixture is a :class:`Parity` helper. A corpus case builds a fresh ``pipefunc.Pipeline``
(so neither engine sees state left by the other), then ``parity.run_both`` runs it through
``pipeline.map`` (pipefunc) and ``pipemap.runner.run_map`` (pipemap) with the same arguments, and the
``assert_*`` members compare results element by element.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

_SNAPSHOT_TYPES = ("ErrorSnapshot", "PropagatedErrorSnapshot")


def _is_snapshot(x: Any) -> bool:
    return type(x).__name__ in _SNAPSHOT_TYPES


def _is_missing(x: Any) -> bool:
    """``np.ma.masked``, ``None`` and NaN all mean "no value" when comparing loaded tables."""
    if x is None or x is np.ma.masked:
        return True
    return isinstance(x, float | np.floating) and math.isnan(x)


def _masked_or_snapshot_free(x: Any) -> Any:
    """pipefunc's loaded value with failed elements masked, as pipemap's loaders give them."""
    if _is_snapshot(x):
        return None
    if isinstance(x, np.ndarray) and x.dtype == object and x.ndim == 0 and _is_snapshot(x[()]):
        return np.empty((), dtype=object)
    if isinstance(x, np.ndarray) and x.dtype == object and x.ndim > 0:
        failed = np.zeros(x.shape, dtype=bool)
        for idx in np.ndindex(x.shape):
            failed[idx] = _is_snapshot(x[idx])
        if failed.any():
            return np.ma.masked_array(x, mask=np.ma.getmaskarray(x) | failed)
    return x


def assert_same(a: Any, b: Any, where: str = "", *, types: bool = True, loose: bool = False) -> None:
    """Recursive element-by-element equality: ``a`` from pipefunc, ``b`` from pipemap.

    ``types``: scalars must have the same Python type (``int`` vs ``np.int64`` matters, docs/behaviour.md §4.6
    step 3). ``loose``: every missing marker (None, masked, NaN) equals every other, and array
    dtypes and maskedness may differ (loaded tables); values still compare one by one.
    """
    if a is np.ma.masked or b is np.ma.masked:
        if loose and _is_missing(a) and _is_missing(b):
            return
        assert a is b, f"{where}: {a!r} vs {b!r} (masked on one side only)"
        return
    if _is_snapshot(a) or _is_snapshot(b):
        assert type(a).__name__ == type(b).__name__, f"{where}: {type(a).__name__} != {type(b).__name__}"
        if type(a).__name__ == "ErrorSnapshot":
            assert type(a.exception) is type(b.exception), where
            assert str(a.exception) == str(b.exception), where
            assert a.kwargs.keys() == b.kwargs.keys(), where
        else:
            assert a.reason == b.reason, f"{where}: reason {a.reason!r} != {b.reason!r}"
        return
    if loose and _is_missing(a) and _is_missing(b):
        return
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        assert isinstance(a, np.ndarray), f"{where}: pipefunc gave {type(a).__name__}, pipemap an array"
        assert isinstance(b, np.ndarray), f"{where}: pipemap gave {type(b).__name__}, pipefunc an array"
        assert a.shape == b.shape, f"{where}: shape {a.shape} != {b.shape}"
        ma, mb = np.ma.getmaskarray(a), np.ma.getmaskarray(b)
        if not loose:
            assert a.dtype.kind == b.dtype.kind, f"{where}: dtype {a.dtype} != {b.dtype}"
            assert isinstance(a, np.ma.MaskedArray) == isinstance(b, np.ma.MaskedArray), f"{where}: masked?"
            assert (ma == mb).all(), f"{where}: masks differ: {ma.tolist()} vs {mb.tolist()}"
        for idx in np.ndindex(a.shape):
            va = np.ma.masked if ma[idx] else a[idx]
            vb = np.ma.masked if mb[idx] else b[idx]
            assert_same(va, vb, f"{where}{list(idx)}", types=types, loose=loose)
        return
    if isinstance(a, dict):
        assert isinstance(b, dict), where
        assert a.keys() == b.keys(), f"{where}: keys {a.keys()} != {b.keys()}"
        for k in a:
            assert_same(a[k], b[k], f"{where}[{k!r}]", types=types, loose=loose)
        return
    if isinstance(a, list | tuple):
        assert type(a) is type(b), f"{where}: {type(a).__name__} != {type(b).__name__}"
        assert len(a) == len(b), f"{where}: length {len(a)} != {len(b)}"
        for k, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same(x, y, f"{where}[{k}]", types=types, loose=loose)
        return
    if types:
        assert type(a) is type(b), f"{where}: type {type(a).__name__} != {type(b).__name__} ({a!r}, {b!r})"
    if isinstance(a, float | np.floating) and isinstance(b, float | np.floating):
        assert (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=1e-12), f"{where}: {a} != {b}"
        return
    assert a == b, f"{where}: {a!r} != {b!r}"


#: Differences found by the corpus that are pipemap bugs or open questions (not deliberate): a case
#: tagged with one compares that aspect leniently, and ``test_exact_parity`` (strict xfail) keeps
#: checking it exactly, so a fix shows up as an XPASS.
KNOWN_DIFFERENCES: dict[str, str] = {
}

#: Deliberate differences, asserted as such (docs/porting.md).
DELIBERATE = {
    "failed_masked": "pipemap's load_xarray_dataset and load_dataframe mask failed elements (load_outputs does not)",
    "pipefunc_xarray_keyerror": "pipefunc's load_xarray_dataset raises KeyError for a mapped default; pipemap loads it",
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """``test_exact_parity[case]`` items become strict xfails naming the case's open differences.

    Test modules cannot import this file (importlib mode), so the reasons live here and the marks
    are added at collection: a corpus case is any object with ``build``, ``inputs``, ``kwargs``,
    ``folder``, ``loaders`` and ``known`` attributes.
    """
    for item in items:
        case = getattr(item, "callspec", None) and item.callspec.params.get("case")
        if getattr(item, "originalname", "") != "test_exact_parity" or not hasattr(case, "known"):  # NOTSET: no open case
            continue
        open_tags = sorted(case.known & KNOWN_DIFFERENCES.keys())
        assert open_tags, f"{item.nodeid}: a case in test_exact_parity needs an open difference"
        item.add_marker(pytest.mark.xfail(strict=True, reason="; ".join(KNOWN_DIFFERENCES[k] for k in open_tags)))


class Parity:
    """Run a pipefunc pipeline through both engines and compare what they give back.

    ``known``: tags of the differences that apply to a case (listed in ``test_parity_corpus.py``);
    the aspect they name is compared leniently or, for deliberate ones, in its documented form.
    """

    assert_same = staticmethod(assert_same)

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path

    @staticmethod
    def pipemap_run(pipeline: Any, inputs: dict[str, Any], **kwargs: Any) -> Any:
        """``pipemap.runner.run_map`` on the pipefunc pipeline itself (no conversion step)."""
        from pipemap.runner import run_map

        return run_map(pipeline, inputs, **kwargs)

    def run_both(
        self,
        build: Callable[[], Any],
        inputs: dict[str, Any],
        *,
        folder: bool = True,
        **kwargs: Any,
    ) -> tuple[Any, Any, Path | None, Path | None]:
        """Build twice, run with pipefunc then pipemap; return both results and run folders."""
        pf_folder = self.tmp_path / "pipefunc" if folder else None
        pm_folder = self.tmp_path / "pipemap" if folder else None
        kwargs.setdefault("parallel", False)
        pf_result = build().map(inputs, run_folder=pf_folder, **kwargs)
        pm_result = self.pipemap_run(build(), inputs, run_folder=pm_folder, **kwargs)
        return pf_result, pm_result, pf_folder, pm_folder

    def check(self, case: Any, known: frozenset[str] | None = None) -> None:
        """Run a corpus ``case`` in both engines and compare everything (its ``known`` tags leniently).

        ``case`` has ``build``, ``inputs``, ``kwargs``, ``folder``, ``loaders`` and ``known``; pass
        ``known`` to override the tags (``test_exact_parity`` passes only the deliberate ones).
        """
        known = case.known if known is None else known
        pf_result, pm_result, pf_folder, pm_folder = self.run_both(
            case.build, case.inputs, folder=case.folder, **case.kwargs
        )
        self.assert_results(pf_result, pm_result, known)
        if case.loaders and case.kwargs.get("return_results", True):
            # ResultDict.to_xarray keeps error snapshots in both engines (only the loaders mask them),
            # and both warn the same way about outputs they cannot type-cast
            with warnings.catch_warnings(record=True) as pf_warnings:
                warnings.simplefilter("always")
                pf_ds = pf_result.to_xarray()
            with warnings.catch_warnings(record=True) as pm_warnings:
                warnings.simplefilter("always")
                pm_ds = pm_result.to_xarray()
            assert sorted(str(x.message) for x in pf_warnings) == sorted(str(x.message) for x in pm_warnings)
            self.assert_datasets(pf_ds, pm_ds, known - {"failed_masked"})
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                self.assert_frames(pf_result.to_dataframe(), pm_result.to_dataframe(), known - {"failed_masked"})
        if case.folder:
            self.assert_load_outputs(pf_folder, pm_folder, sorted(pf_result), known)
            if case.loaders:
                self.assert_xarray(pf_folder, pm_folder, known)
                self.assert_dataframe(pf_folder, pm_folder, known)

    @staticmethod
    def assert_results(pf_result: Any, pm_result: Any, known: frozenset[str] = frozenset()) -> None:  # noqa: ARG004
        """Same output names; for each, same output (values, Python types, shapes, dtype kinds): no
        known difference applies to ``ResultDict`` outputs (``known`` is accepted for symmetry)."""
        assert set(pf_result) == set(pm_result)
        for name in pf_result:
            a, b = pf_result[name], pm_result[name]
            assert a.output_name == b.output_name, name
            assert_same(a.output, b.output, f"result[{name!r}]")

    @staticmethod
    def assert_load_outputs(
        pf_folder: Path, pm_folder: Path, names: list[str], known: frozenset[str] = frozenset()  # noqa: ARG004
    ) -> None:
        """``load_outputs`` per name and ``load_all_outputs``: masked arrays, masks and values, failed
        elements as their snapshots (``known`` is accepted for symmetry: no difference applies);
        ``mask_errors=True`` masks the failed elements as pipemap's presentation loaders do."""
        import pipefunc.map as pfm

        import pipemap.io as pio

        for name in names:
            a = pfm.load_outputs(name, run_folder=pf_folder)
            b = pio.load_outputs(name, run_folder=pm_folder)
            assert_same(a, b, f"load_outputs({name!r})")
            masked = pio.load_outputs(name, run_folder=pm_folder, mask_errors=True)
            assert_same(_masked_or_snapshot_free(a), masked, f"load_outputs({name!r}, mask_errors=True)")
        all_a = pfm.load_all_outputs(run_folder=pf_folder)
        all_b = pio.load_all_outputs(run_folder=pm_folder)
        assert list(all_a) == list(all_b)
        for name in all_a:
            assert_same(all_a[name], all_b[name], f"load_all_outputs()[{name!r}]")

    @classmethod
    def assert_xarray(cls, pf_folder: Path, pm_folder: Path, known: frozenset[str] = frozenset()) -> None:
        """Same dims, coordinates and variables, values equal by value.

        Deliberate difference (docs/porting.md): pipemap gives numeric dtypes where every element is
        a number; pipefunc keeps object arrays. So a dtype may differ only as object -> numeric.
        """
        import pipefunc.map as pfm

        import pipemap.io as pio

        a = pfm.load_xarray_dataset(run_folder=pf_folder)
        b = pio.load_xarray_dataset(run_folder=pm_folder)
        cls.assert_datasets(a, b, known)

    @classmethod
    def assert_datasets(cls, a: Any, b: Any, known: frozenset[str] = frozenset()) -> None:
        """Two ``xarray.Dataset``: pipefunc's ``a`` and pipemap's ``b`` (see :meth:`assert_xarray`).

        Same variables in the same order (``Dataset.to_dataframe`` follows it), same coordinates.
        """
        assert dict(a.sizes) == dict(b.sizes)
        assert list(a.variables) == list(b.variables)
        assert list(a.coords) == list(b.coords), f"coordinates {list(a.coords)} != {list(b.coords)}"
        for name_a in a.variables:
            va, vb = a[name_a], b[name_a]
            assert va.dims == vb.dims, f"{name_a}: dims {va.dims} != {vb.dims}"
            if va.dtype != vb.dtype:
                assert va.dtype.kind == "O" and vb.dtype.kind in "biufc", f"{name_a}: {va.dtype} -> {vb.dtype}"
            xa, xb = np.asarray(va.values), np.asarray(vb.values)
            if "failed_masked" in known:
                xa = _masked_or_snapshot_free(xa)
            if xa.ndim == 0 and type(xa[()]).__name__ == "DimensionlessArray":
                assert type(xb[()]).__name__ == "DimensionlessArray", f"{name_a}: {xb[()]!r}"
                xa, xb = xa[()].arr, xb[()].arr
            assert_same(xa, xb, f"xarray[{name_a!r}]", types=False, loose=True)

    @staticmethod
    def assert_dataframe(pf_folder: Path, pm_folder: Path, known: frozenset[str] = frozenset()) -> None:
        """Same columns in the same order, same number of rows, equal values by value."""
        import pipefunc.map as pfm

        import pipemap.io as pio

        Parity.assert_frames(pfm.load_dataframe(run_folder=pf_folder), pio.load_dataframe(run_folder=pm_folder), known)

    @staticmethod
    def assert_frames(a: Any, b: Any, known: frozenset[str] = frozenset()) -> None:
        """Two pandas DataFrames: pipefunc's ``a`` and pipemap's ``b`` (see :meth:`assert_dataframe`)."""
        assert list(a.columns) == list(b.columns)
        assert len(a) == len(b)
        for column in a.columns:
            va = list(a[column])
            if "failed_masked" in known:
                va = [None if _is_snapshot(v) else v for v in va]
            assert_same(va, list(b[column]), f"dataframe[{column!r}]", types=False, loose=True)


@pytest.fixture
def parity(tmp_path: Path) -> Parity:
    """A :class:`Parity` helper writing run folders under ``tmp_path``."""
    pytest.importorskip("pipefunc")
    return Parity(tmp_path)
