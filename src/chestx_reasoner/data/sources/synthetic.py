"""The embedded synthetic cohort (`chestx synth`), read by the MIMIC-CXR-JPG adapter unchanged.

Its MS-CXR-T-style pair table, when present, adds progression labels to follow-up studies.
"""

from __future__ import annotations

from collections.abc import Iterator

from chestx_reasoner.data.sources.base import SOURCES
from chestx_reasoner.data.sources.mimic_cxr import MimicCxrJpg
from chestx_reasoner.data.sources.ms_cxr_t import PAIRS_CSV, read_pairs
from chestx_reasoner.data.study import Study


@SOURCES.register("synthetic")
class SyntheticCohort(MimicCxrJpg):
    """A `chestx synth` folder: MIMIC-CXR-JPG layout plus progression of follow-up pairs."""

    name = "synthetic"
    study_ids = "synthetic"  # MIMIC-shaped ids, but of made-up studies: never a MIMIC study

    def read(self) -> Iterator[Study]:
        path = self.root / PAIRS_CSV
        pairs = read_pairs(path) if path.exists() else {}
        for study in super().read():
            image = study.frontal_image()
            pair = pairs.get(image.image_id) if image else None
            if pair and study.prior_image and study.prior_image.image_id == pair.previous_dicom_id:
                study.progression = dict(pair.progression)
            yield study
