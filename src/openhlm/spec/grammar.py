"""The lexical grammar shared by openhlm's text formats, a small parser base and pointed errors.

One set of lexical rules serves every text a user writes: HLM's equation format
(:mod:`openhlm.spec.equations`), equality constraints (:mod:`openhlm.spec.constraints`), the rows
of general linear hypotheses (:mod:`openhlm.spec.contrasts`), the ``constrain:`` lines of HLM 6
command files and the equations, constraints and rows inside TOML model files.  See
``docs/grammar.md``.

Tokens
------
=========  ====================================================================================
NAME       a letter of any script or ``_``, then letters, digits, ``_``, ``.``, ``@``, ``$``
           (``ses``, ``G01``, ``sés``, ``ÉLÈVE``, ``x.2``)
NUMBER     ``12``, ``1.5``, ``.5``, ``1e-3`` -- only where a format allows numbers
OP         one character of ``= + - * ( )`` -- each format allows a subset
END        after the last token of a statement (where "the statement ends" errors point)
=========  ====================================================================================

Whitespace separates tokens.  :func:`statements` splits a text into statements at line breaks
and at a separator (``;``) and drops comments (``#`` to the end of the line).

Every :class:`Token` knows its position: the line (numbered as in the file the text comes
from), the column in that line and the offset in the whole text.  Errors quote the line and
underline the spot with carets (:func:`pointed`)::

    unknown variable 'sess' in line 2 of model.toml (did you mean 'ses'?):
      mathach = B0 + B1*group(sess) + R
                              ^^^^
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from openhlm.errors import OpenHLMError, SpecError

__all__ = [
    "END",
    "NAME",
    "NAME_PATTERN",
    "NUMBER",
    "NUMBER_PATTERN",
    "OP",
    "OPERATORS",
    "Lexicon",
    "Parser",
    "Statement",
    "Token",
    "pointed",
    "segments",
    "statements",
    "tokenize",
]

NAME, NUMBER, OP, END = "name", "number", "op", "end"
#: A name: a letter (any script) or "_", then letters, digits, "_", ".", "@", "$".
NAME_PATTERN = r"[^\W\d][\w.@$]*"
#: A number: digits with an optional decimal point and exponent, or a leading-point fraction.
NUMBER_PATTERN = r"(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?"
#: Every operator character of every format.
OPERATORS = "=+-*()"

_LEXEME = re.compile(
    rf"(?P<ws>\s+)|(?P<{NAME}>{NAME_PATTERN})|(?P<{NUMBER}>{NUMBER_PATTERN})"
    rf"|(?P<{OP}>[{re.escape(OPERATORS)}])"
)


def pointed(message: str, where: str, line: str, column: int, width: int = 1,
            hint: str = "") -> str:
    """An error message that quotes ``line`` and underlines ``[column, column + width)``::

        {message} in {where}{hint}:
          {line}
          {spaces}^^^

    Tabs before the spot are kept in the caret line so the carets stay under it.
    """
    pad = "".join(ch if ch == "\t" else " " for ch in line[:column])
    return f"{message} in {where}{hint}:\n  {line}\n  {pad}{'^' * max(width, 1)}"


@dataclass(frozen=True, slots=True)
class Token:
    """One token: its kind (:data:`NAME`, :data:`NUMBER`, :data:`OP`, :data:`END`), its text
    and its position.

    ``line`` is the line number (counted as in the file the text comes from), ``column`` the
    0-based column in that line, ``offset`` the 0-based index in the whole text.
    """

    kind: str
    text: str
    line: int = 1
    column: int = 0
    offset: int = 0

    @property
    def width(self) -> int:
        """How many carets underline the token (at least one, for :data:`END`)."""
        return max(len(self.text), 1)

    def is_op(self, op: str) -> bool:
        """Whether this is the operator ``op``."""
        return self.kind == OP and self.text == op


@dataclass(frozen=True, slots=True)
class Lexicon:
    """What a format allows of the shared lexical rules.

    ``operators``: the operator characters it uses (a subset of :data:`OPERATORS`);
    ``numbers``: whether numbers are tokens; ``hint``: extra text for the error on an
    unexpected character (given that character), e.g. why ``-`` is not allowed.
    """

    operators: str = OPERATORS
    numbers: bool = True
    hint: Callable[[str], str] | None = field(default=None, compare=False)

    def allows(self, kind: str, text: str) -> bool:
        """Whether a token of this kind and text belongs to the format."""
        if kind == NUMBER:
            return self.numbers
        if kind == OP:
            return text in self.operators
        return True


#: Everything: names, numbers and all operators.
DEFAULT_LEXICON = Lexicon()


@dataclass(frozen=True, slots=True)
class Statement:
    """The tokens of one statement and the physical line they sit on.

    ``text`` is the whole physical line (quoted in errors), ``where`` names it in messages
    (``"line 3 of model.toml"``, ``"constraint 1"``); ``tokens`` end with an :data:`END` token.
    Errors are of type ``error`` (:class:`~openhlm.errors.SpecError` unless the format says
    otherwise).
    """

    text: str
    where: str
    tokens: tuple[Token, ...]
    error_type: type[OpenHLMError] = field(default=SpecError, compare=False)

    def error(self, message: str, column: int, width: int = 1, hint: str = "") -> OpenHLMError:
        """An error pointing at ``[column, column + width)`` of the line."""
        return self.error_type(pointed(message, self.where, self.text, column, width, hint))

    def error_at(self, message: str, token: Token, hint: str = "") -> OpenHLMError:
        """An error underlining ``token``."""
        return self.error(message, token.column, token.width, hint)


def tokenize(text: str, start: int = 0, end: int | None = None, *, where: str,
             lexicon: Lexicon = DEFAULT_LEXICON, line: int = 1, offset: int = 0,
             error: type[OpenHLMError] = SpecError) -> Statement:
    """The tokens of ``text[start:end]``, one statement on the physical line ``text``.

    ``line`` is the line's number and ``offset`` the index of its first character in the
    whole text (for :attr:`Token.line` and :attr:`Token.offset`).  The :data:`END` token sits
    just after the last non-blank character (or at ``start`` for a blank statement).

    Raises
    ------
    OpenHLMError
        Of type ``error``: ``unexpected character 'x'`` pointing at the first character that
        is no token of ``lexicon``, with the lexicon's hint.
    """
    stop = len(text) if end is None else end
    tokens: list[Token] = []
    pos = start
    probe = Statement(text, where, (), error)
    while pos < stop:
        m = _LEXEME.match(text, pos, stop)
        kind = m.lastgroup if m is not None else None
        if m is None or (kind != "ws" and not lexicon.allows(kind or "", m.group())):
            ch = text[pos]
            hint = lexicon.hint(ch) if lexicon.hint is not None else ""
            raise probe.error(f"unexpected character '{ch}'", pos, 1, hint)
        if kind != "ws":
            tokens.append(Token(kind or "", m.group(), line, pos, offset + pos))
        pos = m.end()
    tail = max(len(text[:stop].rstrip()), start)
    tokens.append(Token(END, "", line, tail, offset + tail))
    return Statement(text, where, tuple(tokens), error)


def segments(line: str, start: int, end: int, separator: str) -> Iterator[tuple[int, int]]:
    """``(start, stop)`` of each non-blank piece of ``line[start:end]`` between separators."""
    while start <= end:
        stop = line.find(separator, start, end)
        if stop < 0:
            stop = end
        if line[start:stop].strip():
            yield start, stop
        start = stop + 1


def statements(text: str, *, source: str | None = None, first_line: int = 1,
               lexicon: Lexicon = DEFAULT_LEXICON, separator: str = ";", comment: str = "#",
               error: type[OpenHLMError] = SpecError) -> list[Statement]:
    """Split ``text`` into tokenized statements: one per line and per ``separator``.

    Comments (``comment`` to the end of the line) and blank statements are dropped.  Lines are
    numbered from ``first_line`` and named ``"line N"`` or ``"line N of {source}"``.
    """
    out: list[Statement] = []
    offset = 0
    lines = zip(text.splitlines(), text.splitlines(keepends=True))
    for number, (body, line) in enumerate(lines, start=first_line):
        where = f"line {number}" + (f" of {source}" if source else "")
        content_end = body.find(comment) if comment else -1
        if content_end < 0:
            content_end = len(body)
        for start, stop in segments(body, 0, content_end, separator):
            out.append(tokenize(body, start, stop, where=where, lexicon=lexicon, line=number,
                                offset=offset, error=error))
        offset += len(line)
    return out


class Parser:
    """A recursive-descent parser over the tokens of one :class:`Statement`.

    Subclasses write one method per rule and use :meth:`accept`, :meth:`expect_op`,
    :meth:`expect_name` and :meth:`unexpected`; ``noun`` names the statement in "ends where"
    errors (``"the equation ends where '=' is expected"``).
    """

    noun = "statement"

    def __init__(self, statement: Statement):
        self.statement = statement
        self.pos = 0

    @property
    def current(self) -> Token:
        """The token under the cursor (the :data:`END` token once all are consumed)."""
        return self.statement.tokens[self.pos]

    @property
    def previous(self) -> Token | None:
        """The token before the cursor, if any."""
        return self.statement.tokens[self.pos - 1] if self.pos else None

    @property
    def at_end(self) -> bool:
        return self.current.kind == END

    def advance(self) -> Token:
        """Consume the current token and return it (never moves past :data:`END`)."""
        tok = self.current
        if tok.kind != END:
            self.pos += 1
        return tok

    def accept(self, op: str) -> bool:
        """Consume the operator ``op`` if it is next."""
        if self.current.is_op(op):
            self.pos += 1
            return True
        return False

    def unexpected(self, what: str) -> OpenHLMError:
        """The error for the current token when ``what`` was expected."""
        tok = self.current
        if tok.kind == END:
            return self.statement.error(f"the {self.noun} ends where {what} is expected",
                                        tok.column)
        return self.statement.error_at(f"unexpected '{tok.text}' where {what} is expected", tok,
                                       self.unexpected_hint())

    def unexpected_hint(self) -> str:
        """Extra text for :meth:`unexpected` on a token (subclasses explain common slips)."""
        return ""

    def expect_op(self, op: str, what: str) -> None:
        """Consume the operator ``op`` or raise :meth:`unexpected` naming ``what``."""
        if not self.accept(op):
            raise self.unexpected(what)

    def expect_name(self, what: str) -> Token:
        """Consume a name or raise :meth:`unexpected` naming ``what``."""
        if self.current.kind != NAME:
            raise self.unexpected(what)
        return self.advance()

    def expect_end(self, what: str) -> None:
        """Raise :meth:`unexpected` naming ``what`` unless all tokens are consumed."""
        if not self.at_end:
            raise self.unexpected(what)
