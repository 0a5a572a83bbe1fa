"""A compact schema of the Argo Workflows manifest language, written as field tables.

Each object type is one table: a whitespace-separated list of ``field[!][:type]``
entries. ``!`` marks a field the object cannot do without; a missing ``:type`` means
``string``. Types are:

``string`` ``int`` ``bool`` ``number``
    JSON scalars, checked strictly (YAML ``5`` is not a string, ``"5"`` is not an int),
    as Kubernetes' decoder does.
``intstr``
    Kubernetes ``IntOrString``: an int or a string.
``anystr``
    Argo's ``AnyString`` (parameter values): a string, number or bool.
``quantity``
    Kubernetes ``Quantity``: ``"500m"``, ``2``, ``0.5``.
``any`` / ``object``
    Anything / any mapping (free-form: volumes' sources, affinity, patches).
``[]T`` / ``{}T``
    A list of ``T`` / a mapping from string keys to ``T``.
``(A|B|C)``
    A string that is one of the listed words (or contains a ``{{...}}`` placeholder,
    which Argo substitutes before use; an empty string means unset).
``Name``
    Another table of this module.

The field names and types follow Argo's documented field reference (``docs/fields.md``
of argo-workflows v4.1) and the Kubernetes core/v1 API. Free-form is used only where the
Kubernetes API is large and Argo passes it through untouched (pod affinity, security
contexts of pods, volume sources); even there the first level is checked where it is cheap.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "OBJECTS",
    "TEMPLATE_KINDS",
    "FieldType",
    "ObjectSchema",
    "parse_type",
]


@dataclass(frozen=True, slots=True)
class ObjectSchema:
    """One object type: its fields (name -> type text) and which of them are required."""

    name: str
    fields: Mapping[str, str]
    required: frozenset[str]


@dataclass(frozen=True, slots=True)
class FieldType:
    """A parsed type text.

    ``kind`` is ``"scalar"`` (``name`` is the scalar type), ``"enum"`` (``values``),
    ``"object"`` (``name`` is a table of :data:`OBJECTS`), ``"list"`` or ``"map"``
    (``item`` is the element type).
    """

    kind: str
    name: str = ""
    values: tuple[str, ...] = ()
    item: FieldType | None = None


SCALARS = frozenset(
    {"string", "int", "bool", "number", "intstr", "anystr", "quantity", "any", "object"}
)

#: The template kinds; a template has exactly one of these fields.
TEMPLATE_KINDS: tuple[str, ...] = (
    "container",
    "script",
    "resource",
    "suspend",
    "steps",
    "dag",
    "containerSet",
    "http",
    "plugin",
    "data",
)

_ENTRY = re.compile(r"^([A-Za-z][A-Za-z0-9]*)(!?)(?::(\S+))?$")

_TABLES: dict[str, str] = {
    # ---- resources -------------------------------------------------------------------
    "Workflow": "apiVersion! kind! metadata:ObjectMeta spec!:WorkflowSpec status:object",
    "WorkflowTemplate": "apiVersion! kind! metadata!:ObjectMeta spec!:WorkflowSpec",
    "ClusterWorkflowTemplate": "apiVersion! kind! metadata!:ObjectMeta spec!:WorkflowSpec",
    "CronWorkflow": "apiVersion! kind! metadata!:ObjectMeta spec!:CronWorkflowSpec status:object",
    "ConfigMap": """apiVersion! kind! metadata!:ObjectMeta data:{}string binaryData:{}string
        immutable:bool""",
    "CronWorkflowSpec": """concurrencyPolicy:(Allow|Forbid|Replace) failedJobsHistoryLimit:int
        schedule schedules:[]string startingDeadlineSeconds:int stopStrategy:StopStrategy
        successfulJobsHistoryLimit:int suspend:bool timezone when
        workflowMetadata:ObjectMeta workflowSpec!:WorkflowSpec""",
    "StopStrategy": "expression!",
    "ObjectMeta": """annotations:{}string creationTimestamp:any deletionGracePeriodSeconds:int
        deletionTimestamp:any finalizers:[]string generateName generation:int
        labels:{}string managedFields:[]object name namespace ownerReferences:[]object
        resourceVersion selfLink uid""",
    # ---- the workflow spec -------------------------------------------------------------
    "WorkflowSpec": """activeDeadlineSeconds:int affinity:object archiveLogs:bool
        arguments:Arguments artifactGC:WorkflowLevelArtifactGC
        artifactRepositoryRef:ArtifactRepositoryRef automountServiceAccountToken:bool
        dnsConfig:PodDNSConfig dnsPolicy entrypoint executor:ExecutorConfig
        executorPlugins:[]ExecutorPlugin hooks:{}LifecycleHook hostAliases:[]HostAlias
        hostNetwork:bool imagePullSecrets:[]LocalObjectReference metrics:Metrics
        nodeSelector:{}string onExit parallelism:int podDisruptionBudget:PodDisruptionBudgetSpec
        podGC:PodGC podMetadata:Metadata podPriorityClassName podResources:ResourceRequirements
        podSpecPatch priority:int resourceClaims:[]PodResourceClaim retryStrategy:RetryStrategy
        schedulerName securityContext:object serviceAccountName
        shutdown:(Terminate|Stop) suspend:bool synchronization:Synchronization
        templateDefaults:Template templates:[]Template tolerations:[]Toleration
        ttlStrategy:TTLStrategy volumeClaimGC:VolumeClaimGC
        volumeClaimTemplates:[]PersistentVolumeClaim volumes:[]Volume
        workflowMetadata:WorkflowMetadata workflowTemplateRef:WorkflowTemplateRef""",
    "WorkflowTemplateRef": "clusterScope:bool name!",
    "Arguments": "artifacts:[]Artifact parameters:[]Parameter",
    "WorkflowLevelArtifactGC": """forceFinalizerRemoval:bool podMetadata:Metadata podSpecPatch
        serviceAccountName strategy:(OnWorkflowCompletion|OnWorkflowDeletion|Never)""",
    "ArtifactGC": "podMetadata:Metadata serviceAccountName strategy:(OnWorkflowCompletion|OnWorkflowDeletion|Never)",
    "ArtifactRepositoryRef": "configMap key",
    "ExecutorConfig": "serviceAccountName",
    "ExecutorPlugin": "metadata:ObjectMeta spec:ExecutorPluginSpec",
    "ExecutorPluginSpec": "sidecar:ExecutorPluginSidecar",
    "ExecutorPluginSidecar": "automountServiceAccountToken:bool container:Container",
    "LifecycleHook": "arguments:Arguments expression template templateRef:TemplateRef",
    "Metrics": "prometheus:[]Prometheus",
    "Prometheus": """counter:Counter gauge:Gauge help! histogram:Histogram labels:[]MetricLabel
        name! when""",
    "Counter": "value!",
    "Gauge": "operation:(Set|Add|Sub) realtime:bool value!",
    "Histogram": "buckets!:[]number value!",
    "MetricLabel": "key! value!",
    "PodGC": """deleteDelayDuration labelSelector:LabelSelector
        strategy:(OnPodCompletion|OnPodSuccess|OnWorkflowCompletion|OnWorkflowSuccess)""",
    "Metadata": "annotations:{}string labels:{}string",
    "WorkflowMetadata": "annotations:{}string labels:{}string labelsFrom:{}LabelValueFrom",
    "LabelValueFrom": "expression!",
    "TTLStrategy": "secondsAfterCompletion:int secondsAfterFailure:int secondsAfterSuccess:int",
    "VolumeClaimGC": "strategy:(OnWorkflowCompletion|OnWorkflowSuccess)",
    "RetryStrategy": """affinity:RetryAffinity backoff:Backoff expression limit:intstr
        retryPolicy:(Always|OnFailure|OnError|OnTransientError)""",
    "RetryAffinity": "nodeAntiAffinity:object",
    "Backoff": "cap duration factor:intstr maxDuration",
    "Synchronization": "mutexes:[]Mutex semaphores:[]SemaphoreRef",
    "Mutex": "database:bool name namespace",
    "SemaphoreRef": "configMapKeyRef:ConfigMapKeySelector database:SyncDatabaseRef namespace",
    "SyncDatabaseRef": "key!",
    "Memoize": "cache!:Cache key! maxAge",
    "Cache": "configMap!:LocalObjectReference",
    # ---- templates ---------------------------------------------------------------------
    "Template": """activeDeadlineSeconds:intstr affinity:object annotations:{}string
        archiveLocation:ArtifactLocation automountServiceAccountToken:bool
        container:Container containerSet:ContainerSetTemplate daemon:bool dag:DAGTemplate
        data:Data executor:ExecutorConfig failFast:bool hostAliases:[]HostAlias http:HTTP
        initContainers:[]UserContainer inputs:Inputs memoize:Memoize metadata:Metadata
        metrics:Metrics name nodeSelector:{}string outputs:Outputs parallelism:int
        pendingTimeout plugin:object podResources:ResourceRequirements podSpecPatch
        priorityClassName resource:ResourceTemplate resourceClaims:[]PodResourceClaim
        retryStrategy:RetryStrategy schedulerName script:ScriptTemplate securityContext:object
        serviceAccountName sidecars:[]UserContainer steps:[][]WorkflowStep
        suspend:SuspendTemplate synchronization:Synchronization timeout
        tolerations:[]Toleration volumes:[]Volume""",
    "Inputs": "artifacts:[]Artifact parameters:[]Parameter",
    "Outputs": "artifacts:[]Artifact exitCode parameters:[]Parameter result",
    "Parameter": """default:anystr description enum:[]anystr globalName name! value:anystr
        valueFrom:ValueFrom""",
    "ValueFrom": """configMapKeyRef:ConfigMapKeySelector default:anystr event expression
        jqFilter jsonPath parameter path supplied:object""",
    "Artifact": """archive:ArchiveStrategy archiveLogs:bool artifactGC:ArtifactGC
        artifactory:ArtifactoryArtifact azure:AzureArtifact deleted:bool from fromExpression
        gcs:GCSArtifact git:GitArtifact globalName hdfs:HDFSArtifact http:HTTPArtifact
        mode:int name! optional:bool oss:OSSArtifact path plugin:PluginArtifact raw:RawArtifact
        recurseMode:bool s3:S3Artifact subPath""",
    "ArtifactPaths": """archive:ArchiveStrategy archiveLogs:bool artifactGC:ArtifactGC
        artifactory:ArtifactoryArtifact azure:AzureArtifact deleted:bool from fromExpression
        gcs:GCSArtifact git:GitArtifact globalName hdfs:HDFSArtifact http:HTTPArtifact
        mode:int name optional:bool oss:OSSArtifact path plugin:PluginArtifact raw:RawArtifact
        recurseMode:bool s3:S3Artifact subPath""",
    "ArtifactLocation": """archiveLogs:bool artifactory:ArtifactoryArtifact azure:AzureArtifact
        gcs:GCSArtifact git:GitArtifact hdfs:HDFSArtifact http:HTTPArtifact oss:OSSArtifact
        plugin:PluginArtifact raw:RawArtifact s3:S3Artifact""",
    "ArchiveStrategy": "none:object tar:TarStrategy zip:object",
    "TarStrategy": "compressionLevel:int",
    "ArtifactoryArtifact": "passwordSecret:SecretKeySelector url! usernameSecret:SecretKeySelector",
    "AzureArtifact": """accountKeySecret:SecretKeySelector blob container endpoint
        useSDKCreds:bool""",
    "GCSArtifact": "bucket key serviceAccountKeySecret:SecretKeySelector",
    "GitArtifact": """branch depth:int disableSubmodules:bool fetch:[]string
        insecureIgnoreHostKey:bool insecureSkipTLS:bool passwordSecret:SecretKeySelector repo!
        revision singleBranch:bool sshPrivateKeySecret:SecretKeySelector
        usernameSecret:SecretKeySelector""",
    "HDFSArtifact": """addresses:[]string dataTransferProtection force:bool hdfsUser
        krbCCacheSecret:SecretKeySelector krbConfigConfigMap:ConfigMapKeySelector
        krbKeytabSecret:SecretKeySelector krbRealm krbServicePrincipalName krbUsername path""",
    "HTTPArtifact": "auth:HTTPAuth headers:[]Header saveStreamViaFile:bool url!",
    "HTTPAuth": "basicAuth:BasicAuth clientCert:ClientCertAuth oauth2:OAuth2Auth",
    "BasicAuth": "passwordSecret:SecretKeySelector usernameSecret:SecretKeySelector",
    "ClientCertAuth": "clientCertSecret:SecretKeySelector clientKeySecret:SecretKeySelector",
    "OAuth2Auth": """clientIDSecret:SecretKeySelector clientSecretSecret:SecretKeySelector
        endpointParams:[]OAuth2EndpointParam scopes:[]string tokenURLSecret:SecretKeySelector""",
    "OAuth2EndpointParam": "key! value",
    "Header": "name! value!",
    "OSSArtifact": """accessKeySecret:SecretKeySelector bucket createBucketIfNotPresent:bool
        endpoint key lifecycleRule:OSSLifecycleRule secretKeySecret:SecretKeySelector
        securityToken useSDKCreds:bool""",
    "OSSLifecycleRule": "markDeletionAfterDays:int markInfrequentAccessAfterDays:int",
    "PluginArtifact": "configuration connectionTimeoutSeconds:int key name",
    "RawArtifact": "data!",
    "S3Artifact": """accessKeySecret:SecretKeySelector addressingStyle bucket
        caSecret:SecretKeySelector createBucketIfNotPresent:CreateS3BucketOptions
        encryptionOptions:S3EncryptionOptions endpoint insecure:bool key region roleARN
        secretKeySecret:SecretKeySelector sessionTokenSecret:SecretKeySelector useSDKCreds:bool""",
    "CreateS3BucketOptions": "objectLocking:bool",
    "S3EncryptionOptions": """enableEncryption:bool kmsEncryptionContext kmsKeyId
        serverSideCustomerKeySecret:SecretKeySelector""",
    "ContainerSetTemplate": """containers!:[]ContainerNode retryStrategy:ContainerSetRetryStrategy
        volumeMounts:[]VolumeMount""",
    "ContainerSetRetryStrategy": "duration retries!:intstr",
    "DAGTemplate": "failFast:bool target tasks!:[]DAGTask",
    "DAGTask": """arguments:Arguments continueOn:ContinueOn dependencies:[]string depends
        hooks:{}LifecycleHook inline:Template name! onExit template templateRef:TemplateRef
        when withItems:[]any withParam withSequence:Sequence""",
    "WorkflowStep": """arguments:Arguments continueOn:ContinueOn hooks:{}LifecycleHook
        inline:Template name onExit template templateRef:TemplateRef when withItems:[]any
        withParam withSequence:Sequence""",
    "TemplateRef": "clusterScope:bool name! template!",
    "ContinueOn": "error:bool failed:bool",
    "Sequence": "count:intstr end:intstr format start:intstr",
    "Data": "source!:DataSource transformation!:[]TransformationStep",
    "DataSource": "artifactPaths:ArtifactPaths",
    "TransformationStep": "expression!",
    "HTTP": """body bodyFrom:HTTPBodySource headers:[]HTTPHeader insecureSkipVerify:bool method
        successCondition timeoutSeconds:int url!""",
    "HTTPBodySource": "bytes",
    "HTTPHeader": "name! value valueFrom:HTTPHeaderSource",
    "HTTPHeaderSource": "secretKeyRef:SecretKeySelector",
    "ResourceTemplate": """action!:(get|create|apply|delete|replace|patch) failureCondition
        flags:[]string manifest manifestFrom:ManifestFrom mergeStrategy:(strategic|merge|json)
        setOwnerReference:bool successCondition""",
    "ManifestFrom": "artifact!:Artifact",
    "SuspendTemplate": "duration",
    # ---- Kubernetes core/v1 ------------------------------------------------------------
    "Container": """args:[]string command:[]string env:[]EnvVar envFrom:[]EnvFromSource image
        imagePullPolicy:(Always|Never|IfNotPresent) lifecycle:Lifecycle livenessProbe:Probe name
        ports:[]ContainerPort readinessProbe:Probe resizePolicy:[]ContainerResizePolicy
        resources:ResourceRequirements restartPolicy restartPolicyRules:[]ContainerRestartRule
        securityContext:SecurityContext startupProbe:Probe stdin:bool stdinOnce:bool
        terminationMessagePath terminationMessagePolicy:(File|FallbackToLogsOnError) tty:bool
        volumeDevices:[]VolumeDevice volumeMounts:[]VolumeMount workingDir""",
    "EnvVar": "name! value valueFrom:EnvVarSource",
    "EnvVarSource": """configMapKeyRef:ConfigMapKeySelector fieldRef:ObjectFieldSelector
        fileKeyRef:FileKeySelector resourceFieldRef:ResourceFieldSelector
        secretKeyRef:SecretKeySelector""",
    "ConfigMapKeySelector": "key! name optional:bool",
    "SecretKeySelector": "key! name optional:bool",
    "ObjectFieldSelector": "apiVersion fieldPath!",
    "FileKeySelector": "key! optional:bool path! volumeName!",
    "ResourceFieldSelector": "containerName divisor:quantity resource!",
    "EnvFromSource": "configMapRef:ConfigMapEnvSource prefix secretRef:SecretEnvSource",
    "ConfigMapEnvSource": "name optional:bool",
    "SecretEnvSource": "name optional:bool",
    "Lifecycle": "postStart:LifecycleHandler preStop:LifecycleHandler stopSignal",
    "LifecycleHandler": """exec:ExecAction httpGet:HTTPGetAction sleep:SleepAction
        tcpSocket:TCPSocketAction""",
    "ExecAction": "command:[]string",
    "HTTPGetAction": "host httpHeaders:[]K8sHTTPHeader path port!:intstr scheme:(HTTP|HTTPS)",
    "K8sHTTPHeader": "name! value!",
    "TCPSocketAction": "host port!:intstr",
    "GRPCAction": "port!:int service",
    "SleepAction": "seconds!:int",
    "Probe": """exec:ExecAction failureThreshold:int grpc:GRPCAction httpGet:HTTPGetAction
        initialDelaySeconds:int periodSeconds:int successThreshold:int
        tcpSocket:TCPSocketAction terminationGracePeriodSeconds:int timeoutSeconds:int""",
    "ContainerPort": "containerPort!:int hostIP hostPort:int name protocol:(TCP|UDP|SCTP)",
    "ContainerResizePolicy": "resourceName! restartPolicy!",
    "ContainerRestartRule": "action! exitCodes:ContainerRestartRuleOnExitCodes",
    "ContainerRestartRuleOnExitCodes": "operator! values:[]int",
    "ResourceRequirements": "claims:[]ResourceClaim limits:{}quantity requests:{}quantity",
    "ResourceClaim": "name! request",
    "PodResourceClaim": "name! resourceClaimName resourceClaimTemplateName",
    "SecurityContext": """allowPrivilegeEscalation:bool appArmorProfile:object
        capabilities:Capabilities privileged:bool procMount readOnlyRootFilesystem:bool
        runAsGroup:int runAsNonRoot:bool runAsUser:int seLinuxOptions:object
        seccompProfile:object windowsOptions:object""",
    "Capabilities": "add:[]string drop:[]string",
    "VolumeDevice": "devicePath! name!",
    "VolumeMount": """mountPath! mountPropagation name! readOnly:bool recursiveReadOnly subPath
        subPathExpr""",
    "LocalObjectReference": "name",
    "LabelSelector": "matchExpressions:[]LabelSelectorRequirement matchLabels:{}string",
    "LabelSelectorRequirement": "key! operator! values:[]string",
    "PodDNSConfig": "nameservers:[]string options:[]PodDNSConfigOption searches:[]string",
    "PodDNSConfigOption": "name value",
    "HostAlias": "hostnames:[]string ip!",
    "Toleration": "effect key operator tolerationSeconds:int value",
    "PodDisruptionBudgetSpec": """maxUnavailable:intstr minAvailable:intstr
        selector:LabelSelector unhealthyPodEvictionPolicy""",
    "PersistentVolumeClaim": "apiVersion kind metadata:ObjectMeta spec!:object status:object",
    "Volume": """awsElasticBlockStore:object azureDisk:object azureFile:object cephfs:object
        cinder:object configMap:object csi:object downwardAPI:object emptyDir:object
        ephemeral:object fc:object flexVolume:object flocker:object gcePersistentDisk:object
        gitRepo:object glusterfs:object hostPath:object image:object iscsi:object name!
        nfs:object persistentVolumeClaim:object photonPersistentDisk:object
        portworxVolume:object projected:object quobyte:object rbd:object scaleIO:object
        secret:object storageos:object vsphereVolume:object""",
}

# Argo's containers: the Kubernetes container plus what Argo adds to it.
_TABLES["UserContainer"] = _TABLES["Container"] + " mirrorVolumeMounts:bool"
_TABLES["ScriptTemplate"] = _TABLES["Container"] + " source"  # Argo runs a script without source
_TABLES["ContainerNode"] = _TABLES["Container"] + " dependencies:[]string"


def _compile(name: str, text: str) -> ObjectSchema:
    fields: dict[str, str] = {}
    required: set[str] = set()
    for entry in text.split():
        match = _ENTRY.match(entry)
        if match is None:
            raise ValueError(f"schema table {name}: bad entry {entry!r}")
        field, bang, type_text = match.groups()
        if field in fields:
            raise ValueError(f"schema table {name}: field {field!r} listed twice")
        fields[field] = type_text or "string"
        if bang:
            required.add(field)
    return ObjectSchema(name, MappingProxyType(fields), frozenset(required))


#: Every object type of the language, by name.
OBJECTS: Mapping[str, ObjectSchema] = MappingProxyType(
    {name: _compile(name, text) for name, text in _TABLES.items()}
)


@functools.cache
def parse_type(text: str) -> FieldType:
    """Parse a type text of the tables (``[]Template``, ``{}string``, ``(A|B)``, ...)."""
    if text.startswith("[]"):
        return FieldType("list", item=parse_type(text[2:]))
    if text.startswith("{}"):
        return FieldType("map", item=parse_type(text[2:]))
    if text.startswith("(") and text.endswith(")"):
        return FieldType("enum", values=tuple(text[1:-1].split("|")))
    if text in SCALARS:
        return FieldType("scalar", name=text)
    if text in OBJECTS:
        return FieldType("object", name=text)
    raise ValueError(f"unknown schema type {text!r}")


def _self_check() -> None:
    for schema in OBJECTS.values():
        for type_text in schema.fields.values():
            parse_type(type_text)


_self_check()
