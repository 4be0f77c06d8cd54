"""`python -m triage` and the `triage` command: the first moment of the process.

Importing the command line (typer, rich, every command group) takes about a third of a second. A Ctrl-C
in that time ended with a Python traceback; here it ends as a Ctrl-C during any command does: one line
and exit status 130. Nothing is imported before the Ctrl-C is taken care of, so the time left before it
is Python's own start. (A TERM signal ends triage as it ends any command: at once, nothing said.)
"""

import signal
import sys


def main() -> None:
    """Run the `triage` command line. A Ctrl-C while it is imported is held until the import has ended (raised in
    the middle of an import, Python may print it as an ignored exception and go on), then ends the command."""
    pressed: list[int] = []
    held = signal.getsignal(signal.SIGINT) is signal.default_int_handler  # not when started with Ctrl-C ignored
    if held:
        signal.signal(signal.SIGINT, lambda signum, frame: pressed.append(signum))
    try:
        from triage.cli.app import main as run
        from triage.errors import INTERRUPTED_TEXT, ExitStatus
    finally:
        if held:
            signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        if pressed:
            raise KeyboardInterrupt
        run()
    except KeyboardInterrupt:  # before the command line could catch it, or in its first or last lines
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C while this is said changes nothing
        try:
            if sys.stderr is not None:
                sys.stderr.write(f"interrupted: {INTERRUPTED_TEXT}\n")
                sys.stderr.flush()
        except OSError:  # stderr closed or gone: the exit status says it
            pass
        sys.exit(int(ExitStatus.INTERRUPTED))


if __name__ == "__main__":
    main()
