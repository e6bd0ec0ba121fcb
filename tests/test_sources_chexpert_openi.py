"""CheXpert Plus and OpenI adapters on small fixture files written in their native layouts."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest
from PIL import Image

from chestx_reasoner.data.sources import SOURCES, DatasetError
from chestx_reasoner.data.sources.chexpert_plus import MAIN_CSV, ChexpertPlus
from chestx_reasoner.data.sources.openi import OpenI
from chestx_reasoner.reports.vocabulary import CHEXPERT_OBSERVATIONS

# The release's 27 columns, in its order.
PLUS_COLUMNS = [
    "path_to_image", "path_to_dcm", "frontal_lateral", "ap_pa", "deid_patient_id",
    "patient_report_date_order", "report", "section_narrative", "section_clinical_history",
    "section_history", "section_comparison", "section_technique", "section_procedure_comments",
    "section_findings", "section_impression", "section_end_of_impression", "section_summary",
    "section_accession_number", "age", "sex", "race", "ethnicity", "interpreter_needed",
    "insurance_type", "recent_bmi", "deceased", "split"]


def _png(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("L", (4, 4), 128).save(path)


def _plus_row(image: str, kind: str, ap_pa: str, order: str, findings: str = "",
              impression: str = "", report: str = "", split: str = "train") -> dict[str, str]:
    patient = image.split("/")[1]
    return {"path_to_image": image, "path_to_dcm": image.replace(".jpg", ".dcm"),
            "frontal_lateral": kind, "ap_pa": ap_pa, "deid_patient_id": patient,
            "patient_report_date_order": order, "report": report,
            "section_clinical_history": "Cough." if findings else "",
            "section_findings": findings, "section_impression": impression,
            "section_accession_number": "123", "age": "60.0", "split": split}


def make_plus(root: Path, labels: bool = True, columns: list[str] = PLUS_COLUMNS) -> Path:
    """patient1: two studies (listed later one first); patient2: lateral only; patient3: no
    report; patient4 (valid): frontal without ap_pa, only the `report` column."""
    rows = [
        _plus_row("train/patient1/study2/view1_frontal.jpg", "Frontal", "PA", "2.0",
                  impression="No acute disease."),
        _plus_row("train/patient1/study1/view1_frontal.jpg", "Frontal", "AP", "1.0",
                  findings="Enlarged heart.\nSmall left effusion.",
                  impression="1. Cardiomegaly.\n2. Small left effusion."),
        _plus_row("train/patient1/study1/view2_lateral.jpg", "Lateral", "", "1.0",
                  findings="Enlarged heart.\nSmall left effusion.",
                  impression="1. Cardiomegaly.\n2. Small left effusion."),
        _plus_row("train/patient2/study1/view1_lateral.jpg", "Lateral", "", "1",
                  impression="Clear lungs."),
        _plus_row("train/patient3/study1/view1_frontal.jpg", "Frontal", "AP", "1"),
        _plus_row("valid/patient4/study1/view1_frontal.jpg", "Frontal", "", "1",
                  report="NARRATIVE: Chest.\n\nIMPRESSION: Mild pulmonary edema.",
                  split="valid"),
    ]
    with open(root / MAIN_CSV, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    # PNG archive layout for most images; patient1/study2 as-given .jpg (the CheXpert layout).
    for row in rows:
        image = row["path_to_image"]
        if "patient1/study2" in image:
            (root / image).parent.mkdir(parents=True, exist_ok=True)
            (root / image).write_bytes(b"\xff\xd8\xff\xd9")
        else:
            _png(root / "PNG" / image.replace(".jpg", ".png"))
    if labels:
        records = [
            {"path_to_image": "train/patient1/study1/view2_lateral.jpg", "Edema": 1.0},
            {"path_to_image": "train/patient1/study1/view1_frontal.jpg", "Cardiomegaly": 1.0,
             "Pleural Effusion": -1.0, "Edema": None},
            {"path_to_image": "train/patient1/study2/view1_frontal.jpg", "No Finding": 1.0},
            {"path_to_image": "train/patient9/study1/view1_frontal.jpg", "No Finding": 1.0},
        ]
        (root / "chexbert_labels").mkdir()
        (root / "chexbert_labels" / "impression_fixed.json").write_text(
            "".join(json.dumps(r) + "\n" for r in records))
    return root


def test_plus_studies_views_sections_labels_priors_and_skips(tmp_path: Path) -> None:
    adapter = SOURCES.get("chexpert-plus")(make_plus(tmp_path))
    studies = {s.study_id: s for s in adapter.studies()}
    assert list(studies) == ["patient1_study1", "patient1_study2", "patient4_study1"]
    assert adapter.skipped == {"no frontal image": 1, "empty or missing report": 1}
    assert adapter.label_source == str(tmp_path / "chexbert_labels" / "impression_fixed.json")
    first, second, valid = (studies[k] for k in studies)
    assert [i.view for i in first.images] == ["AP", "LATERAL"]
    assert first.patient_id == "patient1" and first.split == "train" and first.date is None
    frontal = first.frontal_image()
    assert frontal.path == tmp_path / "PNG/train/patient1/study1/view1_frontal.png"
    assert frontal.path.exists() and frontal.image_id == "train/patient1/study1/view1_frontal"
    assert second.frontal_image().path == tmp_path / "train/patient1/study2/view1_frontal.jpg"
    assert first.report == ("FINDINGS: Enlarged heart.\nSmall left effusion.\n\n"
                            "IMPRESSION: 1. Cardiomegaly.\n2. Small left effusion.")
    assert first.sections == {"findings": "Enlarged heart. Small left effusion.",
                              "impression": "1. Cardiomegaly. 2. Small left effusion.",
                              "clinical_history": "Cough."}
    # Labels from the frontal image's record, though the lateral's comes first in the file.
    assert set(first.labels) == set(CHEXPERT_OBSERVATIONS)
    assert first.labels["Cardiomegaly"] == 1.0 and first.labels["Pleural Effusion"] == -1.0
    assert first.labels["Edema"] is None and first.labels["Atelectasis"] is None
    assert second.labels["No Finding"] == 1.0 and valid.labels == {}
    # Prior by patient_report_date_order, not by row order.
    assert first.prior_study_id is None
    assert second.prior_study_id == "patient1_study1" and second.prior_image == frontal
    assert second.prior_report == first.report
    assert second.report == "IMPRESSION: No acute disease."
    assert [i.view for i in valid.images] == ["FRONTAL"] and valid.split == "validate"
    assert valid.report.startswith("NARRATIVE: Chest.") and valid.sections == {}


def test_plus_without_label_file_labels_reports_with_our_labeler(tmp_path: Path) -> None:
    adapter = ChexpertPlus(make_plus(tmp_path, labels=False))
    studies = {s.study_id: s for s in adapter.studies()}
    assert adapter.label_source == "ReportLabeler"
    assert studies["patient1_study1"].labels["Cardiomegaly"] == 1.0
    assert studies["patient1_study1"].labels["Pleural Effusion"] == 1.0
    assert studies["patient4_study1"].labels["Edema"] == 1.0
    assert studies["patient1_study2"].labels["Pleural Effusion"] is None


def _one_line_error(match: str, call) -> str:  # type: ignore[no-untyped-def]
    with pytest.raises(DatasetError) as caught:
        call()
    message = str(caught.value)
    assert "\n" not in message and re.search(match, message), message
    return message


def test_plus_errors_name_file_line_and_column(tmp_path: Path) -> None:
    _one_line_error(r"df_chexpert_plus_240401\.csv: missing",
                    lambda: list(ChexpertPlus(tmp_path).read()))
    root = tmp_path / "no_ap_pa"
    root.mkdir()
    columns = [c for c in PLUS_COLUMNS if c != "ap_pa"]
    _one_line_error(r"df_chexpert_plus_240401\.csv:1: missing column 'ap_pa'",
                    lambda: list(ChexpertPlus(make_plus(root, columns=columns)).read()))
    root = tmp_path / "bad_label"
    root.mkdir()
    make_plus(root)
    labels = root / "chexbert_labels" / "impression_fixed.json"
    lines = labels.read_text().splitlines()
    lines[1] = lines[1].replace('"Cardiomegaly": 1.0', '"Cardiomegaly": 2.0')
    labels.write_text("\n".join(lines) + "\n")
    _one_line_error(r"impression_fixed\.json:2: column 'Cardiomegaly': '2\.0' is not a label",
                    lambda: list(ChexpertPlus(root).read()))
    lines[1] = "{not json"
    labels.write_text("\n".join(lines) + "\n")
    _one_line_error(r"impression_fixed\.json:2: not JSON", lambda: list(ChexpertPlus(root).read()))
    table = root / MAIN_CSV
    table.write_text(table.read_text().replace(",Lateral,", ",Oblique,", 1))
    # The row spans lines 6-8 (multi-line report cells); read_table names the record's last line.
    _one_line_error(r"df_chexpert_plus_240401\.csv:(6|8): column 'frontal_lateral': 'Oblique'",
                    lambda: list(ChexpertPlus(root).read()))
    with pytest.raises(DatasetError, match="unknown CheXpert Plus labels"):
        ChexpertPlus(root, labels="chexbert")


# OpenI ------------------------------------------------------------------------------------

def _report_xml(uid: str, sections: dict[str, str], images: list[str]) -> str:
    texts = "".join(f'<AbstractText Label="{k}">{v}</AbstractText>' for k, v in sections.items())
    parents = "".join(f'<parentImage id="{i}"><figureId>F1</figureId>'
                      "<caption>Xray Chest PA and Lateral</caption></parentImage>"
                      for i in images)
    return (f'<?xml version="1.0" encoding="utf-8"?>\n<eCitation><meta type="rr"/>'
            f'<uId id="{uid}"/><pmcId id="{uid[3:]}"/><MedlineCitation><Article>'
            f"<Abstract>{texts}</Abstract></Article></MedlineCitation>"
            f"<MeSH><major>Cardiomegaly/mild</major></MeSH>{parents}</eCitation>\n")


def make_openi(root: Path) -> Path:
    """CXR1 (two images), CXR2 (no images), CXR3 (images, empty sections), CXR10 (one image)."""
    reports = {
        "1": _report_xml("CXR1", {"COMPARISON": "None.", "INDICATION": "XXXX-year-old cough.",
                                  "FINDINGS": "The heart is enlarged. No XXXX effusion.",
                                  "IMPRESSION": "Mild cardiomegaly."},
                         ["CXR1_1_IM-0001-3001", "CXR1_1_IM-0001-4001"]),
        "2": _report_xml("CXR2", {"FINDINGS": "Clear lungs.", "IMPRESSION": "Normal chest."}, []),
        "3": _report_xml("CXR3", {"FINDINGS": "", "IMPRESSION": ""}, ["CXR3_IM-1384-1001"]),
        "10": _report_xml("CXR10", {"IMPRESSION": "Right pneumothorax."},
                          ["CXR10_IM-0002-1001"]),
    }
    (root / "ecgen-radiology").mkdir()
    for number, text in reports.items():
        (root / "ecgen-radiology" / f"{number}.xml").write_text(text, encoding="utf-8")
    for image in ("CXR1_1_IM-0001-3001", "CXR1_1_IM-0001-4001", "CXR3_IM-1384-1001",
                  "CXR10_IM-0002-1001"):
        _png(root / "NLMCXR_png" / f"{image}.png")
    return root


def test_openi_studies_views_sections_labels_and_skips(tmp_path: Path) -> None:
    adapter = SOURCES.get("openi")(make_openi(tmp_path))
    studies = {s.study_id: s for s in adapter.studies()}
    assert list(studies) == ["CXR1", "CXR10"]
    assert adapter.skipped == {"no frontal image": 1, "empty or missing report": 1}
    first = studies["CXR1"]
    assert first.patient_id == "CXR1" and first.split is None and first.prior_study_id is None
    assert [(i.image_id, i.view) for i in first.images] == [
        ("CXR1_1_IM-0001-3001", "FRONTAL"), ("CXR1_1_IM-0001-4001", "LATERAL")]
    assert first.frontal_image().path == tmp_path / "NLMCXR_png/CXR1_1_IM-0001-3001.png"
    assert first.frontal_image().path.exists()
    assert first.report == ("FINDINGS: The heart is enlarged. No XXXX effusion.\n\n"
                            "IMPRESSION: Mild cardiomegaly.")
    assert first.sections["indication"] == "XXXX-year-old cough."
    assert set(first.sections) == {"comparison", "indication", "findings", "impression"}
    assert set(first.labels) == set(CHEXPERT_OBSERVATIONS)
    assert first.labels["Cardiomegaly"] == 1.0 and first.labels["Pleural Effusion"] is None
    assert studies["CXR10"].labels["Pneumothorax"] == 1.0


def test_openi_views_from_the_kaggle_projection_table(tmp_path: Path) -> None:
    root = make_openi(tmp_path)
    (root / "indiana_projections.csv").write_text(
        "uid,filename,projection\n1,1_IM-0001-4001.dcm.png,Frontal\n"
        "1,1_IM-0001-3001.dcm.png,Lateral\n")
    studies = {s.study_id: s for s in OpenI(root).studies()}
    assert [i.view for i in studies["CXR1"].images] == ["LATERAL", "FRONTAL"]
    assert studies["CXR1"].frontal_image().image_id == "CXR1_1_IM-0001-4001"
    assert [i.view for i in studies["CXR10"].images] == ["FRONTAL"]  # not listed: first image
    (root / "indiana_projections.csv").write_text(
        "uid,filename,projection\n1,1_IM-0001-4001.dcm.png,Frontal\n"
        "1,1_IM-0001-3001.dcm.png,Oblique\n")
    _one_line_error(r"indiana_projections\.csv:3: column 'projection': 'Oblique'",
                    lambda: list(OpenI(root).read()))


def test_openi_errors_name_file_and_line(tmp_path: Path) -> None:
    _one_line_error(r"ecgen-radiology: missing", lambda: list(OpenI(tmp_path).read()))
    root = make_openi(tmp_path)
    (root / "ecgen-radiology" / "4.xml").write_text(
        '<?xml version="1.0"?>\n<eCitation>\n<uId id="CXR4"/>\n<MeSH><major>x</MeSH>\n')
    _one_line_error(r"4\.xml:4: malformed XML", lambda: list(OpenI(root).read()))
