"""Where the clients the package makes send: botocore's endpoint resolution, made lazily."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any, Dict

import pytest
from helpers import read_events, subprocess_env

from wt_adapters import CloudWatchLogHandler

WARNING = "wt_adapters._errors.WatchtowerWarning"


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No endpoint variable, no AWS config file of the developer's; returns the config path."""
    for name in (
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_CLOUDWATCH_LOGS",
        "AWS_ENDPOINT_URL_LOGS",
        "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
        "AWS_PROFILE",
    ):
        monkeypatch.delenv(name, raising=False)
    config = tmp_path / "config"
    config.write_text("")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    return config


def endpoint_of(handler: CloudWatchLogHandler) -> str:
    return str(handler.cwl_client.meta.endpoint_url)


def test_botocores_own_variable_points_the_handler_at_an_endpoint(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch, endpoint: str, client: Any, group: str
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_CLOUDWATCH_LOGS", endpoint)
    handler = CloudWatchLogHandler(log_group_name=group, log_stream_name="s")
    try:
        assert endpoint_of(handler) == endpoint
        handler.emit(_record("via AWS_ENDPOINT_URL_CLOUDWATCH_LOGS"))
        assert handler.flush(10)
    finally:
        handler.close()
    assert [e["message"] for e in read_events(client, group)] == [
        "via AWS_ENDPOINT_URL_CLOUDWATCH_LOGS"
    ]


def test_the_services_section_of_the_aws_config_is_honoured(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clean_env.write_text(
        "[default]\nservices = here\n\n[services here]\n"
        "cloudwatch_logs =\n  endpoint_url = http://127.0.0.1:4599\n"
    )
    handler = CloudWatchLogHandler(log_group_name="g")
    try:
        assert endpoint_of(handler) == "http://127.0.0.1:4599"
    finally:
        handler.close(0)


def test_ignoring_configured_endpoints_sends_to_aws_itself(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_CLOUDWATCH_LOGS", "http://127.0.0.1:4599")
    monkeypatch.setenv("AWS_ENDPOINT_URL_LOGS", "http://127.0.0.1:4598")
    monkeypatch.setenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true")
    handler = CloudWatchLogHandler(log_group_name="g")
    try:
        assert endpoint_of(handler).endswith(".amazonaws.com")
    finally:
        handler.close(0)


def test_endpoint_url_wins_over_the_environment(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_CLOUDWATCH_LOGS", "http://127.0.0.1:4599")
    handler = CloudWatchLogHandler(log_group_name="g", endpoint_url="http://127.0.0.1:4597")
    try:
        assert endpoint_of(handler) == "http://127.0.0.1:4597"
    finally:
        handler.close(0)


@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        ({"AWS_ENDPOINT_URL_LOGS": "http://127.0.0.1:4598"}, "http://127.0.0.1:4598"),
        (
            {
                "AWS_ENDPOINT_URL_LOGS": "http://127.0.0.1:4598",
                "AWS_ENDPOINT_URL": "http://127.0.0.1:4596",
            },
            "http://127.0.0.1:4596",
        ),
    ],
)
def test_aws_endpoint_url_logs_is_only_a_fallback_after_botocores_variables(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch, variables: Dict[str, str], expected: str
) -> None:
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    handler = CloudWatchLogHandler(log_group_name="g")
    try:
        assert endpoint_of(handler) == expected
    finally:
        handler.close(0)


def test_a_handler_is_made_with_no_region_credentials_or_endpoint(tmp_path: Path) -> None:
    """Construct at import time, as apps do; the missing region is said at the first send."""
    script = textwrap.dedent(
        """
        import logging
        from wt_adapters import CloudWatchLogHandler

        handler = CloudWatchLogHandler(log_group_name="g", retry_deadline=0)
        log = logging.getLogger("app")
        log.addHandler(handler)
        log.warning("this record cannot be delivered")
        print("logged")
        handler.close(5)
        print("closed")
        """
    )
    env = _bare_env(tmp_path)
    result = subprocess.run(
        [sys.executable, "-W", "error", "-W", f"default::{WARNING}", "-c", script],
        capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["logged", "closed"]
    assert "dropping 1 events" in result.stderr
    assert "no AWS region is configured" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_capture_fixture_needs_no_region_for_a_handler_made_at_import(tmp_path: Path) -> None:
    (tmp_path / "test_app.py").write_text(
        textwrap.dedent(
            """
            import logging
            from wt_adapters import CloudWatchLogHandler

            log = logging.getLogger("app")
            log.setLevel(logging.INFO)
            log.addHandler(CloudWatchLogHandler(log_group_name="app"))

            def test_it(cloudwatch_events):
                log.info({"event": "signed in"})
                assert cloudwatch_events.data("app") == [{"event": "signed in"}]
            """
        )
    )
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-W", "error", "-p", "no:cacheprovider",
         "test_app.py"],
        capture_output=True, text=True, env=_bare_env(tmp_path), cwd=tmp_path, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout


def _bare_env(tmp_path: Path) -> Dict[str, str]:
    return subprocess_env(credentials=False, home=tmp_path)


def _record(message: str) -> Any:
    import logging

    return logging.LogRecord("app", logging.WARNING, __file__, 1, message, None, None)
