"""What the local endpoint adds to moto's CloudWatch Logs: entities and field index policies.

moto stores the events of a PutLogEvents and drops its ``entity``; it knows
no PutIndexPolicy. `Extras` keeps both, so that an app's tests can check
what was sent:

- every PutLogEvents' entity is recorded (group, stream, entity, time) and
  checked by CloudWatch's rules: one CloudWatch would refuse is answered with
  ``rejectedEntityInfo`` (its events are stored all the same, as CloudWatch
  does). ``GET /wt-local/entities`` (optionally ``?logGroupName=NAME``)
  returns ``{"entities": [{"logGroupName", "logStreamName", "entity",
  "timestamp"}, ...]}``, first sent first;
- PutIndexPolicy, DescribeIndexPolicies and DeleteIndexPolicy are answered
  as CloudWatch does, for groups moto has.

moto's ``/moto-api/reset`` forgets both, as it forgets moto's own state.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from typing import Any, Callable, Deque, Dict, List, Mapping, Optional, Tuple

from ._entity import EntityError, check_entity

_PREFIX = "Logs_20140328."
PUT_LOG_EVENTS = _PREFIX + "PutLogEvents"
INDEX_TARGETS = frozenset(
    _PREFIX + name for name in ("PutIndexPolicy", "DescribeIndexPolicies", "DeleteIndexPolicy")
)
#: The path the recorded entities are read from.
ENTITIES_PATH = "/wt-local/entities"
RESET_PATH = "/moto-api/reset"
#: Most PutLogEvents entities kept (the oldest go first).
KEPT_ENTITIES = 10_000
#: PutIndexPolicy's limits.
MAX_FIELDS = 20
MAX_FIELD_NAME = 100


class ApiError(Exception):
    """An answer as CloudWatch gives it for a refused request."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


#: Finds moto's log group: (group name, request headers) -> (the account and region moto
#: files it under, the group or None).
FindGroup = Callable[[str, Mapping[str, Any]], Tuple[Tuple[str, str], Any]]


class Extras:
    """The entities and index policies moto does not keep, for one local endpoint."""

    def __init__(self, find_group: FindGroup) -> None:
        self._find_group = find_group
        self._lock = threading.Lock()
        self._entities: Deque[Dict[str, Any]] = deque(maxlen=KEPT_ENTITIES)
        #: Index policies by ((account, region), group name): (document, ms updated).
        self._policies: Dict[Tuple[Tuple[str, str], str], Tuple[str, int]] = {}

    def reset(self) -> None:
        with self._lock:
            self._entities.clear()
            self._policies.clear()

    # ------------------------------------------------------------------ entities

    def note_entity(self, body: Mapping[str, Any]) -> Optional[str]:
        """Record a PutLogEvents' entity; return the errorType CloudWatch would refuse it with."""
        entity = body.get("entity")
        if entity is None:
            return None
        with self._lock:
            self._entities.append(
                {
                    "logGroupName": body.get("logGroupName"),
                    "logStreamName": body.get("logStreamName"),
                    "entity": entity,
                    "timestamp": int(time.time() * 1000),
                }
            )
        try:
            check_entity(entity)
        except EntityError as e:
            return e.error_type
        return None

    def entities(self, group: Optional[str] = None) -> List[Dict[str, Any]]:
        """The entities recorded (of `group`, if given), first sent first."""
        with self._lock:
            return [dict(r) for r in self._entities if group is None or r["logGroupName"] == group]

    # ------------------------------------------------------------ index policies

    def index_call(
        self, target: str, body: Mapping[str, Any], headers: Mapping[str, Any]
    ) -> Dict[str, Any]:
        """Answer an index policy call (Put, Describe, Delete); or raise `ApiError`."""
        action = target[len(_PREFIX) :]
        if action == "DescribeIndexPolicies":
            names = body.get("logGroupIdentifiers") or []
            if not isinstance(names, list) or len(names) != 1:
                raise ApiError(
                    "InvalidParameterException", "logGroupIdentifiers takes one log group"
                )
            return {"indexPolicies": self._describe(str(names[0]), headers)}
        name = str(body.get("logGroupIdentifier") or "")
        where, group = self._group(name, headers)
        key = (where, _name_of(name))
        if action == "DeleteIndexPolicy":
            with self._lock:
                if self._policies.pop(key, None) is None:
                    raise ApiError("ResourceNotFoundException", "The log group has no index policy")
            return {}
        document = body.get("policyDocument")
        _check_document(document)
        if str(getattr(group, "log_group_class", "STANDARD") or "STANDARD") != "STANDARD":
            raise ApiError(
                "InvalidParameterException", "Only Standard class log groups take an index policy"
            )
        with self._lock:
            self._policies[key] = (str(document), int(time.time() * 1000))
        return {"indexPolicy": _policy(_name_of(name), *self._policies[key])}

    def _describe(self, name: str, headers: Mapping[str, Any]) -> List[Dict[str, Any]]:
        where, _ = self._group(name, headers)
        with self._lock:
            kept = self._policies.get((where, _name_of(name)))
        return [] if kept is None else [_policy(_name_of(name), *kept)]

    def _group(self, name: str, headers: Mapping[str, Any]) -> Tuple[Tuple[str, str], Any]:
        where, group = self._find_group(_name_of(name), headers) if name else (("", ""), None)
        if group is None:
            raise ApiError("ResourceNotFoundException", "The specified log group does not exist.")
        return where, group


def _name_of(identifier: str) -> str:
    """A log group's name, from its name or ARN."""
    if identifier.startswith("arn:"):
        return identifier.split(":log-group:", 1)[-1].rstrip("*").rstrip(":")
    return identifier


def _policy(group: str, document: str, updated: int) -> Dict[str, Any]:
    return {
        "logGroupIdentifier": group,
        "lastUpdateTime": updated,
        "policyDocument": document,
        "policyName": "wt-local-index-policy",
        "source": "LOG_GROUP",
    }


def _check_document(document: Any) -> None:
    """Refuse an index policy document CloudWatch would refuse."""
    try:
        fields = json.loads(document)["Fields"] if isinstance(document, str) else None
    except (ValueError, KeyError, TypeError):
        fields = None
    if (
        not isinstance(fields, list)
        or not 1 <= len(fields) <= MAX_FIELDS
        or len(set(map(str, fields))) != len(fields)
        or not all(isinstance(f, str) and 1 <= len(f) <= MAX_FIELD_NAME for f in fields)
    ):
        raise ApiError(
            "InvalidParameterException",
            f'policyDocument must be {{"Fields": [...]}} with 1-{MAX_FIELDS} distinct field'
            f" names of 1-{MAX_FIELD_NAME} characters",
        )
