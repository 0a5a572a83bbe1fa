"""Argo manifests: loading, the bundle of referenced resources, and reference resolution.

:func:`load_documents` reads YAML (several documents) or JSON. :class:`Bundle` collects the
resources a workflow may refer to (WorkflowTemplates, ClusterWorkflowTemplates,
ConfigMaps). :func:`resolve_workflow` merges ``spec.workflowTemplateRef`` into a workflow
the way Argo does; :func:`find_template` finds a template by name or ``templateRef``.

Every error is a :class:`~hookbus.controller.argo.errors.ManifestError` that names the
file, line, field or resource at fault; none of them goes away by retrying.
"""

from __future__ import annotations

import copy
import json
import pathlib
import secrets
import string
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import yaml

from .errors import LintError, ManifestError
from .schema import TEMPLATE_KINDS

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Mapping

__all__ = [
    "ARGO_API_VERSION",
    "apply_parameters",
    "MAX_EXPANDED_VALUES",
    "MAX_MANIFEST_BYTES",
    "MERGE_KEYS",
    "TEMPLATE_RESOURCE_KINDS",
    "WORKFLOW_KINDS",
    "Bundle",
    "apply_template_defaults",
    "config_map_value",
    "find_template",
    "load_bundle",
    "iter_template_refs",
    "load_documents",
    "merge_specs",
    "resolve_template_ref",
    "resolve_workflow",
    "strategic_merge",
    "template_kind",
    "workflow_name",
]

ARGO_API_VERSION = "argoproj.io/v1alpha1"
#: Kinds of the Argo API group that carry a workflow spec.
WORKFLOW_KINDS = frozenset(
    {"Workflow", "WorkflowTemplate", "ClusterWorkflowTemplate", "CronWorkflow"}
)
#: Kinds that hold templates other workflows refer to.
TEMPLATE_RESOURCE_KINDS = frozenset({"WorkflowTemplate", "ClusterWorkflowTemplate"})

_MANIFEST_SUFFIXES = frozenset({".yaml", ".yml", ".json"})


# ---------------------------------------------------------------------------------------
# Loading


MAX_MANIFEST_BYTES = 8 * 1024 * 1024
"""Largest manifest text read (the embedded NATS server's ``max_payload`` for a submit)."""
MAX_GENERATED_PREFIX = 58
"""Kubernetes keeps this much of a ``generateName`` before adding five random characters."""
MAX_EXPANDED_VALUES = 1_000_000
"""Most values a YAML document may stand for once its aliases are expanded (alias bombs)."""


class _Loader(yaml.SafeLoader):
    """Safe YAML loading as Kubernetes reads it: timestamps stay strings, keys are scalars.

    A key repeated in one mapping keeps its last value, as PyYAML does (Argo's own
    examples contain such repeats, and ``kubectl apply`` of older releases accepted them).
    """


# Kubernetes decodes YAML to JSON: a timestamp is a string there, not a datetime.
_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    result: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, str | int | float | bool) and key is not None:
            raise yaml.constructor.ConstructorError(
                None, None, "a mapping key must be a scalar", key_node.start_mark
            )
        result[key] = loader.construct_object(value_node, deep=True)
    return result


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load_documents(
    source: str | bytes | pathlib.Path, *, name: str = "<input>"
) -> list[dict[str, Any]]:
    """Parse every document of a YAML stream or a JSON text.

    ``source`` is the manifest text (``str`` or ``bytes``) or a :class:`pathlib.Path` to
    read (then ``name`` defaults to the path). Empty documents are skipped; a Kubernetes
    ``List`` (``kind: List`` / a JSON array) is flattened into its items.

    Raises :class:`ManifestError` naming the file and line of a syntax error, or the
    document that is not a mapping.
    """
    if isinstance(source, pathlib.Path):
        if name == "<input>":
            name = str(source)
        try:
            text = source.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ManifestError([LintError(name, f"cannot read: {exc}")]) from exc
    elif isinstance(source, bytes):
        try:
            text = source.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ManifestError([LintError(name, f"not UTF-8 text: {exc}")]) from exc
    else:
        text = source
    size = len(text.encode("utf-8")) if len(text) * 4 > MAX_MANIFEST_BYTES else len(text)
    if size > MAX_MANIFEST_BYTES:
        raise ManifestError(
            [LintError(name, f"manifest is {size:,} bytes, more than the limit of {MAX_MANIFEST_BYTES:,} bytes")]
        )
    strict_json = name.lower().endswith(".json")
    raw = None
    if strict_json or text.lstrip().startswith(("{", "[")):
        raw = _parse_json(text, name, strict=strict_json)
    if raw is None:
        raw = _parse_yaml(text, name)
    docs: list[dict[str, Any]] = []
    for index, doc in enumerate(raw):
        _collect(doc, name, f"document {index + 1}", docs)
    return docs


def _parse_json(text: str, name: str, *, strict: bool) -> list[Any] | None:
    """JSON documents, or None to let the YAML parser judge (unless ``strict``: a
    ``.json`` file gets JSON's own error, since YAML would accept ``{"a": }``)."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        if strict:
            raise ManifestError([LintError(f"{name}:{exc.lineno}:{exc.colno}", exc.msg)]) from exc
        return None
    except RecursionError as exc:
        raise ManifestError([LintError(name, "nested too deeply to parse")]) from exc
    return value if isinstance(value, list) else [value]


def _parse_yaml(text: str, name: str) -> list[Any]:
    loader = _Loader(text)  # a SafeLoader
    try:
        docs = []
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            expanded = _expanded_size(node, {})
            if expanded > MAX_EXPANDED_VALUES:
                mark = node.start_mark
                raise ManifestError(
                    [
                        LintError(
                            f"{name}:{mark.line + 1}:{mark.column + 1}",
                            f"document contains excessive aliasing: its anchors and aliases expand to "
                            f"more than {MAX_EXPANDED_VALUES:,} values",
                        )
                    ]
                )
            docs.append(loader.construct_document(node))
        return docs
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{name}:{mark.line + 1}:{mark.column + 1}" if mark is not None else name
        problem = exc.problem or exc.context or "invalid YAML"
        if exc.context and exc.problem:
            problem = f"{problem} ({exc.context})"
        raise ManifestError([LintError(where, problem)]) from exc
    except yaml.YAMLError as exc:
        raise ManifestError([LintError(name, f"invalid YAML: {exc}")]) from exc
    except RecursionError as exc:
        raise ManifestError([LintError(name, "nested too deeply to parse")]) from exc
    finally:
        loader.dispose()


def _expanded_size(node: yaml.Node, seen: dict[int, int]) -> int:
    """How many values *node* stands for once every alias in it is copied out.

    An alias is the same node object as its anchor, so sizes are remembered by identity
    and the count takes one visit per distinct node, however large the expansion.
    """
    known = seen.get(id(node))
    if known is not None:
        return known
    seen[id(node)] = 1  # a node inside itself (a recursive alias) counts once
    size = 1
    if isinstance(node, yaml.SequenceNode):
        size += sum(_expanded_size(child, seen) for child in node.value)
    elif isinstance(node, yaml.MappingNode):
        size += sum(_expanded_size(k, seen) + _expanded_size(v, seen) for k, v in node.value)
    seen[id(node)] = size
    return size


def _collect(doc: Any, name: str, label: str, out: list[dict[str, Any]]) -> None:
    if doc is None:
        return
    if isinstance(doc, list):
        for index, item in enumerate(doc):
            _collect(item, name, f"{label} item {index}", out)
        return
    if not isinstance(doc, dict):
        raise ManifestError(
            [LintError(name, f"{label} is a {type(doc).__name__}, not a Kubernetes object")]
        )
    if doc.get("kind") == "List" and isinstance(doc.get("items"), list):
        for index, item in enumerate(doc["items"]):
            _collect(item, name, f"{label} items[{index}]", out)
        return
    out.append(doc)


# ---------------------------------------------------------------------------------------
# The bundle


def _as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _meta(doc: dict[str, Any]) -> dict[str, Any]:
    return _as_dict(doc.get("metadata"))


@dataclass
class Bundle:
    """The Argo resources a workflow may refer to, plus the workflows found with them.

    ``workflow_templates`` and ``cluster_workflow_templates`` are keyed by name;
    ``config_maps`` by ``(namespace, name)`` where a ConfigMap without a namespace has
    namespace ``""`` (and is found from any namespace). ``others`` keeps every document
    of another kind (CronWorkflows, PVCs, ...); :meth:`source_of` tells the file a
    document came from, for messages.
    """

    workflows: list[dict[str, Any]] = field(default_factory=list)
    workflow_templates: dict[str, dict[str, Any]] = field(default_factory=dict)
    cluster_workflow_templates: dict[str, dict[str, Any]] = field(default_factory=dict)
    config_maps: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    secrets: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    """Kubernetes Secrets by ``(namespace, name)``, as ``config_maps`` (decoded by the engine)."""
    others: list[dict[str, Any]] = field(default_factory=list)
    sources: dict[int, tuple[dict[str, Any], str]] = field(default_factory=dict, repr=False)

    def add(self, doc: dict[str, Any], *, source: str | None = None) -> None:
        """File one document by its kind (a later resource of the same name replaces an earlier one)."""
        kind = doc.get("kind")
        name = _meta(doc).get("name")
        if source is not None:
            # The document is kept with its source so that its id() is never reused.
            self.sources[id(doc)] = (doc, source)
        if kind == "Workflow":
            self.workflows.append(doc)
        elif kind == "WorkflowTemplate" and isinstance(name, str):
            self.workflow_templates[name] = doc
        elif kind == "ClusterWorkflowTemplate" and isinstance(name, str):
            self.cluster_workflow_templates[name] = doc
        elif kind == "ConfigMap" and isinstance(name, str):
            namespace = _meta(doc).get("namespace") or ""
            self.config_maps[(str(namespace), name)] = doc
        elif kind == "Secret" and isinstance(name, str):
            namespace = _meta(doc).get("namespace") or ""
            self.secrets[(str(namespace), name)] = doc
        else:
            self.others.append(doc)

    def merge(self, other: Bundle) -> None:
        """Add every resource of ``other`` (its resources replace same-named ones here)."""
        self.workflows.extend(other.workflows)
        self.workflow_templates.update(other.workflow_templates)
        self.cluster_workflow_templates.update(other.cluster_workflow_templates)
        self.config_maps.update(other.config_maps)
        self.secrets.update(other.secrets)
        self.others.extend(other.others)
        self.sources.update(other.sources)

    def source_of(self, doc: dict[str, Any]) -> str | None:
        """The file a document was loaded from, if known."""
        entry = self.sources.get(id(doc))
        return entry[1] if entry is not None and entry[0] is doc else None

    def template_resource(self, name: str, *, cluster_scope: bool = False) -> dict[str, Any]:
        """The WorkflowTemplate (or ClusterWorkflowTemplate) called ``name``.

        Raises :class:`ManifestError` naming the missing resource.
        """
        table = self.cluster_workflow_templates if cluster_scope else self.workflow_templates
        found = table.get(name)
        if found is None:
            kind = "ClusterWorkflowTemplate" if cluster_scope else "WorkflowTemplate"
            known = ", ".join(sorted(table)) or "none loaded"
            raise ManifestError([LintError("", f'{kind} "{name}" not found (known: {known})')])
        return found


def _iter_manifest_files(path: pathlib.Path) -> Iterator[pathlib.Path]:
    if path.is_dir():
        for child in sorted(path.rglob("*")):
            if child.is_file() and child.suffix.lower() in _MANIFEST_SUFFIXES:
                yield child
    else:
        yield path


def load_bundle(*paths: pathlib.Path | str) -> Bundle:
    """Load every manifest in the given files and folders (recursively) into one bundle.

    Files in folders are those ending ``.yaml``, ``.yml`` or ``.json``. Raises
    :class:`ManifestError` on the first file that does not parse.
    """
    bundle = Bundle()
    for item in paths:
        for file in _iter_manifest_files(pathlib.Path(item)):
            for doc in load_documents(file):
                bundle.add(doc, source=str(file))
    return bundle


# ---------------------------------------------------------------------------------------
# Small helpers the engine needs


def template_kind(template: dict[str, Any]) -> str:
    """The kind of a template: one of ``container script resource suspend steps dag
    containerSet http plugin data``.

    Raises :class:`ManifestError` when the template has none or more than one.
    """
    kinds: list[str] = [kind for kind in TEMPLATE_KINDS if template.get(kind) is not None]
    name = template.get("name", "<inline>")
    if len(kinds) != 1:
        detail = "none" if not kinds else ", ".join(kinds)
        raise ManifestError(
            [LintError(f"template {name!r}", f"needs exactly one template kind, has {detail}")]
        )
    return kinds[0]


_SUFFIX_ALPHABET = string.ascii_lowercase + string.digits


def workflow_name(workflow: dict[str, Any], *, suffix: str | None = None) -> str:
    """The workflow's name: ``metadata.name``, or ``metadata.generateName`` plus a suffix.

    The suffix is ``suffix`` when given, else five random lowercase letters and digits,
    as Kubernetes generates them; a prefix longer than 58 characters is cut to 58 first,
    as Kubernetes does, so a generated name has at most 63. Raises :class:`ManifestError` when neither is set.
    """
    meta = _meta(workflow)
    name = meta.get("name")
    if isinstance(name, str) and name:
        return name
    prefix = meta.get("generateName")
    if isinstance(prefix, str) and prefix:
        prefix = prefix[:MAX_GENERATED_PREFIX]  # as Kubernetes shortens it
        if suffix is None:
            suffix = "".join(secrets.choice(_SUFFIX_ALPHABET) for _ in range(5))
        return prefix + suffix
    raise ManifestError([LintError("metadata", "name or generateName is required")])


def config_map_value(
    bundle: Bundle, namespace: str, name: str, key: str, optional: bool = False
) -> str | None:
    """The value of ``key`` in ConfigMap ``name`` (Argo's ``configMapKeyRef``).

    A ConfigMap loaded without a namespace is found from any namespace. When the map or
    key is missing, returns ``None`` if ``optional``, else raises :class:`ManifestError`
    naming the ConfigMap and key.
    """
    doc = bundle.config_maps.get((namespace, name)) or bundle.config_maps.get(("", name))
    if doc is None:
        if optional:
            return None
        raise ManifestError(
            [
                LintError(
                    "configMapKeyRef", f'ConfigMap "{name}" not found in namespace "{namespace}"'
                )
            ]
        )
    data = _as_dict(doc.get("data"))
    if key not in data:
        if optional:
            return None
        raise ManifestError(
            [LintError("configMapKeyRef", f'ConfigMap "{name}" has no key "{key}"')]
        )
    value: Any = data[key]
    return value if isinstance(value, str) else json.dumps(value)


# ---------------------------------------------------------------------------------------
# Templates and references


def _templates_of(resource: dict[str, Any]) -> list[dict[str, Any]]:
    spec = resource.get("spec")
    templates = spec.get("templates") if isinstance(spec, dict) else None
    return [t for t in templates if isinstance(t, dict)] if isinstance(templates, list) else []


def _template_named(resource: dict[str, Any], name: str) -> dict[str, Any] | None:
    for template in _templates_of(resource):
        if template.get("name") == name:
            return template
    return None


def resolve_template_ref(
    template_ref: dict[str, Any], bundle: Bundle
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Resolve a ``templateRef`` to ``(template, owning resource)``.

    The owner matters to the engine: the template's own steps and tasks refer to the
    templates of that WorkflowTemplate. Raises :class:`ManifestError` naming the missing
    resource or template.
    """
    name = template_ref.get("name")
    template_name = template_ref.get("template")
    cluster = bool(template_ref.get("clusterScope", False))
    if not isinstance(name, str) or not name:
        raise ManifestError([LintError("templateRef.name", "required")])
    if not isinstance(template_name, str) or not template_name:
        raise ManifestError([LintError("templateRef.template", "required")])
    try:
        owner = bundle.template_resource(name, cluster_scope=cluster)
    except ManifestError as exc:
        raise ManifestError([LintError("templateRef.name", exc.errors[0].message)]) from None
    template = _template_named(owner, template_name)
    if template is None:
        kind = owner.get("kind", "WorkflowTemplate")
        known = ", ".join(str(t.get("name")) for t in _templates_of(owner)) or "none"
        raise ManifestError(
            [
                LintError(
                    "templateRef.template",
                    f'template "{template_name}" not found in {kind} "{name}" (it has: {known})',
                )
            ]
        )
    return template, owner


def find_template(
    workflow: dict[str, Any],
    name: str | None = None,
    template_ref: dict[str, Any] | None = None,
    bundle: Bundle | None = None,
) -> dict[str, Any]:
    """Find a template by ``name`` in the workflow, or by ``template_ref`` in the bundle.

    A name not in the workflow's own templates is looked up in the WorkflowTemplate its
    ``spec.workflowTemplateRef`` names (when a bundle is given), so this works on both a
    resolved and an unresolved workflow. Inside a template reached through a
    ``templateRef``, names refer to that template's WorkflowTemplate: pass the owner from
    :func:`resolve_template_ref` as ``workflow`` to look them up there. The returned dict
    is shared, not copied: do not mutate it (see :func:`apply_template_defaults` for a
    ready-to-run copy). Raises :class:`ManifestError` naming what is missing.
    """
    if (name is None) == (template_ref is None):
        raise ManifestError(
            [LintError("", "find_template needs exactly one of name or template_ref")]
        )
    if template_ref is not None:
        if bundle is None:
            ref = template_ref.get("name")
            raise ManifestError(
                [
                    LintError(
                        "templateRef", f'cannot resolve templateRef to "{ref}" without a bundle'
                    )
                ]
            )
        return resolve_template_ref(template_ref, bundle)[0]
    assert name is not None
    found = _template_named(workflow, name)
    if found is not None:
        return found
    spec = workflow.get("spec") if isinstance(workflow.get("spec"), dict) else {}
    ref = spec.get("workflowTemplateRef") if isinstance(spec, dict) else None
    if isinstance(ref, dict) and bundle is not None and isinstance(ref.get("name"), str):
        owner = bundle.template_resource(ref["name"], cluster_scope=bool(ref.get("clusterScope")))
        found = _template_named(owner, name)
        if found is not None:
            return found
    known = ", ".join(str(t.get("name")) for t in _templates_of(workflow)) or "none"
    raise ManifestError(
        [LintError("template", f'template "{name}" not found (workflow has: {known})')]
    )


# ---------------------------------------------------------------------------------------
# Merging a workflowTemplateRef

#: List fields merged element by element (by this key) in a strategic merge, as the
#: Argo and Kubernetes types declare them; other lists are replaced whole.
MERGE_KEYS: dict[str, str] = {
    "templates": "name",
    "tasks": "name",
    "parameters": "name",
    "artifacts": "name",
    "volumes": "name",
    "imagePullSecrets": "name",
    "initContainers": "name",
    "sidecars": "name",
    "env": "name",
    "tolerations": "key",
    "hostAliases": "ip",
    "volumeMounts": "mountPath",
    "volumeDevices": "devicePath",
    "ports": "containerPort",
}


def strategic_merge(base: Any, override: Any, *, field_name: str = "") -> Any:
    """Merge ``override`` onto ``base`` the way a Kubernetes strategic merge patch does.

    Mappings merge key by key (``override`` wins), lists named in :data:`MERGE_KEYS`
    merge element by element on their key, other values are replaced by ``override``.
    Neither argument is modified; the result shares no containers with them.
    """
    if isinstance(base, dict) and isinstance(override, dict):
        merged = copy.deepcopy(base)
        for key, value in override.items():
            if key in merged:
                merged[key] = strategic_merge(merged[key], value, field_name=str(key))
            else:
                merged[key] = copy.deepcopy(value)
        return merged
    merge_key = MERGE_KEYS.get(field_name)
    if merge_key and isinstance(base, list) and isinstance(override, list):
        return _merge_lists(base, override, merge_key)
    return copy.deepcopy(override)


def _merge_id(item: Any, key: str) -> str | int | float | bool | None:
    """The merge key of a list element, or None when it has none (or a malformed one)."""
    value = item.get(key) if isinstance(item, dict) else None
    return value if isinstance(value, str | int | float | bool) else None


def _merge_lists(base: list[Any], override: list[Any], key: str) -> list[Any]:
    merged = [copy.deepcopy(item) for item in base]
    positions = {
        _merge_id(item, key): index
        for index, item in enumerate(merged)
        if _merge_id(item, key) is not None
    }
    for item in override:
        merge_id = _merge_id(item, key)
        if merge_id is not None and merge_id in positions:
            index = positions[merge_id]
            merged[index] = strategic_merge(merged[index], item)
        else:
            merged.append(copy.deepcopy(item))
    return merged


_ARTIFACT_LOCATIONS = frozenset(
    {"artifactory", "azure", "gcs", "git", "hdfs", "http", "oss", "plugin", "raw", "s3"}
)


def _merge_arguments(own: dict[str, Any], referenced: dict[str, Any]) -> dict[str, Any]:
    """Argo's argument merge: by name; a parameter of the workflow replaces the template's
    whole (value, valueFrom and default never mix); an artifact of the workflow replaces
    the template's, keeping the template's location fields when both use the same store."""
    result: dict[str, Any] = {}
    params = _merge_named(own.get("parameters"), referenced.get("parameters"), _replace)
    if params is not None:
        result["parameters"] = params
    arts = _merge_named(own.get("artifacts"), referenced.get("artifacts"), _merge_artifact)
    if arts is not None:
        result["artifacts"] = arts
    for key in set(referenced) | set(own):
        if key not in ("parameters", "artifacts"):
            result[key] = copy.deepcopy(own.get(key, referenced.get(key)))
    return result


def _replace(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(override)


def _merge_artifact(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(override)
    own_locations = _ARTIFACT_LOCATIONS & set(override)
    for location in own_locations:
        if isinstance(base.get(location), dict) and isinstance(override[location], dict):
            merged[location] = strategic_merge(base[location], override[location])
    return merged


def _merge_named(own: Any, referenced: Any, combine: Any) -> list[Any] | None:
    if own is None and referenced is None:
        return None
    own_list = own if isinstance(own, list) else []
    ref_list = referenced if isinstance(referenced, list) else []
    merged = [copy.deepcopy(item) for item in ref_list]
    positions = {
        _merge_id(item, "name"): index
        for index, item in enumerate(merged)
        if _merge_id(item, "name") is not None
    }
    for item in own_list:
        name = _merge_id(item, "name")
        if name is not None and name in positions:
            merged[positions[name]] = combine(merged[positions[name]], item)
        else:
            merged.append(copy.deepcopy(item))
    return merged


def _merge_first_wins(own: Any, referenced: Any) -> Any:
    """Maps that Argo does not merge deeply (hooks, labelsFrom): entries of the workflow
    win whole; the template's entries fill in names the workflow lacks."""
    if not isinstance(referenced, dict):
        return copy.deepcopy(own)
    merged = copy.deepcopy(referenced)
    if isinstance(own, dict):
        merged.update(copy.deepcopy(own))
    return merged


def merge_specs(own: dict[str, Any], referenced: dict[str, Any]) -> dict[str, Any]:
    """Join a workflow's spec with the spec of the WorkflowTemplate it refers to.

    The workflow's own fields win; templates (and the other keyed lists of
    :data:`MERGE_KEYS`) merge by name; ``arguments`` merge by name with whole-entry
    precedence; ``hooks`` and ``workflowMetadata.labelsFrom`` entries of the workflow
    replace same-named ones; ``suspend`` is always the workflow's own.
    """
    merged: dict[str, Any] = strategic_merge(referenced, own)
    if "arguments" in own or "arguments" in referenced:
        merged["arguments"] = _merge_arguments(
            _as_dict(own.get("arguments")), _as_dict(referenced.get("arguments"))
        )
    if "hooks" in own or "hooks" in referenced:
        merged["hooks"] = _merge_first_wins(own.get("hooks"), referenced.get("hooks"))
    own_meta = own.get("workflowMetadata")
    ref_meta = referenced.get("workflowMetadata")
    if (
        isinstance(ref_meta, dict)
        and "labelsFrom" in ref_meta
        and isinstance(merged.get("workflowMetadata"), dict)
    ):
        own_labels = own_meta.get("labelsFrom") if isinstance(own_meta, dict) else None
        merged["workflowMetadata"]["labelsFrom"] = _merge_first_wins(
            own_labels, ref_meta["labelsFrom"]
        )
    if "suspend" in own:
        merged["suspend"] = own["suspend"]
    else:
        merged.pop("suspend", None)
    return merged


def apply_template_defaults(
    template: dict[str, Any], defaults: dict[str, Any] | None
) -> dict[str, Any]:
    """``template`` with the workflow's ``spec.templateDefaults`` filled in, as Argo does
    before running it: the template's own fields win (strategic merge), and a default of
    a template kind (``container:``, ``script:``, ...) applies only to templates of that
    kind. Returns a new dict; neither argument is changed.
    """
    if not defaults:
        return copy.deepcopy(template)
    own_kinds = {kind for kind in TEMPLATE_KINDS if template.get(kind) is not None}
    applicable = {k: v for k, v in defaults.items() if k not in TEMPLATE_KINDS or k in own_kinds}
    merged: dict[str, Any] = strategic_merge(applicable, template)
    return merged


def resolve_workflow(workflow: dict[str, Any], bundle: Bundle) -> dict[str, Any]:
    """A deep copy of ``workflow`` with its ``spec.workflowTemplateRef`` merged in.

    The referenced WorkflowTemplate (or ClusterWorkflowTemplate with ``clusterScope:
    true``) is joined as Argo does (see :func:`merge_specs`). ``workflowTemplateRef`` is
    kept in the result so the engine can tell where templates came from. A workflow
    without a reference is returned as a plain deep copy. Raises :class:`ManifestError`
    naming the missing template resource.
    """
    try:
        return _resolve_workflow(workflow, bundle)
    except RecursionError as exc:
        raise ManifestError([LintError("spec", "nested too deeply to resolve")]) from exc


def _resolve_workflow(workflow: dict[str, Any], bundle: Bundle) -> dict[str, Any]:
    resolved = copy.deepcopy(workflow)
    spec = resolved.get("spec")
    if not isinstance(spec, dict):
        raise ManifestError([LintError("spec", "required")])
    ref = spec.get("workflowTemplateRef")
    if ref is None:
        return resolved
    if not isinstance(ref, dict) or not isinstance(ref.get("name"), str) or not ref["name"]:
        raise ManifestError([LintError("spec.workflowTemplateRef.name", "required")])
    try:
        owner = bundle.template_resource(ref["name"], cluster_scope=bool(ref.get("clusterScope")))
    except ManifestError as exc:
        raise ManifestError(
            [LintError("spec.workflowTemplateRef.name", exc.errors[0].message)]
        ) from None
    resolved["spec"] = merge_specs(spec, _as_dict(owner.get("spec")))
    return resolved


def iter_template_refs(workflow: dict[str, Any]) -> Iterable[tuple[str, dict[str, Any]]]:
    """Every ``templateRef`` in a resource's templates and hooks, with its path."""
    spec = workflow.get("spec")
    if not isinstance(spec, dict):
        return []
    found: list[tuple[str, dict[str, Any]]] = []
    _walk_refs(spec, "spec", found)
    return found


def _walk_refs(value: Any, path: str, found: list[tuple[str, dict[str, Any]]]) -> None:
    # A module function, not a closure calling itself: that would be a reference cycle
    # left for the garbage collector on every submit.
    if isinstance(value, dict):
        for key, item in value.items():
            sub = f"{path}.{key}" if path else str(key)
            if key == "templateRef" and isinstance(item, dict):
                found.append((sub, item))
            else:
                _walk_refs(item, sub, found)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _walk_refs(item, f"{path}[{index}]", found)


def apply_parameters(spec: dict[str, Any], parameters: Mapping[str, str]) -> None:
    """Set the workflow's arguments from ``-p name=value`` pairs (a resolved *spec*).

    A value replaces the declared argument's ``value`` (and ``valueFrom``). A name the
    workflow does not declare is refused, naming the ones it does: Argo would add it as
    a new argument that nothing reads, which hides a misspelt name.
    """
    params = spec.setdefault("arguments", {}).setdefault("parameters", [])
    declared = {p.get("name"): p for p in params if isinstance(p, dict)}
    unknown = [name for name in parameters if name not in declared]
    if unknown:
        known = ", ".join(repr(n) for n in declared if isinstance(n, str)) or "none"
        raise ManifestError(
            [
                LintError(
                    f"parameter {name!r}",
                    f"the workflow declares no argument of that name (spec.arguments.parameters: {known})",
                )
                for name in unknown
            ]
        )
    for name, value in parameters.items():
        param = declared[name]
        param["value"] = value
        param.pop("valueFrom", None)
