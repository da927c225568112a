"""The entity option, checked at construction by CloudWatch's rules, and entity="auto"."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict

import boto3
import botocore.session
import pytest
from helpers import DUMMY, REGION

from wt_adapters import CloudWatchLogHandler, WatchtowerError, WatchtowerWarning, _entity
from wt_adapters._entity import Entity, EntityError, auto_entity, check_entity, parse_entity
from wt_adapters._settings import Settings

SERVICE = {"Type": "Service", "Name": "checkout", "Environment": "prod"}


def entity(keys: Dict[str, Any], attributes: Any = None) -> Dict[str, Any]:
    value: Dict[str, Any] = {"keyAttributes": keys}
    if attributes is not None:
        value["attributes"] = attributes
    return value


# --------------------------------------------------------------- each rule, at construction


@pytest.mark.parametrize(
    ("value", "named", "error_type"),
    [
        ("checkout", 'must be "auto", None or a dict', "InvalidEntity"),
        ({"keyAttributes": SERVICE, "tags": {}}, "unknown key 'tags'", "InvalidEntity"),
        (
            entity({"Type": "Service"}),
            "has 1 entries: CloudWatch takes 2 to 4",
            "InvalidKeyAttributes",
        ),
        (
            entity({**SERVICE, "ResourceType": "a", "Identifier": "b"}),
            "has 5 entries",
            "InvalidKeyAttributes",
        ),
        (
            entity({**SERVICE, "Region": "x"}),
            "['keyAttributes']['Region'] is not a key",
            "InvalidKeyAttributes",
        ),
        (
            entity({**SERVICE, "T" * 33: "x"}),
            "must be a string of 1-32 characters",
            "InvalidKeyAttributes",
        ),
        (
            entity({**SERVICE, "Name": ""}),
            "['keyAttributes']['Name']='' must be a string of 1-512",
            "InvalidKeyAttributes",
        ),
        (
            entity({**SERVICE, "Name": "n" * 513}),
            "must be a string of 1-512",
            "InvalidKeyAttributes",
        ),
        (entity({**SERVICE, "Name": 7}), "['Name']=7 must be a string", "InvalidKeyAttributes"),
        (entity(["Type"]), "['keyAttributes']=['Type'] must be a dict", "InvalidKeyAttributes"),
        (entity({"Name": "a", "Environment": "b"}), "needs 'Type'", "MissingRequiredFields"),
        (
            entity({"Type": "Services", "Name": "a"}),
            "['Type']='Services' must be one of",
            "InvalidTypeValue",
        ),
        (
            entity({"Type": "Service", "Name": "a"}),
            "Type='Service' needs 'Environment'",
            "MissingRequiredFields",
        ),
        (
            entity({"Type": "Service", "Environment": "a"}),
            "Type='Service' needs 'Name'",
            "MissingRequiredFields",
        ),
        (
            entity({"Type": "AWS::Resource", "ResourceType": "AWS::DynamoDB::Table"}),
            "needs 'Identifier'",
            "MissingRequiredFields",
        ),
        (
            entity({"Type": "Resource", "Identifier": "pod"}),
            "Type='Resource' needs 'ResourceType'",
            "MissingRequiredFields",
        ),
        (
            entity({"Type": "AWS::Service", "Environment": "x"}),
            "Type='AWS::Service' needs 'Name'",
            "MissingRequiredFields",
        ),
        (
            entity({"Type": "RemoteService", "Identifier": "x"}),
            "needs 'Name'",
            "MissingRequiredFields",
        ),
        (
            entity(SERVICE, {f"K{i}": "v" for i in range(11)}),
            "['attributes'] has 11 entries: CloudWatch takes at most 10",
            "InvalidAttributes",
        ),
        (
            entity(SERVICE, {"k" * 257: "v"}),
            "must be a string of 1-256 characters",
            "InvalidAttributes",
        ),
        (entity(SERVICE, {"Host": "h" * 513}), "['attributes']['Host']", "InvalidAttributes"),
        (entity(SERVICE, {"Host": None}), "['attributes']['Host']=None", "InvalidAttributes"),
        (entity(SERVICE, "Host=a"), "['attributes']='Host=a' must be a dict", "InvalidAttributes"),
    ],
)
def test_an_entity_cloudwatch_would_refuse_is_an_error_naming_the_key(
    value: Any, named: str, error_type: str
) -> None:
    with pytest.raises(WatchtowerError) as raised:
        CloudWatchLogHandler(log_group_name="g", entity=value)
    assert str(raised.value).startswith("entity")
    assert named in str(raised.value)
    with pytest.raises(EntityError) as again:
        check_entity(value)
    assert again.value.error_type == error_type


@pytest.mark.parametrize(
    "keys",
    [
        SERVICE,
        {"Type": "AWS::Resource", "ResourceType": "AWS::DynamoDB::Table", "Identifier": "orders"},
        {"Type": "Resource", "ResourceType": "K8s::Pod", "Identifier": "c|ns|pod"},
        {"Type": "AWS::Service", "Name": "AWS::DynamoDB"},
        {"Type": "RemoteService", "Name": "api.example.com"},
        {"Type": "Service", "Name": "a", "Environment": "b", "Identifier": "c"},  # 4 is allowed
    ],
)
def test_each_type_with_its_key_attributes_is_taken(keys: Dict[str, str]) -> None:
    attributes = {f"K{i}": "v" * 512 for i in range(10)}
    checked = parse_entity("entity", entity(keys, attributes))
    assert checked is not None
    assert checked.request() == {"keyAttributes": keys, "attributes": attributes}


def test_an_entity_without_attributes_sends_none() -> None:
    checked = check_entity(entity(SERVICE))
    assert checked.request() == {"keyAttributes": SERVICE}
    assert check_entity(entity(SERVICE, {})).request() == {"keyAttributes": SERVICE}


def test_the_checked_entity_is_hashable_so_equal_settings_share_an_engine() -> None:
    one = Settings(log_group_name="g", entity=entity(SERVICE, {"Host": "a"}))
    two = Settings(
        log_group_name="g", entity=entity(dict(reversed(SERVICE.items())), {"Host": "a"})
    )
    assert one == two and hash(one) == hash(two)
    assert isinstance(one.entity, Entity)
    assert Settings(log_group_name="g").entity is None


# ---------------------------------------------------------------------- entity="auto"


def test_auto_takes_the_name_and_environment_from_opentelemetry() -> None:
    found = auto_entity(
        {
            "OTEL_SERVICE_NAME": "checkout",
            "OTEL_RESOURCE_ATTRIBUTES": "service.name=ignored,deployment.environment=old,"
            "deployment.environment.name=prod%2Feu",
        }
    )
    assert found is not None
    keys = dict(found.key_attributes)
    assert keys == {"Type": "Service", "Name": "checkout", "Environment": "prod/eu"}
    assert dict(found.attributes)["PlatformType"] == "Generic"
    assert "Host" in dict(found.attributes)


def test_auto_falls_back_to_service_name_and_deployment_environment() -> None:
    found = auto_entity(
        {"OTEL_RESOURCE_ATTRIBUTES": "service.name=cart, deployment.environment=staging"}
    )
    assert found is not None
    assert dict(found.key_attributes) == {
        "Type": "Service",
        "Name": "cart",
        "Environment": "staging",
    }


def test_auto_on_lambda_names_the_function_and_its_platform() -> None:
    found = auto_entity(
        {"AWS_LAMBDA_FUNCTION_NAME": "resize", "OTEL_SERVICE_NAME": "unknown_service"}
    )
    assert found is not None
    assert dict(found.key_attributes) == {
        "Type": "Service",
        "Name": "resize",
        "Environment": "lambda:default",
    }
    assert dict(found.attributes) == {"PlatformType": "AWS::Lambda", "Lambda.Function": "resize"}


def test_auto_on_ecs_says_the_platform_and_what_the_resource_names() -> None:
    found = auto_entity(
        {
            "OTEL_SERVICE_NAME": "api",
            "ECS_CONTAINER_METADATA_URI_V4": "http://169.254.170.2/v4/abc",
            "OTEL_RESOURCE_ATTRIBUTES": "aws.ecs.cluster.arn=arn:aws:ecs:us-east-1:1:cluster/main,"
            "host.name=task-host",
        }
    )
    assert found is not None
    assert dict(found.key_attributes)["Environment"] == "ecs:default"
    assert dict(found.attributes) == {
        "PlatformType": "AWS::ECS",
        "ECS.Cluster": "main",
        "Host": "task-host",
    }


def test_auto_on_eks_uses_the_cluster_and_namespace() -> None:
    found = auto_entity(
        {
            "OTEL_SERVICE_NAME": "api",
            "KUBERNETES_SERVICE_HOST": "10.0.0.1",
            "AWS_WEB_IDENTITY_TOKEN_FILE": "/var/run/secrets/eks.amazonaws.com/sa/token",
            "OTEL_RESOURCE_ATTRIBUTES": "k8s.cluster.name=prod,k8s.namespace.name=shop,"
            "k8s.pod.name=api-1,k8s.node.name=ip-10-0-0-2,host.name=api-1",
        }
    )
    assert found is not None
    assert dict(found.key_attributes)["Environment"] == "eks:prod/shop"
    assert dict(found.attributes) == {
        "PlatformType": "AWS::EKS",
        "EKS.Cluster": "prod",
        "K8s.Namespace": "shop",
        "K8s.Node": "ip-10-0-0-2",
        "K8s.Pod": "api-1",
        "Host": "api-1",
    }


def test_auto_on_other_kubernetes_says_k8s() -> None:
    found = auto_entity({"OTEL_SERVICE_NAME": "api", "KUBERNETES_SERVICE_HOST": "10.0.0.1"})
    assert found is not None
    assert dict(found.attributes)["PlatformType"] == "K8s"
    assert dict(found.key_attributes)["Environment"] == "generic:default"


def test_auto_on_ec2_needs_the_resource_to_say_so() -> None:
    found = auto_entity(
        {
            "OTEL_SERVICE_NAME": "api",
            "OTEL_RESOURCE_ATTRIBUTES": "cloud.platform=aws_ec2,host.id=i-0abc",
        }
    )
    assert found is not None
    assert dict(found.key_attributes)["Environment"] == "ec2:default"
    assert dict(found.attributes)["EC2.InstanceId"] == "i-0abc"


def test_auto_cuts_values_to_what_cloudwatch_takes() -> None:
    found = auto_entity({"OTEL_SERVICE_NAME": "s" * 600})
    assert found is not None
    check_entity(found.request())  # CloudWatch would take it
    assert dict(found.key_attributes)["Name"] == "s" * 512


def test_auto_with_no_service_name_sends_no_entity_and_says_so_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("OTEL_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES", "AWS_LAMBDA_FUNCTION_NAME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(_entity, "_noted_no_service", False)
    with pytest.warns(WatchtowerWarning, match="found no service name") as caught:
        first = CloudWatchLogHandler(log_group_name="g", entity="auto")
        second = CloudWatchLogHandler(log_group_name="g", entity="AUTO")
    try:
        assert len([w for w in caught if "service name" in str(w.message)]) == 1
        assert first._destination is not None and first._destination.settings.entity is None
    finally:
        first.close()
        second.close()


def test_auto_reads_the_environment_at_construction(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_SERVICE_NAME", "billing")
    monkeypatch.delenv("OTEL_RESOURCE_ATTRIBUTES", raising=False)
    handler = CloudWatchLogHandler(log_group_name="g", entity="auto")
    try:
        assert handler._destination is not None
        settings_entity = handler._destination.settings.entity
        assert settings_entity is not None
        assert dict(settings_entity.key_attributes)["Name"] == "billing"
    finally:
        handler.close()


# --------------------------------------------------------------- an older botocore


@pytest.fixture
def botocore_without_entity(tmp_path: Path) -> botocore.session.Session:
    """A botocore session whose CloudWatch Logs model predates PutLogEvents' entity."""
    session = botocore.session.get_session()
    loader = session.get_component("data_loader")
    model = loader.load_service_model("logs", "service-2")
    del model["shapes"]["PutLogEventsRequest"]["members"]["entity"]
    del model["operations"]["PutIndexPolicy"]
    version = loader.determine_latest_version("logs", "service-2")
    where = tmp_path / "logs" / version
    where.mkdir(parents=True)
    (where / "service-2.json").write_text(json.dumps(model), encoding="utf-8")
    old = botocore.session.Session()
    old.get_component("data_loader").search_paths.insert(0, str(tmp_path))
    return old


def test_a_botocore_without_entity_is_an_error_at_construction(
    botocore_without_entity: botocore.session.Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = boto3.Session(botocore_session=botocore_without_entity).client(
        "logs", region_name=REGION, endpoint_url="http://127.0.0.1:9", **DUMMY
    )
    with pytest.raises(WatchtowerError, match=r"^entity=.*PutLogEvents's entity parameter"):
        CloudWatchLogHandler(log_group_name="g", boto3_client=client, entity=entity(SERVICE))
    monkeypatch.setattr(botocore.session, "get_session", lambda: botocore_without_entity)
    with pytest.raises(WatchtowerError, match=r"botocore .* does not know"):
        CloudWatchLogHandler(log_group_name="g", entity=entity(SERVICE))
    with pytest.raises(WatchtowerError, match=r"^field_indexes=\['a'\] needs PutIndexPolicy"):
        CloudWatchLogHandler(log_group_name="g", field_indexes=["a"])
