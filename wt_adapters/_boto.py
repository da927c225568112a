"""The one module that talks to CloudWatch Logs through boto3."""

from __future__ import annotations

import contextlib

# urllib3 looks this codec up when it connects. Imported now, so that a fork while a
# sender thread connects can't leave the child with its import lock held.
import encodings.idna  # noqa: F401
import os
import threading
from typing import Any, Callable, Dict, Mapping, Optional, Sequence, Tuple

import boto3
import botocore.config
import botocore.exceptions
import botocore.session

from ._boto_body import (
    ANSWER_HOOK,
    HOOK,
    check_answer,
    pending,
    put_params,
    use_pending_body,
)
from ._cwl_api import (
    classify_answer,
    index_policy_document,
    not_json,
    put_log_events_body,
    redact,
    rejections_of,
)
from ._endpoints import endpoint_from_env
from ._errors import WatchtowerError
from ._protocol import ENTITY_ERROR, ErrorKind, Event, SendError

__all__ = ["BotoSender", "classify", "make_client", "redact", "serialize_put_log_events"]

#: Retries are the engine's: a client we create makes one attempt per call.
CLIENT_CONFIG = botocore.config.Config(
    retries={"total_max_attempts": 1, "mode": "standard"},
    connect_timeout=10,
    read_timeout=30,
    tcp_keepalive=True,
    parameter_validation=False,
)


def make_client(*, profile_name: Optional[str] = None, endpoint_url: Optional[str] = None) -> Any:
    """Create a CloudWatch Logs client the way the package configures its own.

    `endpoint_url` wins. Without it, botocore resolves the endpoint as for any
    boto3 client: ``AWS_ENDPOINT_URL_CLOUDWATCH_LOGS``, ``AWS_ENDPOINT_URL``,
    the ``services`` section of ``~/.aws/config``, all ignored when
    ``AWS_IGNORE_CONFIGURED_ENDPOINT_URLS`` is true. ``AWS_ENDPOINT_URL_LOGS``
    (read by wt_adapters alone, not by boto3) is the last fallback.
    """
    endpoint = endpoint_url or endpoint_from_env()
    try:
        session = boto3.session.Session(profile_name=profile_name)
        region = os.environ.get("AWS_REGION") or None  # older botocore reads only the DEFAULT one
        return session.client(
            "logs", region_name=region, endpoint_url=endpoint, config=CLIENT_CONFIG
        )
    except botocore.exceptions.ProfileNotFound as e:
        raise WatchtowerError(f"boto3_profile_name={profile_name!r}: {e}") from None
    except botocore.exceptions.NoRegionError:
        raise WatchtowerError(
            "no AWS region is configured: set AWS_REGION (or AWS_DEFAULT_REGION), a region in"
            " the profile, or pass boto3_client=boto3.client('logs', region_name=...)"
        ) from None


def check_create_log_group_parameters(
    parameters: Mapping[str, Tuple[str, Any]], client: Any = None
) -> None:
    """Raise a `WatchtowerError` if botocore's model lacks a CreateLogGroup parameter needed.

    `parameters` maps each API parameter to the option (name, value) that asks
    for it. The model is the `client`'s, or else the installed botocore's
    (loaded from its data files: no client, credentials or network). A
    botocore that predates a parameter would refuse the request, or (with
    parameter validation off) send it without the parameter.
    """
    if not parameters:
        return
    model = client.meta.service_model if client is not None else None
    if model is None:
        model = botocore.session.get_session().get_service_model("logs")
    shape = model.operation_model("CreateLogGroup").input_shape
    known = shape.members if shape is not None else {}
    for parameter, (option, value) in parameters.items():
        if parameter not in known:
            raise WatchtowerError(
                f"{option}={value!r} needs CreateLogGroup's {parameter} parameter, which"
                f" botocore {botocore.__version__} does not know: upgrade boto3 and botocore"
            )


def check_api_support(
    option: str, value: Any, operation: str, parameter: Optional[str] = None, client: Any = None
) -> None:
    """Raise a `WatchtowerError` if botocore's model lacks the `operation` (or its `parameter`).

    As `check_create_log_group_parameters`: the model is the `client`'s, or the
    installed botocore's; `option` and `value` are what needs it, for the message.
    """
    meta = getattr(client, "meta", None)
    model = getattr(meta, "service_model", None)
    if model is None:
        model = botocore.session.get_session().get_service_model("logs")
    if operation in model.operation_names:
        shape = model.operation_model(operation).input_shape
        if parameter is None or (shape is not None and parameter in shape.members):
            return
    needed = operation if parameter is None else f"{operation}'s {parameter} parameter"
    raise WatchtowerError(
        f"{option}={value!r} needs {needed}, which botocore {botocore.__version__} does not"
        " know: upgrade boto3 and botocore"
    )


def check_profile(profile_name: str) -> None:
    """Raise a `WatchtowerError` naming the argument if the AWS profile is not configured."""
    try:
        boto3.session.Session(profile_name=profile_name)
    except botocore.exceptions.ProfileNotFound as e:
        raise WatchtowerError(f"boto3_profile_name={profile_name!r}: {e}") from None


def classify(error: Exception) -> SendError:
    """Map an exception botocore raised (an error answer, no credentials, a lost connection)."""
    if isinstance(error, botocore.exceptions.ClientError):
        err = error.response.get("Error", {})
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        return classify_answer(str(err.get("Code", "Unknown")), str(err.get("Message", "")), status)
    if isinstance(error, botocore.exceptions.ParamValidationError):
        # A request botocore refuses to send is wrong as it is: never worth a retry.
        return SendError(ErrorKind.INVALID, "ParamValidationError", redact(str(error)))
    if isinstance(
        error,
        (
            botocore.exceptions.NoCredentialsError,
            botocore.exceptions.PartialCredentialsError,
            botocore.exceptions.CredentialRetrievalError,
        ),
    ):
        # No credentials at all won't appear within the process; a provider that failed
        # to answer (a metadata endpoint, a process) may answer next time.
        retrieval = isinstance(error, botocore.exceptions.CredentialRetrievalError)
        return SendError(
            ErrorKind.AUTH, type(error).__name__, redact(str(error)), permanent=not retrieval
        )
    maybe_stored = isinstance(
        error,
        (
            botocore.exceptions.ConnectionClosedError,
            botocore.exceptions.ReadTimeoutError,
            botocore.exceptions.ResponseStreamingError,
        ),
    ) or not isinstance(
        error,
        (botocore.exceptions.EndpointConnectionError, botocore.exceptions.ConnectTimeoutError),
    )
    unreachable = type(error) is botocore.exceptions.ConnectionError or isinstance(
        error,
        (
            botocore.exceptions.EndpointConnectionError,
            botocore.exceptions.ConnectTimeoutError,
            botocore.exceptions.ProxyConnectionError,
        ),
    )
    return SendError(
        ErrorKind.RETRY,
        type(error).__name__,
        redact(str(error)),
        maybe_stored=maybe_stored,
        unreachable=unreachable,
    )


#: The PutLogEvents body as botocore would write it (kept under its first name).
serialize_put_log_events = put_log_events_body


class BotoSender:
    """Makes the engine's CloudWatch Logs calls with a boto3 client.

    Pass a `client` (a user's: used as it is, with botocore's own request
    building) or a `client_factory` that makes one on the first call (so that
    a handler needs no region, credentials or endpoint until it sends) and
    again in a forked child. A factory that fails (no region, say) fails that
    call, as an error the engine counts and reports; the next call tries again.

    With `fast_body` (the default for clients made by the factory),
    PutLogEvents bodies are serialized by `serialize_put_log_events` and
    handed to botocore through a ``before-call`` hook on that client, and an
    ``after-call`` hook checks that a 200 answer to them is JSON (botocore
    reads a proxy's page as an empty answer: the batch would count as sent).
    """

    def __init__(
        self,
        client: Any = None,
        *,
        client_factory: Optional[Callable[[], Any]] = None,
        fast_body: Optional[bool] = None,
    ) -> None:
        if (client is None) == (client_factory is None):
            raise TypeError("BotoSender needs a client or a client_factory, not both")
        self.fast_body = client_factory is not None if fast_body is None else fast_body
        self._factory = client_factory
        self._client: Any = None
        self._client_lock = threading.Lock()
        #: True while the client is being made (the engine lets a burst of log calls wait).
        self.making_client = False
        if client is not None:
            self._use(client)

    def _use(self, client: Any) -> None:
        if self.fast_body:
            events = client.meta.events
            events.register(HOOK, use_pending_body, unique_id="wt_adapters.body")
            events.register(ANSWER_HOOK, check_answer, unique_id="wt_adapters.answer")
        self._client = client

    @property
    def client(self) -> Any:
        """The boto3 client, made on first use (raises `WatchtowerError` if it can't be)."""
        client = self._client
        if client is not None:
            return client
        with self._client_lock:
            if self._client is None:
                assert self._factory is not None
                self.making_client = True
                try:
                    self._use(self._factory())
                finally:
                    self.making_client = False
            return self._client

    @property
    def has_client(self) -> bool:
        """Tell whether the client exists yet (without making it)."""
        return self._client is not None

    def client_or_error(self) -> Any:
        """The client, made if need be; a `SendError` if it can't be made (no region, say)."""
        try:
            return self.client
        except WatchtowerError as e:
            # No client could be made: as good as no endpoint.
            raise SendError(
                ErrorKind.RETRY, "ClientConfiguration", str(e), unreachable=True, permanent=True
            ) from e

    def _call(self, method: str, **kwargs: Any) -> Any:
        client = self.client_or_error()
        try:
            return getattr(client, method)(**kwargs)
        except Exception as e:
            raise classify(e) from e

    def put_log_events(
        self,
        group: str,
        stream: str,
        events: Sequence[Event],
        *,
        entity: Optional[Mapping[str, Any]] = None,
    ) -> Mapping[str, Any]:
        if not self.fast_body:
            return self._put(group, stream, events, entity)
        first = events[:1]
        pending.body = serialize_put_log_events(group, stream, events, entity)
        pending.expected = put_params(group, stream, first, entity)
        pending.swapped = False
        pending.not_json = None
        try:
            # botocore serializes this one event; the hook replaces the body with all of them.
            rejected = self._put(group, stream, first, entity)
            swapped, answer = pending.swapped, pending.not_json
        finally:
            pending.body = pending.expected = pending.not_json = None
            pending.swapped = False
        if answer is not None:
            raise not_json("PutLogEvents", answer)
        if swapped:
            return rejected
        # The hook did not run (a botocore that no longer emits it) or found another
        # body: only the first event went. Send the rest the ordinary way from now on.
        self.fast_body = False
        rest = self._put(group, stream, events[1:], entity) if len(events) > 1 else {}
        shifted = {k: v + 1 if k != ENTITY_ERROR else v for k, v in rest.items()}
        if ENTITY_ERROR in rejected:
            shifted.setdefault(ENTITY_ERROR, rejected[ENTITY_ERROR])
        return shifted

    def _put(
        self,
        group: str,
        stream: str,
        events: Sequence[Event],
        entity: Optional[Mapping[str, Any]] = None,
    ) -> Mapping[str, Any]:
        response = self._call("put_log_events", **put_params(group, stream, events, entity))
        return rejections_of(response)

    def create_log_group(
        self,
        group: str,
        tags: Optional[Mapping[str, str]],
        parameters: Optional[Mapping[str, Any]] = None,
    ) -> None:
        kwargs: Dict[str, Any] = dict(parameters or {})
        if tags:
            kwargs["tags"] = dict(tags)
        self._call("create_log_group", logGroupName=group, **kwargs)

    def create_log_stream(self, group: str, stream: str) -> None:
        self._call("create_log_stream", logGroupName=group, logStreamName=stream)

    def put_retention_policy(self, group: str, days: int) -> None:
        self._call("put_retention_policy", logGroupName=group, retentionInDays=days)

    def put_index_policy(self, group: str, fields: Sequence[str]) -> None:
        document = index_policy_document(fields)
        self._call("put_index_policy", logGroupIdentifier=group, policyDocument=document)

    def after_fork(self) -> None:
        """Stop using the connections a forked child inherited; the parent keeps its own.

        Called on the child's sender thread, never in the fork hook. A client
        the factory made is replaced by a new one on the next call; a user's
        client is closed (`BaseClient.close`), which leaves it usable with new
        connections.
        """
        if self._factory is not None:
            self._client_lock = threading.Lock()
            self._client = None
        else:
            close = getattr(self._client, "close", None)
            if callable(close):
                with contextlib.suppress(Exception):  # keep going with the old connections
                    close()
