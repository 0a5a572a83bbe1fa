"""Lint rules for names, arguments and parameters.

Template, step and task names follow Argo's field-name rule; parameter and artifact
names its parameter-name rule. Arguments have unique names, a value (or a ``valueFrom``
of the kinds arguments allow), an ``enum`` respected and a source for every artifact.
Output parameters have the source their template's kind needs.
"""

from __future__ import annotations

import re
from typing import Any

from .lint_report import PLACEHOLDER, Reporter, idx, is_templated, key

__all__ = ["FieldRules"]

# Argo's name rules: templates, steps and tasks; parameters and artifacts.
_FIELD_NAME = re.compile(r"^[a-zA-Z0-9][-a-zA-Z0-9]*$")
_FIELD_NAME_MAX = 128
_PARAM_NAME = re.compile(r"^[-a-zA-Z0-9_]+$")
_ARTIFACT_LOCATIONS = (
    "artifactory",
    "azure",
    "gcs",
    "git",
    "hdfs",
    "http",
    "oss",
    "plugin",
    "raw",
    "s3",
)


class FieldRules(Reporter):
    """Name, argument and parameter checks."""

    def field_name(self, name: Any, path: str) -> None:
        """A template, step or task name: letters, digits and '-', starting alphanumeric."""
        if not isinstance(name, str) or not name:
            return
        plain = PLACEHOLDER.sub("x", name)
        if len(plain) > _FIELD_NAME_MAX:
            self.error(path, f"must be no more than {_FIELD_NAME_MAX} characters")
        elif not _FIELD_NAME.match(plain):
            self.error(
                path,
                f"{name!r} is invalid: use letters, digits and '-', starting with a letter or digit",
            )

    def param_name(self, name: Any, path: str) -> None:
        """A parameter or artifact name: letters, digits, '_' and '-'."""
        if isinstance(name, str) and name and not _PARAM_NAME.match(name):
            self.error(path, f"{name!r} is invalid: use letters, digits, '_' and '-'")

    def param_names(self, items: Any, path: str) -> None:
        if isinstance(items, list):
            for index, item in enumerate(items):
                if isinstance(item, dict):
                    self.param_name(item.get("name"), key(idx(path, index), "name"))

    def unique_names(self, items: Any, path: str, field: str) -> None:
        if not isinstance(items, list):
            return
        seen: dict[Any, int] = {}
        for index, item in enumerate(items):
            if not isinstance(item, dict):
                continue
            value = item.get(field)
            if not isinstance(value, str | int | float) or is_templated(value):
                continue
            if value in seen:
                self.error(
                    key(idx(path, index), field),
                    f'duplicate {field} "{value}" (also [{seen[value]}])',
                )
            else:
                seen[value] = index

    def arguments(self, args: Any, path: str, *, allow_empty: bool) -> None:
        """Arguments passed to a template (or to the workflow): names unique, every
        parameter given a value (``allow_empty`` for workflow arguments under lint, which
        may be supplied at submit), enum respected, every artifact given a source."""
        if not isinstance(args, dict):
            return
        params = args.get("parameters")
        self.param_names(params, key(path, "parameters"))
        self.param_names(args.get("artifacts"), key(path, "artifacts"))
        self.unique_names(params, key(path, "parameters"), "name")
        if isinstance(params, list):
            for index, param in enumerate(params):
                if isinstance(param, dict):
                    self.argument_parameter(param, idx(key(path, "parameters"), index), allow_empty)
        artifacts = args.get("artifacts")
        self.unique_names(artifacts, key(path, "artifacts"), "name")
        if isinstance(artifacts, list):
            for index, art in enumerate(artifacts):
                if not isinstance(art, dict):
                    continue
                apath = idx(key(path, "artifacts"), index)
                sources = [
                    k for k in ("from", "fromExpression", *_ARTIFACT_LOCATIONS) if art.get(k)
                ]
                if not sources:
                    self.error(apath, "needs from, fromExpression or an artifact location")
                if art.get("from") and art.get("fromExpression"):
                    self.error(
                        key(apath, "fromExpression"),
                        "from and fromExpression are mutually exclusive",
                    )

    def argument_parameter(self, param: dict[str, Any], path: str, allow_empty: bool) -> None:
        value_from = param.get("valueFrom")
        if param.get("value") is None and value_from is None and not allow_empty:
            self.error(path, "needs value or valueFrom")
        if isinstance(value_from, dict):
            if not any(
                value_from.get(k) is not None for k in ("configMapKeyRef", "event", "supplied")
            ):
                self.error(
                    key(path, "valueFrom"),
                    "arguments allow only configMapKeyRef, supplied or event (with default)",
                )
            for name in ("path", "jsonPath", "jqFilter", "parameter", "expression"):
                if value_from.get(name):
                    self.error(key(key(path, "valueFrom"), name), "not allowed in arguments")
        enum = param.get("enum")
        if isinstance(enum, list):
            if not enum:
                self.error(key(path, "enum"), "should contain at least one value")
            value = param.get("value")
            if value is not None and not is_templated(value):
                if str(value) not in {str(v) for v in enum}:
                    self.error(key(path, "value"), f"{value!r} is not one of the enum values")

    def output_parameter(self, param: dict[str, Any], path: str, kind: str | None) -> None:
        """An output parameter has one source, of a kind its template's ``kind`` offers."""
        value_from = param.get("valueFrom")
        if param.get("value") is not None:
            if value_from is not None:
                self.error(path, "has both value and valueFrom; choose one")
            return
        if not isinstance(value_from, dict):
            self.error(path, "needs valueFrom or value")
            return
        sources = [
            k
            for k in ("path", "jqFilter", "jsonPath", "parameter", "expression", "event")
            if value_from.get(k)
        ]
        vpath = key(path, "valueFrom")
        if (
            not sources
            and value_from.get("supplied") is None
            and value_from.get("configMapKeyRef") is None
        ):
            self.error(vpath, "needs one of path, jqFilter, jsonPath, parameter, expression")
        elif len(sources) > 1:
            self.error(vpath, f"has more than one source: {', '.join(sources)}")
        if (
            kind in ("container", "containerSet", "script")
            and not value_from.get("path")
            and value_from.get("supplied") is None
        ):
            self.error(key(vpath, "path"), f"required for {kind} templates")
        elif kind == "resource" and not (value_from.get("jqFilter") or value_from.get("jsonPath")):
            self.error(vpath, "needs jqFilter or jsonPath for resource templates")
        elif kind in ("steps", "dag") and not (
            value_from.get("parameter") or value_from.get("expression")
        ):
            if value_from.get("supplied") is None:
                self.error(vpath, f"needs parameter or expression for {kind} templates")
