"""The list filter language (AIP-160, as Grafeas extends it), parsed into a small tree.

`parse` turns filter text into nodes; `storage.filter_sql` compiles them into SQL with bound
parameters. Precedence follows AIP-160: OR binds tighter than the implicit AND of a sequence of
terms, which binds tighter than AND.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from lark import Lark, Token, Transformer, UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken
from lark.exceptions import VisitError

from .errors import InvalidArgument

_GRAMMAR = r"""
start: expression?
?expression: sequence (_AND sequence)*          -> all_of
?sequence: factor factor*                        -> all_of
?factor: term (_OR term)*                        -> any_of
?term: _NOT simple                               -> negate
     | MINUS simple                              -> negate
     | simple
?simple: restriction | "(" expression ")"
?restriction: comparable (COMPARATOR arg)?
?comparable: function | member
function: FUNC_NAME "(" [arg ("," arg)*] ")"
member: NAME ("." (NAME | STRING))*
?arg: comparable | literal | "(" expression ")"
literal: STRING | NUMBER | STAR

// Keywords are whole words: `NOTE` and `ORnoteId` are names, not NOT E and OR noteId.
_AND.3: /AND\b/
_OR.3: /OR\b/
_NOT.3: /NOT\b/
MINUS: "-"
STAR: "*"
COMPARATOR: "<=" | ">=" | "!=" | "<" | ">" | "=" | ":"
STRING: /"(?:[^"\\]|\\.)*"/ | /'(?:[^'\\]|\\.)*'/
// `-Infinity` is a number, as the bare word `Infinity` is (a `-` starting a term still negates it).
NUMBER.2: /-?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?/ | /-Infinity\b/
// A call has its `(` right after the name, so in `kind = BUILD (a OR b)` the group is a term of its
// own (implicit AND), not arguments; keywords come first: `NOT(a)` is a negation.
FUNC_NAME.2: /[A-Za-z_][A-Za-z0-9_]*(?=\()/
// Not a keyword either: read as a name where the keyword could not stand, `NOT NOT a` was `NOT` alone.
NAME: /(?!(?:AND|OR|NOT)\b)[A-Za-z_][A-Za-z0-9_]*/
%ignore /\s+/
"""

_PARSER = Lark(_GRAMMAR, parser="lalr", maybe_placeholders=False)

# SQLite parses SQL on a stack of 100 entries (before 3.46), and a level of parentheses costs up to
# seven of them in SQL (`NOT (a AND (b OR ...`): 8 is its edge; 6 leaves room for the statement around.
MAX_DEPTH = 6
# SQLite refuses an expression more than 1000 deep and parses a chain of terms left-deep; with the
# parentheses' share (a few levels each) 500 terms stay well inside.
MAX_TERMS = 500


@dataclass(frozen=True)
class Field:
    """A field reference such as `kind` or `vulnerability.effectiveSeverity`."""

    path: tuple[str, ...]

    @property
    def name(self) -> str:
        return ".".join(self.path)


@dataclass(frozen=True)
class Value:
    """A literal: text (quoted, or a bare word), a number, or `*`."""

    value: str | float
    quoted: bool = True
    text: str | None = None  # a number as written: int64 fields compare exactly beyond a float's 2**53


@dataclass(frozen=True)
class Compare:
    field: Field
    op: str
    value: Value


@dataclass(frozen=True)
class Call:
    function: str
    args: tuple


@dataclass(frozen=True)
class Not:
    node: object


@dataclass(frozen=True)
class And:
    nodes: tuple


@dataclass(frozen=True)
class Or:
    nodes: tuple


class _ToTree(Transformer):
    def start(self, children):
        return children[0] if children else None

    def all_of(self, children):
        return children[0] if len(children) == 1 else And(tuple(children))

    def any_of(self, children):
        return children[0] if len(children) == 1 else Or(tuple(children))

    def negate(self, children):
        return Not(children[-1])

    def member(self, names):
        # A quoted segment names what a bare one cannot: a map key such as "machine-type" (AIP-160).
        return Field(tuple(_unquote(str(n)) if n.type == "STRING" else str(n) for n in names))

    def function(self, children):
        return Call(str(children[0]), tuple(c for c in children[1:] if c is not None))

    def literal(self, children):
        token: Token = children[0]
        if token.type == "STRING":
            return Value(_unquote(str(token)))
        if token.type == "NUMBER":
            return Value(float(token), quoted=False, text=str(token))
        return Value("*", quoted=False)

    def restriction(self, children):
        field, op, value = children
        if not isinstance(field, Field):  # the grammar leaves a function call
            raise InvalidArgument(f"filter: the left side of {op} must be a field, not a call of {field.function}")
        if isinstance(value, Field):  # a bare word: `kind = VULNERABILITY`
            value = Value(value.name, quoted=False)
        elif not isinstance(value, Value):
            raise InvalidArgument(f"filter: the right side of {op} must be a value")
        return Compare(field, str(op), value)


def _unquote(text: str) -> str:
    body = text[1:-1]
    out, i = [], 0
    while i < len(body):
        if body[i] == "\\" and i + 1 < len(body):
            out.append(body[i + 1])
            i += 2
        else:
            out.append(body[i])
            i += 1
    return "".join(out)


def parse(text: str):
    """The filter's tree, None for an empty filter; a 400 that says where and what was expected."""
    return _parse(text)


@functools.lru_cache(maxsize=1024)  # trees are immutable, and clients repeat their filters
def _parse(text: str):
    if not text.strip():
        return None
    try:
        tree = _PARSER.parse(text)
    except UnexpectedInput as exc:
        raise InvalidArgument(_syntax_error(text, exc)) from None
    if _depth(text) > MAX_DEPTH:
        raise InvalidArgument(f"filter: parentheses nest more than {MAX_DEPTH} deep")
    try:
        node = _ToTree().transform(tree)
    except VisitError as exc:  # Lark wraps what the transformer raises
        if isinstance(exc.orig_exc, InvalidArgument):
            raise exc.orig_exc from None
        raise
    if isinstance(node, Field):
        raise InvalidArgument(f'filter: {node.name!r} alone is not a condition; compare it, e.g. {node.name}="value"')
    if _terms(node) > MAX_TERMS:
        raise InvalidArgument(f"filter: more than {MAX_TERMS} terms (comparisons and function calls)")
    return node


def _depth(text: str) -> int:
    """How deep the parentheses of a filter that parsed nest."""
    depth = deepest = 0
    for token in _PARSER.lex(text):
        if token.type == "LPAR":
            depth += 1
            deepest = max(deepest, depth)
        elif token.type == "RPAR":
            depth -= 1
    return deepest


def _terms(node) -> int:
    """The comparisons and function calls in a tree."""
    if isinstance(node, (And, Or)):
        return sum(_terms(n) for n in node.nodes)
    if isinstance(node, Not):
        return _terms(node.node)
    return 1


def _syntax_error(text: str, exc: UnexpectedInput) -> str:
    if isinstance(exc, UnexpectedEOF):
        return f"filter: syntax error: the filter ends early; expected {_expected(exc.expected)}"
    column = getattr(exc, "column", "?")
    if isinstance(exc, UnexpectedCharacters):
        return f"filter: syntax error at column {column}: unexpected character {text[exc.pos_in_stream]!r}"
    if isinstance(exc, UnexpectedToken):
        if exc.token.type == "$END":
            return f"filter: syntax error: the filter ends early; expected {_expected(exc.expected)}"
        found = repr(str(exc.token))
        return f"filter: syntax error at column {column}: unexpected {found}; expected {_expected(exc.expected)}"
    return f"filter: syntax error at column {column}"


_TERMINALS = {
    "_AND": "AND",
    "_OR": "OR",
    "_NOT": "NOT",
    "MINUS": "-",
    "STAR": "*",
    "COMPARATOR": "a comparison (= != < <= > >= :)",
    "STRING": "a quoted string",
    "NUMBER": "a number",
    "NAME": "a field name",
    "FUNC_NAME": "a function call",
    "LPAR": "(",
    "RPAR": ")",
    "COMMA": ",",
    "DOT": ".",
}


def _expected(names) -> str:
    words = sorted({_TERMINALS.get(n, n) for n in names if n != "$END"})
    return ", ".join(words) if words else "nothing more"
