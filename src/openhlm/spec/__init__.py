"""The model specification layer: HLM's equation format, HLM 6 command files, TOML model files.

Modules (the public names are re-exported here and from the format's module):

* ``model`` -- the model as frozen data (:class:`ModelSpec`, :class:`Constraint`, ...);
* ``grammar`` -- the lexical rules, tokens with positions, the parser base and pointed errors
  shared by every text format (``docs/grammar.md``); ``names`` -- variable-name lookup;
* ``equations`` -- HLM's equation format (``equation_syntax``, ``equation_reader``, ``build``,
  ``printing``); ``constraints`` -- equality constraints (:func:`parse_constraint`);
  ``contrasts`` -- rows of general linear hypotheses;
* ``commandfile`` -- HLM 6 command files (``commandfile_reader``, ``commandfile_model``,
  ``commandfile_writer``);
* ``modelfile`` -- TOML model files (``modelfile_sections``, ``modelfile_reader``,
  ``modelfile_writer``).

>>> from openhlm.spec import parse_model
>>> spec = parse_model("mathach = B0 + B1*group(ses) + R; B0 = G00 + G01*meanses + U0",
...                    level1_variables=["mathach", "ses"], level2_variables=["meanses"])
>>> spec.gamma_labels()
('G00', 'G01', 'G10')
"""

from __future__ import annotations

from openhlm.spec.commandfile import (
    CommandFile,
    CommandOptions,
    parse_command_file,
    read_command_file,
    write_command_file,
)
from openhlm.spec.constraints import parse_constraint
from openhlm.spec.contrasts import ContrastRow, parse_contrast, parse_hypothesis
from openhlm.spec.equations import (
    build_model,
    centering_marker,
    centering_notes,
    format_equations,
    format_hlm_equations,
    format_mixed,
    parse_model,
    parse_predictor,
    validate_spec,
)
from openhlm.spec.model import (
    Centering,
    Coefficient,
    Constraint,
    Level2Equation,
    ModelSpec,
    Predictor,
)
from openhlm.spec.modelfile import (
    ModelFile,
    format_model_file,
    load_model_file,
    model_file_from_command_file,
    parse_model_file,
)

__all__ = [
    "Centering",
    "Coefficient",
    "CommandFile",
    "CommandOptions",
    "Constraint",
    "ContrastRow",
    "Level2Equation",
    "ModelFile",
    "ModelSpec",
    "Predictor",
    "build_model",
    "centering_marker",
    "centering_notes",
    "format_equations",
    "format_hlm_equations",
    "format_mixed",
    "format_model_file",
    "load_model_file",
    "model_file_from_command_file",
    "parse_command_file",
    "parse_constraint",
    "parse_contrast",
    "parse_hypothesis",
    "parse_model",
    "parse_model_file",
    "parse_predictor",
    "read_command_file",
    "validate_spec",
    "write_command_file",
]
