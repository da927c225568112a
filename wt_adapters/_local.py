"""A local CloudWatch Logs endpoint on loopback (moto's server), for development and demos.

Needs the ``local`` extra (``pip install 'wt-adapters[local]'``). Nothing here
is imported by ``import wt_adapters``.
"""

from __future__ import annotations

import errno
import io
import json
import logging
import os
import re
import socket
import threading
import uuid
from collections import OrderedDict
from types import TracebackType
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple, Type

from ._errors import WatchtowerError
from ._local_extras import (
    ENTITIES_PATH,
    INDEX_TARGETS,
    PUT_LOG_EVENTS,
    RESET_PATH,
    ApiError,
    Extras,
)
from ._local_ingest import IngestBulk

#: Where the local endpoint listens: loopback only.
HOST = "127.0.0.1"

#: Credentials and region for the local endpoint; it accepts any.
DUMMY_ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
}

INSTALL_HINT = "pip install 'wt-adapters[local]'"

#: How long to wait for the server thread to stop.
START_TIMEOUT = 30.0


def _check_port_free(port: int) -> None:
    """Raise a `WatchtowerError` if nothing can listen on `port` (0 is always fine)."""
    if port == 0:
        return
    probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind((HOST, port))
    except OSError as e:
        why = "it is in use" if e.errno == errno.EADDRINUSE else e.strerror
        raise WatchtowerError(f"port={port}: cannot listen on {HOST}:{port}: {why}") from None
    finally:
        probe.close()


_FILTER_TARGET = "Logs_20140328.FilterLogEvents"
_JSON_TYPE = "application/x-amz-json-1.1"
#: Most events in one FilterLogEvents page (CloudWatch's own limit).
PAGE_LIMIT = 10_000
#: Queries whose remaining pages are kept for their nextToken.
KEPT_QUERIES = 16
#: A matching event: (timestamp, ingestion time, stream name, moto's event).
_Found = Tuple[int, int, str, Any]
_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/[^/]+/([^/]+)/")


class FilterLogEvents:
    """FilterLogEvents as CloudWatch answers it, over moto's stored events.

    moto ignores the filter pattern and the stream prefix, and pages in time
    linear in the events stored; this honours both (with `_filter_pattern`),
    interleaves the streams in timestamp order, and serves each further page
    from the query's result kept under its ``nextToken``.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._kept: OrderedDict[str, List[_Found]] = OrderedDict()

    def __call__(self, body: Dict[str, Any], headers: Mapping[str, Any]) -> Dict[str, Any]:
        """Answer one request, or raise `_ApiError`."""
        token = body.get("nextToken")
        limit = body.get("limit") or PAGE_LIMIT
        if not isinstance(limit, int) or not 1 <= limit <= PAGE_LIMIT:
            raise _ApiError("InvalidParameterException", f"limit must be 1 to {PAGE_LIMIT}")
        if token:
            query, _, offset_text = str(token).rpartition("/")
            with self._lock:
                found = self._kept.get(query)
            if found is None or not offset_text.isdigit():
                raise _ApiError("InvalidParameterException", "The nextToken is not valid")
            return self._page(query, found, int(offset_text), limit)
        found = self._query(body, headers)
        query = f"wt-local-{uuid.uuid4().hex}"
        return self._page(query, found, 0, limit)

    def _page(self, query: str, found: List[_Found], offset: int, limit: int) -> Dict[str, Any]:
        page = found[offset : offset + limit]
        answer: Dict[str, Any] = {
            "events": [
                {
                    "logStreamName": stream,
                    "timestamp": timestamp,
                    "message": event.message,
                    "ingestionTime": ingested,
                    "eventId": str(event.event_id),
                }
                for timestamp, ingested, stream, event in page
            ],
            "searchedLogStreams": [],
        }
        with self._lock:
            if offset + limit < len(found):
                answer["nextToken"] = f"{query}/{offset + limit}"
                self._kept[query] = found
                self._kept.move_to_end(query)
                while len(self._kept) > KEPT_QUERIES:
                    self._kept.popitem(last=False)
            else:
                self._kept.pop(query, None)
        return answer

    def _query(self, body: Dict[str, Any], headers: Mapping[str, Any]) -> List[_Found]:
        from ._filter_pattern import FilterPatternError, compile_pattern

        try:
            match = compile_pattern(body.get("filterPattern"))
        except FilterPatternError as e:
            raise _ApiError("InvalidParameterException", str(e)) from None
        names = body.get("logStreamNames")
        prefix = body.get("logStreamNamePrefix")
        if names and prefix:
            raise _ApiError(
                "InvalidParameterException",
                "logStreamNames and logStreamNamePrefix cannot both be specified",
            )
        group_name = str(body.get("logGroupName") or body.get("logGroupIdentifier") or "")
        if group_name.startswith("arn:"):
            group_name = group_name.split(":log-group:", 1)[-1].rstrip("*").rstrip(":")
        _, group = _find_group(group_name, headers)
        if group is None:
            raise _ApiError("ResourceNotFoundException", "The specified log group does not exist.")
        start = body.get("startTime")
        end = body.get("endTime")
        found: List[_Found] = []
        for stream_name in sorted(group.streams):
            if names and stream_name not in names:
                continue
            if prefix and not stream_name.startswith(prefix):
                continue
            for event in list(group.streams[stream_name].events):
                timestamp = event.timestamp
                if start is not None and timestamp < start:
                    continue
                if end is not None and timestamp > end:
                    continue
                if match(event.message):
                    found.append((timestamp, event.ingestion_time, stream_name, event))
        found.sort(key=lambda item: (item[0], item[1]))  # stable: a stream keeps stored order
        return found


_ApiError = ApiError


def _find_group(name: str, headers: Mapping[str, Any]) -> Tuple[Tuple[str, str], Any]:
    """The account and region of a request, and moto's log group `name` there (or None)."""
    from moto.logs.models import logs_backends

    account, region = _caller(headers)
    return (account, region), logs_backends[account][region].groups.get(name)


def _caller(headers: Mapping[str, Any]) -> Tuple[str, str]:
    """The account moto files this request under, and the region it was signed for."""
    match = _CREDENTIAL.search(headers.get("Authorization", ""))
    region = match.group(2) if match else DUMMY_ENVIRONMENT["AWS_REGION"]
    account = os.environ.get("MOTO_ACCOUNT_ID") or headers.get("x-moto-account-id")
    if not account:
        from moto.iam.models import get_account_id_from

        account = get_account_id_from(match.group(1) if match else "")
    return str(account), region


class _Middleware:
    """Answers FilterLogEvents and what moto lacks (`_local_extras`); passes the rest to moto."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.filter_log_events = FilterLogEvents()
        self.extras = Extras(_find_group)

    def __call__(self, environ: Dict[str, Any], start_response: Any) -> Any:
        target = environ.get("HTTP_X_AMZ_TARGET")
        if target == _FILTER_TARGET:
            return self._answer(environ, start_response, self.filter_log_events)
        if target == PUT_LOG_EVENTS:
            return self._put_log_events(environ, start_response)
        if target in INDEX_TARGETS:
            call = self.extras.index_call
            return self._answer(environ, start_response, lambda b, h: call(target, b, h))
        path = environ.get("PATH_INFO")
        if path == ENTITIES_PATH:
            return self._entities(environ, start_response)
        if path == RESET_PATH:
            self.extras.reset()
        return self.app(environ, start_response)

    def _put_log_events(self, environ: Dict[str, Any], start_response: Any) -> Any:
        """Pass the request on to moto; keep its entity, and refuse one CloudWatch would."""
        from werkzeug.wrappers import Request

        data = Request(environ).get_data()
        environ["wsgi.input"] = io.BytesIO(data)  # moto reads the body again
        environ["CONTENT_LENGTH"] = str(len(data))
        environ.pop("HTTP_TRANSFER_ENCODING", None)
        try:
            body = json.loads(data or b"{}")
        except ValueError:
            body = None
        refused = self.extras.note_entity(body) if isinstance(body, dict) else None
        if refused is None:
            return self.app(environ, start_response)
        answered: List[Any] = []

        def keep(status: str, headers: List[Tuple[str, str]], exc_info: Any = None) -> Any:
            answered[:] = [status, headers]
            return lambda chunk: None

        chunks = self.app(environ, keep)
        try:
            reply = b"".join(chunks)
        finally:
            getattr(chunks, "close", lambda: None)()
        status, headers = answered
        if status.startswith("200"):
            document = json.loads(reply or b"{}")
            document["rejectedEntityInfo"] = {"errorType": refused}
            reply = json.dumps(document).encode()
        headers = [(k, v) for k, v in headers if k.lower() != "content-length"]
        start_response(status, [*headers, ("Content-Length", str(len(reply)))])
        return [reply]

    def _entities(self, environ: Dict[str, Any], start_response: Any) -> Any:
        from werkzeug.wrappers import Request, Response

        group = Request(environ).args.get("logGroupName")
        answer = {"entities": self.extras.entities(group)}
        response = Response(json.dumps(answer), status=200, content_type="application/json")
        return response(environ, start_response)

    def _answer(
        self,
        environ: Dict[str, Any],
        start_response: Any,
        handle: Callable[[Dict[str, Any], Dict[str, Any]], Any],
    ) -> Any:
        """Answer a JSON API request with `handle(body, headers)`, or its `ApiError`."""
        from werkzeug.wrappers import Request, Response

        request = Request(environ)
        try:
            body = json.loads(request.get_data() or b"{}")
            answer = handle(body, dict(request.headers))
            response = Response(json.dumps(answer), status=200, content_type=_JSON_TYPE)
        except _ApiError as e:
            error = {"__type": e.code, "message": e.message}
            response = Response(json.dumps(error), status=400, content_type=_JSON_TYPE)
        except ValueError:
            error = {"__type": "SerializationException", "message": "the body is not JSON"}
            response = Response(json.dumps(error), status=400, content_type=_JSON_TYPE)
        return response(environ, start_response)


class LocalEndpoint:
    """A CloudWatch Logs endpoint (moto's server) listening on 127.0.0.1.

    Use it as a context manager, or call `start` and `stop`. `url` is what
    ``AWS_ENDPOINT_URL_CLOUDWATCH_LOGS`` (which boto3 reads) or ``endpoint_url=``
    should be; `environment` adds dummy credentials and a region. FilterLogEvents
    honours CloudWatch's filter patterns and stream prefixes (see `FilterLogEvents`).
    It keeps what moto drops (see `_local_extras`): each PutLogEvents' ``entity``
    (`entities`, or ``GET /wt-local/entities``) and field index policies.
    """

    def __init__(self, port: int = 0) -> None:
        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
            raise WatchtowerError(
                f"port={port!r} must be an integer from 0 (any free port) to 65535"
            )
        self.port = port
        self._server: Any = None
        self._thread: Optional[threading.Thread] = None
        self._app: Optional[_Middleware] = None
        #: The stand-in for the HTTP ingestion endpoint (``/ingest/bulk``, bearer tokens).
        self.ingest = IngestBulk(None)

    @property
    def url(self) -> str:
        """The endpoint's URL (only once started)."""
        if self._server is None:
            raise WatchtowerError("the local endpoint is not running: call start() first")
        return f"http://{HOST}:{self.port}"

    @property
    def environment(self) -> Dict[str, str]:
        """The environment variables that point boto3 (and so this package) here."""
        return {"AWS_ENDPOINT_URL_CLOUDWATCH_LOGS": self.url, **DUMMY_ENVIRONMENT}

    def start(self) -> str:
        """Start listening; return the URL. Raises `WatchtowerError` if it can't."""
        if self._server is not None:
            return self.url
        try:
            from moto.moto_server import werkzeug_app
            from werkzeug.serving import make_server
        except ImportError as e:
            raise WatchtowerError(
                f"the local endpoint needs moto's server ({e}): {INSTALL_HINT}"
            ) from None
        _check_port_free(self.port)
        # Werkzeug logs every request at INFO; the endpoint should stay quiet.
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        app = _Middleware(werkzeug_app.DomainDispatcherApplication(werkzeug_app.create_backend_app))
        self.ingest.app = app
        # moto's own request handler, where this moto has one (5.2 and later).
        handler = getattr(werkzeug_app, "MotoRequestHandler", None)
        extra: Dict[str, Any] = {"request_handler": handler} if handler is not None else {}
        try:
            server = make_server(HOST, self.port, self.ingest, threaded=True, **extra)
        except (OSError, SystemExit) as e:  # werkzeug exits when it can't bind
            raise WatchtowerError(
                f"port={self.port}: cannot listen on {HOST}:{self.port}: {e}"
            ) from None
        thread = threading.Thread(
            target=server.serve_forever, name="wt_adapters:local", daemon=True
        )
        thread.start()
        self.port = int(server.server_address[1])
        self._server = server
        self._thread = thread
        self._app = app
        return self.url

    def entities(self, log_group_name: Optional[str] = None) -> List[Dict[str, Any]]:
        """Return the entity of each PutLogEvents received (of one group, if given), in order.

        Each is ``{"logGroupName", "logStreamName", "entity", "timestamp"}``, the
        entity as sent (``{"keyAttributes": {...}, "attributes": {...}}``); the
        same list as ``GET /wt-local/entities?logGroupName=NAME``.
        """
        if self._app is None:
            raise WatchtowerError("the local endpoint is not running: call start() first")
        return self._app.extras.entities(log_group_name)

    def stop(self) -> None:
        """Stop listening and close the socket. Idempotent."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(START_TIMEOUT)

    def __enter__(self) -> LocalEndpoint:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.stop()
