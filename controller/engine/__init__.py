"""The workflow engine: node model, scheduling, per-workflow workers, the Controller.

Layers (each module imports only the ones above it):

``settings``, ``clock``, ``hooks``, ``model``
    Plain records: :class:`~.settings.ControllerSettings`, the injectable
    :class:`~.clock.Clock` (``ManualClock`` in tests), the hook points and event sink
    of DESIGN.md (batched: one call per scheduling pass), Argo's node record.
``scope``, ``templates``
    Argo's variables (``inputs.parameters.x``, ``steps.S.outputs.result`` ...),
    binding inputs, turning a leaf template into an executor ``TaskSpec``, reading
    outputs back.
``frames``
    The state machines of composite nodes: ``StepsFrame`` (groups in order),
    ``GroupFrame`` (StepGroup/TaskGroup fan-out under ``parallelism``), ``DagFrame``
    (``dependencies``/``depends``, omitted tasks, ``failFast``, ``target``),
    ``RetryFrame`` (``retryStrategy``), ``ExitFrame`` (step/task exit hooks).
``run``
    :class:`~.run.WorkflowRun`: one workflow's nodes and its scheduling pass.
    Event-driven: when a node finishes, only its owning frame reacts. A pass applies
    a batch of events, lets frames create the nodes that became ready, makes the hook
    calls for the whole batch, starts executors (``max_running_nodes``,
    ``spec.parallelism``), persists every changed node with one ``put_nodes``, then
    emits events (persist, then notify). After a restart the same frames re-adopt
    the stored nodes by name: Succeeded nodes never run again, a leaf that was
    Running is marked Error ``pod deleted`` and retried if its retryStrategy allows.
``reactor``
    Router + one serial worker per workflow, workflows in parallel under
    ``max_workflows`` (kopf's queueing); idle workers exit.
``controller``
    :class:`~.controller.Controller`, the public API (submit, get, list, wait,
    watch, suspend, resume, stop, terminate, retry, delete, log_path).
``memory_store``
    A non-durable store with the WorkflowStore interface (dry runs, benchmarks).
``key_artifacts``
    Key-only artifacts: a file inside a stored directory, a directory from a key prefix.
``volumes``
    A leaf's ``volumeMounts`` as executor mounts (emptyDir, PVCs, hostPath, ConfigMaps).
``lifecycle``
    Expression lifecycle hooks (``hooks.<name>.expression`` on steps, tasks and the
    workflow), evaluated when the node's phase changes, each fired at most once.
``http_template``
    Argo ``http`` templates, sent by the controller (``successCondition``, body as result).

Where this differs from Argo (on purpose or not yet done):

- fnv32a node ids collide past ~50k nodes in one workflow; a colliding node gets
  ``<id>-1`` (Argo would overwrite). Nodes with more than 4096 children or outbound
  nodes are stored as several records so none passes NATS's max payload.
- ``failFast`` DAGs stop *starting* tasks once a target task's branch failed, and
  finish when the running ones end (Argo marks the DAG failed at once).
- A node created and started in the same pass is first persisted (and reported) as
  Running, not Pending then Running.
- Daemons are "ready" as soon as their process starts (no readiness probe).
- Artifacts in local mode: single text files up to 256 kB travel inside the node
  records (outputs read back like parameter files, inputs written by an init process
  before the main one); directories (and larger files) stay where the producing node
  left them in the executor's state and are copied into consumers, whose ``subPath``
  picks a path inside a directory artifact. ``raw``, ``from`` step/task outputs,
  global artifacts and key-only artifacts (``s3: {key}`` ... within one workflow, read
  as an object store reads keys: see :mod:`.key_artifacts`) work. Archives (tar/gzip) and artifact repositories (S3, GCS, ...) do not.
- Volumes (``volumes``): see :mod:`.volumes`. ``emptyDir`` per node,
  ``volumeClaimTemplates`` as one host directory per workflow (not deleted when the
  workflow ends, unlike Argo's PVC garbage collection), ``persistentVolumeClaim`` only
  for a claim directory made beforehand, ``hostPath``, ``configMap``; no Secrets.
- Not supported yet:
  ``resource``/``data`` templates (nodes end in Error saying so),
  synchronization (mutex/semaphore), ``podSpecPatch``; ``containerSet`` runs its
  containers in order (all but the last as init processes), ignoring dependencies.
"""
