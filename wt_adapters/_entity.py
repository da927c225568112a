"""The `entity` option: what service or resource the logs come from, checked by CloudWatch's rules.

PutLogEvents takes an ``entity`` (``keyAttributes`` and ``attributes``) that
CloudWatch's "Explore related" view uses to tie the logs to the service's
metrics and traces. `check_entity` holds them to the API reference's rules
(the Entity shape, and the key attributes each ``Type`` needs per "How to add
related information to telemetry"); `auto_entity` derives one from the
OpenTelemetry environment and the platform's environment variables, with no
network call.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from typing import Any, Dict, Iterator, NamedTuple, Optional, Tuple

from ._errors import WatchtowerError
from ._report import report

#: The key attributes CloudWatch allows (Entity.keyAttributes).
KEY_ATTRIBUTES = ("Type", "ResourceType", "Identifier", "Name", "Environment")
#: The key attributes each ``Type`` needs (Type itself included).
REQUIRED_BY_TYPE: Dict[str, Tuple[str, ...]] = {
    "Service": ("Type", "Name", "Environment"),
    "Resource": ("Type", "ResourceType", "Identifier"),
    "AWS::Service": ("Type", "Name"),
    "AWS::Resource": ("Type", "ResourceType", "Identifier"),
    "RemoteService": ("Type", "Name"),
}
#: Entity.keyAttributes: 2 to 4 entries, keys 1-32 characters, values 1-512.
KEY_COUNT = (2, 4)
KEY_NAME_MAX = 32
#: Entity.attributes: at most 10 entries, keys 1-256 characters, values 1-512.
MAX_ATTRIBUTES = 10
ATTRIBUTE_NAME_MAX = 256
VALUE_MAX = 512

#: What `entity="auto"` asks for.
AUTO = "auto"

Pairs = Tuple[Tuple[str, str], ...]


class Entity(NamedTuple):
    """A checked entity, as sorted pairs (hashable: engines with equal settings are shared)."""

    key_attributes: Pairs
    attributes: Pairs = ()

    def request(self) -> Dict[str, Dict[str, str]]:
        """The PutLogEvents ``entity`` parameter."""
        entity = {"keyAttributes": dict(self.key_attributes)}
        if self.attributes:
            entity["attributes"] = dict(self.attributes)
        return entity


def parse_entity(name: str, value: Any) -> Optional[Entity]:
    """The option's check: None, ``"auto"``, an `Entity`, or a dict CloudWatch would accept."""
    if value is None or isinstance(value, Entity):
        return value
    if isinstance(value, str) and value.strip().lower() == AUTO:
        return _auto_or_note()
    return check_entity(value, name)


class EntityError(WatchtowerError):
    """An entity CloudWatch would refuse; `error_type` is the ``rejectedEntityInfo.errorType``
    CloudWatch answers such an entity with."""

    def __init__(self, message: str, error_type: str) -> None:
        super().__init__(message)
        self.error_type = error_type


def check_entity(value: Any, name: str = "entity") -> Entity:
    """Check `value` (``{"keyAttributes": {...}, "attributes": {...}}``) by CloudWatch's rules.

    Raises `EntityError` (a `WatchtowerError`) naming the option and the key at fault.
    """
    if not isinstance(value, Mapping):
        raise EntityError(
            f'{name}={value!r} must be "auto", None or a dict like'
            ' {"keyAttributes": {"Type": "Service", "Name": ..., "Environment": ...}}',
            "InvalidEntity",
        )
    unknown = sorted(set(value) - {"keyAttributes", "attributes"})
    if unknown:
        raise EntityError(
            f"{name}: unknown key {unknown[0]!r}; an entity has keyAttributes and attributes",
            "InvalidEntity",
        )
    where = f"{name}['keyAttributes']"
    keys = _strings(value.get("keyAttributes"), where, KEY_NAME_MAX, "InvalidKeyAttributes")
    low, high = KEY_COUNT
    if not low <= len(keys) <= high:
        raise EntityError(
            f"{where} has {len(keys)} entries: CloudWatch takes {low} to {high}",
            "InvalidKeyAttributes",
        )
    for key in keys:
        if key not in KEY_ATTRIBUTES:
            raise EntityError(
                f"{where}[{key!r}] is not a key attribute: they are " + ", ".join(KEY_ATTRIBUTES),
                "InvalidKeyAttributes",
            )
    kind = keys.get("Type")
    if kind is None:
        raise EntityError(f"{where} needs 'Type' (one of {_types()})", "MissingRequiredFields")
    required = REQUIRED_BY_TYPE.get(kind)
    if required is None:
        raise EntityError(f"{where}['Type']={kind!r} must be one of {_types()}", "InvalidTypeValue")
    for key in required:
        if key not in keys:
            raise EntityError(
                f"{where} with Type={kind!r} needs {key!r} (it needs {', '.join(required[1:])})",
                "MissingRequiredFields",
            )
    where = f"{name}['attributes']"
    attributes = _strings(value.get("attributes"), where, ATTRIBUTE_NAME_MAX, "InvalidAttributes")
    if len(attributes) > MAX_ATTRIBUTES:
        raise EntityError(
            f"{where} has {len(attributes)} entries: CloudWatch takes at most {MAX_ATTRIBUTES}",
            "InvalidAttributes",
        )
    return Entity(tuple(sorted(keys.items())), tuple(sorted(attributes.items())))


def _types() -> str:
    return ", ".join(repr(t) for t in REQUIRED_BY_TYPE)


def _strings(value: Any, where: str, name_max: int, error_type: str) -> Dict[str, str]:
    """A dict of strings to strings of the lengths CloudWatch takes (None: empty)."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise EntityError(f"{where}={value!r} must be a dict of strings", error_type)
    for key, item in value.items():
        if not isinstance(key, str) or not 1 <= len(key) <= name_max:
            raise EntityError(
                f"{where}: key {key!r} must be a string of 1-{name_max} characters", error_type
            )
        if not isinstance(item, str) or not 1 <= len(item) <= VALUE_MAX:
            raise EntityError(
                f"{where}[{key!r}]={item!r} must be a string of 1-{VALUE_MAX} characters",
                error_type,
            )
    return dict(value)


# ------------------------------------------------------------------ entity="auto"


#: Whether the process was told once that ``entity="auto"`` found no service name.
_noted_no_service = False


def _auto_or_note() -> Optional[Entity]:
    """`auto_entity`, or None with one warning per process when no service is named."""
    global _noted_no_service
    entity = auto_entity()
    if entity is None and not _noted_no_service:
        _noted_no_service = True
        report(
            'entity="auto" found no service name (set OTEL_SERVICE_NAME, or service.name in'
            " OTEL_RESOURCE_ATTRIBUTES): the logs are sent without an entity"
        )
    return entity


def auto_entity(environ: Optional[Mapping[str, str]] = None) -> Optional[Entity]:
    """Derive a ``Type=Service`` entity from the environment, or None if no service is named.

    Name: ``OTEL_SERVICE_NAME``, else ``service.name`` in ``OTEL_RESOURCE_ATTRIBUTES``,
    else (on Lambda) ``AWS_LAMBDA_FUNCTION_NAME``; a name OpenTelemetry made up
    (``unknown_service...``) counts as none. Environment:
    ``deployment.environment.name``, else ``deployment.environment``, else the
    platform's default as CloudWatch's own agents spell it (``lambda:default``,
    ``ecs:default``, ``eks:CLUSTER/NAMESPACE`` or ``k8s:CLUSTER/NAMESPACE``
    when both are known, else ``generic:default``). Attributes: `platform_attributes`.
    """
    env = os.environ if environ is None else environ
    resource = resource_attributes(env.get("OTEL_RESOURCE_ATTRIBUTES", ""))
    name = env.get("OTEL_SERVICE_NAME") or resource.get("service.name") or ""
    if not name or name.startswith("unknown_service"):
        name = env.get("AWS_LAMBDA_FUNCTION_NAME", "")
    if not name:
        return None
    attributes = platform_attributes(env, resource)
    environment = (
        resource.get("deployment.environment.name")
        or resource.get("deployment.environment")
        or _default_environment(attributes)
    )
    keys = {"Type": "Service", "Name": _cut(name), "Environment": _cut(environment)}
    return Entity(tuple(sorted(keys.items())), tuple(sorted(attributes.items())))


def platform_attributes(env: Mapping[str, str], resource: Mapping[str, str]) -> Dict[str, str]:
    """The entity attributes the environment tells without a network call.

    ``PlatformType`` is ``AWS::Lambda`` (``AWS_LAMBDA_FUNCTION_NAME``), ``AWS::ECS``
    (``ECS_CONTAINER_METADATA_URI_V4`` or ``ECS_CONTAINER_METADATA_URI``),
    ``AWS::EKS`` or ``K8s`` (``KUBERNETES_SERVICE_HOST``; EKS when the pod has EKS
    credentials: a web identity token under ``eks.amazonaws.com`` or EKS Pod
    Identity's agent), ``AWS::EC2`` (``cloud.platform=aws_ec2`` in the resource
    attributes), else ``Generic``. The rest comes from OpenTelemetry resource
    attributes where set (``k8s.cluster.name``, ``k8s.namespace.name``, ...) and
    ``Host`` from the host name (not on Lambda).
    """
    attributes: Dict[str, str] = {}
    lambda_name = env.get("AWS_LAMBDA_FUNCTION_NAME")
    if lambda_name:
        attributes["PlatformType"] = "AWS::Lambda"
        attributes["Lambda.Function"] = lambda_name
    elif env.get("ECS_CONTAINER_METADATA_URI_V4") or env.get("ECS_CONTAINER_METADATA_URI"):
        attributes["PlatformType"] = "AWS::ECS"
        for key, source in (
            ("ECS.Cluster", "aws.ecs.cluster.arn"),
            ("ECS.Task", "aws.ecs.task.arn"),
        ):
            if resource.get(source):
                attributes[key] = resource[source].rsplit("/", 1)[-1]
    elif env.get("KUBERNETES_SERVICE_HOST"):
        eks = _on_eks(env)
        attributes["PlatformType"] = "AWS::EKS" if eks else "K8s"
        cluster = resource.get("k8s.cluster.name")
        if cluster:
            attributes["EKS.Cluster" if eks else "K8s.Cluster"] = cluster
        for key, source in (
            ("K8s.Namespace", "k8s.namespace.name"),
            ("K8s.Workload", "k8s.deployment.name"),
            ("K8s.Node", "k8s.node.name"),
            ("K8s.Pod", "k8s.pod.name"),
        ):
            if resource.get(source):
                attributes[key] = resource[source]
    elif resource.get("cloud.platform") == "aws_ec2":
        attributes["PlatformType"] = "AWS::EC2"
        if resource.get("host.id"):
            attributes["EC2.InstanceId"] = resource["host.id"]
    else:
        attributes["PlatformType"] = "Generic"
    if not lambda_name:
        host = resource.get("host.name") or _host_name()
        if host:
            attributes["Host"] = host
    return {k: _cut(v) for k, v in attributes.items() if v}


def _on_eks(env: Mapping[str, str]) -> bool:
    """Whether a Kubernetes pod has EKS credentials (IRSA's token, or Pod Identity's agent)."""
    token = env.get("AWS_WEB_IDENTITY_TOKEN_FILE", "")
    full_uri = env.get("AWS_CONTAINER_CREDENTIALS_FULL_URI", "")
    return "eks.amazonaws.com" in token or "169.254.170.23" in full_uri


def _default_environment(attributes: Mapping[str, str]) -> str:
    platform = attributes.get("PlatformType")
    if platform == "AWS::Lambda":
        return "lambda:default"
    if platform == "AWS::ECS":
        return "ecs:default"
    if platform == "AWS::EC2":
        return "ec2:default"
    if platform in ("AWS::EKS", "K8s"):
        cluster = attributes.get("EKS.Cluster") or attributes.get("K8s.Cluster")
        namespace = attributes.get("K8s.Namespace")
        if cluster and namespace:
            prefix = "eks" if platform == "AWS::EKS" else "k8s"
            return f"{prefix}:{cluster}/{namespace}"
    return "generic:default"


def resource_attributes(text: str) -> Dict[str, str]:
    """``OTEL_RESOURCE_ATTRIBUTES`` (``key=value,key=value``, percent-encoded) as a dict."""
    from urllib.parse import unquote

    found: Dict[str, str] = {}
    for item in _items(text):
        key, sep, value = item.partition("=")
        if sep and key.strip():
            found[unquote(key.strip())] = unquote(value.strip())
    return found


def _items(text: str) -> Iterator[str]:
    for item in text.split(","):
        if item.strip():
            yield item


def _cut(value: str) -> str:
    """A value CloudWatch takes: at most `VALUE_MAX` characters."""
    return value[:VALUE_MAX]


def _host_name() -> str:
    try:
        return socket.gethostname()
    except OSError:  # pragma: no cover - gethostname does not fail on the platforms we run on
        return ""
