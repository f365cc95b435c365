"""Entry point: ``python run.py --help`` lists the subcommands."""

import sys


def _subcommand(argv: list[str]) -> str | None:
    """Return the subcommand named on a command line, past the group's own options."""
    rest = argv[1:]
    while rest and rest[0].startswith("-"):
        rest = rest[2:] if rest[0] == "--env-file" else rest[1:]
    return rest[0] if rest else None


if __name__ == "__main__" and _subcommand(sys.argv) == "serve":
    # gevent serves every socket on one thread; it must patch the standard
    # library before anything else imports it.
    try:
        from gevent import monkey

        monkey.patch_all()
    except ImportError:  # threading mode still works, with one thread per socket
        pass

from server.cli import main  # noqa: E402

if __name__ == "__main__":
    main()
