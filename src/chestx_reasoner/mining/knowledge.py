"""Where a radiologist looks for each finding, and for which sign: what to look for, never what
was seen.

The rules miner opens each finding's step with one of these ("To evaluate for pleural effusion,
examine the costophrenic angles for blunting or a meniscus.") and follows it with what the report
says in its own words. A sign is never asserted as seen: a chain that says "a concave meniscus"
for a report that only says "small left effusion" teaches the model to invent signs. Wording is
checked by a test that runs every phrase through the labeler: a look-for sentence asserts no
finding, present or absent.
"""

from __future__ import annotations

# Column -> (sign, where) pairs: "blunting or a meniscus", "at the costophrenic angles". The
# sign follows the finding's name closely, so the labeler reads it inside "evaluate for"'s scope.
LOOK_FOR: dict[str, tuple[tuple[str, str], ...]] = {
    "Pleural Effusion": (("blunting or a meniscus", "at the costophrenic angles"),
                         ("layering fluid", "at the lung bases"),
                         ("a meniscus", "along the lateral chest wall"),
                         ("blunted angles", "on the frontal and lateral views")),
    "Pneumothorax": (("a visceral pleural line", "at the apices and lung margins"),
                     ("a pleural edge with no vessels beyond it", "along the lung edges"),
                     ("a thin white pleural line", "at each apex"),
                     ("a deep sulcus", "at the costophrenic angles")),
    "Cardiomegaly": (("a widened cardiac silhouette", "against the width of the thorax"),
                     ("a cardiothoracic ratio above one half", "on the frontal view"),
                     ("a broad heart shadow", "across the lower mediastinum"),
                     ("an enlarged heart border", "on both sides of the spine")),
    "Enlarged Cardiomediastinum": (("widening", "of the mediastinum and hila"),
                                   ("a widened contour", "of the upper mediastinum"),
                                   ("a bulging contour", "of the aortic arch and hila")),
    "Edema": (("indistinct vessels", "at the hila and in the interstitium"),
              ("septal lines and vascular blurring", "in both lungs"),
              ("perihilar haziness", "in both lungs"),
              ("upper-zone vessel diversion", "in both upper zones")),
    "Consolidation": (("dense opacity with air bronchograms", "in each lung zone"),
                      ("airless, dense lung", "zone by zone"),
                      ("a lobar or segmental density", "in each lobe")),
    "Lung Opacity": (("increased density", "in each lung zone"),
                     ("a hazy or patchy opacity", "zone by zone"),
                     ("an area of whiter lung", "in either lung")),
    "Pneumonia": (("a focal airspace process", "in each lung zone"),
                  ("a focal infective opacity", "in either lung"),
                  ("patchy airspace shadowing", "lobe by lobe")),
    "Atelectasis": (("linear opacity or volume loss", "at the lung bases"),
                    ("plate-like opacity", "in the lower lungs"),
                    ("shifted fissures or volume loss", "on each side")),
    "Lung Lesion": (("a nodule or a mass", "in each lung field"),
                    ("a rounded density", "in either lung"),
                    ("a focal rounded shadow", "zone by zone")),
    "Fracture": (("a cortical break", "in the ribs and clavicles"),
                 ("a step in the cortex", "of each rib"),
                 ("a lucent line through a bone", "in the ribs and spine")),
    "Pleural Other": (("pleural thickening or plaques", "along the chest wall"),
                      ("thickened pleura", "along the lateral chest wall"),
                      ("calcified plaques", "over the diaphragm and chest wall")),
    "Support Devices": (("tubes, lines or leads", "and where their tips lie"),
                        ("catheters or a pacemaker", "and their positions"),
                        ("any tube or catheter", "and its tip")),
}
# Where to look, no sign: for a step that checks several findings at once.
PLACES: dict[str, str] = {
    "Pleural Effusion": "the costophrenic angles", "Pneumothorax": "the apices",
    "Cardiomegaly": "the cardiac silhouette", "Enlarged Cardiomediastinum": "the mediastinum",
    "Edema": "the hila", "Consolidation": "the lung zones", "Lung Opacity": "the lung zones",
    "Pneumonia": "the lung zones", "Atelectasis": "the lung bases",
    "Lung Lesion": "the lung fields", "Fracture": "the ribs", "Pleural Other": "the pleura",
    "Support Devices": "the whole chest",
}
# Findings a reader weighs together with each one: the differential and what comes with it
# (an opacity may be atelectasis, consolidation or pneumonia; effusions come with atelectasis,
# edema and cardiomegaly; a pneumothorax with its chest tube). A binary chain walks these, as
# the report states them, besides the asked finding.
RELATED: dict[str, tuple[str, ...]] = {
    "Atelectasis": ("Lung Opacity", "Consolidation", "Pneumonia", "Pleural Effusion"),
    "Pleural Effusion": ("Atelectasis", "Lung Opacity", "Edema", "Cardiomegaly"),
    "Pneumothorax": ("Support Devices", "Pleural Effusion", "Fracture"),
    "Cardiomegaly": ("Enlarged Cardiomediastinum", "Edema", "Pleural Effusion"),
    "Enlarged Cardiomediastinum": ("Cardiomegaly", "Lung Lesion"),
    "Edema": ("Cardiomegaly", "Pleural Effusion", "Lung Opacity", "Consolidation"),
    "Consolidation": ("Pneumonia", "Lung Opacity", "Atelectasis", "Pleural Effusion"),
    "Lung Opacity": ("Atelectasis", "Consolidation", "Pneumonia", "Edema", "Pleural Effusion"),
    "Pneumonia": ("Consolidation", "Lung Opacity", "Atelectasis", "Pleural Effusion"),
    "Lung Lesion": ("Lung Opacity", "Consolidation", "Enlarged Cardiomediastinum"),
    "Fracture": ("Pneumothorax", "Pleural Other"),
    "Pleural Other": ("Pleural Effusion", "Lung Opacity"),
    "Support Devices": ("Pneumothorax",),
}
