"""Screenshot an HTML page with headless Chromium: `python scripts/screenshot.py PAGE.html OUT.png`.

Why: the scoring report is checked by eye (and by a test) as rendered, not as markup; a PNG is
what reviewers attach to issues. Only a local Chromium is used; the page is opened as file://.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_browser() -> str | None:
    """The first Chromium-family browser on PATH, or None."""
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    return None


def screenshot(
    page: Path, out: Path, width: int = 1400, height: int = 2000, timeout: float = 90
) -> Path:
    """Render `page` at width×height CSS pixels into the PNG `out`; RuntimeError on failure."""
    browser = find_browser()
    if browser is None:
        raise RuntimeError(
            "no Chromium found on PATH (looked for " + ", ".join(BROWSERS) + "); install one, "
            "e.g. `apt-get install -y --no-install-recommends chromium`"
        )
    page, out = Path(page).resolve(), Path(out).resolve()
    if not page.is_file():
        raise RuntimeError(f"{page}: no such file")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(prefix="chestx-chromium-") as profile:
        cmd = [
            browser,
            "--headless",
            "--disable-gpu",
            "--no-sandbox",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--hide-scrollbars",
            f"--user-data-dir={profile}",
            f"--screenshot={out}",
            f"--window-size={width},{height}",
            page.as_uri(),
        ]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired as exc:
            raise RuntimeError(f"{browser} did not finish within {timeout:g} s") from exc
    if proc.returncode != 0 or not out.is_file():
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-5:])
        raise RuntimeError(f"{browser} exited {proc.returncode} without a screenshot:\n{tail}")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("page", type=Path, help="the HTML file to render")
    parser.add_argument("out", type=Path, help="the PNG to write")
    parser.add_argument("--width", type=int, default=1400, help="viewport width (CSS px)")
    parser.add_argument("--height", type=int, default=2000, help="viewport height (CSS px)")
    parser.add_argument("--timeout", type=float, default=90, help="seconds before giving up")
    args = parser.parse_args(argv)
    try:
        path = screenshot(args.page, args.out, args.width, args.height, args.timeout)
    except RuntimeError as exc:
        print(f"screenshot: {exc}", file=sys.stderr)
        return 1
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
