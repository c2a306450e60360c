"""The `tms` command installed by pip. `tms reproduce ...` is Python (it draws figures); every other
subcommand (train, analyze, --help, --version) runs the C++ command line, so the program and the package share
one implementation, its messages and its exit statuses (2 usage, 1 run-time failure, 130 interrupted)."""
from __future__ import annotations

import os
import sys
import tempfile
from typing import Optional, Sequence



def _reproduce_help() -> str:
    from .targets import TARGETS

    return f"Reproduce a paper experiment ({', '.join(TARGETS)}): runs, figures, report.html"


def _help() -> int:
    """The C++ help with the reproduce subcommand listed beside train and analyze."""
    from . import _tms

    sys.stdout.flush()
    saved = os.dup(1)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 1)
        try:
            status = _tms.cli_main(["tms", "--help"])
        finally:
            os.dup2(saved, 1)
            os.close(saved)
        captured.seek(0)
        text = captured.read().decode("utf-8", "replace")
    lines = text.rstrip("\n").split("\n")
    subcommands = [i for i, line in enumerate(lines) if line.startswith("  analyze") or line.startswith("  train")]
    entry = f"  {'reproduce':<28}{_reproduce_help()}"
    if subcommands:
        lines.insert(subcommands[-1] + 1, entry)
    else:
        lines.append(entry)
    print("\n".join(lines) + "\n")
    return status


def main(argv: Optional[Sequence[str]] = None) -> int:
    try:
        return _main(list(sys.argv[1:] if argv is None else argv))
    except KeyboardInterrupt:  # Ctrl-C outside training (training itself stops cleanly and returns 130)
        print("\ntms: interrupted", file=sys.stderr)
        return 130


def _main(argv: list) -> int:
    if argv and argv[0] == "reproduce":
        from . import reproduce

        return reproduce.main(argv[1:])
    if argv and argv[0] in ("-h", "--help"):
        return _help()
    from . import _tms

    sys.stdout.flush()
    sys.stderr.flush()
    return _tms.cli_main(["tms", *argv])


if __name__ == "__main__":
    sys.exit(main())
