"""OpenI: the Indiana University chest X-ray collection (NLM; Demner-Fushman et al., JAMIA 2016).

    ROOT/ecgen-radiology/<n>.xml        one report per file (NLMCXR_reports.tgz), n = 1..3955
    ROOT/NLMCXR_png/<image id>.png      NLMCXR_png.tgz, e.g. CXR1_1_IM-0001-3001.png,
                                        CXR2_IM-0652-1001.png
    ROOT/indiana_projections.csv[.gz]   optional: the Kaggle copy's (raddar, "Chest X-rays
                                        (Indiana University)") view table: uid (1), filename
                                        (1_IM-0001-4001.dcm.png), projection (Frontal | Lateral)
    ROOT/images/images_normalized/<filename>   optional: the Kaggle copy's images, used where
                                        NLMCXR_png lacks an image the view table names

Each report is an <eCitation> with <uId id="CXR1"/>, the sections as
<MedlineCitation><Article><Abstract><AbstractText Label="COMPARISON|INDICATION|FINDINGS|
IMPRESSION">, the MeSH terms (<MeSH><major>…</major>, not used), and one
<parentImage id="CXR1_1_IM-0001-3001"> per image. Evidence: public parsers of the release
(ecgen-radiology/*.xml, <uId>, labelled <AbstractText>, <parentImage id>), file listings of
NLMCXR_png, and Kaggle loaders reading uid, filename, projection.

One Study per report; patient id = study id = the uId (the release links no two reports to one
patient), no split, no prior. Report = "FINDINGS: …\\n\\nIMPRESSION: …" (the parts present);
sections = every labelled <AbstractText> (lower-cased label). "XXXX" de-identification
placeholders stay in the text. Labels: OpenI ships no CheXpert labels, so the reports are
labelled by our `ReportLabeler` (impression scope: impression, else findings). Views: with the
Kaggle view table, each image's projection (Frontal -> "FRONTAL", Lateral -> "LATERAL"),
matched on uid and the IM-xxxx-xxxx part of the name (an image it does not list has no view);
without it, or for a report none of whose images it lists, the first <parentImage> is taken as
"FRONTAL" and the others as "LATERAL". That is only a guess: the XML records no view (the
<caption> is the exam's title), and public Kaggle-based code has uid 1's IM-0001-4001 frontal
but IM-0001-3001 lateral, so the guess fails wherever a report lists its lateral first. Use
the table where you can.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from chestx_reasoner.data.sources.base import (
    SOURCES,
    DatasetError,
    SourceAdapter,
    find_file,
    read_table,
)
from chestx_reasoner.data.study import LabelValue, Study, StudyImage
from chestx_reasoner.reports.sections import ReportError

if TYPE_CHECKING:
    from chestx_reasoner.reports.labeler import ReportLabeler

REPORTS = "ecgen-radiology"
IMAGES = "NLMCXR_png"
PROJECTIONS = "indiana_projections.csv"
KAGGLE_IMAGES = Path("images") / "images_normalized"
_PROJECTIONS = {"frontal": "FRONTAL", "lateral": "LATERAL"}
_IMAGE_NUMBER = re.compile(r"IM-\d+-\d+")


def assemble_report(findings: str | None, impression: str | None) -> str:
    """MIMIC-style report text from its two clinical sections ("" when both are empty).

    >>> assemble_report("Clear lungs.", "Normal.")
    'FINDINGS: Clear lungs.\\n\\nIMPRESSION: Normal.'
    """
    parts = [f"{header}: {text.strip()}" for header, text in
             (("FINDINGS", findings), ("IMPRESSION", impression)) if text and text.strip()]
    return "\n\n".join(parts)


def label_reports(reports: Sequence[str],
                  labeler: ReportLabeler | None = None) -> list[dict[str, LabelValue]]:
    """CheXpert labels read from report texts by our labeler ({} for an unusable report).

    Used where a release ships no labels; spaCy is imported only when there is text to label.
    """
    if not any(report.strip() for report in reports):
        return [{} for _ in reports]
    if labeler is None:
        from chestx_reasoner.reports.labeler import ReportLabeler

        labeler = ReportLabeler(scope="impression")
    out: list[dict[str, LabelValue]] = []
    for result in labeler.label_many(reports):
        if isinstance(result, ReportError):
            out.append({})
        else:
            out.append({c: None if v is None else float(v) for c, v in result.labels.items()})
    return out


def _image_number(name: str) -> str:
    """The IM-0001-4001 part shared by NLMCXR_png and Kaggle names of one image."""
    match = _IMAGE_NUMBER.search(name)
    return match.group(0) if match else name


@SOURCES.register("openi")
class OpenI(SourceAdapter):
    """OpenI / IU X-ray reports and PNGs, labelled by our labeler (see the module docstring).

    Args:
        root: the folder holding ecgen-radiology/ and NLMCXR_png/.
        labeler: the ReportLabeler to label reports with (default: impression scope).
    """

    name = "openi"

    def __init__(self, root: str | Path, labeler: ReportLabeler | None = None) -> None:
        super().__init__(root)
        self.labeler = labeler

    def read(self) -> Iterator[Study]:
        folder = self.root / REPORTS
        if not folder.is_dir():
            raise DatasetError(f"{folder}: missing (the folder of OpenI report XML files)")
        files = sorted(folder.glob("*.xml"),
                       key=lambda p: (not p.stem.isdigit(), int(p.stem) if p.stem.isdigit()
                                      else 0, p.stem))
        if not files:
            raise DatasetError(f"{folder}: no report XML files (<n>.xml) in it")
        projections = self._projections()
        studies = [self._study(path, projections) for path in files]
        labels = label_reports([study.report for study in studies], self.labeler)
        for study, study_labels in zip(studies, labels, strict=True):
            study.labels = study_labels
            yield study

    def _study(self, path: Path, projections: dict[tuple[str, str], tuple[str, str]]) -> Study:
        try:
            root = ET.parse(path).getroot()
        except ET.ParseError as error:
            line = error.position[0]
            raise DatasetError(f"{path}:{line}: malformed XML ({error})") from None
        except OSError as error:
            raise DatasetError(f"{path}: unreadable ({error})") from error
        uid_element = root.find(".//uId")
        uid = (uid_element.get("id") or "").strip() if uid_element is not None else ""
        uid = uid or f"CXR{path.stem}"  # the release names n.xml after uId CXRn
        sections: dict[str, str] = {}
        for element in root.iter("AbstractText"):
            label = (element.get("Label") or "").strip().lower()
            text = " ".join("".join(element.itertext()).split())
            if label and text:
                sections.setdefault(label, text)
        ids = [i.strip() for e in root.iter("parentImage") if (i := e.get("id") or "").strip()]
        return Study(source=self.name, patient_id=uid, study_id=uid,
                     images=self._images(uid, ids, projections), sections=sections,
                     report=assemble_report(sections.get("findings"),
                                            sections.get("impression")))

    def _images(self, uid: str, ids: list[str],
                projections: dict[tuple[str, str], tuple[str, str]]) -> list[StudyImage]:
        number = uid.removeprefix("CXR")
        listed = [projections.get((number, _image_number(i))) for i in ids]
        use_table = any(listed)
        images = []
        for position, (image_id, entry) in enumerate(zip(ids, listed, strict=True)):
            path = self.root / IMAGES / f"{image_id}.png"
            if entry is not None and not path.exists():
                kaggle = self.root / KAGGLE_IMAGES / entry[1]
                path = kaggle if kaggle.exists() else path
            if use_table:
                view = entry[0] if entry else None
            else:
                view = "FRONTAL" if position == 0 else "LATERAL"
            images.append(StudyImage(path=path, view=view, image_id=image_id))
        return images

    def _projections(self) -> dict[tuple[str, str], tuple[str, str]]:
        """(uid number, IM-xxxx-xxxx) -> (view, Kaggle file name); {} without the table."""
        try:
            path = find_file(self.root, PROJECTIONS)
        except DatasetError:
            return {}
        out: dict[tuple[str, str], tuple[str, str]] = {}
        for line, row in read_table(path, ("uid", "filename", "projection")):
            view = _PROJECTIONS.get(row["projection"].strip().lower())
            if view is None:
                raise DatasetError(f"{path}:{line}: column 'projection': {row['projection']!r} "
                                   "is not Frontal or Lateral")
            filename = row["filename"].strip()
            uid = row["uid"].strip().removeprefix("CXR")
            out[(uid, _image_number(filename))] = (view, filename)
        return out
