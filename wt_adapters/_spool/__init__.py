"""The disk spool: accepted events kept in files until CloudWatch has them.

With ``spool_dir`` set, every event an engine accepts is also handed to the
`Spool` of that directory (one per directory per process, shared by every
engine naming it; events carry their log group and stream). A spool thread
writes what was handed over every ``spool_sync_interval`` seconds, so a log
call never waits on the disk; a process killed with SIGKILL loses at most
what was logged in the last interval. The next process using the directory
(or `_recovery.deliver`) sends the rest. docs/spool.md describes it for users.

The package, by concern (each module imports only those before it here):

- `format`: file names, record framing and checksums, reading a segment back
  (skipping bad records), reading a file without blocking;
- `dead_letter`: the shared file of events refused for good, and its rotation;
- `damage`: files that can't be read in full, said once and moved to ``quarantine/``;
- `summary`: the writers a directory holds, and what waits there (`summary`);
- `state`: what this writer keeps in memory of its segments (keys, each event's state);
- `segments`: this writer's segment files (runs, marks, sealing, deleting);
- `replay`: events kept on disk only, read back into engines as they drain;
- `adopt`: taking over the files of writers that are gone;
- `engines`: the engines that use the spool, and the maker of engines for adopted groups;
- `thread`: the spool thread, its pass at each interval and adoption on request;
- `spool`: the `Spool` of one directory, holding those parts;
- `directory`: one spool per directory per process (attach, close, sync, fork).

The API for the command line: ``summary(directory) -> Summary``, what waits
in a spool directory, read without changing anything: per (group, stream) the
events, bytes and oldest event's timestamp; dead letters; writers live and
gone; files that end cut short, and bad records skipped.
"""

from .adopt import ADOPT_INTERVAL
from .dead_letter import DEAD_LETTER, DEAD_LETTER_BYTES
from .directory import adopt_before_exit, after_fork_in_child, attach, close_all, sync_all
from .format import KEY_SHIFT, SegmentContents, encode_mark, encode_run, parse_segment, read_records
from .segments import SEGMENT_BYTES, SEGMENT_SECONDS
from .spool import Spool
from .summary import StreamSummary, Summary, summary

__all__ = [
    "ADOPT_INTERVAL",
    "DEAD_LETTER",
    "DEAD_LETTER_BYTES",
    "KEY_SHIFT",
    "SEGMENT_BYTES",
    "SEGMENT_SECONDS",
    "SegmentContents",
    "Spool",
    "StreamSummary",
    "Summary",
    "adopt_before_exit",
    "after_fork_in_child",
    "attach",
    "close_all",
    "encode_mark",
    "encode_run",
    "parse_segment",
    "read_records",
    "summary",
    "sync_all",
]
