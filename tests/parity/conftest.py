"""The Keras parity suite's report: every catalog entry x shape with its KS test.

Tests record one row each through the ``parity_report`` fixture. At the end of the
session the rows are written as a markdown table to the path in the environment
variable ``INITLAB_PARITY_REPORT`` (when set) or to ``parity-report.md`` in pytest's
temporary directory, and printed in the terminal summary, so CI output shows them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import pytest


@dataclass
class Row:
    entry: str
    shape: tuple[int, ...]
    outcome: str  # "KS", "exact", "refused"
    n_initlab: int = 0
    n_keras: int = 0
    statistic: float | None = None
    pvalue: float | None = None
    note: str = ""


@dataclass
class ParityReport:
    rows: list[Row] = field(default_factory=list)
    default_dir: Path | None = None

    def add(self, entry: str, shape: tuple[int, ...], outcome: str, **fields) -> None:
        row = Row(entry, tuple(shape), outcome, **fields)
        key = (row.entry, row.shape)
        self.rows = [r for r in self.rows if (r.entry, r.shape) != key]
        self.rows.append(row)

    def path(self) -> Path | None:
        env = os.environ.get("INITLAB_PARITY_REPORT")
        if env:
            return Path(env)
        if self.default_dir is None:
            return None
        return self.default_dir / "parity-report.md"

    def markdown(self) -> str:
        from initlab import __version__

        try:
            import keras

            keras_version = keras.__version__
        except ImportError:  # pragma: no cover - the suite skips without keras
            keras_version = "not installed"
        ks = [r for r in self.rows if r.pvalue is not None]
        lines = [
            "# initlab vs Keras parity report",
            "",
            f"initlab {__version__}, Keras {keras_version} "
            f"(backend {os.environ.get('KERAS_BACKEND', '?')}). Two-sample "
            "Kolmogorov-Smirnov test (scipy.stats.ks_2samp) between initlab's and "
            "Keras's samples at fixed seeds; the suite requires p > 1e-3.",
            "",
            "| entry | shape | test | n initlab | n Keras | KS statistic | p-value "
            "| note |",
            "|---|---|---|---:|---:|---:|---:|---|",
        ]
        order = {name: i for i, name in enumerate(_catalog_names())}
        for r in sorted(self.rows, key=lambda r: (order.get(r.entry, 99), len(r.shape),
                                                  r.shape)):
            stat = "" if r.statistic is None else f"{r.statistic:.4f}"
            pval = "" if r.pvalue is None else f"{r.pvalue:.3g}"
            n_i = str(r.n_initlab) if r.n_initlab else ""
            n_k = str(r.n_keras) if r.n_keras else ""
            lines.append(f"| {r.entry} | {r.shape} | {r.outcome} | {n_i} | {n_k} | "
                         f"{stat} | {pval} | {r.note} |")
        if ks:
            worst = min(ks, key=lambda r: r.pvalue)  # type: ignore[arg-type, return-value]
            lines += ["", f"{len(self.rows)} entry x shape cells: {len(ks)} KS tests, "
                      f"{sum(r.outcome == 'exact' for r in self.rows)} exact "
                      f"comparisons, {sum(r.outcome == 'refused' for r in self.rows)} "
                      f"shapes refused by both. Smallest p-value "
                      f"{worst.pvalue:.3g} ({worst.entry} {worst.shape}); largest KS "
                      f"statistic {max(r.statistic for r in ks):.4f}."]
        return "\n".join(lines) + "\n"


def _catalog_names() -> list[str]:
    import initlab

    return [cls.__name__ for cls in initlab.CATALOG]


_REPORT = ParityReport()


@pytest.fixture(scope="session")
def parity_report(tmp_path_factory: pytest.TempPathFactory) -> ParityReport:
    if _REPORT.default_dir is None:
        _REPORT.default_dir = tmp_path_factory.getbasetemp()
    return _REPORT


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    if not _REPORT.rows:
        return
    text = _REPORT.markdown()
    path = _REPORT.path()
    terminalreporter.section("initlab vs Keras parity report")
    terminalreporter.write(text)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        terminalreporter.write_line(f"parity report written to {path}")

