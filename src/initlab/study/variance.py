"""Which randomness matters: the spread of test accuracy by source.

A run's result depends on two random sources: its initial weights (``init_seed``)
and the order in which its epochs visit the data (``order_seed``). ``--vary``
chooses what the run seeds change: ``init`` (the order seed is the study's fixed
seed), ``order`` (the init seed is fixed) or ``both``. Within a grid cell only that
source changes from run to run, so the cell's sample standard deviation of the
final test accuracy over seeds (ddof = 1) is the spread due to that source alone
(or to both together). The split is the same for every run.

:func:`spread_table` puts the three side by side, one row per initializer (and per
setting that differs between cells); ``variance.csv`` holds it when a study ran
with ``--vary init`` or ``--vary order``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["SOURCES", "VARIANCE_FILE", "spread_table", "write_variance"]

#: The sources, as ``--vary`` names them, in column order.
SOURCES = ("init", "order", "both")
VARIANCE_FILE = "variance.csv"


def _other_keys(cells: Sequence[Any]) -> list[str]:
    from initlab.study.report import CELL_KEYS

    return [key for key in CELL_KEYS if key not in ("init", "vary")
            and len({str(cell.settings[key]) for cell in cells}) > 1]


def spread_table(cells: Sequence[Any]) -> tuple[list[str], list[list[Any]]]:
    """Per initializer (and other differing settings), the std of the final test
    accuracy over seeds for each source: ``std_<source>``, its ``n_<source>`` runs
    and the mean ``mean_<source>``. A source not run, or run with fewer than 2
    finished seeds, has an empty (undefined) std.

    Args:
        cells: The cells of :func:`initlab.study.report.summarize`.

    Returns:
        The header and the rows, sorted by initializer, then settings.
    """
    others = _other_keys(cells)
    header = ["init", *others]
    for source in SOURCES:
        header += [f"std_{source}", f"n_{source}", f"mean_{source}"]
    groups: dict[tuple, dict[str, Any]] = {}
    for cell in cells:
        key = (cell.settings["init"], *(str(cell.settings[k]) for k in others))
        groups.setdefault(key, {})[cell.settings.get("vary") or "both"] = cell
    rows = []
    for key in sorted(groups):
        row: list[Any] = list(key)
        for source in SOURCES:
            cell = groups[key].get(source)
            row += [cell.std, cell.n, cell.mean] if cell is not None else [
                None, 0, None]
        rows.append(row)
    return header, rows


def _text(value: Any) -> str:
    if value is None:
        return ""
    return repr(value) if isinstance(value, float) else str(value)


def write_variance(cells: Sequence[Any], out: str | Path) -> Path | None:
    """Write ``variance.csv`` into ``out`` when some cell varied one source only.

    Returns:
        The file written, or None (every cell varied both sources).
    """
    if all((cell.settings.get("vary") or "both") == "both" for cell in cells):
        return None
    header, rows = spread_table(cells)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow(_text(value) for value in row)
    path = Path(out) / VARIANCE_FILE
    path.write_text(buffer.getvalue(), encoding="utf-8")
    return path
