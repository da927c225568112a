"""The engine's options, checked by the option table (`_options`), plus their cross-checks."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Dict, Optional, Tuple

from ._entity import Entity
from ._options import BLOCK, DROP_NEWEST, DROP_OLDEST, OPTIONS, OVERFLOW_POLICIES, check_together
from ._retry import RetryPolicy
from ._rules import EVENT_OVERHEAD

__all__ = ["BLOCK", "DROP_NEWEST", "DROP_OLDEST", "OVERFLOW_POLICIES", "Settings"]


#: The option behind each CreateLogGroup parameter a group setting needs.
LOG_GROUP_PARAMETERS = {
    "log_group_class": "logGroupClass",
    "kms_key_id": "kmsKeyId",
    "deletion_protection": "deletionProtectionEnabled",
}


def log_group_parameters(
    log_group_class: str, kms_key_id: Optional[str], deletion_protection: bool
) -> Dict[str, Any]:
    """Return the CreateLogGroup parameters to send; CloudWatch's defaults are left out.

    Leaving the defaults out keeps the request one that any botocore accepts.
    """
    parameters: Dict[str, Any] = {}
    if log_group_class != "STANDARD":
        parameters["logGroupClass"] = log_group_class
    if kms_key_id is not None:
        parameters["kmsKeyId"] = kms_key_id
    if deletion_protection:
        parameters["deletionProtectionEnabled"] = True
    return parameters


def _default(name: str) -> Any:
    return OPTIONS[name].default


@dataclass(frozen=True)
class Settings:
    """The engine's options, validated. Engines with equal settings and client are shared.

    A field named as an option takes that option's default and check; a
    `Destination` fills them from a front end's options.
    """

    log_group_name: str
    send_interval: float = _default("send_interval")
    max_batch_size: int = _default("max_batch_size")
    max_batch_count: int = _default("max_batch_count")
    max_message_size: int = _default("max_message_size")
    create_log_group: bool = _default("create_log_group")
    create_log_stream: bool = _default("create_log_stream")
    log_group_retention_days: Optional[int] = _default("log_group_retention_days")
    log_group_tags: Tuple[Tuple[str, str], ...] = _default("log_group_tags")
    log_group_class: str = _default("log_group_class")
    kms_key_id: Optional[str] = _default("kms_key_id")
    deletion_protection: bool = _default("deletion_protection")
    field_indexes: Tuple[str, ...] = _default("field_indexes")
    entity: Optional[Entity] = None  # the option's default
    max_queue_events: int = _default("max_queue_events")
    max_queue_bytes: int = _default("max_queue_bytes")
    queue_overflow: str = _default("queue_overflow")
    queue_block_timeout: float = _default("queue_block_timeout")
    max_concurrency: int = _default("max_concurrency")
    metrics_interval: Optional[float] = _default("metrics_interval")
    metrics_namespace: str = _default("metrics_namespace")
    spool_dir: Optional[str] = _default("spool_dir")
    spool_max_bytes: int = _default("spool_max_bytes")
    spool_sync_interval: float = _default("spool_sync_interval")
    spool_fsync_interval: Optional[float] = _default("spool_fsync_interval")
    retry: RetryPolicy = field(default_factory=RetryPolicy)

    def __post_init__(self) -> None:
        for f in fields(self):
            option = OPTIONS.get(f.name)
            if option is not None:
                object.__setattr__(self, f.name, option.parse(f.name, getattr(self, f.name)))
        check_together(vars(self))

    @property
    def log_group_parameters(self) -> Dict[str, Any]:
        """CreateLogGroup's parameters for the group settings that differ from CloudWatch's own."""
        return log_group_parameters(self.log_group_class, self.kms_key_id, self.deletion_protection)

    @property
    def max_body_size(self) -> int:
        """The largest message body in bytes (watchtower counts the 26 bytes in)."""
        return (
            self.max_message_size - EVENT_OVERHEAD
            if self.max_message_size > EVENT_OVERHEAD
            else self.max_message_size
        )
