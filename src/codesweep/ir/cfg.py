"""Control-flow graph of a Python function: basic blocks of statement kinds, labelled edges.

Each block lists the kinds (stdlib `ast` class names) of the statements it runs, in order;
compound statements appear as their header (`If`, `While`, `For`, `Try`, `With`, `Match`) in
the block that evaluates them. Edges carry a label:
    next       fall-through             true/false  branch of If, While, For (next item / exhausted)
    back       end of a loop body       break, continue, return, raise  jumps
    exception  into an except handler   finally     into a finally block
The exit node is `exit`. Exceptions are modelled as leaving the *entry* block of a `try`
body for each handler (the usual approximation: any statement may raise, and one edge per
handler keeps the graph readable). Empty pass-through blocks are removed and blocks are
renumbered in depth-first order from the entry, so the output is deterministic.

Serializations: `to_text()` for people (`b0: Assign If -> true:b1 false:b2`) and `to_tokens()`
for models (`<cfg:b0> <stmt:Assign> <stmt:If> <edge:true> <cfg:b1> <edge:false> <cfg:b2> ...`).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

from codesweep.ir.ast import first_function

EXIT = -1
EDGE_LABELS = ("next", "true", "false", "back", "break", "continue", "return", "raise",
               "exception", "finally", "case")


@dataclass
class Block:
    """A basic block: statement kinds run in order, then (label, successor id) edges."""

    id: int
    kinds: list[str] = field(default_factory=list)
    edges: list[tuple[str, int]] = field(default_factory=list)

    def link(self, label: str, target: Block | int) -> None:
        """Add an edge, once."""
        edge = (label, target if isinstance(target, int) else target.id)
        if edge not in self.edges:
            self.edges.append(edge)


@dataclass
class CFG:
    """Blocks in depth-first order from the entry (`blocks[0]`)."""

    blocks: list[Block]

    def to_text(self) -> str:
        """One line per block: `b0: Assign If -> true:b1 false:b2`."""
        return "\n".join(f"{_name(b.id)}: {' '.join(b.kinds) or '-'} -> "
                         + " ".join(f"{label}:{_name(t)}" for label, t in b.edges)
                         for b in self.blocks)

    def to_tokens(self, max_blocks: int = 32) -> list[str]:
        """IR tokens; blocks past `max_blocks` are replaced by a final `<cfg:trunc>`."""
        tokens: list[str] = []
        for block in self.blocks[:max_blocks]:
            tokens.append(f"<cfg:{_name(block.id)}>")
            tokens.extend(f"<stmt:{kind}>" for kind in block.kinds)
            for label, target in block.edges:
                target_name = _name(target) if target < max_blocks else "trunc"
                tokens.extend((f"<edge:{label}>", f"<cfg:{target_name}>"))
        if len(self.blocks) > max_blocks:
            tokens.append("<cfg:trunc>")
        return tokens


def _name(block_id: int) -> str:
    return "exit" if block_id == EXIT else f"b{block_id}"


def build_cfg(text: str, name: str | None = None) -> CFG | None:
    """The CFG of the first function in `text` (or the one called `name`); None if unparsable."""
    try:
        module = ast.parse(text)
    except (SyntaxError, ValueError):
        return None
    function = first_function(module, name)
    if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return None
    builder = _Builder()
    entry = builder.new()
    end = builder.statements(function.body, entry)
    if end is not None:
        end.link("next", EXIT)
    return _compact(builder.blocks)


class _Builder:
    """Walks statements, appending kinds to the current block and opening blocks at joins."""

    def __init__(self) -> None:
        self.blocks: list[Block] = []
        self.loops: list[tuple[Block, Block]] = []  # (header, after) of enclosing loops
        self.handlers: list[list[Block]] = []  # except handlers of enclosing try bodies
        self.finals: list[Block] = []  # finally blocks that returns and raises pass through

    def new(self) -> Block:
        block = Block(len(self.blocks))
        self.blocks.append(block)
        return block

    def statements(self, body: list[ast.stmt], current: Block | None) -> Block | None:
        """Add `body` starting in `current`; return the block control falls out of, or None."""
        for statement in body:
            if current is None:
                break  # unreachable code after return/raise/break/continue is left out
            current = self.statement(statement, current)
        return current

    def statement(self, node: ast.stmt, current: Block) -> Block | None:
        handler = getattr(self, f"_{type(node).__name__}", None)
        if handler is not None:
            return handler(node, current)
        current.kinds.append(type(node).__name__)
        return current

    def _If(self, node: ast.If, current: Block) -> Block:
        current.kinds.append("If")
        after = self.new()
        for label, body in (("true", node.body), ("false", node.orelse)):
            if not body:
                current.link(label, after)
                continue
            branch = self.new()
            current.link(label, branch)
            end = self.statements(body, branch)
            if end is not None:
                end.link("next", after)
        return after

    def _loop(self, node: ast.For | ast.While | ast.AsyncFor, current: Block) -> Block:
        header = self.new()
        current.link("next", header)
        header.kinds.append(type(node).__name__)
        after, body = self.new(), self.new()
        header.link("true", body)
        self.loops.append((header, after))
        end = self.statements(node.body, body)
        self.loops.pop()
        if end is not None:
            end.link("back", header)
        exhausted = self.statements(node.orelse, self._branch(header, "false")) if node.orelse \
            else header
        if exhausted is not None:
            exhausted.link("false" if exhausted is header else "next", after)
        return after

    _For = _AsyncFor = _While = _loop

    def _branch(self, source: Block, label: str) -> Block:
        block = self.new()
        source.link(label, block)
        return block

    def _Break(self, node: ast.Break, current: Block) -> None:
        current.kinds.append("Break")
        current.link("break", self.loops[-1][1] if self.loops else EXIT)

    def _Continue(self, node: ast.Continue, current: Block) -> None:
        current.kinds.append("Continue")
        current.link("continue", self.loops[-1][0] if self.loops else EXIT)

    def _Return(self, node: ast.Return, current: Block) -> None:
        current.kinds.append("Return")
        current.link("return", self.finals[-1] if self.finals else EXIT)

    def _Raise(self, node: ast.Raise, current: Block) -> None:
        current.kinds.append("Raise")
        if self.handlers and self.handlers[-1]:
            for handler in self.handlers[-1]:
                current.link("exception", handler)
        else:
            current.link("raise", self.finals[-1] if self.finals else EXIT)

    def _with(self, node: ast.With | ast.AsyncWith, current: Block) -> Block | None:
        current.kinds.append(type(node).__name__)
        return self.statements(node.body, self._branch(current, "next"))

    _With = _AsyncWith = _with

    def _Try(self, node: ast.Try, current: Block) -> Block | None:
        current.kinds.append(type(node).__name__)
        final = self.new() if node.finalbody else None
        handlers = [self.new() for _ in node.handlers]
        body = self._branch(current, "next")
        for handler_block in handlers:
            body.link("exception", handler_block)
        if final is not None:
            body.link("finally", final)  # an exception no handler catches
            self.finals.append(final)
        self.handlers.append(handlers)
        body_end = self.statements(node.body, body)
        self.handlers.pop()
        if node.orelse and body_end is not None:  # else runs outside the handlers' reach
            body_end = self.statements(node.orelse, self._branch(body_end, "next"))
        ends = [body_end]
        for handler_block, handler in zip(handlers, node.handlers, strict=True):
            handler_block.kinds.append("ExceptHandler")
            ends.append(self.statements(handler.body, handler_block))
        return self._join_try(ends, final, node)

    _TryStar = _Try

    def _join_try(self, ends: list[Block | None], final: Block | None,
                  node: ast.Try) -> Block | None:
        if final is None:
            after = self.new()
            for end in ends:
                if end is not None:
                    end.link("next", after)
            return after
        self.finals.pop()
        for end in ends:
            if end is not None:
                end.link("finally", final)
        final_end = self.statements(node.finalbody, final)
        if final_end is not None:
            final_end.link("return", self.finals[-1] if self.finals else EXIT)  # re-raise/return
            after = self.new()
            final_end.link("next", after)
            return after
        return None

    def _Match(self, node: ast.Match, current: Block) -> Block:
        current.kinds.append("Match")
        after = self.new()
        for case in node.cases:
            end = self.statements(case.body, self._branch(current, "case"))
            if end is not None:
                end.link("next", after)
        current.link("false", after)  # no case matched
        return after

    def _Assert(self, node: ast.Assert, current: Block) -> Block:
        current.kinds.append("Assert")
        current.link("raise", self.finals[-1] if self.finals else EXIT)
        return current


def _compact(blocks: list[Block]) -> CFG:
    """Drop empty pass-through blocks, then keep reachable blocks renumbered depth-first."""
    forward = {b.id: b.edges[0] for b in blocks[1:] if not b.kinds and len(b.edges) == 1}

    def resolve(label: str, target: int) -> tuple[str, int]:
        seen = set()
        while target in forward and target not in seen:
            seen.add(target)
            passed, target = forward[target]
            if passed == "back" and label == "next":
                label = "back"  # falling into an empty join that loops back is a back edge
        return label, target

    for block in blocks:
        block.edges = list(dict.fromkeys(resolve(label, t) for label, t in block.edges))
    order = _depth_first(blocks)
    renumber = {old: new for new, old in enumerate(order)}
    renumber[EXIT] = EXIT
    return CFG([Block(renumber[b], blocks[b].kinds, [(label, renumber[t]) for label, t in
                                                      blocks[b].edges]) for b in order])


def _depth_first(blocks: list[Block]) -> list[int]:
    order, stack, seen = [], [0], set()
    while stack:
        current = stack.pop()
        if current in seen or current == EXIT:
            continue
        seen.add(current)
        order.append(current)
        stack.extend(t for _, t in reversed(blocks[current].edges))
    return order
