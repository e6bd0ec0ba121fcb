"""What a radiologist examines for each finding, and how it looks when present or absent.

The rules miner builds its steps from these signs, so a chain explains *why* a finding is called
present or absent (cardiothoracic ratio for cardiomegaly, costophrenic angles for effusion, …)
instead of restating a label. Several wordings per sign keep chains from becoming one template.
Wording is checked by the miner's verifier: a sign must not read, to the labeler, as a finding
the chain does not mean (a test runs every phrase through it).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Signs:
    examine: tuple[str, ...]  # what to look at ("the costophrenic angles and lung bases")
    present: tuple[str, ...]  # how it looks when present; {where} is the location or ""
    absent: tuple[str, ...]  # how normal looks


KNOWLEDGE: dict[str, Signs] = {
    "Pleural Effusion": Signs(
        examine=("the costophrenic angles and the lung bases",
                 "both costophrenic angles for blunting and a meniscus"),
        present=("a {where}pleural effusion blunts the costophrenic angle with a concave "
                 "meniscus",
                 "a {where}pleural effusion is seen as a meniscus-shaped shadow at the base"),
        absent=("both costophrenic angles are sharp and no pleural effusion is seen",
                "the bases are clear with sharp costophrenic angles, so there is no pleural "
                "effusion")),
    "Pneumothorax": Signs(
        examine=("the apices and lateral lung margins for a visceral pleural edge",
                 "the lung edges for a lucent rim with no vessels"),
        present=("a {where}pneumothorax is present: a thin visceral pleural edge with a "
                 "lucent rim beyond it",
                 "a {where}pneumothorax shows as a lucent rim beyond a thin visceral pleural "
                 "edge"),
        absent=("vessels reach the chest wall on both sides and there is no pneumothorax",
                "no visceral pleural edge or peripheral lucency is seen, so there is no "
                "pneumothorax")),
    "Cardiomegaly": Signs(
        examine=("the cardiothoracic ratio", "the width of the cardiac silhouette against the "
                                             "thorax"),
        present=("the cardiac silhouette is enlarged, with a cardiothoracic ratio above 0.5, "
                 "which is cardiomegaly",
                 "the heart measures more than half of the thoracic width: {where}cardiomegaly"),
        absent=("the cardiothoracic ratio is below 0.5, so heart size is normal",
                "heart size is normal, less than half of the thoracic width")),
    "Enlarged Cardiomediastinum": Signs(
        examine=("the width of the upper mediastinum",
                 "the mediastinal contours above the heart"),
        present=("the upper mediastinum is widened, an enlarged cardiomediastinum",
                 "mediastinal widening is seen above the heart"),
        absent=("the mediastinal contours are normal in width",
                "the cardiomediastinal silhouette is within normal limits")),
    "Edema": Signs(
        examine=("the perihilar regions and the pulmonary vessels",
                 "the hila and the sharpness of the vessel margins"),
        present=("bilateral perihilar haze with indistinct vessels indicates {where}pulmonary "
                 "edema",
                 "the vessels are indistinct and the perihilar regions hazy, {where}pulmonary "
                 "edema"),
        absent=("the vessels are sharply defined and there is no pulmonary edema",
                "no perihilar haze or Kerley B lines are seen: no pulmonary edema")),
    "Consolidation": Signs(
        examine=("each lung zone for dense, airless lung with air bronchi inside",
                 "the lung zones for airspace consolidation"),
        present=("dense consolidation with air bronchograms is seen in the {where}",
                 "consolidation is seen in the {where}"),
        absent=("no focal consolidation is seen in either lung",
                "there is no dense airspace consolidation")),
    "Lung Opacity": Signs(
        examine=("the lung fields zone by zone",
                 "each lung zone for a hazy or patchy opacity"),
        present=("a patchy opacity is seen in the {where}",
                 "the {where} shows an area of increased opacity"),
        absent=("the lung fields are clear without focal opacity",
                "no focal airspace opacity is seen")),
    "Pneumonia": Signs(
        examine=("each lung zone for an infectious process",
                 "each lung for focal infection"),
        present=("the appearance in the {where} is that of pneumonia",
                 "the {where} shows pneumonia"),
        absent=("there is no evidence of pneumonia", "there is no pneumonia")),
    "Atelectasis": Signs(
        examine=("the lung bases and the position of the fissures",
                 "the lungs for volume loss"),
        present=("plate-like atelectasis with slight volume loss is seen in the {where}",
                 "linear atelectasis is seen in the {where}"),
        absent=("lung volumes are preserved and no atelectasis is seen",
                "there is no volume loss and no atelectasis")),
    "Lung Lesion": Signs(
        examine=("the lungs for a nodule or a mass",
                 "each lung field for a rounded focal shadow"),
        present=("a rounded nodule or mass in the {where} is a lung lesion",
                 "a focal rounded lesion is seen in the {where}"),
        absent=("no pulmonary nodule or mass is seen",
                "there is no focal rounded nodule or mass")),
    "Fracture": Signs(
        examine=("the ribs and clavicles for cortical breaks",
                 "each rib for a break or step-off in its cortex"),
        present=("a break with step-off in a {where}rib is a fracture",
                 "the cortex of a {where}rib is interrupted, a rib fracture"),
        absent=("the ribs and clavicles are intact without fracture",
                "no cortical break is seen: no fracture")),
    "Pleural Other": Signs(
        examine=("the pleural surfaces along the chest wall and apices",
                 "the pleura for thickening or plaques"),
        present=("a band of {where}pleural thickening follows the chest wall",
                 "{where}pleural thickening is seen along the lateral chest wall"),
        absent=("the pleural surfaces are smooth without pleural thickening",
                "there is no pleural thickening")),
    "Support Devices": Signs(
        examine=("the tubes and catheters and where their tips lie",
                 "the chest for tubes, catheters or a pacemaker"),
        present=("{where}support devices are present: {devices}",
                 "{devices} are seen, so support devices are present"),
        absent=("no tubes, catheters or pacemaker are seen",
                "there are no support devices")),
}
