"""The embedded synthetic cohort: chest X-ray studies in MIMIC-CXR-JPG layout (issue 4).

    from chestx_reasoner.data.synth import SynthConfig, synthesize
    summary = synthesize("cohort", SynthConfig(n=200, seed=0))

Modules: `cohort` samples patients, studies and findings; `reports` and `phrases` write the
reports and read off their labels; `images` (with `geometry`, `draw_findings`,
`devices`) renders the radiographs; `writer` lays it all out
on disk; `preview` and `browse` make a contact sheet for a person to check.
"""

from __future__ import annotations

import difflib
import json
from pathlib import Path

from chestx_reasoner.data.synth.cohort import MIMIC_PREVALENCE, NORMAL_SHARE
from chestx_reasoner.data.synth.writer import MANIFEST, SynthConfig, image_path, synthesize

__all__ = ["SynthConfig", "image_path", "parse_prevalence", "settings_for", "synthesize",
           "write_preview"]

DEFAULTS = {"n": 2000, "seed": 0, "size": 256}


def parse_prevalence(overrides: list[str],
                     base: dict[str, tuple[float, float, float]] | None = None,
                     ) -> dict[str, tuple[float, float, float]]:
    """Apply 'Label=pos' or 'Label=pos:unc:neg' overrides to the default label shares.

    >>> parse_prevalence(["Edema=0.3"])["Edema"]
    (0.3, 0.058, 0.113)
    >>> parse_prevalence(["Edema=0.3:0:0.1"])["Edema"]
    (0.3, 0.0, 0.1)
    """
    table = dict(base or MIMIC_PREVALENCE)
    for item in overrides:
        name, sep, values = item.partition("=")
        name = name.strip()
        if not sep:
            raise ValueError(f"--prevalence {item!r}: expected LABEL=POS or LABEL=POS:UNC:NEG")
        if name not in table:
            close = difflib.get_close_matches(name, list(table), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f"; one of {sorted(table)}"
            raise ValueError(f"--prevalence {item!r}: unknown label {name!r}{hint}")
        try:
            numbers = [float(v) for v in values.split(":")]
        except ValueError:
            raise ValueError(f"--prevalence {item!r}: shares must be numbers") from None
        if len(numbers) not in (1, 3) or any(not 0 <= v <= 1 for v in numbers):
            raise ValueError(f"--prevalence {item!r}: give 1 or 3 shares, each in [0, 1]")
        shares = (numbers[0], *table[name][1:]) if len(numbers) == 1 else tuple(numbers)
        if sum(shares) > 1:
            raise ValueError(f"--prevalence {item!r}: shares add up to more than 1")
        table[name] = shares  # type: ignore[assignment]
    return table


def settings_for(out: str | Path, *, n: int | None = None, seed: int | None = None,
                 size: int | None = None, prevalence: list[str] | None = None) -> SynthConfig:
    """Settings for a run into `out`: those given, else the folder's own (resume), else defaults.

    Resuming an existing cohort with only `--out` must not silently start a different one, so
    unspecified settings come from the folder's manifest when it has one.
    """
    previous: dict = {}
    manifest = Path(out) / MANIFEST
    if manifest.exists():
        try:
            previous = json.loads(manifest.read_text())
        except ValueError as error:
            raise ValueError(f"{manifest}: unreadable manifest ({error})") from error
    base = {k: tuple(v) for k, v in previous.get("prevalence", {}).items()} or None
    return SynthConfig(
        n=n if n is not None else previous.get("n", DEFAULTS["n"]),
        seed=seed if seed is not None else previous.get("seed", DEFAULTS["seed"]),
        size=size if size is not None else previous.get("size", DEFAULTS["size"]),
        prevalence=parse_prevalence(prevalence or [], base),
        normal_share=previous.get("normal_share", NORMAL_SHARE),
    )


def write_preview(root: str | Path, n: int, path: str | Path, tile: int = 256) -> Path:
    """A contact sheet PNG of `n` studies of the cohort in `root`, labels under each image."""
    from PIL import Image

    from chestx_reasoner.data.synth.browse import caption, pick_studies, read_truth
    from chestx_reasoner.data.synth.preview import contact_sheet, save_contact_sheet

    root = Path(root)
    items = []
    for record in pick_studies(read_truth(root), n):
        with Image.open(root / record["image"]) as image:
            title = f"s{record['study_id']} {record['view']}"
            items.append((image.convert("L"), title, caption(record)))
    sheet = contact_sheet(items, columns=min(6, max(1, len(items))), tile=tile)
    save_contact_sheet(sheet, path)
    return Path(path)
