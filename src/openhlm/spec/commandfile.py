"""HLM 6 command files (``.hlm``): read them into a :class:`CommandFile`, write them back.

An HLM 6 command file has one ``key:value`` per line after a first line
``#WHLM CMD FILE FOR <mdm file>``::

    #WHLM CMD FILE FOR hsb.mdm
    nonlin:n
    numit:100
    stopval:0.0000010000
    level1:MATHACH=INTRCPT1+SES,1+RANDOM
    level2:INTRCPT1=INTRCPT2+SECTOR+MEANSES+random/
    level2:SES=INTRCPT2+SECTOR+MEANSES+random/
    mlf:n

In ``level1:`` a predictor followed by ``,1`` is group-mean centred and ``,2`` grand-mean
centred, ``INTRCPT1`` is the level-1 intercept and ``RANDOM`` the level-1 residual.  There is
one ``level2:`` line per level-1 coefficient, ``INTRCPT2`` is the level-2 intercept, ``,2``
grand-mean centres and ``random`` marks the random effect u.  Hypotheses are ``gammaN:`` lines,
one contrast row each (``gamma1:0,1,0,0,0,0``), as HLM's batch tools write them.

Two openhlm extensions (HLM 6 stores these settings in a form we have not seen documented):
``constrain:G02=G12`` (several constraints separated by ``;``) and ``heterol1var:FEMALE``
(comma-separated level-1 variables; a leading ``y,`` is accepted).

HGLMs: ``nonlin:bernoulli``, ``nonlin:binomial,TRIALS``, ``nonlin:poisson[,EXPOSURE]`` and
PQL's ``macroit``/``microit``/``stopmacro``/``stopmicro`` are read by
:mod:`openhlm.spec.commandfile_hglm` (the ``,VARIABLE`` suffix is openhlm's form).

Keys that change the model in ways openhlm does not implement (ordinal / multinomial outcomes,
three-level models, fixed sigma^2 other than an HGLM's 1, latent-variable regression, ...)
raise :class:`~openhlm.errors.CommandFileError`;
keys that only affect HLM's display or iteration bookkeeping are recorded in
:attr:`CommandFile.ignored_keys`.

The work is done in :mod:`openhlm.spec.commandfile_reader` (keys and options),
:mod:`openhlm.spec.commandfile_model` (the model lines) and
:mod:`openhlm.spec.commandfile_writer`; the names below are the public API.
"""

from __future__ import annotations

from openhlm.spec.commandfile_reader import (
    CommandFile,
    CommandOptions,
    parse_command_file,
    read_command_file,
)
from openhlm.spec.commandfile_writer import write_command_file

__all__ = [
    "CommandFile",
    "CommandOptions",
    "parse_command_file",
    "read_command_file",
    "write_command_file",
]
