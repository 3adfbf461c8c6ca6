"""The one way the package reads YAML: safe, bounded and strict.

`yaml.safe_load` builds no objects, but it still lets a hostile text cost a lot: an
alias bomb ("billion laughs") is cheap to load and explodes in whatever walks it next,
100,000 nested brackets end in a RecursionError, and a key given twice silently
replaces the first (a second `tiers:` drops the first tiers). `load_yaml` refuses all
three, fast, with a `yaml.MarkedYAMLError` that says where.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, SequenceNode

__all__ = ["MAX_DEPTH", "MAX_NODES", "MAX_YAML_CHARS", "YamlRefused", "load_yaml"]

MAX_YAML_CHARS = 1_000_000  # a plan is a few KiB
MAX_DEPTH = 64  # nesting levels of collections
MAX_NODES = 100_000  # nodes once every alias is expanded


class YamlRefused(yaml.MarkedYAMLError):
    """The text is YAML we will not read (too long, too deep, an alias bomb, a key twice)."""


def load_yaml(text: str) -> Any:
    """Parse one YAML document like `yaml.safe_load`, within the limits above."""
    if len(text) > MAX_YAML_CHARS:
        raise YamlRefused(problem=f"the text is longer than {MAX_YAML_CHARS:,} characters")
    _check_flow_depth(text)
    loader = _BoundedLoader(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def _check_flow_depth(text: str) -> None:
    """Refuse deep `[`/`{` nesting before the parser sees it: PyYAML scans a whole flow
    collection ahead and composes it recursively. Quoted text and comments are skipped
    (roughly: a plan never comes near the limit)."""
    depth = 0
    quote = ""
    line, col = 0, 0
    comment = False
    for ch in text:
        if ch == "\n":
            line, col, comment = line + 1, 0, False
            quote = "" if quote == "'" else quote
            continue
        col += 1
        if comment:
            continue
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif ch == "#":
            comment = True
        elif ch in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                mark = yaml.Mark("<yaml>", 0, line, col - 1, None, None)  # type: ignore[arg-type]
                raise YamlRefused(problem=f"nested deeper than {MAX_DEPTH} levels",
                                  problem_mark=mark)
        elif ch in "]}":
            depth = max(0, depth - 1)


class _BoundedLoader(yaml.SafeLoader):
    """SafeLoader that counts depth while composing, the expanded size of the document,
    and refuses duplicate keys."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise YamlRefused(problem=f"nested deeper than {MAX_DEPTH} levels",
                                  problem_mark=self.peek_event().start_mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def compose_document(self) -> Node | None:
        node: Node | None = super().compose_document()
        if node is not None and _expanded_size(node, {}) > MAX_NODES:
            raise YamlRefused(problem=f"more than {MAX_NODES:,} values once its aliases are"
                                      " expanded (an alias bomb?)", problem_mark=node.start_mark)
        return node

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)  # type: ignore[no-untyped-call]
            try:
                twice = key in seen
                seen.add(key)
            except TypeError:  # an unhashable key: the constructor reports it
                continue
            if twice:
                raise YamlRefused(problem=f"the key {key!r} is given twice",
                                  problem_mark=key_node.start_mark)
        return super().construct_mapping(node, deep=deep)  # type: ignore[no-any-return]


def _expanded_size(node: Node, memo: dict[int, int]) -> int:
    """Nodes in the document with every alias expanded; linear in the composed graph."""
    known = memo.get(id(node))
    if known is not None:
        return known
    memo[id(node)] = 1  # a recursive alias counts once (the constructor refuses it)
    size = 1
    if isinstance(node, SequenceNode):
        for child in node.value:
            size += _expanded_size(child, memo)
            if size > MAX_NODES:
                break
    elif isinstance(node, MappingNode):
        for k, v in node.value:
            size += _expanded_size(k, memo) + _expanded_size(v, memo)
            if size > MAX_NODES:
                break
    memo[id(node)] = size
    return size
