"""The settings module's docstring names every environment variable the bus reads elsewhere."""

from __future__ import annotations

import re
from pathlib import Path

from hookbus.bus import settings

BUS = Path(settings.__file__).resolve().parent


def test_the_settings_docstring_names_every_variable_read_outside_it() -> None:
    elsewhere = {
        name
        for path in BUS.rglob("*.py")
        if path.name != "settings.py" and "os.environ" in (text := path.read_text())
        for name in re.findall(r"\"(HOOKBUS_[A-Z_]+)\"", text)
    }
    assert elsewhere, "no variable found: the scan no longer sees how the bus reads them"
    doc = settings.__doc__ or ""
    assert sorted(name for name in elsewhere if name not in doc) == []
