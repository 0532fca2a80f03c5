"""Shared helpers of the client scenarios: failing with a clear message, bounded
waits, and polling one record. A scenario exits 1 on the first failed check."""
import sys
import time


def fail(msg):
    print(f"FAIL: {msg}", file=sys.stderr, flush=True)
    sys.exit(1)


def check(cond, msg):
    if not cond:
        fail(msg)


def deadline_loop(seconds, what):
    """Yields until `seconds` pass, then fails naming `what`."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        yield
    fail(f"timed out after {seconds}s waiting for {what}")


def poll_record(consumer, timeout=0.2):
    """One record from a confluent-kafka consumer, or None; fails on a consume error."""
    m = consumer.poll(timeout)
    if m is not None and m.error():
        fail(f"consume error: {m.error()}")
    return m


def run_subcommand(ap, sub, common_args, errors):
    """Adds `common_args` ((flag, kwargs) pairs) to every subcommand of `sub`, parses
    the command line and runs the chosen subcommand's `fn`; an exception of a type in
    `errors` fails the scenario naming the subcommand."""
    for s in sub.choices.values():
        for flag, kwargs in common_args:
            s.add_argument(flag, **kwargs)
    a = ap.parse_args()
    try:
        a.fn(a)
    except errors as e:
        fail(f"{a.cmd}: {e}")
