"""The ``cnndesk`` command: the desktop app with no sub-command, the same jobs headless otherwise.

Every sub-command drives a job generator from :mod:`cnndesk.jobs` with
:func:`cnndesk.cli.progress.run_job`, which draws a progress bar on stderr when stderr is a
terminal and turns Ctrl+C into a clean cancel. User errors
(:class:`~cnndesk.domain.CnndeskError`) print one line and exit 1; anything unexpected prints
one line too and leaves the traceback in the log file. Machine-readable output (``--json``)
goes to stdout; everything for humans goes to stderr or plain stdout text, escaped by
:mod:`cnndesk.cli.terminal`.

The package:

- :mod:`~cnndesk.cli.program`: :func:`main`, the parser and the table of command groups;
- :mod:`~cnndesk.cli.library`: ``import``, ``check``, ``stats``, ``classes``, ``label``,
  ``export-labels``;
- :mod:`~cnndesk.cli.prediction`: ``predict``, ``sort``, ``suggest``, ``export``, ``evaluate``;
- :mod:`~cnndesk.cli.training`: ``train``, ``runs``;
- :mod:`~cnndesk.cli.health`: ``explain``, ``audit``;
- :mod:`~cnndesk.cli.progress` (the one job driver and its progress bars),
  :mod:`~cnndesk.cli.args` (``command``, argument types, shared options, ``--library``) and
  :mod:`~cnndesk.cli.terminal` (escaped output).

Adding a command is one new module plus one table row. Say ``cnndesk hello``::

    # cnndesk/cli/hello.py
    \"\"\"The ``hello`` command: says how many images the library has.\"\"\"

    import argparse

    from cnndesk.cli.args import add_json_option, command, open_library
    from cnndesk.cli.terminal import plural, print_json


    def cmd_hello(args: argparse.Namespace) -> int:
        \"\"\"say hello

        Say how many images the library has.
        \"\"\"
        with open_library(args) as library:
            images = library.stats().images
        if args.json:
            print_json({"images": images})
        else:
            print(f"Hello, {plural(images, 'image')}!")
        return 0


    def register(sub: argparse._SubParsersAction) -> None:
        add_json_option(command(sub, "hello", cmd_hello))

and the row ``"hello",`` in :data:`cnndesk.cli.program.COMMAND_GROUPS`. The first line of the
command function's docstring is its line in ``cnndesk --help``, the rest its description
(:func:`cnndesk.cli.args.command`); options several commands share have a helper each in
:mod:`cnndesk.cli.args`, and ``--json`` output of a result dataclass comes from its fields
(:func:`cnndesk.cli.terminal.record_json`). A command that runs a job calls
``run_job(job, label="Hello")`` (:mod:`cnndesk.cli.progress`) and prints its result.
"""

from __future__ import annotations

from cnndesk.cli.program import build_parser, main

__all__ = ["build_parser", "main"]
