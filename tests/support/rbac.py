"""RBAC as an API server evaluates it, over rendered manifests and the test API server's log.

:func:`needs` turns the requests one identity sent (:class:`~tests.support.kubeapi.Logged`)
into the permissions they need (:class:`Need`): the verb, group, resource (with its
subresource), namespace and name of each resource request, and for a request that
impersonates a service account, ``impersonate`` on that ``serviceaccounts`` object.
Discovery (``/api``, ``/apis/...``) names no resource and needs no rule (every
authenticated identity may read it). :func:`subject_rules` collects the rules a subject is
bound to in rendered manifests (RoleBinding: in its namespace; ClusterRoleBinding:
everywhere), :func:`allowed` decides a need as RBAC does (``*`` in verbs, groups and
resources, ``pods/*`` and ``*/scale``, ``resourceNames``), and :func:`unused` lists the
``(group, resource, verb)`` of a rule no need used.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterable

    from .kubeapi import Logged

SERVICE_ACCOUNT_PREFIX = "system:serviceaccount:"


@dataclass(frozen=True)
class Need:
    """One permission a request needs."""

    verb: str
    group: str
    resource: str
    namespace: str | None
    """``None``: a cluster-scoped object, or a collection across every namespace."""
    name: str | None = None

    def key(self) -> tuple[str, ...]:
        """A sort key (namespace and name may be ``None``)."""
        return (self.verb, self.group, self.resource, self.namespace or "", self.name or "")

    def __str__(self) -> str:
        where = f" in {self.namespace}" if self.namespace else " (cluster)"
        return f"{self.verb} {self.resource}{'.' + self.group if self.group else ''}{where}"


@dataclass(frozen=True)
class Rule:
    """A rule of a Role or ClusterRole, as bound to a subject (*namespace* ``None``: everywhere)."""

    verbs: frozenset[str]
    groups: frozenset[str]
    resources: frozenset[str]
    names: frozenset[str]
    namespace: str | None
    source: str
    """``Kind/name`` of the role it comes from."""

    def matches(self, need: Need, *, by_name: bool = True) -> bool:
        if self.namespace is not None and need.namespace != self.namespace:
            return False
        if "*" not in self.groups and need.group not in self.groups:
            return False
        if "*" not in self.verbs and need.verb not in self.verbs:
            return False
        if not any(_resource_matches(r, need.resource) for r in self.resources):
            return False
        return not (by_name and self.names and need.name not in self.names)


def _resource_matches(rule: str, resource: str) -> bool:
    if rule in ("*", resource):
        return True
    main, _, sub = resource.partition("/")
    if rule.endswith("/*"):
        return bool(sub) and rule[:-2] == main
    if rule.startswith("*/"):
        return bool(sub) and rule[2:] == sub
    return False


def needs(log: Iterable[Logged], identity: str) -> set[Need]:
    """What the requests *identity* sent need (see the module docstring)."""
    out: set[Need] = set()
    for request in log:
        if request.identity != identity:
            continue
        user = request.impersonate_user
        if user:
            if user.startswith(SERVICE_ACCOUNT_PREFIX):
                namespace, _, name = user[len(SERVICE_ACCOUNT_PREFIX):].partition(":")
                out.add(Need("impersonate", "", "serviceaccounts", namespace, name))
            else:
                out.add(Need("impersonate", "", "users", None, user))
            continue  # the request itself is authorized as the impersonated identity
        if not request.resource:
            continue  # discovery
        name = request.name if request.verb not in ("list", "watch", "create", "deletecollection") else None
        out.add(Need(request.verb, request.group, request.resource, request.namespace, name))
    return out


def subject_rules(docs: Iterable[dict[str, Any]], kind: str, name: str, namespace: str | None = None) -> list[Rule]:
    """The rules bound to subject *kind*/*name* (a ServiceAccount of *namespace*, a User, a Group)."""
    docs = list(docs)
    roles = {(d["kind"], d["metadata"].get("namespace"), d["metadata"]["name"]): d for d in docs if d["kind"] in ("Role", "ClusterRole")}
    out: list[Rule] = []
    for binding in docs:
        if binding["kind"] not in ("RoleBinding", "ClusterRoleBinding"):
            continue
        bound_ns = binding["metadata"].get("namespace") if binding["kind"] == "RoleBinding" else None
        if not any(_is_subject(s, kind, name, namespace, bound_ns) for s in binding.get("subjects") or []):
            continue
        ref = binding["roleRef"]
        role = roles.get((ref["kind"], bound_ns if ref["kind"] == "Role" else None, ref["name"]))
        if role is None:
            raise AssertionError(f"{binding['kind']} {binding['metadata']['name']} refers to {ref['kind']} {ref['name']}, which is not rendered")
        for rule in role.get("rules") or []:
            out.append(
                Rule(
                    frozenset(rule.get("verbs") or []),
                    frozenset(rule.get("apiGroups") or []),
                    frozenset(rule.get("resources") or []),
                    frozenset(rule.get("resourceNames") or []),
                    bound_ns,
                    f"{role['kind']}/{role['metadata']['name']}",
                )
            )
    return out


def _is_subject(subject: dict[str, Any], kind: str, name: str, namespace: str | None, bound_ns: str | None) -> bool:
    if subject.get("kind") != kind or subject.get("name") != name:
        return False
    if kind != "ServiceAccount":
        return True
    return (subject.get("namespace") or bound_ns) == namespace


def allowed(rules: Iterable[Rule], need: Need) -> bool:
    """Whether any of *rules* grants *need*."""
    return any(rule.matches(need) for rule in rules)


def unused(rules: Iterable[Rule], used: Iterable[Need]) -> set[tuple[str, str, str]]:
    """``(group, resource, verb)`` of each rule entry no need in *used* exercised (names aside:
    a rule limited by ``resourceNames`` counts as used by a request of another name)."""
    used = list(used)
    out: set[tuple[str, str, str]] = set()
    for rule in rules:
        for group in rule.groups:
            for resource in rule.resources:
                for verb in rule.verbs:
                    one = Rule(frozenset([verb]), frozenset([group]), frozenset([resource]), rule.names, rule.namespace, rule.source)
                    if not any(one.matches(n, by_name=False) for n in used):
                        out.add((group, resource, verb))
    return out
