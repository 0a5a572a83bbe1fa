"""The schema pass of lint: a document walked against :mod:`.schema`'s tables.

Reports unknown fields (with a "did you mean" hint), wrong types, missing required
fields and values outside an enumeration.
"""

from __future__ import annotations

import difflib
import re
from typing import Any

from .lint_report import Reporter, idx, is_templated, key, type_name
from .schema import OBJECTS, FieldType, parse_type

__all__ = ["SchemaChecker"]

_WANTED = {
    "object": "map",
    "intstr": "int or string",
    "anystr": "string, number or bool",
    "quantity": "quantity (string or number)",
}


def type_label(ftype: FieldType) -> str:
    """How a field type is named in an "expected ..." message."""
    if ftype.kind == "object":
        return f"map ({ftype.name})"
    return ftype.kind if ftype.kind in ("list", "map") else _WANTED.get(ftype.name, ftype.name)


class SchemaChecker(Reporter):
    """Checks values against field types; :meth:`object` is the entry for a document."""

    def check(self, value: Any, ftype: FieldType, path: str) -> None:
        if value is None:
            return  # JSON null is "unset" to Kubernetes' decoder
        if ftype.kind == "scalar":
            self._scalar(value, ftype.name, path)
        elif ftype.kind == "enum":
            if not isinstance(value, str):
                self.error(path, f"expected string, got {type_name(value)}")
            elif value and value not in ftype.values and not is_templated(value):
                self.error(
                    path, f"invalid value {value!r}: must be one of {', '.join(ftype.values)}"
                )
        elif ftype.kind == "list":
            assert ftype.item is not None
            if not isinstance(value, list):
                hint = ""
                if isinstance(value, dict) and re.search(r"\.steps\[\d+\]$", path):
                    hint = (
                        " (steps is a list of parallel groups: write each step as '- - name: ...')"
                    )
                self.error(path, f"expected list, got {type_name(value)}{hint}")
                return
            for index, item in enumerate(value):
                if item is None and ftype.item.kind not in ("scalar", "enum"):
                    # a null element is no "unset" field: it would decode to an empty record
                    self.error(idx(path, index), f"expected {type_label(ftype.item)}, got null")
                    continue
                self.check(item, ftype.item, idx(path, index))
        elif ftype.kind == "map":
            assert ftype.item is not None
            if not isinstance(value, dict):
                self.error(path, f"expected map, got {type_name(value)}")
                return
            for name, item in value.items():
                if not isinstance(name, str):
                    self.error(key(path, name), f"map key must be a string, got {type_name(name)}")
                self.check(item, ftype.item, key(path, name))
        else:
            self.object(value, ftype.name, path)

    def _scalar(self, value: Any, name: str, path: str) -> None:
        ok: bool
        if name == "any":
            ok = True
        elif name == "object":
            ok = isinstance(value, dict)
        elif name == "string":
            ok = isinstance(value, str)
        elif name == "bool":
            ok = isinstance(value, bool)
        elif name == "int":
            ok = isinstance(value, int) and not isinstance(value, bool)
        elif name == "number":
            ok = isinstance(value, int | float) and not isinstance(value, bool)
        elif name == "intstr":
            ok = isinstance(value, int | str) and not isinstance(value, bool)
        elif name == "anystr":
            ok = isinstance(value, str | int | float | bool)
        elif name == "quantity":
            ok = isinstance(value, str | int | float) and not isinstance(value, bool)
        else:  # pragma: no cover - schema self-check forbids it
            raise AssertionError(name)
        if not ok:
            self.error(path, f"expected {_WANTED.get(name, name)}, got {type_name(value)}")

    def object(self, value: Any, schema_name: str, path: str) -> None:
        if not isinstance(value, dict):
            self.error(path, f"expected map ({schema_name}), got {type_name(value)}")
            return
        schema = OBJECTS[schema_name]
        for name, item in value.items():
            sub = key(path, name)
            type_text = schema.fields.get(name) if isinstance(name, str) else None
            if type_text is None:
                hint = difflib.get_close_matches(str(name), list(schema.fields), n=1, cutoff=0.75)
                suffix = f' (did you mean "{hint[0]}"?)' if hint else ""
                self.error(sub, f"unknown field{suffix}")
                continue
            self.check(item, parse_type(type_text), sub)
        for name in sorted(schema.required):
            if value.get(name) is None:
                self.error(key(path, name), "required")
