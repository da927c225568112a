"""The measurements, one scenario per fresh process.

The runner starts ``python -m benchmarks.scenarios '<json spec>'`` for each
scenario; this module sets up one front end, measures, and prints one line
``BENCH-RESULT <json>``. Delivery goes to the endpoint named in the spec (the
environment also points boto3 there: ``AWS_ENDPOINT_URL_LOGS``), so each
library builds its client the way it would for a user.

Sections:

- ``hotpath``: caller-thread CPU per logging call (`time.thread_time_ns`),
  several repetitions in this process, then a flush so delivery can be checked;
- ``delivery``: wall time and whole-process CPU (`time.process_time`) from the
  first logging call until ``flush()`` returns;
- ``memory``: peak RSS while records pile up against a stalled endpoint;
- ``close``: time for ``close()`` to deliver a queue built up while stalled.
"""

from __future__ import annotations

import contextlib
import gc
import json
import logging
import os
import sys
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Callable, Deque, Dict, List, Optional

RESULT_PREFIX = "BENCH-RESULT "

#: A 100-byte log line.
STR_PAYLOAD = (
    "GET /api/v1/orders/12345 200 12.5ms user=42 org=acme ip=203.0.113.7 "
    "request_id=6f1c2a9e-1b7d-4a53-9a"
)
#: Ten keys, some nesting: what a structured request log looks like.
DICT_PAYLOAD: Dict[str, Any] = {
    "request_id": "6f1c2a9e-1b7d-4a53-9a0e-2f3c4d5e6f70",
    "method": "GET",
    "path": "/api/v1/orders/12345",
    "status": 200,
    "duration_ms": 12.5,
    "user": {"id": 42, "role": "admin", "org": "acme"},
    "client_ip": "203.0.113.7",
    "tags": ["checkout", "mobile"],
    "cache_hit": False,
    "retries": 0,
}
PAYLOADS: Dict[str, Any] = {"str": STR_PAYLOAD, "dict": DICT_PAYLOAD}

REGION = "us-east-1"


class Unavailable(Exception):
    """The front end can't be set up here (its package is missing)."""


@dataclass
class FrontEnd:
    """One way of logging, set up and ready: the call to time and how to finish."""

    info: Callable[..., Any]
    #: Pass a dict payload as keyword arguments (structlog, loguru) rather than as the message.
    kwargs_style: bool = False
    flush: Callable[[float], bool] = lambda timeout: True
    close: Callable[[float], bool] = lambda timeout: True
    stats: Callable[[], Dict[str, Any]] = dict
    #: The watchtower handler, for its queue sizes.
    handler: Any = None
    notes: List[str] = field(default_factory=list)


# ------------------------------------------------------------------ front ends


class JsonFormatter(logging.Formatter):
    """Write the record as CloudWatch would get it: a dict message as a JSON object."""

    def format(self, record: logging.LogRecord) -> str:
        msg = record.msg
        if isinstance(msg, Mapping):
            return json.dumps(msg, default=repr)
        return json.dumps(record.getMessage())


def _stdlib_logger(handler: logging.Handler) -> logging.Logger:
    log = logging.getLogger("bench")
    for old in list(log.handlers):
        log.removeHandler(old)
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
    return log


def check_loopback(url: Optional[str]) -> None:
    """Refuse to go on unless `url` is on 127.0.0.1: the benchmarks never reach out."""
    if not url or not url.startswith("http://127.0.0.1:"):
        raise RuntimeError(f"refusing to send to {url!r}: the benchmarks only use 127.0.0.1")


def _precreate(spec: Dict[str, Any]) -> None:
    """Create the group and stream before logging (watchtower drops records while it does)."""
    import boto3

    check_loopback(spec["endpoint"])
    check_loopback(os.environ.get("AWS_ENDPOINT_URL"))
    client = boto3.client(
        "logs",
        endpoint_url=spec["endpoint"],
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    for call, kwargs in (
        (client.create_log_group, {"logGroupName": spec["group"]}),
        (
            client.create_log_stream,
            {"logGroupName": spec["group"], "logStreamName": spec["stream"]},
        ),
    ):
        with contextlib.suppress(client.exceptions.ResourceAlreadyExistsException):
            call(**kwargs)


def _ours_options(spec: Dict[str, Any]) -> Dict[str, Any]:
    options: Dict[str, Any] = {"log_group_name": spec["group"], "log_stream_name": spec["stream"]}
    options.update(spec.get("options") or {})
    return options


def stdlib_null(spec: Dict[str, Any]) -> FrontEnd:
    return FrontEnd(info=_stdlib_logger(logging.NullHandler()).info)


def stdlib_json(spec: Dict[str, Any]) -> FrontEnd:
    handler = logging.StreamHandler(open(os.devnull, "w", encoding="utf-8"))  # noqa: SIM115
    handler.setFormatter(JsonFormatter())
    return FrontEnd(info=_stdlib_logger(handler).info)


def watchtower_handler(spec: Dict[str, Any]) -> FrontEnd:
    try:
        import watchtower
    except ImportError as e:
        raise Unavailable(f"{e} (pip install -r benchmarks/requirements.txt)") from None
    _precreate(spec)
    handler: Any = watchtower.CloudWatchLogHandler(
        log_group_name=spec["group"], log_stream_name=spec["stream"]
    )
    check_loopback(handler.cwl_client.meta.endpoint_url)
    # watchtower's flush and close wait at most FLUSH_TIMEOUT (30 s) per queue.
    handler.FLUSH_TIMEOUT = spec["timeout"]

    def flush(timeout: float) -> bool:
        handler.flush()
        return all(q.unfinished_tasks == 0 for q in handler.queues.values())

    def close(timeout: float) -> bool:
        handler.close()
        return all(q.unfinished_tasks == 0 for q in handler.queues.values())

    def stats() -> Dict[str, Any]:
        return {"queued": sum(q.qsize() for q in handler.queues.values())}

    return FrontEnd(
        info=_stdlib_logger(handler).info, flush=flush, close=close, stats=stats, handler=handler
    )


def ours_stdlib(spec: Dict[str, Any]) -> FrontEnd:
    import wt_adapters

    _precreate(spec)
    options = _ours_options(spec)
    if spec.get("user_client"):
        import boto3

        options["boto3_client"] = boto3.client("logs")
    handler = wt_adapters.CloudWatchLogHandler(**options)
    check_loopback(handler.cwl_client.meta.endpoint_url)
    return FrontEnd(
        info=_stdlib_logger(handler).info,
        flush=handler.flush,
        close=handler.close,
        stats=handler.stats,
    )


def _engine_stats() -> Dict[str, Any]:
    """Counters summed over every wt_adapters engine in this process (private API)."""
    try:
        from wt_adapters import _registry

        total: Dict[str, Any] = {}
        for engine in _registry.engines():
            for key, value in engine.stats().items():
                if isinstance(value, int):
                    total[key] = total.get(key, 0) + value
        return total
    except Exception as e:  # the engine's internals may change under us
        return {"error": repr(e)}


def structlog_return(spec: Dict[str, Any]) -> FrontEnd:
    try:
        import structlog
    except ImportError as e:
        raise Unavailable(str(e)) from None
    log = structlog.wrap_logger(
        structlog.ReturnLogger(),
        processors=[structlog.processors.add_log_level, structlog.processors.JSONRenderer()],
        wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
    )
    return FrontEnd(info=log.info, kwargs_style=True)


def ours_structlog(spec: Dict[str, Any]) -> FrontEnd:
    try:
        import structlog

        from wt_adapters.structlog import CloudWatchRenderer
    except ImportError as e:
        raise Unavailable(f"wt_adapters.structlog.CloudWatchRenderer: {e}") from None
    import wt_adapters

    _precreate(spec)
    renderer = CloudWatchRenderer(**_ours_options(spec))
    log = structlog.wrap_logger(
        structlog.ReturnLogger(),
        processors=[structlog.processors.add_log_level, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
    )

    return FrontEnd(
        info=log.info,
        kwargs_style=True,
        flush=getattr(renderer, "flush", wt_adapters.flush),
        close=getattr(renderer, "close", wt_adapters.flush),
        stats=getattr(renderer, "stats", _engine_stats),
    )


def _noop_sink(message: Any) -> None:
    """A loguru sink that does nothing."""


def loguru_noop(spec: Dict[str, Any]) -> FrontEnd:
    try:
        from loguru import logger
    except ImportError as e:
        raise Unavailable(str(e)) from None
    logger.remove()
    logger.add(_noop_sink, level="INFO")
    return FrontEnd(info=logger.info, kwargs_style=True)


def ours_loguru(spec: Dict[str, Any]) -> FrontEnd:
    try:
        from loguru import logger

        from wt_adapters.loguru import cloudwatch_sink
    except ImportError as e:
        raise Unavailable(f"wt_adapters.loguru.cloudwatch_sink: {e}") from None
    import wt_adapters

    _precreate(spec)
    logger.remove()
    sink = cloudwatch_sink(**_ours_options(spec))
    handler_id = logger.add(sink, level="INFO")
    flush = getattr(sink, "flush_to_cloudwatch", wt_adapters.flush)

    def close(timeout: float) -> bool:
        done = bool(flush(timeout))
        logger.remove(handler_id)  # calls the sink's stop()
        return done

    return FrontEnd(
        info=logger.info,
        kwargs_style=True,
        flush=flush,
        close=close,
        stats=getattr(sink, "stats", _engine_stats),
    )


def loguru_serialize(spec: Dict[str, Any]) -> FrontEnd:
    """loguru's own JSON: ``serialize=True`` into a sink that does nothing."""
    try:
        from loguru import logger
    except ImportError as e:
        raise Unavailable(str(e)) from None
    logger.remove()
    logger.add(_noop_sink, level="INFO", serialize=True)
    return FrontEnd(info=logger.info, kwargs_style=True)


def _stdlib_json(
    make: Callable[[Dict[str, Any]], FrontEnd],
) -> Callable[[Dict[str, Any]], FrontEnd]:
    """`make`, with ``json_library="json"``: the standard library even where orjson is installed."""

    def make_with_json(spec: Dict[str, Any]) -> FrontEnd:
        options = dict(spec.get("options") or {}, json_library="json")
        return make({**spec, "options": options})

    return make_with_json


#: The X-Ray trace header the ``lambda`` trace rows set, as Lambda would.
XRAY_HEADER = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"


def _traced(
    make: Callable[[Dict[str, Any]], FrontEnd], trace: Optional[str]
) -> Callable[[Dict[str, Any]], FrontEnd]:
    """`make`, with ``trace_id=True``; `trace` is the trace active during the calls.

    None: no trace (``_X_AMZN_TRACE_ID`` unset, no span); ``"otel"``: an
    OpenTelemetry SDK span current for the whole run; ``"lambda"``:
    ``_X_AMZN_TRACE_ID`` set.
    """

    def make_traced(spec: Dict[str, Any]) -> FrontEnd:
        os.environ.pop("_X_AMZN_TRACE_ID", None)
        if trace == "otel":
            try:
                from opentelemetry import context
                from opentelemetry import trace as otel_trace
                from opentelemetry.sdk.trace import TracerProvider
            except ImportError as e:
                raise Unavailable(f"{e} (pip install -r benchmarks/requirements.txt)") from None
            span = TracerProvider().get_tracer("benchmarks").start_span("run")
            context.attach(otel_trace.set_span_in_context(span))  # for the rest of this process
        elif trace == "lambda":
            os.environ["_X_AMZN_TRACE_ID"] = XRAY_HEADER
        options = dict(spec.get("options") or {}, trace_id=True)
        return make({**spec, "options": options})

    return make_traced


def _floor(part: str) -> Callable[[Dict[str, Any]], FrontEnd]:
    """A stdlib handler doing only `part` of what ours does per record (`benchmarks/floor.py`).

    "encode": the package's JSON encoder on the dict (orjson when installed);
    "encode-keep": the encoder, its text kept in a bounded deque with the
    record's stream and timestamp (the least any handler that queues an encoded
    event can do, on any engine); "submit": the engine's submit of a ready
    message; "encode-submit": both, the least any stdlib front end on this
    engine and encoder can do. Our handler is
    made too, for its engine (delivering as usual), its flush and its counters.
    Not a way to log: a measure of what the front end's own work costs.
    """

    def make(spec: Dict[str, Any]) -> FrontEnd:
        ours = ours_stdlib(spec)
        handler: Any = logging.getLogger("bench").handlers[0]
        destination = handler._destination
        encode, submit = destination.encode, destination.engine.submit
        stream = destination.stream_names("bench")
        text = encode(DICT_PAYLOAD)

        class Part(logging.Handler):
            if part == "encode":

                def handle(self, record: logging.LogRecord) -> bool:
                    encode(record.msg)
                    return True

            elif part == "encode-keep":
                kept: Deque[Any] = deque(maxlen=100_000)  # freed as they go, as sending does

                def handle(self, record: logging.LogRecord) -> bool:
                    self.kept.append((stream, int(record.created * 1000), encode(record.msg)))
                    return True

            elif part == "submit":

                def handle(self, record: logging.LogRecord) -> bool:
                    return submit(stream, int(record.created * 1000), text)

            else:

                def handle(self, record: logging.LogRecord) -> bool:
                    return submit(stream, int(record.created * 1000), encode(record.msg))

        ours.info = _stdlib_logger(Part()).info
        return ours

    return make


FRONT_ENDS: Dict[str, Callable[[Dict[str, Any]], FrontEnd]] = {
    "stdlib-null": stdlib_null,
    "stdlib-json": stdlib_json,
    "watchtower": watchtower_handler,
    "ours-stdlib": ours_stdlib,
    "structlog-return": structlog_return,
    "ours-structlog": ours_structlog,
    "loguru-noop": loguru_noop,
    "ours-loguru": ours_loguru,
    "loguru-serialize": loguru_serialize,
    "ours-stdlib-json": _stdlib_json(ours_stdlib),
    "ours-structlog-json": _stdlib_json(ours_structlog),
    "ours-loguru-json": _stdlib_json(ours_loguru),
    "ours-stdlib-trace": _traced(ours_stdlib, None),
    "ours-stdlib-trace-otel": _traced(ours_stdlib, "otel"),
    "ours-stdlib-trace-lambda": _traced(ours_stdlib, "lambda"),
    "ours-structlog-trace": _traced(ours_structlog, None),
    "ours-structlog-trace-otel": _traced(ours_structlog, "otel"),
    "ours-loguru-trace": _traced(ours_loguru, None),
    "ours-loguru-trace-otel": _traced(ours_loguru, "otel"),
    "floor-encode": _floor("encode"),
    "floor-encode-keep": _floor("encode-keep"),
    "floor-submit": _floor("submit"),
    "floor-encode-submit": _floor("encode-submit"),
}


# ---------------------------------------------------------------- measurement


def log_n(front_end: FrontEnd, payload: Any, n: int) -> None:
    """Make `n` logging calls with `payload`, with as little loop overhead as can be."""
    info = front_end.info
    if isinstance(payload, dict) and front_end.kwargs_style:
        for _ in range(n):
            info("event", **payload)
    else:
        for _ in range(n):
            info(payload)


def log_distinct(front_end: FrontEnd, n: int) -> None:
    """Make `n` logging calls, each with a 100-byte message of its own (as in real use)."""
    info = front_end.info
    prefix = STR_PAYLOAD[:-8]
    for i in range(n):
        info(f"{prefix}{i:08d}")


def _memory_kib() -> Dict[str, int]:
    """Current and peak resident set size of this process, in KiB."""
    figures: Dict[str, int] = {}
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith(("VmRSS:", "VmHWM:")):
                    figures[line[:5]] = int(line.split()[1])
    except OSError:
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        figures = {"VmRSS": peak, "VmHWM": peak}
    return figures


def hotpath(spec: Dict[str, Any], front_end: FrontEnd) -> Dict[str, Any]:
    payload = PAYLOADS[spec["payload"]]
    calls, repeat = spec["calls"], spec["repeat"]
    log_n(front_end, payload, spec["warmup"])
    samples: List[float] = []
    for _ in range(repeat):
        gc.collect()
        start = time.thread_time_ns()
        log_n(front_end, payload, calls)
        samples.append((time.thread_time_ns() - start) / calls)
    flushed = front_end.flush(spec["timeout"])
    closed = front_end.close(spec["timeout"])
    return {
        "ns_per_call": samples,
        "logged": spec["warmup"] + calls * repeat,
        "flushed": bool(flushed) and closed is not False,
        "stats": front_end.stats(),
    }


def delivery(spec: Dict[str, Any], front_end: FrontEnd) -> Dict[str, Any]:
    payload = PAYLOADS[spec["payload"]]
    n = spec["records"]
    gc.collect()
    wall0, cpu0, caller0 = time.perf_counter(), time.process_time(), time.thread_time()
    log_n(front_end, payload, n)
    caller = time.thread_time() - caller0
    logged_wall = time.perf_counter() - wall0
    flushed = front_end.flush(spec["timeout"])
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    front_end.close(spec["timeout"])
    return {
        "logged": n,
        "wall_s": wall,
        "logging_wall_s": logged_wall,
        "process_cpu_s": cpu,
        "caller_cpu_s": caller,
        "flushed": bool(flushed),
        "stats": front_end.stats(),
    }


def memory(spec: Dict[str, Any], front_end: FrontEnd) -> Dict[str, Any]:
    n = spec["records"]
    gc.collect()
    before = _memory_kib()
    wall0 = time.perf_counter()
    log_distinct(front_end, n)
    wall = time.perf_counter() - wall0
    after = _memory_kib()
    return {
        "logged": n,
        "logging_wall_s": wall,
        "baseline_rss_kib": before["VmRSS"],
        "rss_kib": after["VmRSS"],
        "peak_rss_kib": after["VmHWM"],
        "stats": front_end.stats(),
    }


def close(spec: Dict[str, Any], front_end: FrontEnd) -> Dict[str, Any]:
    from benchmarks.sink import control

    payload = PAYLOADS[spec["payload"]]
    n = spec["records"]
    log_n(front_end, payload, n)
    queued = front_end.stats().get("queued")
    control(spec["sink"], "release")
    gc.collect()
    wall0, cpu0 = time.perf_counter(), time.process_time()
    done = front_end.close(spec["timeout"])
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    return {
        "logged": n,
        "queued_before_close": queued,
        "close_wall_s": wall,
        "close_cpu_s": cpu,
        "flushed": done is not False,
    }


SECTIONS: Dict[str, Callable[[Dict[str, Any], FrontEnd], Dict[str, Any]]] = {
    "hotpath": hotpath,
    "delivery": delivery,
    "memory": memory,
    "close": close,
}


def run(spec: Dict[str, Any]) -> Dict[str, Any]:
    """Set up the spec's front end and measure its section."""
    try:
        front_end = FRONT_ENDS[spec["impl"]](spec)
    except Unavailable as e:
        return {"skipped": str(e)}
    return SECTIONS[spec["section"]](spec, front_end)


def main(argv: Optional[List[str]] = None) -> int:
    """Run the scenario in argv[0] (JSON), print its result, and leave at once."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        sys.stderr.write("usage: python -m benchmarks.scenarios '<json spec>'\n")
        return 2
    result = run(json.loads(args[0]))
    sys.stdout.write(RESULT_PREFIX + json.dumps(result) + "\n")
    sys.stdout.flush()
    sys.stderr.flush()
    # Skip interpreter shutdown: the memory scenario leaves a stalled queue behind
    # and atexit handlers would wait for it. Everything measured is printed.
    os._exit(0)


if __name__ == "__main__":
    raise SystemExit(main())
