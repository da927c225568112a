"""The `wt-adapters` command line, built on click (the ``cli`` extra)."""

from __future__ import annotations

import sys
from typing import List, Optional

import click

from .. import __version__
from ._common import (
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    PROG,
    install_warning_printer,
)
from ._demo import demo
from ._list import groups, streams
from ._local_cmd import local
from ._pipe import pipe
from ._spool_cmd import spool
from ._tail import tail


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, "--version", prog_name=PROG)
def cli() -> None:
    """Ship logs to AWS CloudWatch Logs, read them back, and try it all locally.

    \b
    Start here:
      wt-adapters demo                 log through stdlib, structlog and loguru, show what
                                       CloudWatch stored (on a local endpoint; --aws for AWS)
      wt-adapters local                a local CloudWatch Logs endpoint for your app
      app | wt-adapters pipe -g G      ship a program's output
      wt-adapters tail G -f            read it back
      wt-adapters groups, streams G    what there is to read
      wt-adapters spool DIR [--send]   what waits in a spool directory; deliver it

    AWS settings come from the flags, then from what boto3 reads: AWS_PROFILE,
    AWS_REGION, AWS_ENDPOINT_URL_CLOUDWATCH_LOGS (or AWS_ENDPOINT_URL), ~/.aws.

    \b
    Exit codes: 0 done; 1 some events not delivered (or not found by demo);
    2 bad usage (no command: this help, on stderr, exit code 2, as click does);
    3 AWS not usable (credentials, region, endpoint, permissions, missing
    group); 130 interrupted.
    """


cli.add_command(demo)
cli.add_command(local)
cli.add_command(pipe)
cli.add_command(tail)
cli.add_command(groups)
cli.add_command(streams)
cli.add_command(spool)


def run(argv: Optional[List[str]] = None) -> int:
    """Run the command line; return the exit code. Errors are one line on stderr.

    With no command at all, the help (as ``--help`` shows it) goes to stderr
    and the exit code is 2, `EXIT_USAGE`: what click 8.2 and later do for a
    group called without a command, whichever click is installed.
    """
    install_warning_printer()
    args = sys.argv[1:] if argv is None else list(argv)
    if not args:  # the help, once, and nothing called an error
        with cli.make_context(PROG, [], resilient_parsing=True) as ctx:
            click.echo(ctx.get_help(), err=True)
        return EXIT_USAGE
    try:
        result = cli.main(args=args, prog_name=PROG, standalone_mode=False)
    except click.UsageError as e:
        command = e.ctx.command_path if e.ctx is not None else PROG
        click.echo(
            f"{PROG}: error: {e.format_message().rstrip('.')} (see '{command} --help')",
            err=True,
        )
        return EXIT_USAGE
    except click.ClickException as e:
        click.echo(f"{PROG}: error: {e.format_message()}", err=True)
        return e.exit_code
    except click.Abort:
        click.echo(f"{PROG}: interrupted", err=True)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        _silence_stdout()
        return 0
    return result if isinstance(result, int) else 0


def _silence_stdout() -> None:
    """After stdout's reader went away: keep the interpreter from failing at exit."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
