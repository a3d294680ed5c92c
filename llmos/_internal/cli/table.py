"""How every listing prints: one helper for tables, one for label/value fields.

On a terminal a table fits the width by wrapping its prose columns (a goal, a description,
a date at its space) and nothing else: what a user types next (an id, a rule name, a path)
and short values (numbers, statuses) are always whole; if even they do not fit, each record
is a block of `label value` lines instead, never a cut value. Not on a terminal (a pipe, a
file) a table is plain text as `gh` prints it: a header line, then one record per line,
columns separated by tabs, every value whole (tabs and newlines inside a value become
spaces). Values from outside are cleaned of escape sequences and control characters
(`llmos/_internal/text.py`) and never read as rich markup; a cell that wants a style is a rich
`Text` (`text.safe_text`).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Literal, cast

from llmos._internal.cli.terminal import terminal
from llmos._internal.frozen import frozen
from llmos._internal.text import clean

if TYPE_CHECKING:
    from rich.console import Console
    from rich.text import Text

    from llmos._internal.cli.plain_console import Printer

_GAP = 2  # spaces between columns on a terminal


@frozen
class Column:
    """How one column of a table is headed, aligned and fitted to the terminal's width."""

    header: str
    # Free text (a goal, a description, an error): may wrap on a terminal. Every other
    # column is shown whole on one line.
    prose: bool = False
    justify: Literal["left", "right"] = "left"
    least: int = 16  # prose: the narrowest it is squeezed to (unless its values are narrower)


def number(header: str) -> Column:
    """A column of numbers (counts, amounts): right-aligned."""
    return Column(header, justify="right")


def moment(header: str) -> Column:
    """A column of times (`2026-12-05 09:30:00`): a narrow terminal breaks one after the date."""
    return Column(header, prose=True, least=10)


Cell = object  # str, number, None (empty) or a rich Text (styled)


def plain(value: Cell) -> str:
    """A cell as one line of plain text."""
    if value is None:
        return ""
    rich_text = sys.modules.get("rich.text")  # not loaded: `value` is no rich Text
    styled = rich_text is not None and isinstance(value, rich_text.Text)
    text = cast("Text", value).plain if styled else str(value)
    return clean(text, keep_newlines=False)


def _write(console: Printer, lines: list[str]) -> None:
    """Plain lines as they are: rich would turn the tabs into spaces."""
    console.file.write("".join(line + "\n" for line in lines))
    console.file.flush()


def _rich_cell(value: Cell) -> Text:
    from rich.text import Text

    if isinstance(value, Text):
        return value
    return Text(plain(value))


def print_table(
    columns: Sequence[Column],
    rows: Iterable[Sequence[Cell]],
    *,
    title: str | None = None,
    empty: str | None = None,
    console: Printer | None = None,
) -> None:
    """Print records as a table (see the module's docstring). With no rows, `empty` is said
    instead: on stdout on a terminal, on stderr otherwise (a pipe then gets nothing)."""
    console = console or terminal()
    records = [list(row) for row in rows]
    for row in records:
        if len(row) != len(columns):
            raise ValueError(f"a row has {len(row)} cells for {len(columns)} columns")
    if not records:
        if empty is not None:
            (console if console.is_terminal else terminal(stderr=True)).print(empty, markup=False)
        return
    if not console.is_terminal:
        lines = [plain(title)] if title else []
        lines.append("\t".join(c.header for c in columns))
        lines += ["\t".join(plain(cell) for cell in row) for row in records]
        _write(console, lines)
        return
    rich_console = cast("Console", console)  # a terminal's console is rich's
    rich_console.print(_rich_table(columns, records, title, rich_console.width), soft_wrap=False)


def _rich_table(
    columns: Sequence[Column], records: list[list[Cell]], title: str | None, width: int
) -> object:
    """A rich table whose columns have widths chosen here, not by rich (which would cut any
    column to make a table fit): every column but prose gets its widest value, and the prose
    columns share what is left. When even that does not fit, one block per record."""
    from rich.cells import cell_len
    from rich.table import Table

    cells = [[_rich_cell(cell) for cell in row] for row in records]
    widest = [
        max([cell_len(column.header)] + [cell_len(row[n].plain) for row in cells])
        for n, column in enumerate(columns)
    ]
    widths = _fit(columns, widest, width - _GAP * (len(columns) - 1))
    if widths is None:
        return _blocks(columns, cells, title)
    table = Table(
        title=title,
        box=None,
        pad_edge=False,
        padding=(0, _GAP // 2),
        header_style="bold underline",
        title_justify="left",
        title_style="bold",
    )
    for column, column_width in zip(columns, widths, strict=True):
        table.add_column(
            column.header,
            justify=column.justify,
            width=column_width,
            no_wrap=not column.prose,
            overflow="fold",
        )
    for row in cells:
        table.add_row(*row)
    return table


def _fit(columns: Sequence[Column], widest: list[int], room: int) -> list[int] | None:
    """Each column's width within `room`: whole for the columns that are not prose; the
    prose columns get at least their `least` (or their widest) and share the rest,
    the narrow ones whole first. None when that does not fit."""
    widths = [
        min(w, max(c.least, len(c.header))) if c.prose else w
        for c, w in zip(columns, widest, strict=True)
    ]
    left = room - sum(widths)
    if left < 0:
        return None
    prose = sorted((w, n) for n, (c, w) in enumerate(zip(columns, widest, strict=True)) if c.prose)
    for done, (want, n) in enumerate(prose):
        share = left // (len(prose) - done)
        grow = min(want - widths[n], share)
        widths[n] += grow
        left -= grow
    return widths


def _blocks(columns: Sequence[Column], cells: list[list[Text]], title: str | None) -> object:
    """Records too wide for the terminal as a table: one block each, the first value as
    its heading and the others as `label  value` lines (a long value wraps under itself)."""
    from rich.console import Group, RenderableType
    from rich.padding import Padding
    from rich.table import Table
    from rich.text import Text

    parts: list[RenderableType] = [Text(title, style="bold")] if title else []
    for index, row in enumerate(cells):
        if index or title:
            parts.append(Text())
        parts.append(Text.assemble(row[0], style="bold"))
        grid = Table.grid(padding=(0, _GAP))
        grid.add_column(style="dim", no_wrap=True)
        grid.add_column(overflow="fold")
        for column, cell in zip(columns[1:], row[1:], strict=True):
            grid.add_row(column.header, cell)
        parts.append(Padding(grid, (0, 0, 0, _GAP)))
    return Group(*parts)


def print_fields(
    fields: Sequence[tuple[str, Cell]], *, title: str | None = None, console: Printer | None = None
) -> None:
    """Print one record as `label  value` lines. On a terminal a long value is wrapped by the
    terminal itself (it stays one line, so a path copies whole); not on a terminal each line
    is `label:<TAB>value`, as `gh` prints a record."""
    console = console or terminal()
    if not console.is_terminal:
        lines = [plain(title)] if title else []
        lines += [f"{label}:\t{plain(value)}" for label, value in fields]
        _write(console, lines)
        return
    from rich.text import Text

    rich_console = cast("Console", console)  # a terminal's console is rich's
    if title:
        rich_console.print(Text(title, style="bold"))
    width = max((len(label) for label, _ in fields), default=0)
    for label, value in fields:
        line = Text()
        line.append(label.ljust(width + 2), style="bold")
        line.append_text(_rich_cell(value))
        rich_console.print(line, soft_wrap=True)
