"""Look into CSV files without pasting them into the conversation: a summary of each column,
and a Markdown table written from a CSV file. Plus a `data-analyst` subagent that uses them.

Install: copy (or symlink) this file into your workspace's `plugins/` folder
(`~/.llmos/plugins/`). Paths are relative to the run's working folder and must stay inside it.
"""

from __future__ import annotations

import csv
import statistics
from pathlib import Path
from typing import Annotated, Any

from llmos.plugins import Plugin, atomic_write_text, inside

plugin = Plugin("csv_tools", description="Summaries and Markdown tables of CSV files.")

CsvPath = Annotated[str, "a CSV file, relative to the working folder"]
_MAX_ROWS = 1_000_000


def _read(workdir: Path, file_path: str) -> tuple[list[str], list[list[str]]]:
    path = inside(workdir, file_path)
    with path.open(newline="", encoding="utf-8-sig") as handle:
        rows = list(csv.reader(handle))
    if not rows:
        raise ValueError(f"{file_path} is empty")
    if len(rows) > _MAX_ROWS:
        raise ValueError(f"{file_path} has more than {_MAX_ROWS} rows")
    header, body = rows[0], rows[1:]
    width = len(header)
    return header, [(row + [""] * width)[:width] for row in body]


def _number(text: str) -> float | None:
    try:
        return float(text.replace(",", "")) if text.strip() else None
    except ValueError:
        return None


def _column(name: str, values: list[str]) -> dict[str, Any]:
    filled = [v for v in values if v.strip()]
    numbers = [n for n in map(_number, filled) if n is not None]
    info: dict[str, Any] = {"name": name, "filled": len(filled), "empty": len(values) - len(filled)}
    if filled and len(numbers) == len(filled):
        info["type"] = "number"
        info["min"], info["max"] = min(numbers), max(numbers)
        info["mean"] = round(statistics.fmean(numbers), 6)
    else:
        info["type"] = "text" if filled else "empty"
        distinct = sorted(set(filled))
        info["distinct"] = len(distinct)
        info["examples"] = distinct[:5]
    return info


@plugin.tool(version="1.0.0")
def csv_summary(file_path: CsvPath, workdir: Path) -> dict[str, Any]:
    """Rows and columns of a CSV file (first row = header) and, per column, its type
    (number, text, empty), how many cells are filled, min/max/mean of numbers, and the
    number of distinct texts with a few examples."""
    header, rows = _read(workdir, file_path)
    columns = [_column(name, [row[i] for row in rows]) for i, name in enumerate(header)]
    return {"file": file_path, "rows": len(rows), "columns": columns}


def _cell(text: str) -> str:
    return " ".join(text.replace("|", "\\|").split())


@plugin.tool(version="1.0.0")
def csv_to_markdown(
    file_path: CsvPath,
    output_path: Annotated[str, "the Markdown file to write, relative to the working folder"],
    workdir: Path,
    max_rows: Annotated[int, "at most this many rows (the rest is counted, not shown)"] = 50,
) -> str:
    """Write a CSV file as a Markdown table (header, then up to MAX_ROWS rows) to
    OUTPUT_PATH; returns what it wrote."""
    header, rows = _read(workdir, file_path)
    shown = rows[: max(max_rows, 0)]
    lines = ["| " + " | ".join(_cell(h) for h in header) + " |"]
    lines.append("|" + "|".join(" --- " for _ in header) + "|")
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in shown]
    if len(rows) > len(shown):
        lines += ["", f"({len(rows) - len(shown)} more rows not shown)"]
    atomic_write_text(inside(workdir, output_path), "\n".join(lines) + "\n")
    return f"wrote {output_path}: {len(shown)} of {len(rows)} rows, {len(header)} columns"


plugin.agent(
    "data-analyst",
    description="Explores CSV data with the csv tools and reports what it finds.",
    prompt=(
        "You analyse tabular data. Start with csv_summary on each CSV file you are given, "
        "then answer from the numbers it reports; write tables with csv_to_markdown. "
        "Report findings briefly and say which file and column each comes from."
    ),
    tools=["Read", "Glob", "csv_summary", "csv_to_markdown"],
)
