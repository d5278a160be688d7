"""Debian's chromium for the browser tests (playwright drives it; no browser download)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def browser_or_skip():  # type: ignore[no-untyped-def]
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        pytest.skip("the playwright Python package is not installed (pip install -e '.[dev]')")
    if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
        pytest.skip(f"Chromium is not installed at {CHROMIUM} (Debian: apt-get install -y chromium)")
    return async_playwright


def screenshot_path(name: str, scratch: Path) -> Path:
    """Where a browser test writes its screenshot: a scratch folder, so a test run leaves the
    working tree clean; `docs/screenshots/` (the README's pictures) only when asked to refresh
    them with TONGBAN_REFRESH_SCREENSHOTS=1."""
    if os.environ.get("TONGBAN_REFRESH_SCREENSHOTS") == "1":
        folder = ROOT / "docs" / "screenshots"
        folder.mkdir(parents=True, exist_ok=True)
        return folder / name
    return scratch / name
