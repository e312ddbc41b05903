"""A structured value as a rich Tree that fills in: present fields with their values, required fields
that have not arrived yet shown dimmed as `…`."""

from __future__ import annotations

import json
from typing import Any

from rich.text import Text
from rich.tree import Tree

from xsus_tui.core.sanitize import inert

MAX_ITEMS = 200


def _scalar(value: Any) -> Text:
    if isinstance(value, str):
        return Text(inert(json.dumps(value, ensure_ascii=False)), style="green")
    if isinstance(value, bool) or value is None:
        return Text(json.dumps(value), style="italic magenta")
    return Text(str(value), style="cyan")


def _add(tree: Tree, key: str | None, value: Any, schema: dict[str, Any] | None) -> None:
    label = Text(f"{key}: ", style="bold") if key is not None else Text("")
    if isinstance(value, dict):
        branch = tree.add(label + Text("{…}" if not value else "", style="dim"))
        _fill(branch, value, schema)
    elif isinstance(value, list):
        branch = tree.add(label + Text(f"[{len(value)}]", style="dim"))
        items = (schema or {}).get("items") if isinstance(schema, dict) else None
        for index, item in enumerate(value[:MAX_ITEMS]):
            _add(branch, str(index), item, items)
        if len(value) > MAX_ITEMS:
            branch.add(Text(f"… {len(value) - MAX_ITEMS} more", style="dim"))
    else:
        tree.add(label + _scalar(value))


def _fill(tree: Tree, value: dict[str, Any], schema: dict[str, Any] | None) -> None:
    properties = (schema or {}).get("properties", {}) if isinstance(schema, dict) else {}
    required = set((schema or {}).get("required", [])) if isinstance(schema, dict) else set()
    order = list(properties) + [key for key in value if key not in properties]
    for key in order:
        if key in value:
            _add(tree, key, value[key], properties.get(key))
        elif key in required:
            tree.add(Text(f"{key}: …", style="dim italic"))


def value_tree(value: Any, schema: dict[str, Any] | None, title: str) -> Tree:
    """The tree of `value` (a partial or complete structured output) under `title`."""
    tree = Tree(Text(title, style="bold"), guide_style="dim")
    if isinstance(value, dict):
        _fill(tree, value, schema)
    elif value is None:
        if isinstance(schema, dict):
            _fill(tree, {}, schema)
    else:
        _add(tree, None, value, schema)
    return tree
