"""RSNA Pneumonia Detection Challenge (Kaggle 2018), stage 2 training set: pneumonia labels only.

    ROOT/stage_2_train_labels.csv[.gz]           patientId, x, y, width, height, Target
    ROOT/stage_2_detailed_class_info.csv[.gz]    patientId, class (optional)
    ROOT/stage_2_train_images/<patientId>.dcm

Each patientId is one image (the name is the challenge's, not a patient key). Target is 1 for
"evidence of pneumonia" (a lung-opacity box in x, y, width, height) and 0 otherwise (box cells
empty); a patientId with several boxes has one row per box. `class` is "Lung Opacity",
"Normal" or "No Lung Opacity / Not Normal", row-aligned with the labels file. The DICOMs are
8-bit JPEG Baseline, PatientID = patientId, ViewPosition PA or AP. Evidence: the competition's
data page as quoted in public READMEs and EDA notebooks (file names, columns, Target 0/1,
several rows per patientId, the three classes, a dumped DICOM header).

One Study per patientId: `Pneumonia` 1.0 if any of its rows has Target 1, else 0.0 (no other
label); view from the DICOM's ViewPosition; no report (`has_reports = False`). Target must be
0 or 1. When the class file is present it is checked against Target (class "Lung Opacity"
exactly when Target is 1), so a mixed-up or truncated release fails loudly instead of
mislabelling. A patientId without a DICOM is skipped and counted under "image file missing".
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from chestx_reasoner.data.dicom import dicom_view
from chestx_reasoner.data.sources.base import (
    SOURCES,
    DatasetError,
    SourceAdapter,
    find_file,
    read_table,
)
from chestx_reasoner.data.study import Study, StudyImage

LABELS_CSV = "stage_2_train_labels.csv"
CLASS_CSV = "stage_2_detailed_class_info.csv"
IMAGES = "stage_2_train_images"
CLASSES = ("Lung Opacity", "Normal", "No Lung Opacity / Not Normal")
_TARGETS = {"0": False, "0.0": False, "1": True, "1.0": True}


@SOURCES.register("rsna")
class RsnaPneumonia(SourceAdapter):
    """RSNA Pneumonia training images, Pneumonia 1.0/0.0 (see the module docstring)."""

    name = "rsna"
    has_reports = False

    def __init__(self, root: str | Path, labels_csv: str = LABELS_CSV,
                 class_csv: str = CLASS_CSV, images: str = IMAGES) -> None:
        super().__init__(root)
        self.labels_csv, self.class_csv, self.images = labels_csv, class_csv, images

    def read(self) -> Iterator[Study]:
        targets = self._targets()
        self._check_classes(targets)
        folder = self.root / self.images
        if not folder.is_dir():
            raise DatasetError(f"{folder}: missing (the folder of training DICOMs)")
        for patient_id, target in targets.items():
            path = folder / f"{patient_id}.dcm"
            if not path.is_file():
                self.skipped["image file missing"] += 1
                continue
            yield Study(
                source=self.name, patient_id=patient_id, study_id=patient_id,
                images=[StudyImage(path=path, view=dicom_view(path), image_id=patient_id)],
                labels={"Pneumonia": 1.0 if target else 0.0})

    def _targets(self) -> dict[str, bool]:
        """patientId -> any Target 1, in file order (one entry however many box rows)."""
        path = find_file(self.root, self.labels_csv)
        targets: dict[str, bool] = {}
        for line, row in read_table(path, ("patientId", "x", "y", "width", "height", "Target")):
            patient_id = row["patientId"].strip()
            if not patient_id:
                raise DatasetError(f"{path}:{line}: column 'patientId': empty")
            text = row["Target"].strip()
            if text not in _TARGETS:
                raise DatasetError(f"{path}:{line}: column 'Target': {text!r} is not 0 or 1")
            targets[patient_id] = targets.get(patient_id, False) or _TARGETS[text]
        return targets

    def _check_classes(self, targets: dict[str, bool]) -> None:
        """Class file (optional) against Target: 'Lung Opacity' exactly when Target is 1."""
        try:
            path = find_file(self.root, self.class_csv)
        except DatasetError:
            return
        for line, row in read_table(path, ("patientId", "class")):
            patient_id, name = row["patientId"].strip(), row["class"].strip()
            if name not in CLASSES:
                raise DatasetError(f"{path}:{line}: column 'class': {name!r} is not one of "
                                   f"{', '.join(CLASSES)}")
            target = targets.get(patient_id)
            if target is not None and target != (name == "Lung Opacity"):
                raise DatasetError(f"{path}:{line}: column 'class': {name!r} contradicts "
                                   f"Target {int(target)} for {patient_id} in {self.labels_csv}")
