"""Every registered dataset adapter, on its native fixture, keeps the shared `Study` contract.

A new adapter must add its fixture writer to FIXTURES, or the first test fails.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from chestx_reasoner.data.sources import SOURCES
from chestx_reasoner.data.study import Study
from chestx_reasoner.reports.vocabulary import CHEXPERT_OBSERVATIONS
from test_sources_chexpert_openi import make_openi, make_plus
from test_sources_mimic import _pairs, make_mimic
from test_sources_siim_rsna import make_rsna, make_siim


def _ms_cxr_t(root: Path) -> Path:
    make_mimic(root)
    _pairs(root, [{"dicom_id": "d3", "previous_dicom_id": "d1", "edema_progression": "stable"}])
    return root


FIXTURES: dict[str, Callable[[Path], Path]] = {
    "mimic-cxr": make_mimic, "synthetic": make_mimic, "ms-cxr-t": _ms_cxr_t,
    "chexpert-plus": make_plus, "openi": make_openi, "siim": make_siim, "rsna": make_rsna,
}


def test_every_registered_source_has_a_fixture() -> None:
    assert set(FIXTURES) == set(SOURCES.names())


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_adapter_keeps_the_study_contract(name: str, tmp_path: Path) -> None:
    adapter = SOURCES.get(name)(FIXTURES[name](tmp_path))
    studies = list(adapter.studies())
    assert studies, f"{name}: the fixture yields no usable study"
    assert "\n" not in repr(adapter) and name in (adapter.name, type(adapter).__name__.lower())
    for study in studies:
        assert isinstance(study, Study) and study.source == name
        assert study.patient_id and study.study_id
        image = study.frontal_image()
        assert image is not None and image.path.is_absolute() and image.path.exists()
        assert set(study.labels) <= set(CHEXPERT_OBSERVATIONS)
        assert all(v in (1.0, 0.0, -1.0, None) for v in study.labels.values())
        assert bool(study.report.strip()) == adapter.has_reports
        if study.prior_image is not None:
            assert study.prior_study_id and study.prior_image.path.exists()
        assert set(study.progression.values()) <= {"improving", "stable", "worsening"}
    assert all(isinstance(n, int) and n > 0 for n in adapter.skipped.values())
