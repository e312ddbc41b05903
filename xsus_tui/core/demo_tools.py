"""Real tools the demo agent calls (they also work with any model through the demo agent's toolset)."""

from __future__ import annotations

import ast
import math
import operator
import os
import platform
import sys
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic_ai import ModelRetry

_BINARY = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY = {ast.UAdd: operator.pos, ast.USub: operator.neg}
_NAMES = {"pi": math.pi, "e": math.e, "tau": math.tau}
_FUNCS = {"sqrt": math.sqrt, "log": math.log, "sin": math.sin, "cos": math.cos, "abs": abs, "round": round}


def _eval(node: ast.AST) -> float:
    if isinstance(node, ast.Expression):
        return _eval(node.body)
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float) and not isinstance(node.value, bool):
        return node.value
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _eval(node.left), _eval(node.right)
        if isinstance(node.op, ast.Pow) and abs(right) > 1000:
            raise ModelRetry("exponent too large (limit 1000)")
        return _BINARY[type(node.op)](left, right)
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _UNARY[type(node.op)](_eval(node.operand))
    if isinstance(node, ast.Name) and node.id in _NAMES:
        return _NAMES[node.id]
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _FUNCS:
        return _FUNCS[node.func.id](*(_eval(arg) for arg in node.args))
    raise ModelRetry(f"unsupported syntax: {ast.unparse(node)!r}")


def calculator(expression: str) -> float | int:
    """Evaluate an arithmetic expression (+ - * / // % **, sqrt, log, sin, cos, abs, round, pi, e).

    Args:
        expression: The expression, for example `(17 * 23) + 4**3`.
    """
    try:
        tree = ast.parse(expression, mode="eval")
    except SyntaxError as error:
        raise ModelRetry(f"not an expression: {error.msg}") from error
    try:
        return _eval(tree)
    except ZeroDivisionError as error:
        raise ModelRetry(f"cannot evaluate {expression!r}: division by zero") from error
    except (OverflowError, ValueError) as error:
        raise ModelRetry(f"cannot evaluate {expression!r}: {error}") from error


def current_time(timezone: str = "UTC") -> str:
    """The current date and time in an IANA time zone.

    Args:
        timezone: For example `UTC`, `Europe/Paris` or `America/New_York`.
    """
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise ModelRetry(f"unknown time zone {timezone!r}; use an IANA name like Europe/Paris") from error
    return datetime.now(zone).strftime("%Y-%m-%d %H:%M:%S %Z (UTC%z)")


def system_info() -> dict[str, str | int]:
    """Facts about the machine xsus runs on: OS, Python version, CPU count."""
    return {
        "os": f"{platform.system()} {platform.release()}",
        "machine": platform.machine(),
        "python": sys.version.split()[0],
        "cpus": os.cpu_count() or 1,
    }


def save_note(title: str, text: str) -> str:
    """Save a note as a markdown file in xsus's data folder (asks for your approval first).

    Args:
        title: The note's title, also its file name.
        text: The note itself.
    """
    from xsus_tui.paths import data_dir, ensure_private_dir

    folder = ensure_private_dir(data_dir() / "notes")
    name = "".join(c if c.isalnum() or c in "-_ " else "_" for c in title).strip() or "note"
    path = folder / f"{name}.md"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(f"# {title}\n\n{text}\n")
    return f"saved to {path}"


DEMO_TOOLS = [calculator, current_time, system_info]
