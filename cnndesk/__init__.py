"""cnndesk: build an image classifier without writing code.

Import folders of images into a local library, label them with the keyboard, train a CNN with one
click, see where it is wrong, and let it sort whole folders. The package is layered
(import-linter contracts in ``pyproject.toml`` enforce it): ``defaults``/``domain``/``paths`` at
the bottom, ``library`` (SQLite) and ``ml`` (torch) beside each other, ``jobs`` joining them, and
``gui``/``cli`` on top. Importing ``cnndesk`` itself is cheap.

Importing it also turns off the telemetry of the inference runtimes cnndesk may load
(:mod:`cnndesk._privacy`): the app sends nothing anywhere.
"""

from cnndesk._privacy import no_telemetry as _no_telemetry

_no_telemetry()

__version__ = "0.1.0"
