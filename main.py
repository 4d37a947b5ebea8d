"""PyInstaller entry point: the frozen app starts here (see ``packaging/``)."""

import multiprocessing
import sys

if __name__ == "__main__":
    multiprocessing.freeze_support()
    from cnndesk.cli import main

    sys.exit(main())
