"""Dataset adapters and the synthetic cohort (issues 4, 5).

MIMIC-CXR-JPG, CheXpert Plus, MS-CXR-T, SIIM, RSNA, OpenI: one Study record out.
"""
