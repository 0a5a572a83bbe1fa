"""The workflow engine: node model, scheduling, per-workflow workers, the Controller.

Modules, roughly from the bottom up (``tests/test_layers.py`` checks that their imports
form no cycle and that the engine imports nothing but itself and the Argo language):

``ports``, ``keys``, ``tasks``, ``hooks``
    What the engine needs from outside, as protocols: the ``WorkflowStore`` (conditional
    writes by revision, records keyed by ``WorkflowKey``), the ``Executor`` (start,
    re-attach after a restart, cancel, results to a bound sink) and its
    ``TaskSpec``/``TaskResult`` records (each naming its workflow and node), the
    ``HookPoints`` of DESIGN.md (batched: one call per scheduling pass; the request and
    result records, with the plugin ``Verdict`` behind each result, are in ``hooks``), the
    ``EventSink``, the ``WorkflowSource`` and the ``Clock``. Adapters implement them.
``settings``, ``clock``, ``model``, ``warnings``
    Plain records: :class:`~.settings.ControllerSettings`, ``SystemClock``/``ManualClock``,
    Argo's node record, plugin warnings kept on the workflow and its nodes.
``scope``, ``templates``, ``workflow_scope``, ``resolver``
    Argo's variables (``inputs.parameters.x``, ``steps.S.outputs.result`` ...),
    binding inputs, turning a leaf template into an executor ``TaskSpec``, reading
    outputs back; a workflow's globals, ConfigMaps and artifacts; which template a step
    runs (``templateRef``, ``templateDefaults``) and the memoization cache.
``scheduler``
    The :class:`~.scheduler.Scheduler` protocol: what frames and lifecycle hooks may ask
    of their run.
``frames``, ``lifecycle``, ``suspends``, ``workflow_hooks``
    The state machines of composite nodes: ``StepsFrame`` (groups in order),
    ``GroupFrame`` (StepGroup/TaskGroup fan-out under ``parallelism``), ``DagFrame``
    (``dependencies``/``depends``, omitted tasks, ``failFast``, ``target``),
    ``ExitFrame`` (step/task exit hooks); expression
    lifecycle hooks (evaluated when the node's phase changes, each fired at most once);
    suspend nodes; the workflow's own hooks and exit handler.
``retry``
    ``RetryFrame``: a ``retryStrategy``'s attempts, policy, limit and backoff (the
    strategy's fields substituted from the retried template's inputs and the globals;
    ``spec.retryStrategy`` for templates without one), daemons retried in place.
``locks``, ``sync``
    ``synchronization``: the mutexes and ConfigMap semaphores a controller's workflows
    share (holders, priority queues, wake-ups), and what one workflow holds and waits
    for (Pending with Argo's message, released when the holder ends, taken back from
    ``status.synchronization`` after a restart).
``commands``
    suspend, resume, stop, terminate and complete, applied to a run.
``container_set``
    A ``containerSet``'s dependency graph and retries, for the executor.
``absent``
    Outputs of Skipped/Omitted producers: a declared ``default``, or an *absent
    optional* that a consumer's input default may stand in for (see
    ``docs/argo-compatibility.md``).
``nodes``, ``timers``, ``launcher``, ``pods``, ``pod_patch``, ``persister``
    A run's state by what it is about: the node table (nodes, names, owners, links,
    what changed), timers (wake-ups posted to the run's queue), the leaf launcher (hook
    calls before a leaf starts, executor starts, cancels and results, ``max_running_nodes``,
    ``spec.parallelism``), the pod ``pod.preCreate`` sees and the executor's processes
    built from it (a ``podSpecPatch`` merged onto its containers), the persister (every changed node in one ``put_nodes``, then
    the workflow record, then events: persist, then notify).
``run``
    :class:`~.run.WorkflowRun`, the coordinator of one workflow's scheduling passes.
    Event-driven: when a node finishes, only its owning frame reacts. After a restart
    the same frames re-adopt the stored nodes by name: Succeeded nodes never run again,
    a leaf that was Running is offered to the executor to re-attach; one it no longer
    has is marked Error ``pod deleted`` and retried if its retryStrategy allows.
``reactor``, ``messages``
    Router + one serial worker per workflow, workflows in parallel under
    ``max_workflows`` (kopf's queueing); idle workers exit. What goes into the queues.
``controller``, ``sources``
    :class:`~.controller.Controller`, the public API (submit, get, list, wait,
    watch, suspend, resume, stop, terminate, retry, delete, log_path, follow), and an
    in-process ``WorkflowSource``. On start it hands the event sink (``restored``, when
    the sink has it) every stored workflow's phase and nodes, so the events a crash kept
    from being published go out; a workflow ``retry`` counts itself in the status
    (``x-retries``), which makes a new ``TaskSpec.attempt`` for the nodes it runs again.
``memory_store``
    A non-durable store with the WorkflowStore interface (dry runs, benchmarks).
``key_artifacts``, ``volumes``, ``refs``, ``http_template``, ``http_guard``, ``snapshot``
    Key-only artifacts; a leaf's ``volumeMounts`` as executor mounts (emptyDir, PVCs,
    hostPath, ConfigMaps, Secrets); Secret and ConfigMap references in ``env``; Argo
    ``http`` templates, sent by the controller, and where they may connect; Argo-like
    Workflow objects built from a run (``get``).
``resource_template``, ``resource_call``, ``resource_paths``
    Argo ``resource`` templates, run by the controller through the ``Cluster`` port
    (Kubernetes mode); their conditions (label-selector syntax over gjson paths),
    ``jsonPath`` and ``jqFilter`` outputs.

Where this differs from Argo (on purpose or not yet done):

- fnv32a node ids collide past ~50k nodes in one workflow; a colliding node gets
  ``<id>-1`` (Argo would overwrite). Nodes with more than 4096 children or outbound
  nodes are stored as several records so none passes NATS's max payload.
- ``failFast`` DAGs stop *starting* tasks once a target task's branch failed, and
  finish when the running ones end (Argo marks the DAG failed at once). A template's
  own ``failFast: true`` counts its children and their failed retry attempts, as Argo
  counts the failed nodes of the template's boundary.
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
  for a claim directory made beforehand, ``hostPath`` (below operator-allowed paths
  only), ``configMap`` and ``secret`` (from the Secrets given with the workflow).
- Containers' ``env[].valueFrom`` ``secretKeyRef``/``configMapKeyRef`` read the Secrets
  and ConfigMaps given with the workflow (:mod:`.refs`); a missing one fails the node
  with Kubernetes' message. ``http`` templates refuse loopback, link-local and metadata
  addresses unless allowed (:mod:`.http_guard`).
- ``containerSet``: its containers run by their dependencies and retries in the
  executor, as one Pod node (no per-container child nodes).
- Synchronization locks live in the controller (no database-backed locks).
- ``resource`` templates act on the cluster from the controller (Argo runs them in a
  pod, so ``{{pod.name}}`` names no pod here); without a cluster (local mode) their
  nodes end in Error saying so. ``jqFilter`` takes paths only.
- Not supported yet:
  ``data`` templates (nodes end in Error saying so), the pod-level
  fields of a ``podSpecPatch`` (its containers are merged: :mod:`.pod_patch`).
  ``hookbus lint`` warns about each (``argo/lint_unsupported``).
"""
