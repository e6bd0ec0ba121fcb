"""What a synthetic study is made of: the patient's anatomy and the visible findings.

These two records are the contract between the cohort sampler (which decides what each study
shows and writes its report and labels) and the renderer (which draws it). The renderer never
sees statuses or labels: it draws exactly the `VisibleFinding`s it is given, so the image and
the report cannot disagree about side, zone or severity.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

# Findings the renderer can draw; `VisibleFinding.name` is one of these.
RENDERABLE: tuple[str, ...] = (
    "cardiomegaly",               # cardiothoracic ratio > 0.5, larger with severity
    "enlarged cardiomediastinum",  # wide upper mediastinum
    "pleural effusion",           # blunted costophrenic angle with a meniscus
    "pneumothorax",               # lucent rim without lung markings, visceral pleural line
    "consolidation",              # dense patch with air bronchograms in side+zone
    "lung opacity",               # hazy patchy opacity in side+zone
    "pneumonia",                  # patchy consolidation in side+zone
    "edema",                      # bilateral perihilar haze (side ignored), Kerley B lines
    "atelectasis",                # plate-like linear density in side+zone, slight volume loss
    "nodule",                     # small round density in side+zone
    "mass",                       # large round density in side+zone
    "pleural thickening",         # thin pleural density along the lateral chest wall / apex
    "fracture",                   # a rib discontinuity on `side`
    "endotracheal tube",          # tube in the trachea, tip above the carina
    "central venous catheter",    # line from a subclavian/jugular vein to the SVC on `side`
    "pacemaker",                  # generator in the upper chest on `side` plus leads to the heart
    "enteric tube",               # tube down the oesophagus below the diaphragm
)
SIDES = ("left", "right", "bilateral")  # the patient's left is on the image's right (PA view)
ZONES = ("upper", "middle", "lower")
SEVERITIES = (1, 2, 3)  # mild/small, moderate, severe/large


@dataclass(frozen=True, slots=True)
class VisibleFinding:
    """One finding as it appears on the image."""

    name: str  # one of RENDERABLE
    side: str | None = None  # left | right | bilateral (None: not lateralised, e.g. cardiomegaly)
    zone: str | None = None  # upper | middle | lower (None: not zonal)
    severity: int = 2  # 1 mild/small, 2 moderate, 3 severe/large: drawn larger/denser with it


@dataclass(frozen=True, slots=True)
class Anatomy:
    """A patient's body habitus and one exposure's set-up; all sizes are fractions of the image.

    A patient keeps one `Anatomy` across studies; each study jitters it a little
    (`Anatomy.jitter`) so prior and current images differ in position and exposure, not anatomy.
    """

    thorax_width: float = 0.80  # outer rib-cage width
    thorax_top: float = 0.10  # lung apices
    diaphragm_right: float = 0.78  # dome height (y) of the right hemidiaphragm (left one lower)
    diaphragm_drop_left: float = 0.02  # left dome sits this much lower than the right
    heart_ratio: float = 0.44  # cardiothoracic ratio without cardiomegaly (0.38–0.48)
    mediastinum_width: float = 0.16  # upper mediastinal width
    center_x: float = 0.50  # midline position
    center_y: float = 0.50
    rotation_deg: float = 0.0  # patient rotation in the image plane
    exposure: float = 1.0  # overall brightness gain (under/over exposure)
    contrast: float = 1.0
    noise: float = 0.03  # quantum noise level
    rib_spacing: float = 0.065
    view: str = "PA"  # PA | AP (AP: magnified heart, clavicles higher)

    @classmethod
    def sample(cls, rng: np.random.Generator, view: str = "PA") -> Anatomy:
        """A new patient."""
        return cls(
            thorax_width=float(rng.uniform(0.72, 0.86)),
            thorax_top=float(rng.uniform(0.07, 0.13)),
            diaphragm_right=float(rng.uniform(0.72, 0.82)),
            diaphragm_drop_left=float(rng.uniform(0.0, 0.04)),
            heart_ratio=float(rng.uniform(0.38, 0.47)),
            mediastinum_width=float(rng.uniform(0.13, 0.18)),
            rib_spacing=float(rng.uniform(0.058, 0.072)),
            view=view,
        ).jitter(rng)

    def jitter(self, rng: np.random.Generator) -> Anatomy:
        """The same patient on another day: position, rotation and exposure vary."""
        return replace(
            self,
            center_x=float(0.5 + rng.normal(0, 0.015)),
            center_y=float(0.5 + rng.normal(0, 0.012)),
            rotation_deg=float(rng.normal(0, 2.0)),
            exposure=float(rng.uniform(0.85, 1.15)),
            contrast=float(rng.uniform(0.85, 1.15)),
            noise=float(rng.uniform(0.015, 0.045)),
        )
