"""The ``hookbus`` argument parser: every command and flag, ``--help`` everywhere."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any, NoReturn

from . import cluster
from .client import (
    _version_text,
    action_command,
    events_command,
    get_command,
    list_command,
    logs_command,
    plugin_list_command,
    plugin_run_command,
    submit_command,
    version_command,
    wait_command,
    watch_command,
)
from .common import (
    EPILOG,
    EXIT_USAGE,
)
from .identity import nats_config_command, plugin_credentials_command
from .local import lint_command, run_command
from .server import server_command

if TYPE_CHECKING:
    from collections.abc import Callable


class _Parser(argparse.ArgumentParser):
    """argparse with our error format and exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        print(f"hookbus: error: {message}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)



def positive_int(text: str) -> int:
    """An argparse type: a whole number of at least 1 (a limit of 0 or less would stall every workflow)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value

def port_number(text: str) -> int:
    """An argparse type: a TCP port, 0 (any free port) to 65535."""
    if not text.strip().isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a TCP port number (0-65535)")
    return int(text)


def positive_seconds(text: str) -> float:
    """An argparse type: a number of seconds greater than 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a number of seconds greater than 0, not {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The ``hookbus`` argument parser (every command has ``--help``)."""
    common = _Parser(add_help=False)
    common.add_argument(
        "-v", "--verbose", action="count", default=0, help="more log output on stderr (-vv: debug)"
    )
    common.add_argument(
        "--log-format",
        choices=("auto", "console", "json"),
        default="auto",
        help="log format (auto: json unless stderr is a terminal)",
    )

    nats = _Parser(add_help=False)
    nats.add_argument(
        "--nats-url",
        metavar="URL",
        help="NATS server URL(s), comma-separated (default: $HOOKBUS_NATS_URL)",
    )
    nats.add_argument(
        "--nats-creds",
        metavar="FILE",
        help="credentials file: hookbus's (from 'hookbus plugin credentials' or a server's auth/ "
        "folder) or a NATS .creds file (default: $HOOKBUS_NATS_CREDS; for a server on this "
        "machine, found by its URL)",
    )
    nats.add_argument("--nats-nkey", metavar="FILE", help="file holding an nkey seed (default: $HOOKBUS_NATS_NKEY)")
    nats.add_argument("--nats-tls-ca", metavar="FILE", help="CA bundle to verify the server (default: $HOOKBUS_NATS_TLS_CA)")
    nats.add_argument("--nats-tls-cert", metavar="FILE", help="client certificate for mutual TLS (default: $HOOKBUS_NATS_TLS_CERT)")
    nats.add_argument("--nats-tls-key", metavar="FILE", help="key of the client certificate (default: $HOOKBUS_NATS_TLS_KEY)")

    namespace = _Parser(add_help=False)
    namespace.add_argument(
        "-n", "--namespace", default="default", help="namespace (default: %(default)s)"
    )

    params = _Parser(add_help=False)
    params.add_argument(
        "-p",
        "--parameter",
        action="append",
        metavar="NAME=VALUE",
        help="set a workflow argument (repeatable)",
    )
    params.add_argument(
        "-t",
        "--templates",
        action="append",
        metavar="PATH",
        help="file or folder of WorkflowTemplates / ClusterWorkflowTemplates / ConfigMaps / Secrets the workflow refers to (repeatable)",
    )

    limits = _Parser(add_help=False)
    limits.add_argument(
        "--max-running-nodes",
        type=positive_int,
        metavar="N",
        help="processes one workflow may run at once, before its own parallelism (default: 64)",
    )

    executor = _Parser(add_help=False)
    executor.add_argument(
        "--executor",
        choices=("local", "simulate", "kubernetes"),
        help="how templates run: local host processes, simulate, or kubernetes (a Pod per node) "
        "(default: HOOKBUS_EXECUTOR, else kubernetes with --kubernetes, else local)",
    )
    executor.add_argument(
        "--sandbox",
        choices=("auto", "on", "off"),
        help="run local steps in the sandbox (user/PID/IPC/UTS namespaces, an unprivileged host uid, "
        "limits): auto when the host allows it, on to require it, off (default: auto, or HOOKBUS_SANDBOX)",
    )
    executor.add_argument(
        "--sandbox-uid-base",
        type=positive_int,
        metavar="UID",
        help="host uid of a sandboxed step's root (default: 100000)",
    )
    executor.add_argument(
        "--sandbox-network",
        choices=("host", "none"),
        help="sandboxed steps share the host's network, or each container has only its own loopback (default: host)",
    )
    executor.add_argument(
        "--start-concurrency",
        type=positive_int,
        metavar="N",
        help="node starts (pod creates) of one scheduling pass in flight at once "
        "(default: 32 with the kubernetes executor, else 1; or HOOKBUS_START_CONCURRENCY)",
    )
    executor.add_argument(
        "--allow-host-path",
        action="append",
        metavar="DIR",
        help="hostPath volumes may mount DIR or what is below it (repeatable; default: none)",
    )
    executor.add_argument(
        "--http-allow",
        action="append",
        metavar="ADDR",
        help="http templates may reach this address or CIDR network although it is loopback, "
        "link-local or metadata (repeatable; default: none)",
    )

    parser = _Parser(
        prog="hookbus",
        description="Run Argo Workflows manifests with a controller whose every stage plugins can hook into over NATS.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    def add(
        name: str,
        help_text: str,
        parents: list[_Parser],
        func: Callable[[argparse.Namespace], Any],
        **kwargs: Any,
    ) -> argparse.ArgumentParser:
        p = sub.add_parser(
            name,
            help=help_text,
            description=help_text,
            parents=[common, *parents],
            epilog=EPILOG,
            formatter_class=argparse.RawDescriptionHelpFormatter,
            **kwargs,
        )
        p.set_defaults(func=func)
        return p

    p = add(
        "run",
        "Run a workflow to its end here (embedded NATS and controller), show progress and the final tree; exit 0 only if it Succeeded.",
        [nats, namespace, params, executor, limits],
        run_command,
    )
    p.add_argument(
        "file", metavar="FILE", help="manifest with a Workflow (YAML or JSON; - for stdin)"
    )
    p.add_argument(
        "-o",
        "--output",
        choices=("json", "yaml", "name", "wide"),
        help="print the final workflow in this format (default: a tree)",
    )
    p.add_argument("--log", action="store_true", help="print the pods' logs after the run")
    p.add_argument(
        "--no-plugins",
        dest="plugins",
        action="store_false",
        help="with --nats-url: do not call the plugins registered on that NATS server",
    )
    p.add_argument(
        "--state-dir",
        metavar="DIR",
        help="keep logs and outputs here (default: a temporary folder)",
    )

    p = add(
        "lint",
        "Check manifests (files or folders) as 'argo lint' does; exit 2 on errors.",
        [],
        lint_command,
    )
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument(
        "--target",
        choices=("local", "kubernetes"),
        default="local",
        help="where the workflows will run: 'kubernetes' also checks that every main container "
        "has a command or an image listed in the images configuration, names resource templates "
        "that mode cannot run and http templates aimed at loopback or link-local addresses "
        "(default: local)",
    )
    p.add_argument(
        "--images",
        metavar="FILE",
        help="with --target kubernetes: the images configuration (a YAML map of image -> "
        "entrypoint/cmd, or the controller's ConfigMap holding it under data.images)",
    )

    p = add(
        "server",
        "Run the controller and its control API until SIGTERM/SIGINT; prints the NATS URL clients should use.",
        [nats, executor, limits],
        server_command,
    )
    p.add_argument(
        "-t",
        "--templates",
        action="append",
        metavar="PATH",
        help="file or folder of WorkflowTemplates / ClusterWorkflowTemplates / ConfigMaps / Secrets that "
        "every submitted workflow may refer to, as if created in the cluster (repeatable)",
    )
    p.add_argument(
        "--max-workflows",
        type=positive_int,
        metavar="N",
        help="workflows operated on at once (default: 100)",
    )
    p.add_argument(
        "--state-dir",
        metavar="DIR",
        help="durable state (NATS store, logs); default: a temporary folder lost at exit",
    )
    p.add_argument(
        "--supervise",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="run each local node under a supervisor that outlives the server, adopted again after a "
        "restart (default: on with --state-dir)",
    )
    p.add_argument(
        "--orphan-timeout",
        type=positive_seconds,
        metavar="SECONDS",
        help="a supervised node left without any server this long is stopped (default: 3600)",
    )
    p.add_argument(
        "--port",
        type=int,
        default=-1,
        help="port of the embedded NATS server (default: a free one)",
    )
    p.add_argument(
        "--url-file", metavar="FILE", help="also write the NATS URL to this file once ready"
    )
    p.add_argument(
        "--health-port",
        type=port_number,
        metavar="PORT",
        help="serve /healthz and /readyz over HTTP on this port (default: not served; HOOKBUS_HEALTH_PORT)",
    )
    p.add_argument(
        "--no-nats-auth",
        dest="nats_auth",
        action="store_false",
        default=None,
        help="embedded NATS without authentication: anyone who reaches the port may do anything "
        "(default: authentication and per-role permissions on; $HOOKBUS_NATS_AUTH=0 also turns it off)",
    )
    p.add_argument("--tls-cert", metavar="FILE", help="TLS certificate (PEM) of the embedded NATS server")
    p.add_argument("--tls-key", metavar="FILE", help="key of --tls-cert")
    p.add_argument(
        "--no-plugins",
        dest="plugins",
        action="store_false",
        help="never call plugins (by default every registered plugin the allow-list "
        "HOOKBUS_PLUGIN_ALLOW permits is called)",
    )
    p.add_argument(
        "--plugin-allow",
        metavar="NAMES",
        help="operator allow-list: only these plugins (comma-separated) are ever called "
        "(default: $HOOKBUS_PLUGIN_ALLOW; unset: every registered plugin)",
    )
    p.add_argument(
        "-n",
        "--namespace",
        default="default",
        help="default namespace of submitted workflows (default: %(default)s)",
    )
    kube = p.add_argument_group("Kubernetes mode")
    kube.add_argument(
        "--kubernetes",
        action="store_true",
        help="run the Workflow objects of a cluster (of --namespace, or every namespace with "
        "--all-namespaces) and write their status back",
    )
    kube.add_argument(
        "--all-namespaces",
        action="store_true",
        help="with --kubernetes: watch Workflows in every namespace",
    )
    kube.add_argument(
        "--instance-id",
        metavar="ID",
        help="with --kubernetes: take only objects labelled "
        "workflows.argoproj.io/controller-instanceid=ID (default: hookbus; '' takes the unlabelled ones)",
    )
    kube.add_argument(
        "--kubeconfig",
        metavar="FILE",
        help="kubeconfig file (default: the in-cluster service account, else $KUBECONFIG or ~/.kube/config)",
    )
    kube.add_argument(
        "--kube-server",
        metavar="URL",
        help="API server URL to use without credentials (a local test server)",
    )
    kube.add_argument(
        "--no-leader-election",
        dest="leader_election",
        action="store_false",
        help="with --kubernetes: act at once, without holding the Lease (one replica only)",
    )
    kube.add_argument(
        "--resource-poll",
        type=positive_seconds,
        metavar="SECONDS",
        help="with --kubernetes: how often a resource template reads its object until its "
        "successCondition or failureCondition holds (default: 5)",
    )

    on_cluster = _Parser(add_help=False)
    group = on_cluster.add_argument_group("against a cluster")
    group.add_argument(
        "--kubernetes",
        action="store_true",
        help="read and write Workflow objects through the Kubernetes API (a 'hookbus server "
        "--kubernetes' runs them) instead of a hookbus server's control API",
    )
    group.add_argument(
        "--kubeconfig",
        metavar="FILE",
        help="with --kubernetes: kubeconfig file (default: $KUBECONFIG, else ~/.kube/config)",
    )
    group.add_argument("--context", metavar="NAME", help="with --kubernetes: kubeconfig context (default: the current one)")
    group.add_argument("--kube-server", metavar="URL", help="with --kubernetes: API server URL used without credentials")

    p = add(
        "submit",
        "Submit a workflow to a running server (or, with --kubernetes, create it in the cluster).",
        [nats, namespace, params, on_cluster],
        cluster.either(submit_command, cluster.submit),
    )
    p.add_argument(
        "--instance-id",
        metavar="ID",
        help="with --kubernetes: label the Workflow workflows.argoproj.io/controller-instanceid=ID "
        "(default: hookbus, the server's default; '' leaves it unlabelled)",
    )
    p.add_argument("file", metavar="FILE")
    p.add_argument(
        "-w",
        "--watch",
        action="store_true",
        help="follow the workflow to its end; exit 0 only if it Succeeded",
    )
    p.add_argument("--generate-name", metavar="PREFIX", help="override metadata.generateName")
    p.add_argument("--name", help="override metadata.name")
    p.add_argument("-o", "--output", choices=("json", "yaml", "name", "wide"))

    p = add("list", "List workflows.", [nats, namespace, on_cluster], cluster.either(list_command, cluster.list_workflows))
    p.add_argument("-A", "--all-namespaces", action="store_true")
    p.add_argument("--status", help="only these phases, comma-separated (e.g. Running,Failed)")
    p.add_argument("-o", "--output", choices=("json", "yaml", "name", "wide"))

    p = add(
        "get",
        "Show a workflow: its status and node tree.",
        [nats, namespace, on_cluster],
        cluster.either(get_command, cluster.get),
    )
    p.add_argument("name", metavar="NAME")
    p.add_argument("-o", "--output", choices=("json", "yaml", "name", "wide"))

    p = add(
        "watch",
        "Follow a workflow live until it ends; exit 0 only if it Succeeded.",
        [nats, namespace, on_cluster],
        cluster.either(watch_command, cluster.watch),
    )
    p.add_argument("name", metavar="NAME")

    p = add(
        "wait",
        "Wait for workflows to end; exit 0 only if all Succeeded.",
        [nats, namespace],
        wait_command,
    )
    p.add_argument("names", nargs="+", metavar="NAME")

    p = add(
        "logs",
        "Print the logs of a workflow's pods (or of one node).",
        [nats, namespace, on_cluster],
        cluster.either(logs_command, cluster.logs),
    )
    p.add_argument("name", metavar="NAME")
    p.add_argument(
        "node", metavar="NODE", nargs="?", help="node id, pod name, node name or display name"
    )
    p.add_argument(
        "-f", "--follow", action="store_true", help="keep printing until the workflow ends"
    )

    for verb, text in (
        ("suspend", "Suspend workflows: no new steps start."),
        ("resume", "Resume suspended workflows (and suspend nodes)."),
        ("stop", "Stop workflows: no new steps start, exit handlers still run."),
        (
            "terminate",
            "Terminate workflows at once: running steps are killed, exit handlers skipped.",
        ),
        ("retry", "Retry failed workflows from their failed nodes."),
        ("delete", "Delete workflows."),
    ):
        if verb == "retry":
            p = add(verb, text, [nats, namespace], action_command)
        else:
            p = add(verb, text, [nats, namespace, on_cluster], cluster.either(action_command, cluster.action))
        p.add_argument("names", nargs="+", metavar="NAME")
        if verb == "stop":
            p.add_argument("--message", help="why (shown in the workflow's message)")

    plugin = sub.add_parser(
        "plugin", help="Plugin commands.", description="Plugin commands.", parents=[common]
    )
    plugin_sub = plugin.add_subparsers(
        dest="plugin_command", metavar="COMMAND", parser_class=_Parser
    )
    plugin_sub.required = True
    p = plugin_sub.add_parser(
        "run",
        help="Serve a plugin object MODULE:ATTR until SIGTERM/SIGINT.",
        description="Serve a plugin object MODULE:ATTR (a hookbus.bus Plugin) until SIGTERM/SIGINT.",
        parents=[common, nats],
        epilog=EPILOG,
    )
    p.add_argument("spec", metavar="MODULE:ATTR")
    p.set_defaults(func=plugin_run_command)
    p = plugin_sub.add_parser(
        "list",
        help="List the plugins a running server has seen: live instances, hooks, breaker, last error.",
        description="List the plugins a running server has seen: whether each is live (a heartbeat "
        "within the registry TTL, allowed by the allow-list), its live instances and hooks, the "
        "state of its circuit breaker and its last failed call.",
        parents=[common, nats],
        epilog=EPILOG,
    )
    p.add_argument("-o", "--output", choices=("json",), help="json: every field as JSON")
    p.set_defaults(func=plugin_list_command, namespace="default")
    p = plugin_sub.add_parser(
        "credentials",
        help="Issue a plugin's own identity (operator): its credentials file, and the server's permissions.",
        description="Issue plugin NAME's own identity on a server's NATS: it may answer only its own "
        "hook subjects, reply only to requests it received, write only its own registration and "
        "complete only nodes it took over. Prints the credentials file's path; the embedded server "
        "reloads its configuration (no restart). Needs the server's state directory (--state-dir) or, "
        "on the server's machine, its URL.",
        parents=[common, nats],
        epilog=EPILOG,
    )
    p.add_argument("name", metavar="NAME", help="the plugin's name, as in its manifest")
    p.add_argument("--state-dir", metavar="DIR", help="the server's state directory (identities in DIR/auth)")
    p.add_argument("-o", "--output", metavar="FILE", help="also write the credentials to FILE (0600)")
    p.add_argument("--revoke", action="store_true", help="remove the plugin's identity instead")
    p.set_defaults(func=plugin_credentials_command)

    p = add("events", "Print workflow and node events.", [nats, namespace], events_command)
    p.add_argument("--workflow", metavar="NAME", help="only this workflow's events")
    p.add_argument("-A", "--all-namespaces", action="store_true")
    p.add_argument(
        "-f", "--follow", action="store_true", help="keep printing new events until interrupted"
    )
    p.add_argument("-o", "--output", choices=("json", "text"), default="text")

    p = add(
        "nats-config",
        "Print the authorization block (users, permissions) for a NATS server you run yourself.",
        [],
        nats_config_command,
    )
    p.add_argument("--state-dir", metavar="DIR", help="where the identities are kept (DIR/auth)")
    p.add_argument("--plugin", action="append", metavar="NAME", help="also issue plugin NAME's identity (repeatable)")

    add("version", "Print the version.", [], version_command)
    parser.add_argument("--version", action="version", version=_version_text())
    return parser
