"""What every command shares: AWS options, clients, errors a person can act on."""

from __future__ import annotations

import contextlib
import re
import sys
import warnings
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterator, Optional, TextIO, TypeVar, Union

import click

from .._endpoints import configured_endpoint, endpoint_from_env
from .._errors import WatchtowerError
from .._rules import check_log_group_name

F = TypeVar("F", bound=Callable[..., Any])

PROG = "wt-adapters"

#: Exit codes (documented in docs/cli.md).
EXIT_OK = 0
EXIT_FAILED = 1  # events not delivered, demo events not found
EXIT_USAGE = 2  # a bad option or argument, or no command at all (click's own code)
EXIT_AWS = 3  # no credentials or region, endpoint unreachable, access denied, group missing
EXIT_INTERRUPTED = 130  # Ctrl-C before the command finished its work


class Failure(click.ClickException):
    """The command ran but did not do all it should (exit code 1)."""

    exit_code = EXIT_FAILED


class AwsProblem(click.ClickException):
    """CloudWatch could not be used: credentials, region, endpoint, permissions (exit code 3)."""

    exit_code = EXIT_AWS


def counted(n: int, noun: str, *, grouped: bool = False) -> str:
    """`n` and `noun`, plural unless `n` is 1: "1 line", "0 lines", "12,345 events"."""
    number = f"{n:,}" if grouped else str(n)
    return f"{number} {noun}" if n == 1 else f"{number} {noun}s"


#: What Python prints for None. Never a value on the command line: given, it is
#: a script's None passed on where a value was meant (``--group=None``).
NONE = "None"


def none_given(flag: str, instead: str) -> str:
    """Say that `flag` was given the word None, and what to do `instead`."""
    return f"{flag}=None: None is Python's None, not a value on the command line: {instead}"


def log_group_param(
    ctx: click.Context, param: click.Parameter, value: Optional[str]
) -> Optional[str]:
    """Check a log group given on the command line (a click callback), before any AWS call.

    None and a name CloudWatch refuses (an empty one too) are usage errors
    naming the flag or argument; a flag not given is left for the command.
    """
    if value is None:
        return None
    if value == NONE:
        raise click.BadParameter(
            "None is Python's None, not a value on the command line: give the log group's name",
            ctx,
            param,
        )
    try:
        return check_log_group_name(value, "GROUP")
    except WatchtowerError as e:  # "GROUP='x' is not ...": the flag is named by click
        raise click.BadParameter(str(e).partition("=")[2], ctx, param) from None


@dataclass(frozen=True)
class AwsOptions:
    """Where to find CloudWatch Logs: flags first, then the environment boto3 reads."""

    profile: Optional[str] = None
    region: Optional[str] = None
    endpoint_url: Optional[str] = None

    def describe(self) -> str:
        """Name the endpoint for messages."""
        endpoint = self.endpoint_url or configured_endpoint()
        if endpoint:
            return endpoint
        return f"CloudWatch Logs in {self.region or 'the default region'}"


def aws_options(fn: F) -> F:
    """Add --profile, --region and --endpoint-url to a command, as an `aws` argument."""

    def to_aws(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        return value or None

    decorators = [
        click.option(
            "--endpoint-url",
            metavar="URL",
            callback=to_aws,
            help="CloudWatch Logs endpoint, e.g. the one `wt-adapters local` prints"
            "  [default: what boto3 reads: AWS_ENDPOINT_URL_CLOUDWATCH_LOGS,"
            " AWS_ENDPOINT_URL, the services section of ~/.aws/config]",
        ),
        click.option(
            "--region",
            envvar=["AWS_REGION", "AWS_DEFAULT_REGION"],
            show_envvar=True,
            callback=to_aws,
            help="AWS region.",
        ),
        click.option(
            "--profile",
            envvar="AWS_PROFILE",
            show_envvar=True,
            callback=to_aws,
            help="AWS profile from ~/.aws/config.",
        ),
    ]
    for decorate in decorators:
        fn = decorate(fn)
    return fn


def aws_from(
    profile: Optional[str], region: Optional[str], endpoint_url: Optional[str]
) -> AwsOptions:
    """Build `AwsOptions`, checking the endpoint URL's form."""
    if endpoint_url and not re.match(r"https?://[^/\s]+", endpoint_url):
        raise click.BadParameter(
            f"{endpoint_url!r} is not an http(s) URL", param_hint="'--endpoint-url'"
        )
    return AwsOptions(
        profile=profile, region=region, endpoint_url=endpoint_url or endpoint_from_env()
    )


def make_session(aws: AwsOptions) -> Any:
    """Return a boto3 session for `aws`, or raise `AwsProblem` saying what is missing."""
    import boto3
    import botocore.exceptions

    try:
        session = boto3.session.Session(profile_name=aws.profile, region_name=aws.region)
    except botocore.exceptions.ProfileNotFound:
        raise AwsProblem(
            f"the AWS profile {aws.profile!r} is not in ~/.aws/config or ~/.aws/credentials"
        ) from None
    if not session.region_name:
        raise AwsProblem("no AWS region is configured: pass --region or set AWS_REGION")
    try:
        credentials = session.get_credentials()
    except botocore.exceptions.BotoCoreError as e:
        raise AwsProblem(f"the AWS credentials could not be loaded: {e}") from None
    if credentials is None:
        raise AwsProblem(
            "no AWS credentials found: set AWS_PROFILE or AWS_ACCESS_KEY_ID and"
            " AWS_SECRET_ACCESS_KEY (for `wt-adapters local`, any values do)"
        )
    return session


def make_client(aws: AwsOptions, *, engine: bool = False) -> Any:
    """Return a CloudWatch Logs client: the engine's configuration, or one for reading."""
    import botocore.config

    from .._boto import CLIENT_CONFIG

    session = make_session(aws)
    config = (
        CLIENT_CONFIG
        if engine
        else botocore.config.Config(
            retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=5, read_timeout=60
        )
    )
    return session.client("logs", endpoint_url=aws.endpoint_url, config=config)


#: How CloudWatch words a filter pattern it refuses ("Invalid filter pattern",
#: "Invalid character(s) in term ...", the local endpoint's "filter pattern ...").
_PATTERN_REFUSED = re.compile(r"pattern|\bterm\b", re.IGNORECASE)


def aws_problem(
    error: BaseException,
    aws: AwsOptions,
    group: Optional[str] = None,
    pattern: Optional[str] = None,
) -> Exception:
    """Turn a boto3 exception into the one-line error the user sees.

    A filter `pattern` CloudWatch refuses is a usage error naming ``--filter``
    (exit code 2), not a problem with AWS.
    """
    import botocore.exceptions

    where = aws.describe()
    if isinstance(error, botocore.exceptions.NoCredentialsError):
        return AwsProblem(
            "no AWS credentials found: set AWS_PROFILE or AWS_ACCESS_KEY_ID and"
            " AWS_SECRET_ACCESS_KEY"
        )
    if isinstance(
        error,
        (botocore.exceptions.EndpointConnectionError, botocore.exceptions.ConnectTimeoutError),
    ):
        return AwsProblem(f"cannot reach {where}: {error}")
    if isinstance(error, botocore.exceptions.ClientError):
        err = error.response.get("Error", {})
        code = str(err.get("Code", "Unknown"))
        message = str(err.get("Message", "")).strip() or code
        if code == "ResourceNotFoundException" and group is not None:
            return AwsProblem(f"log group {group!r} does not exist at {where}")
        if code == "InvalidParameterException" and pattern and _PATTERN_REFUSED.search(message):
            return click.BadParameter(
                f"CloudWatch refused it: {message}",
                click.get_current_context(silent=True),
                param_hint="'--filter'",
            )
        return AwsProblem(f"{where} refused the request: {code}: {message}")
    if isinstance(error, botocore.exceptions.BotoCoreError):
        return AwsProblem(f"calling {where} failed: {error}")
    return error if isinstance(error, Exception) else Failure(str(error))


@contextlib.contextmanager
def aws_errors(
    aws: AwsOptions, group: Optional[str] = None, pattern: Optional[str] = None
) -> Iterator[None]:
    """Report boto3 errors raised inside as one-line errors (see `aws_problem`)."""
    import botocore.exceptions

    try:
        yield
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as e:
        raise aws_problem(e, aws, group, pattern) from None


def check_reachable(client: Any, aws: AwsOptions, group: str) -> Optional[bool]:
    """Make one cheap call so that a wrong endpoint or credential fails at once.

    Returns whether the log group exists, or None when that can't be told (a
    role that may only write logs is refused this call; that is fine).
    """
    import botocore.exceptions

    try:
        page = client.describe_log_groups(logGroupNamePrefix=group, limit=50)
    except botocore.exceptions.ClientError as e:
        code = str(e.response.get("Error", {}).get("Code", ""))
        if code in ("AccessDeniedException", "AccessDenied"):
            return None
        raise aws_problem(e, aws, group) from None
    except botocore.exceptions.BotoCoreError as e:
        raise aws_problem(e, aws, group) from None
    names = [g.get("logGroupName") for g in page.get("logGroups", ())]
    if group in names:
        return True
    return None if page.get("nextToken") else False


_ARGUMENT = re.compile(r"\b([a-z][a-z0-9_]*)=")


def name_flags(text: str, flags: Dict[str, str], phrases: Optional[Dict[str, str]] = None) -> str:
    """Rewrite a message naming library arguments (``name=``) to name the flags typed."""

    def to_flag(match: re.Match[str]) -> str:
        name = match.group(1)
        return f"{flags[name]}=" if name in flags else match.group(0)

    for phrase, said in (phrases or {}).items():
        text = text.replace(phrase, said)
    return _ARGUMENT.sub(to_flag, text)


#: Rewrites each warning before it is printed (a command sets it to name its flags).
speak: Callable[[str], str] = str


def echo_err(message: str) -> None:
    """Write one line to stderr."""
    click.echo(message, err=True)


def show_warning_one_line(
    message: Union[Warning, str],
    category: type[Warning],
    filename: str,
    lineno: int,
    file: Optional[TextIO] = None,
    line: Optional[str] = None,
) -> None:
    """Print warnings as one line each, without the source line (a CLI's stderr)."""
    stream = file or sys.stderr
    with contextlib.suppress(Exception):
        stream.write(f"{PROG}: warning: {speak(str(message))}\n")
        stream.flush()


def install_warning_printer() -> None:
    warnings.showwarning = show_warning_one_line
