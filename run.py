"""Entry point: ``python run.py --help`` lists the subcommands."""

import sys

if __name__ == "__main__" and len(sys.argv) > 1 and sys.argv[1] == "serve":
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
