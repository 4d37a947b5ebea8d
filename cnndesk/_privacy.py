"""cnndesk sends nothing anywhere: the telemetry of the runtimes it may load is off before they load.

Measured with the pinned versions (``constraints.txt``), in a process with ``HOME`` set to an empty
folder:

- ``import onnxruntime`` (1.32, Linux included) writes a device id and an event queue under
  ``~/.cache/Microsoft/DeveloperTools/.onnxruntime/`` and queues a "ProcessInfo" event (OS, CPU
  model, memory, container type) for upload to Microsoft. ``ORT_DISABLE_TELEMETRY=1`` in the
  environment before the import stops both (``onnxruntime.disable_telemetry_events()`` comes too
  late: the import itself writes them).
- ``import openvino`` (2026.4, with openvino-telemetry 2025.2) sends a Google Analytics event and
  writes a client id and a usage count under ``~/intel/`` unless the user opted out. With
  ``openvino_telemetry`` unimportable (a ``None`` entry in ``sys.modules``) OpenVINO uses its own
  no-op stub; inference is unaffected. (The PyInstaller bundle leaves the package out as well.)

:func:`no_telemetry` runs when the ``cnndesk`` package is imported, so before any cnndesk code can
import either runtime. A user who sets ``ORT_DISABLE_TELEMETRY`` themselves keeps their value.
"""

from __future__ import annotations

import os
import sys


def no_telemetry() -> None:
    """Turn off ONNX Runtime's and OpenVINO's telemetry for this process (and its children)."""
    os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
    if "openvino" not in sys.modules:  # too late once openvino has been imported
        sys.modules.setdefault("openvino_telemetry", None)  # type: ignore[arg-type]
