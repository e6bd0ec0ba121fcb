"""DICOM files written here for the tests: minimal valid Secondary Capture objects in the layout
the SIIM-ACR and RSNA releases use (and any PACS export), uncompressed or JPEG-encapsulated."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid


def write_dicom(path: Path, pixels: np.ndarray, view: str | None = "PA",
                patient: str = "anon", photometric: str = "MONOCHROME2",
                syntax: str = ExplicitVRLittleEndian, **extra: object) -> Path:
    """A minimal valid Secondary Capture file with a Part 10 preamble; `extra` sets any other
    data element by keyword (RescaleSlope=2, WindowCenter=…)."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = syntax
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = SecondaryCaptureImageStorage, generate_uid()
    ds.PatientID, ds.Modality = patient, "CR"
    if view is not None:
        ds.ViewPosition = view
    bits = 8 * pixels.dtype.itemsize
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, photometric
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = bits, bits, bits - 1, 0
    for keyword, value in extra.items():
        setattr(ds, keyword, value)
    if meta.TransferSyntaxUID.is_compressed:
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, format="JPEG", quality=95)
        ds.PixelData = encapsulate([buffer.getvalue()])
        ds["PixelData"].VR = "OB"
    else:
        ds.PixelData = pixels.tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path
