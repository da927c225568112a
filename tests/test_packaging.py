"""What a user gets from PyPI: the metadata, the licence, links that work there, the sdist."""

from __future__ import annotations

import email
import re
import shutil
import subprocess
import sys
import tarfile
import textwrap
from pathlib import Path
from typing import Any, Dict, List

import pytest
from helpers import ROOT, subprocess_env

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    tomllib = pytest.importorskip("tomli")

PROJECT: Dict[str, Any] = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
SOURCE = PROJECT["urls"]["Source"]
_LINK = re.compile(r"\]\(([^)\s]+)\)|<a href=\"([^\"]+)\"")


def test_the_licence_is_apache_2_in_the_spdx_form_with_its_full_text() -> None:
    assert PROJECT["license"] == "Apache-2.0"
    assert PROJECT["license-files"] == ["LICENSE"]
    text = (ROOT / "LICENSE").read_text()
    assert "Apache License" in text and "Version 2.0, January 2004" in text
    assert "END OF TERMS AND CONDITIONS" in text and "APPENDIX" in text


def test_the_project_urls_are_absolute() -> None:
    assert {"Homepage", "Documentation", "Changelog", "Source", "Issues"} <= set(PROJECT["urls"])
    assert all(url.startswith("https://") for url in PROJECT["urls"].values())


def readme_links() -> List[str]:
    text = (ROOT / "README.md").read_text()
    return [a or b for a, b in _LINK.findall(text)]


def test_readme_links_are_absolute_and_name_files_that_exist() -> None:
    links = readme_links()
    assert links
    for link in links:
        if link.startswith("#"):
            continue
        assert re.match(r"https?://", link), f"{link!r} is relative: it breaks on PyPI"
        for kind in ("blob", "tree"):
            prefix = f"{SOURCE}/{kind}/main/"
            if link.startswith(prefix):
                path = ROOT / link[len(prefix) :].split("#", 1)[0]
                assert path.exists(), f"{link} names {path}, which is not in the repository"
                assert path.is_dir() == (kind == "tree"), link


def test_the_extras_for_the_local_endpoint_need_no_moto_server_extra() -> None:
    extras = PROJECT["optional-dependencies"]
    for name in ("local", "demo"):
        assert not any("moto[" in req for req in extras[name]), extras[name]
        names = {re.split(r"[<>=\[ ]", req)[0].lower() for req in extras[name]}
        assert {"moto", "flask", "flask-cors", "click"} <= names


def test_the_local_endpoint_runs_on_moto_flask_and_flask_cors_alone(tmp_path: Path) -> None:
    """Block what moto[server] adds beyond flask and flask-cors (PyYAML comes with moto's
    own responses): the endpoint still works."""
    blocked = ["docker", "cfnlint", "openapi_spec_validator", "jsonpath_ng", "aws_xray_sdk",
               "graphql", "joserfc", "antlr4", "py_partiql_parser", "pyparsing"]  # fmt: skip
    script = textwrap.dedent(
        f"""
        import sys
        for name in {blocked!r}:
            sys.modules[name] = None
        import boto3
        from wt_adapters._local import LocalEndpoint

        with LocalEndpoint() as endpoint:
            client = boto3.client("logs", endpoint_url=endpoint.url, region_name="us-east-1",
                                  aws_access_key_id="x", aws_secret_access_key="y")
            client.create_log_group(logGroupName="g")
            client.create_log_stream(logGroupName="g", logStreamName="s")
            import time
            now = int(time.time() * 1000)
            client.put_log_events(logGroupName="g", logStreamName="s",
                                  logEvents=[{{"timestamp": now, "message": "ERROR x"}}])
            found = client.filter_log_events(logGroupName="g", filterPattern="ERROR")
            print(len(found["events"]))
        """
    )
    result = subprocess.run([sys.executable, "-W", "error", "-c", script], capture_output=True,
                            text=True, env=subprocess_env(home=tmp_path), timeout=120)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "1"


@pytest.fixture(scope="module")
def sdist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sdist, built from a copy of the checkout: a `*.egg-info` left there by an earlier
    build lists files that MANIFEST.in may no longer include, and setuptools would add them."""
    source = tmp_path_factory.mktemp("source") / "wt-adapters"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(
        ".git", ".venv", "*.egg-info", "__pycache__", ".*_cache", "build", "dist"))  # fmt: skip
    out = tmp_path_factory.mktemp("dist")
    script = f"from setuptools import build_meta; print(build_meta.build_sdist({str(out)!r}))"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            cwd=source, timeout=300)  # fmt: skip
    assert result.returncode == 0, result.stderr
    return out / result.stdout.strip().splitlines()[-1]


def test_the_sdist_ships_every_doc_page_and_example(sdist: Path) -> None:
    with tarfile.open(sdist) as archive:
        names = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    for folder in ("docs", "examples"):
        files = {p.relative_to(ROOT).as_posix() for p in (ROOT / folder).iterdir() if p.is_file()}
        assert files and not files - names, f"{folder}/ is not all in the sdist"


def test_the_sdist_ships_the_licence_and_docs_and_no_half_test_suite(sdist: Path) -> None:
    with tarfile.open(sdist) as archive:
        names = [name.split("/", 1)[1] for name in archive.getnames() if "/" in name]
        info = archive.extractfile(next(n for n in archive.getnames() if n.endswith("/PKG-INFO")))
        assert info is not None
        metadata = email.message_from_bytes(info.read())
    assert "LICENSE" in names and "README.md" in names and "CHANGELOG.md" in names
    assert "docs/cli.md" in names and "wt_adapters/py.typed" in names
    assert not [n for n in names if n.startswith(("tests/", "benchmarks/"))]
    assert metadata["License-Expression"] == "Apache-2.0"
    assert metadata["License-File"] == "LICENSE"
    urls = metadata.get_all("Project-URL") or []
    assert any(url.startswith("Source, https://") for url in urls)
    description = metadata.get_payload()
    assert "](docs/" not in description and "](examples" not in description
