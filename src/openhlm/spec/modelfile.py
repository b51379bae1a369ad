"""TOML model files: what ``openhlm fit MODEL.toml`` reads.

One file names the data, the model (in HLM's equation format), the estimation settings, the
tests to run and the outputs to write; see ``docs/model-files.md`` for the schema.  Loading
checks the file's structure (unknown keys with close matches, types, allowed values) and keeps
the equations as text: they are parsed against the MDM's variable names later, with
:meth:`ModelFile.model_spec`, because only the data know which variables exist.

Every error is a :class:`~openhlm.errors.CommandFileError` naming the file, the key and the
line, with the line quoted.

The public face of model files; the work is done in :mod:`openhlm.spec.modelfile_sections`
(the sections as frozen data and :class:`ModelFile`), :mod:`openhlm.spec.modelfile_reader` and
:mod:`openhlm.spec.modelfile_writer`.
"""

from __future__ import annotations

from openhlm.spec.modelfile_reader import load_model_file, parse_model_file
from openhlm.spec.modelfile_sections import (
    RESIDUAL_FORMATS,  # noqa: F401  (a module constant, importable from here as before)
    DataSection,
    DevianceTest,
    EstimationSection,
    HypothesesSection,
    ModelFile,
    ModelSection,
    OutputSection,
    WeightsSection,
)
from openhlm.spec.modelfile_writer import format_model_file, model_file_from_command_file

__all__ = [
    "DataSection",
    "DevianceTest",
    "EstimationSection",
    "HypothesesSection",
    "ModelFile",
    "ModelSection",
    "OutputSection",
    "WeightsSection",
    "format_model_file",
    "load_model_file",
    "model_file_from_command_file",
    "parse_model_file",
]
