"""Data-flow graphs for CodeBLEU's semantic match, on tree-sitter (Python and Java).

Written here because the `codebleu` package pins tree-sitter < 0.23 while codesweep needs a
current tree-sitter. The definition follows CodeBLEU (Ren et al., 2020) as CodeXGLUE
implements it: every variable occurrence is a node; an occurrence "comesFrom" the last
definitions of that name that reach it, an assigned name is "computedFrom" the variables
of its right-hand side; branches merge their definitions, loop bodies run twice so that
values flow around the loop. Unlike the reference, ties are ordered deterministically.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

Node = Any  # tree_sitter.Node
States = dict[str, list[int]]  # variable name -> indexes of the definitions that reach here

STRING_TYPES = frozenset({"string", "string_literal", "character_literal"})
COMMENT_TYPES = frozenset({"comment", "line_comment", "block_comment"})


@dataclass(frozen=True)
class Edge:
    """One variable occurrence and where its value comes from."""

    name: str
    index: int
    relation: str  # "comesFrom" | "computedFrom"
    sources: tuple[str, ...]
    source_indexes: tuple[int, ...]


class Tokens:
    """Leaf tokens of a tree in source order (strings count as one token)."""

    def __init__(self, root: Node) -> None:
        self.by_span: dict[tuple, tuple[int, str]] = {}
        for node in _leaves(root):
            self.by_span[_span(node)] = (len(self.by_span), node.text.decode(errors="replace"))

    def variables(self, node: Node | None) -> list[tuple[int, str]]:
        """(index, text) of the leaves under `node` that are not keywords or punctuation."""
        if node is None:
            return []
        found = []
        for leaf in _leaves(node):
            index, text = self.by_span[_span(leaf)]
            if leaf.type != text:
                found.append((index, text))
        return found


def _span(node: Node) -> tuple:
    return (node.start_byte, node.end_byte)


def _is_leaf(node: Node) -> bool:
    return (not node.children or node.type in STRING_TYPES) and node.type not in COMMENT_TYPES


def _leaves(node: Node) -> list[Node]:
    if _is_leaf(node):
        return [node]
    if node.type in COMMENT_TYPES:
        return []
    return [leaf for child in node.children for leaf in _leaves(child)]


class Walker:
    """Walks one tree, threading the reaching definitions through it."""

    def __init__(self, tokens: Tokens, language: str) -> None:
        self.tokens = tokens
        self.handlers = {**COMMON_HANDLERS, **LANGUAGE_HANDLERS[language]}

    def walk(self, node: Node, states: States) -> tuple[list[Edge], States]:
        states = dict(states)
        if node.type in COMMENT_TYPES:
            return [], states
        if _is_leaf(node):
            return self.leaf(node, states)
        handler = self.handlers.get(node.type, Walker.sequence)
        return handler(self, node, states)

    def leaf(self, node: Node, states: States) -> tuple[list[Edge], States]:
        index, text = self.tokens.by_span[_span(node)]
        if node.type == text:  # a keyword or punctuation
            return [], states
        if text in states:
            return [Edge(text, index, "comesFrom", (text,), tuple(states[text]))], states
        if node.type == "identifier":
            states[text] = [index]
        return [Edge(text, index, "comesFrom", (), ())], states

    def sequence(self, node: Node, states: States, children=None) -> tuple[list[Edge], States]:
        edges: list[Edge] = []
        for child in node.children if children is None else children:
            found, states = self.walk(child, states)
            edges += found
        return edges, states

    def define(self, targets: Node, values: Node | None, relation: str, states: States,
               pairwise: bool = True) -> list[Edge]:
        """Edges from each name in `targets` to the variables of `values`; the names now defined."""
        sources = self.tokens.variables(values)
        edges = []
        for index, name in self.tokens.variables(targets):
            if pairwise:
                edges += [Edge(name, index, relation, (s,), (i,)) for i, s in sources]
            else:
                edges.append(Edge(name, index, relation, tuple(s for _, s in sources),
                                  tuple(i for i, _ in sources)))
            states[name] = [index]
        return edges

    def declaration(self, node: Node, states: States) -> tuple[list[Edge], States]:
        """`name = value` in a declaration or default parameter: name comesFrom value."""
        name, value = node.child_by_field_name("name"), node.child_by_field_name("value")
        edges: list[Edge] = []
        if value is not None:
            edges, states = self.walk(value, states)
        if value is None:
            return edges + self.define(name, None, "comesFrom", states, pairwise=False), states
        return edges + self.define(name, value, "comesFrom", states), states

    def branches(self, node: Node, states: States) -> tuple[list[Edge], States]:
        """if/elif/else: alternatives start from the same state; their ends are merged."""
        edges, current, alternatives = [], dict(states), []
        after_else = False  # Java: the statement after the `else` keyword is the alternative
        for child in node.children:
            if child.type in ("elif_clause", "else_clause") or after_else:
                found, ended = self.walk(child, states)
                alternatives.append(ended)
            else:
                found, current = self.walk(child, current)
            after_else = after_else or child.type == "else"
            edges += found
        alternatives.append(current)
        if not any(c.type in ("else", "else_clause") for c in node.children):
            alternatives.append(states)  # no else: the condition may skip every branch
        return edges, _merge(alternatives)

    def twice(self, node: Node, states: States, children=None) -> tuple[list[Edge], States]:
        """A loop: walk it twice so that definitions at its end reach its start."""
        first, states = self.sequence(node, states, children)
        second, states = self.sequence(node, states, children)
        return _merge_edges(first + second), states


def _merge(alternatives: list[States]) -> States:
    merged: States = {}
    for states in alternatives:
        for name, indexes in states.items():
            merged[name] = sorted(set(merged.get(name, [])) | set(indexes))
    return merged


def _merge_edges(edges: list[Edge]) -> list[Edge]:
    """One edge per (name, index, relation), with the union of the sources."""
    merged: dict[tuple, tuple[set, set]] = {}
    for e in edges:
        names, indexes = merged.setdefault((e.name, e.index, e.relation), (set(), set()))
        names.update(e.sources)
        indexes.update(e.source_indexes)
    return [Edge(n, i, r, tuple(sorted(s)), tuple(sorted(x)))
            for (n, i, r), (s, x) in sorted(merged.items(), key=lambda item: item[0][1])]


def _python_assignment(walker: Walker, node: Node, states: States):
    if node.type == "for_in_clause":
        lefts, rights = [node.child_by_field_name("left")], [node.children[-1]]
    elif node.child_by_field_name("right") is None:  # an annotation without a value
        return [], states
    else:
        lefts, rights = _paired_sides(node)
    edges: list[Edge] = []
    for right in rights:
        found, states = walker.walk(right, states)
        edges += found
    for left, right in zip(lefts, rights, strict=True):
        edges += walker.define(left, right, "computedFrom", states, pairwise=False)
    return edges, states


TUPLE_TYPES = frozenset({"pattern_list", "tuple_pattern", "expression_list", "tuple"})


def _paired_sides(node: Node) -> tuple[list[Node], list[Node]]:
    """`a, b = x, y` pairs a with x and b with y; anything else pairs the whole sides."""
    left, right = node.child_by_field_name("left"), node.child_by_field_name("right")
    if left.type not in TUPLE_TYPES or right.type not in TUPLE_TYPES:
        return [left], [right]
    lefts = [c for c in left.children if c.type not in ("(", ")", ",")]
    rights = [c for c in right.children if c.type not in ("(", ")", ",")]
    if len(lefts) != len(rights) or not lefts:
        return [left], [right]
    return lefts, rights


def _python_for(walker: Walker, node: Node, states: States):
    edges: list[Edge] = []
    for _ in range(2):
        lefts, rights = _paired_sides(node)
        for right in rights:
            found, states = walker.walk(right, states)
            edges += found
        for left, right in zip(lefts, rights, strict=True):
            edges += walker.define(left, right, "computedFrom", states, pairwise=False)
        if node.children[-1].type == "block":
            found, states = walker.walk(node.children[-1], states)
            edges += found
    return _merge_edges(edges), states


def _python_sequence(walker: Walker, node: Node, states: States):
    """Comprehension clauses define their variables before the expression uses them."""
    first = [c for c in node.children if c.type == "for_in_clause"]
    rest = [c for c in node.children if c.type != "for_in_clause"]
    return walker.sequence(node, states, first + rest)


def _java_assignment(walker: Walker, node: Node, states: States):
    right = node.child_by_field_name("right")
    edges, states = walker.walk(right, states)
    return edges + walker.define(node.child_by_field_name("left"), right, "computedFrom",
                                 states), states


def _java_update(walker: Walker, node: Node, states: States):
    """`i++`: i is computed from itself."""
    return walker.define(node, node, "computedFrom", states), states


def _java_for(walker: Walker, node: Node, states: States):
    edges, states = walker.sequence(node, states)
    children = node.children
    declaration = next((i for i, c in enumerate(children)
                        if c.type == "local_variable_declaration"), None)
    if declaration is not None:  # the condition, update and body once more
        found, states = walker.sequence(node, states, children[declaration + 1:])
        edges += found
    return _merge_edges(edges), states


def _java_enhanced_for(walker: Walker, node: Node, states: States):
    name, value = node.child_by_field_name("name"), node.child_by_field_name("value")
    edges: list[Edge] = []
    for _ in range(2):
        found, states = walker.walk(value, states)
        edges += found + walker.define(name, value, "computedFrom", states)
        found, states = walker.walk(node.child_by_field_name("body"), states)
        edges += found
    return _merge_edges(edges), states


COMMON_HANDLERS = {"if_statement": Walker.branches, "while_statement": Walker.twice}
LANGUAGE_HANDLERS = {
    "python": {
        "assignment": _python_assignment, "augmented_assignment": _python_assignment,
        "for_in_clause": _python_assignment, "default_parameter": Walker.declaration,
        "for_statement": _python_for, "list_comprehension": _python_sequence,
        "set_comprehension": _python_sequence, "dictionary_comprehension": _python_sequence,
        "generator_expression": _python_sequence,
    },
    "java": {
        "assignment_expression": _java_assignment, "variable_declarator": Walker.declaration,
        "update_expression": _java_update, "for_statement": _java_for,
        "enhanced_for_statement": _java_enhanced_for,
    },
}


def data_flow(root: Node, language: str) -> list[Edge]:
    """The graph's edges, restricted to occurrences that take part in some flow, merged per node."""
    tokens = Tokens(root)
    try:
        edges, _ = Walker(tokens, language).walk(root, {})
    except RecursionError:  # pathological nesting: no graph rather than a crash
        return []
    involved = {e.index for e in edges if e.source_indexes}
    involved |= {i for e in edges for i in e.source_indexes}
    return _merge_edges([e for e in edges if e.index in involved])


def normalize(edges: list[Edge]) -> list[tuple[str, str, tuple[str, ...]]]:
    """Rename variables var_0, var_1, ... in order of appearance, so names do not matter."""
    names: dict[str, str] = {}
    for edge in edges:
        for name in (*edge.sources, edge.name):
            names.setdefault(name, f"var_{len(names)}")
    return [(names[e.name], e.relation, tuple(names[s] for s in e.sources)) for e in edges]
