"""The shared grammar (openhlm.spec.grammar): tokens and their positions, statements, pointed
errors, lexicons and the recursive-descent parser base."""

from __future__ import annotations

import pytest

from openhlm.errors import HypothesisError, SpecError
from openhlm.spec.grammar import (
    END,
    NAME,
    NUMBER,
    OP,
    Lexicon,
    Parser,
    Statement,
    Token,
    pointed,
    segments,
    statements,
    tokenize,
)


def kinds(statement: Statement) -> list[tuple[str, str]]:
    return [(t.kind, t.text) for t in statement.tokens]


# -- tokens -----------------------------------------------------------------------------------


def test_tokens_of_one_line_with_columns() -> None:
    stmt = tokenize("y = B0 + B1*group(x) + R", where="here")
    assert kinds(stmt) == [
        (NAME, "y"), (OP, "="), (NAME, "B0"), (OP, "+"), (NAME, "B1"), (OP, "*"),
        (NAME, "group"), (OP, "("), (NAME, "x"), (OP, ")"), (OP, "+"), (NAME, "R"), (END, ""),
    ]
    assert [t.column for t in stmt.tokens] == [0, 2, 4, 7, 9, 11, 12, 17, 18, 19, 21, 23, 24]
    assert all(t.line == 1 and t.offset == t.column for t in stmt.tokens)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("sés", [(NAME, "sés")]),
        ("ÉLÈVE_2", [(NAME, "ÉLÈVE_2")]),
        ("_x.y@z$", [(NAME, "_x.y@z$")]),
        ("G01", [(NAME, "G01")]),
        ("12 1.5 .5 1e-3 2E+4 3.", [(NUMBER, "12"), (NUMBER, "1.5"), (NUMBER, ".5"),
                                    (NUMBER, "1e-3"), (NUMBER, "2E+4"), (NUMBER, "3.")]),
        ("2*G02-G12=0", [(NUMBER, "2"), (OP, "*"), (NAME, "G02"), (OP, "-"), (NAME, "G12"),
                         (OP, "="), (NUMBER, "0")]),
    ],
)
def test_lexical_rules(text: str, expected: list[tuple[str, str]]) -> None:
    assert kinds(tokenize(text, where="here"))[:-1] == expected


def test_the_end_token_sits_after_the_last_non_blank_character() -> None:
    assert tokenize("a = b   ", where="w").tokens[-1] == Token(END, "", 1, 5, 5)
    # a blank piece of a line: the end token is at the start of the piece
    assert tokenize("abc;   ;", 4, 7, where="w").tokens == (Token(END, "", 1, 4, 4),)
    assert tokenize("", where="w").tokens[-1].width == 1


def test_token_positions_across_lines() -> None:
    text = "y = B0 + R  # outcome\r\nB0 = G00 ; G00 = G01\n\n   B1 = U1\n"
    found = statements(text, source="m.toml", first_line=7)
    assert [s.where for s in found] == ["line 7 of m.toml", "line 8 of m.toml",
                                        "line 8 of m.toml", "line 10 of m.toml"]
    assert [s.text for s in found] == ["y = B0 + R  # outcome", "B0 = G00 ; G00 = G01",
                                       "B0 = G00 ; G00 = G01", "   B1 = U1"]
    for stmt in found:
        for tok in stmt.tokens[:-1]:
            # the offset is the token's index in the whole text, the column in its line
            assert text[tok.offset:tok.offset + len(tok.text)] == tok.text
            assert stmt.text[tok.column:tok.column + len(tok.text)] == tok.text
    g00 = found[2].tokens[0]
    assert (g00.text, g00.line, g00.column, g00.offset) == ("G00", 8, 11, 34)
    b1 = found[3].tokens[0]
    assert (b1.text, b1.line, b1.column, b1.offset) == ("B1", 10, 3, 48)
    # comments are dropped, and so is everything after '#' (even a ';')
    assert [t.text for t in found[0].tokens] == ["y", "=", "B0", "+", "R", ""]
    assert statements("a = b # c; d = e")[0].tokens == statements("a = b")[0].tokens


def test_statements_without_a_source_and_with_other_separators() -> None:
    assert [s.where for s in statements("a\nb")] == ["line 1", "line 2"]
    found = statements("a = 1 , b = 2", separator=",", comment="")
    assert [[t.text for t in s.tokens] for s in found] == [["a", "=", "1", ""],
                                                           ["b", "=", "2", ""]]


def test_segments() -> None:
    line = "key:G01=G11; ;g00 = g10 ;"
    assert [line[a:b] for a, b in segments(line, 4, len(line), ";")] == ["G01=G11", "g00 = g10 "]
    assert list(segments("  ", 0, 2, ";")) == []


# -- pointed errors ---------------------------------------------------------------------------


def test_pointed_quotes_the_line_and_underlines_the_spot() -> None:
    message = pointed("unknown variable 'sess'", "line 2 of m.toml",
                      "mathach = B0 + B1*group(sess) + R", 24, 4, " (did you mean 'ses'?)")
    assert message == (
        "unknown variable 'sess' in line 2 of m.toml (did you mean 'ses'?):\n"
        "  mathach = B0 + B1*group(sess) + R\n"
        "                          ^^^^"
    )
    # tabs before the spot are kept so that the carets stay under it; width is at least 1
    assert pointed("m", "w", "\ta\tb", 3, 0).splitlines()[-1] == "  \t \t^"


def test_statement_errors_point_at_a_token_on_its_line() -> None:
    found = statements("y = B0 + R\n  B0 = G00 + U0", source="f")
    tok = found[1].tokens[2]
    err = found[1].error_at("bad gamma", tok, " (hint)")
    assert isinstance(err, SpecError)
    assert str(err) == "bad gamma in line 2 of f (hint):\n    B0 = G00 + U0\n         ^^^"
    err = found[0].error("here", 4, 2)
    assert str(err).splitlines()[1:] == ["  y = B0 + R", "      ^^"]


def test_the_error_type_follows_the_statement() -> None:
    stmt = tokenize("G01 = 0", where="row 1", error=HypothesisError)
    assert type(stmt.error_at("no", stmt.tokens[0])) is HypothesisError


# -- lexicons ---------------------------------------------------------------------------------


def test_an_unexpected_character_points_at_itself() -> None:
    with pytest.raises(SpecError) as info:
        statements("a = b\nc = d / e", source="f")
    assert str(info.value) == "unexpected character '/' in line 2 of f:\n  c = d / e\n        ^"


def test_a_lexicon_restricts_operators_and_numbers_with_a_hint() -> None:
    lexicon = Lexicon(operators="=+", numbers=False,
                      hint=lambda ch: " (no minus)" if ch == "-" else "")
    assert kinds(tokenize("a = b + c", where="w", lexicon=lexicon))[-2] == (NAME, "c")
    with pytest.raises(SpecError, match=r"unexpected character '-' in w \(no minus\)"):
        tokenize("a = b - 2", where="w", lexicon=lexicon)
    # the first offending character is reported, left to right
    with pytest.raises(SpecError) as info:
        tokenize("a = 2 - b", where="w", lexicon=lexicon)
    assert str(info.value).startswith("unexpected character '2' in w:")
    assert str(info.value).endswith("\n  a = 2 - b\n      ^")
    assert not lexicon.allows(NUMBER, "2") and lexicon.allows(OP, "=")
    assert not lexicon.allows(OP, "*") and lexicon.allows(NAME, "x")


# -- the parser base --------------------------------------------------------------------------


class Sum(Parser):
    """``sum := NAME ('+' NAME)*`` -- a tiny grammar on the base."""

    noun = "sum"

    def parse(self) -> list[str]:
        names = [self.expect_name("a name").text]
        while self.accept("+"):
            names.append(self.expect_name("a name").text)
        self.expect_end("'+' or the end of the sum")
        return names


def sum_of(text: str) -> list[str]:
    return Sum(tokenize(text, where="the sum")).parse()


def test_parser_base_reads_a_grammar() -> None:
    assert sum_of("a + b+c") == ["a", "b", "c"]
    parser = Sum(tokenize("a + b", where="w"))
    assert parser.previous is None and parser.current.text == "a"
    assert parser.advance().text == "a" and parser.previous is not None
    assert parser.accept("+") and not parser.accept("+")
    assert parser.advance().text == "b" and parser.at_end
    assert parser.advance().kind == END and parser.at_end  # never moves past the end


@pytest.mark.parametrize(
    ("text", "message", "spot"),
    [
        ("a +", "the sum ends where a name is expected", ""),
        ("a + +", "unexpected '+' where a name is expected", "+"),
        ("a b", "unexpected 'b' where '+' or the end of the sum is expected", "b"),
        ("= a", "unexpected '=' where a name is expected", "="),
    ],
)
def test_parser_base_errors(text: str, message: str, spot: str) -> None:
    with pytest.raises(SpecError) as info:
        sum_of(text)
    first, quote, carets = str(info.value).splitlines()
    assert first == f"{message} in the sum:"
    start = carets.index("^") - 2
    assert quote[2:][start:start + carets.count("^")] == spot


def test_parser_hint_hook() -> None:
    class Hinted(Sum):
        def unexpected_hint(self) -> str:
            return " (join names with '+')"

    with pytest.raises(SpecError, match=r"unexpected 'b' .* in w \(join names with '\+'\):"):
        Hinted(tokenize("a b", where="w")).parse()
