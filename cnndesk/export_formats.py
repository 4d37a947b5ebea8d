"""The formats ``cnndesk export`` writes: one row per format (name, file suffix, description).

Standard library only, so the CLI's argument choices and the GUI's file dialog read the same table
without loading torch; :mod:`cnndesk.ml.export` holds each format's writer and checker under the
same names. Adding a format is one row here plus its writer there.
"""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class ExportFormat:
    """One export format: its name (``--format``), the suffix its file gets, and what it is."""

    name: str
    suffix: str
    description: str


EXPORT_FORMATS: dict[str, ExportFormat] = {
    f.name: f
    for f in (
        ExportFormat("onnx", ".onnx", "ONNX"),
        ExportFormat("torchscript", ".pt", "TorchScript"),
        ExportFormat("openvino", ".xml", "OpenVINO IR: m.xml + m.bin"),
    )
}
"""Every export format by name, in the order the CLI and the file dialog list them."""


def format_for_suffix(path: str | os.PathLike[str]) -> str | None:
    """The name of the format whose suffix ``path`` has (case-insensitive), else ``None``."""
    suffix = os.path.splitext(os.fspath(path))[1].lower()
    for f in EXPORT_FORMATS.values():
        if f.suffix == suffix:
            return f.name
    return None
