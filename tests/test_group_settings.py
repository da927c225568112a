"""Log group settings at creation: class, KMS key, deletion protection; a role that may not
create groups; a botocore too old for a parameter.
"""

from __future__ import annotations

import json
import logging
import warnings
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional

import boto3
import botocore.session
import pytest
from faultproxy import FaultProxy
from helpers import DUMMY, REGION, make_client, messages

from wt_adapters import CloudWatchLogHandler, WatchtowerError, WatchtowerWarning
from wt_adapters._delivery import Attempts, Created, GroupCreator, Retry, create_stream
from wt_adapters._memory import MemorySender
from wt_adapters._protocol import ErrorKind, SendError
from wt_adapters._retry import RetryPolicy
from wt_adapters._settings import Settings

CREATE_GROUP = "Logs_20140328.CreateLogGroup"
KEY_ARN = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def create_group_bodies(proxy: FaultProxy) -> List[Dict[str, Any]]:
    return [json.loads(r.body) for r in proxy.received() if r.target == CREATE_GROUP]


def ship_one(logger: logging.Logger, handler: CloudWatchLogHandler) -> bool:
    logger.addHandler(handler)
    logger.info("hello")
    return handler.close(10)


def test_a_created_group_gets_its_class_key_and_deletion_protection(
    proxy: FaultProxy, client: Any, group: str, logger: logging.Logger
) -> None:
    handler = CloudWatchLogHandler(
        log_group_name=group,
        boto3_client=make_client(proxy.url),
        log_group_class="INFREQUENT_ACCESS",
        kms_key_id=KEY_ARN,
        deletion_protection=True,
        log_group_tags={"team": "a"},
    )
    assert ship_one(logger, handler)
    [body] = create_group_bodies(proxy)
    assert body == {
        "logGroupName": group,
        "logGroupClass": "INFREQUENT_ACCESS",
        "kmsKeyId": KEY_ARN,
        "deletionProtectionEnabled": True,
        "tags": {"team": "a"},
    }
    # moto stores none of the three, so the request itself is what is checked.
    assert messages(client, group) == ["hello"]


def test_the_package_s_own_client_sends_the_settings_too(
    proxy: FaultProxy, group: str, logger: logging.Logger
) -> None:
    handler = CloudWatchLogHandler(
        log_group_name=group, endpoint_url=proxy.url, log_group_class="INFREQUENT_ACCESS"
    )
    assert ship_one(logger, handler)
    [body] = create_group_bodies(proxy)
    assert body == {"logGroupName": group, "logGroupClass": "INFREQUENT_ACCESS"}


def test_default_settings_add_no_parameter_to_create_log_group(
    proxy: FaultProxy, group: str, logger: logging.Logger
) -> None:
    handler = CloudWatchLogHandler(log_group_name=group, boto3_client=make_client(proxy.url))
    assert ship_one(logger, handler)
    assert create_group_bodies(proxy) == [{"logGroupName": group}]


def test_settings_do_not_touch_a_group_that_exists(
    proxy: FaultProxy, client: Any, group: str, logger: logging.Logger
) -> None:
    client.create_log_group(logGroupName=group)
    handler = CloudWatchLogHandler(
        log_group_name=group,
        boto3_client=make_client(proxy.url),
        log_group_class="INFREQUENT_ACCESS",
        deletion_protection=True,
    )
    assert ship_one(logger, handler)
    assert create_group_bodies(proxy) == []


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("log_group_class", "infrequent_access"),
        ("log_group_class", "DELIVERY"),
        ("log_group_class", None),
        ("kms_key_id", "alias/my-key"),
        ("kms_key_id", "1234abcd-12ab-34cd-56ef-1234567890ab"),
        ("kms_key_id", ""),
        ("deletion_protection", "maybe"),
    ],
)
def test_a_bad_group_setting_is_an_error_naming_it(option: str, value: Any) -> None:
    with pytest.raises(WatchtowerError, match=option):
        CloudWatchLogHandler(log_group_name="g", **{option: value})


def test_group_settings_from_strings_are_taken() -> None:
    handler = CloudWatchLogHandler(
        log_group_name="g", log_group_class="INFREQUENT_ACCESS", deletion_protection="yes"
    )
    try:
        assert handler.deletion_protection is True
        assert handler._destination is not None
        assert handler._destination.settings.log_group_parameters == {
            "logGroupClass": "INFREQUENT_ACCESS",
            "deletionProtectionEnabled": True,
        }
    finally:
        handler.close()


# --------------------------------------------------------------- an older botocore


@pytest.fixture
def old_botocore(tmp_path: Path) -> botocore.session.Session:
    """A botocore session whose CloudWatch Logs model predates deletionProtectionEnabled."""
    session = botocore.session.get_session()
    loader = session.get_component("data_loader")
    model = loader.load_service_model("logs", "service-2")
    del model["shapes"]["CreateLogGroupRequest"]["members"]["deletionProtectionEnabled"]
    version = loader.determine_latest_version("logs", "service-2")
    where = tmp_path / "logs" / version
    where.mkdir(parents=True)
    (where / "service-2.json").write_text(json.dumps(model), encoding="utf-8")
    old = botocore.session.Session()
    old.get_component("data_loader").search_paths.insert(0, str(tmp_path))
    return old


def test_a_user_client_too_old_for_a_parameter_is_an_error_at_construction(
    old_botocore: botocore.session.Session,
) -> None:
    client = boto3.Session(botocore_session=old_botocore).client(
        "logs", region_name=REGION, endpoint_url="http://127.0.0.1:9", **DUMMY
    )
    assert "deletionProtectionEnabled" not in (
        client.meta.service_model.operation_model("CreateLogGroup").input_shape.members
    )
    with pytest.raises(
        WatchtowerError, match=r"deletion_protection=True.*deletionProtectionEnabled"
    ):
        CloudWatchLogHandler(log_group_name="g", boto3_client=client, deletion_protection=True)
    # What that botocore knows is still accepted.
    CloudWatchLogHandler(
        log_group_name="g", boto3_client=client, log_group_class="INFREQUENT_ACCESS"
    ).close()


def test_an_installed_botocore_too_old_for_a_parameter_is_an_error_at_construction(
    old_botocore: botocore.session.Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(botocore.session, "get_session", lambda: old_botocore)
    with pytest.raises(WatchtowerError, match="deletion_protection=True"):
        CloudWatchLogHandler(log_group_name="g", deletion_protection=True)
    # Without create_log_group nothing is created, so nothing is needed.
    CloudWatchLogHandler(
        log_group_name="g", deletion_protection=True, create_log_group=False
    ).close()


# ------------------------------------------------- a role that may not create groups


def test_access_denied_on_create_group_with_the_group_present_still_delivers(
    proxy: FaultProxy, client: Any, group: str, logger: logging.Logger
) -> None:
    client.create_log_group(logGroupName=group)
    proxy.add_fault("access_denied", target=CREATE_GROUP)
    handler = CloudWatchLogHandler(
        log_group_name=group, boto3_client=make_client(proxy.url), log_group_class="STANDARD"
    )
    assert ship_one(logger, handler)
    assert messages(client, group) == ["hello"]
    assert handler.stats()["batches_failed"] == 0


def test_access_denied_with_the_group_found_missing_then_present_goes_on() -> None:
    """CreateLogStream finds the group missing; CreateLogGroup is refused; the group is there."""

    class SomeoneElseCreates(MemorySender):
        def create_log_group(
            self,
            group: str,
            tags: Optional[Mapping[str, str]],
            parameters: Optional[Mapping[str, Any]] = None,
        ) -> None:
            super().create_log_group(group, None)  # made by whoever may make groups
            raise SendError(ErrorKind.AUTH, "AccessDeniedException", "User is not authorized")

    sender = SomeoneElseCreates()
    groups = GroupCreator()
    outcome = create_stream(sender, Settings(log_group_name="g"), "s", groups, Attempts())
    assert isinstance(outcome, Created) and outcome.report is None
    assert "s" in sender.groups["g"]


def test_access_denied_with_the_group_missing_says_so_once(
    proxy: FaultProxy, group: str, logger: logging.Logger
) -> None:
    proxy.add_fault("access_denied", target=CREATE_GROUP)
    handler = CloudWatchLogHandler(
        log_group_name=group, boto3_client=make_client(proxy.url), retry_deadline=1.5
    )
    logger.addHandler(handler)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", WatchtowerWarning)
        logger.info("hello")
        handler.flush(5)  # given up at the deadline
        handler.close(5)
    said = [str(w.message) for w in caught if "creating it was refused" in str(w.message)]
    assert len(said) == 1, [str(w.message) for w in caught]
    assert "AccessDeniedException" in said[0] and group in said[0]
    assert len(create_group_bodies(proxy)) >= 2  # tried again, warned once
    assert handler.stats()["dropped"] == {"retry_deadline": 1}


def test_a_refusal_for_a_group_still_missing_is_a_retry_with_the_real_cause() -> None:
    class Denying(MemorySender):
        def create_log_group(
            self,
            group: str,
            tags: Optional[Mapping[str, str]],
            parameters: Optional[Mapping[str, Any]] = None,
        ) -> None:
            raise SendError(ErrorKind.AUTH, "AccessDeniedException", "User is not authorized")

    settings = Settings(log_group_name="g", retry=RetryPolicy(initial=0.2, deadline=300))
    outcome = create_stream(Denying(), settings, "s", GroupCreator(), Attempts())
    assert isinstance(outcome, Retry) and outcome.report is not None
    assert "AccessDeniedException" in outcome.report[1]
