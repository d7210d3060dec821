"""``report.html``: the whole study report in one self-contained file.

Built from ``results.sqlite`` alone (plus, for the initial diagnostics, the datasets
and models the runs name), with a Jinja2 template (autoescaped) and the images
embedded as base64 ``data:`` URIs: the file loads nothing from anywhere. Sections:
settings, the ranked summary with intervals and labels, learning curves, final-
accuracy distributions, the per-seed table, the initial diagnostics per initializer,
the deterministic-versus-stochastic demonstration and the environment.

The output is deterministic: the same database gives the same bytes.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import initlab
from initlab.study.report import (
    CELL_KEYS,
    UNDEFINED,
    ZOOM_WINDOW,
    Cell,
    cell_label,
    common_settings,
    comparison_notes,
    distribution_figure,
    method_note,
    png_bytes,
    ranked_rows,
    varying_keys,
)
from initlab.study.store import Store

__all__ = ["DIAGNOSE_BATCH", "DiagnosisRow", "initial_diagnostics", "report_html"]

#: Training examples fed to ``initlab.diagnose`` for the initial diagnostics.
DIAGNOSE_BATCH = 256
#: Run settings that do not change the initial model (left out of its key).
TRAINING_KEYS = frozenset({"optimizer", "lr", "momentum", "batch_size", "epochs"})
#: Environment keys shown first, in this order; the others follow sorted.
ENVIRONMENT_ORDER = (
    "initlab_version", "python_version", "platform", "cpu", "cpu_count",
    "torch_version", "numpy_version", "sklearn_version", "stream_version",
    "run_threads", "interop_threads", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
)


@dataclass(frozen=True)
class DiagnosisRow:
    """The initial diagnosis of one initializer (one row of the table).

    ``verdict`` is ``skipped`` when the model could not be rebuilt or diagnosed;
    ``detail`` then says why. Otherwise ``detail`` is diagnose's suggestion.
    """

    label: str
    seed: int
    verdict: str
    first_bad_layer: str
    first_std: str
    last_std: str
    detail: str

    @property
    def css(self) -> str:
        if self.verdict == "healthy":
            return "verdict-healthy"
        return "undefined" if self.verdict == "skipped" else "verdict-bad"


def _run_spec(row: dict[str, Any]) -> Any:
    """The :class:`RunSpec` of a ``runs`` row (its init entry from its config)."""
    from initlab.study.spec import InitEntry, RunSpec

    config = json.loads(row["init_config"])
    kwargs: dict[str, Any] = {"init": InitEntry.parse(config)}
    for spec_field in dataclasses.fields(RunSpec):
        if spec_field.name != "init" and row.get(spec_field.name) is not None:
            kwargs[spec_field.name] = row[spec_field.name]
    return RunSpec(**kwargs)


def _std(value: float) -> str:
    return f"{value:.3g}" if math.isfinite(value) else str(value)


def _diagnose_run(row: dict[str, Any]) -> tuple[Any, str]:
    """Rebuild the run's initial model, check its fingerprint, diagnose it.

    Returns:
        The diagnosis report and a note ("" or a fingerprint warning).
    """
    import torch

    from initlab.study.datasets import load_dataset
    from initlab.study.train import initialize_model, pinned_threads

    run = _run_spec(row)
    dataset = load_dataset(getattr(run, "data_key", run.dataset), run.split_seed)
    with pinned_threads():
        model, fingerprint = initialize_model(run, dataset)
        batch = torch.from_numpy(dataset.x_train[:DIAGNOSE_BATCH].copy())
        report = initlab.diagnose(model, batch)
    note = ""
    if row.get("fingerprint") and row["fingerprint"] != fingerprint:
        note = (f" (rebuilt weights have fingerprint {fingerprint}, the run recorded "
                f"{row['fingerprint']}: this initlab draws other weights)")
    return report, note


def initial_diagnostics(cells: Sequence[Cell],
                        runs: Sequence[dict[str, Any]]) -> list[DiagnosisRow]:
    """``initlab.diagnose`` on each initializer's initial model, first seed.

    One row per distinct initial model (init entry and model settings; training
    settings such as the learning rate do not change it), in rank order, fed the
    first :data:`DIAGNOSE_BATCH` training examples. A model that cannot be rebuilt
    or diagnosed gets the verdict ``skipped`` and the reason.
    """
    extra = [key for key in varying_keys(cells) if key not in TRAINING_KEYS]
    model_keys = [key for key in CELL_KEYS if key not in TRAINING_KEYS]
    first_run: dict[tuple, dict[str, Any]] = {}
    for run in sorted(runs, key=lambda run: run["seed"]):
        first_run.setdefault(tuple(str(run[k]) for k in model_keys), run)
    rows, seen = [], set()
    for cell in cells:
        key = tuple(str(cell.settings[k]) for k in model_keys)
        if key in seen or key not in first_run:
            continue
        seen.add(key)
        run = first_run[key]
        label = cell_label(cell, extra)
        try:
            report, note = _diagnose_run(run)
        except Exception as exc:  # a report must not fail because of one model
            reason = f"{type(exc).__name__}: {exc}".splitlines()[0]
            rows.append(DiagnosisRow(label, run["seed"], "skipped", "", "", "",
                                     f"not diagnosed: {reason}"))
            continue
        layers = report.layers
        rows.append(DiagnosisRow(
            label, run["seed"], report.verdict, report.first_bad_layer or "—",
            _std(layers[0].act_std) if layers else "",
            _std(layers[-1].act_std) if layers else "",
            report.suggestion + note,
        ))
    return rows


def _per_seed(cells: Sequence[Cell], runs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    extra = varying_keys(cells)
    by_key = {(tuple(str(run[k]) for k in CELL_KEYS), run["seed"]): run
              for run in runs}
    seeds = sorted({run["seed"] for run in runs})
    rows = []
    for seed in seeds:
        entries = []
        for cell in cells:
            run = by_key.get((tuple(str(cell.settings[k]) for k in CELL_KEYS), seed))
            if run is None:
                entries.append({"text": "—", "css": "missing", "title": ""})
                continue
            title = f"run {run['run_id']}"
            if run.get("fingerprint"):
                title += f", initial fingerprint {run['fingerprint']}"
            status = run["status"]
            if status == "finished":
                text = f"{run['test_acc']:.4f}"
            elif status == "diverged":
                text = (f"diverged (epoch {run['diverged_epoch']})"
                        if run.get("diverged_epoch") is not None else "diverged")
            else:
                text = status
            entries.append({"text": text, "css": status, "title": title})
        rows.append({"seed": seed, "entries": entries})
    return {"columns": [cell_label(cell, extra) for cell in cells], "rows": rows}


def _environment(store: Store, runs: Sequence[dict[str, Any]]) -> list[tuple[str, str]]:
    meta = store.meta()
    keys = [key for key in ENVIRONMENT_ORDER if key in meta]
    keys += sorted(key for key in meta
                   if key not in ENVIRONMENT_ORDER and key != "schema_version")
    items = [(key, meta[key] if meta[key] != "" else "(not set)") for key in keys]
    if "cpu" not in meta:
        items.insert(min(3, len(items)), ("cpu", "not recorded by this study"))
    threads: dict[str, int] = {}
    for run in runs:
        if run["status"] in ("finished", "diverged", "failed"):
            text = (f"{run.get('threads')} intra-op, "
                    f"{run.get('interop_threads')} inter-op")
            threads[text] = threads.get(text, 0) + 1
    for text, count in sorted(threads.items()):
        items.append(("threads per run", f"{text}: {count} run(s)"))
    return items


def report_html(store: Store, cells: Sequence[Cell], runs: Sequence[dict[str, Any]],
                *, curves: bytes | None = None, explanation: Any = None) -> str:
    """The text of report.html.

    Args:
        store: The open database (for the meta table and, if needed, the curves).
        cells: The ranked cells of :func:`initlab.study.report.summarize`.
        runs: Every run, as :meth:`Store.runs` returns them.
        curves: curves.png as bytes (drawn here when None).
        explanation: An :class:`initlab.study.explain.Explanation`, or None to
            leave the section out with a sentence saying so.
    """
    import jinja2

    from initlab.study.report import curves_figure

    if curves is None:
        curves = png_bytes(curves_figure(cells, store))
    header, rows = ranked_rows(cells)
    extra = varying_keys(cells)
    text_columns = set(range(2 + len(extra)))
    text_columns.discard(0)
    summary = {
        "header": header, "text_columns": text_columns,
        "label_column": header.index("vs best"),
        "rows": [{"cells": row, "best": cell.comparison is not None
                  and cell.comparison.label == "best"}
                 for row, cell in zip(rows, cells, strict=True)],
    }
    counts: dict[str, int] = {}
    for run in runs:
        counts[run["status"]] = counts.get(run["status"], 0) + 1
    seeds = sorted({run["seed"] for run in runs})
    settings = [(key, str(value)) for key, value in common_settings(cells).items()]
    if seeds:
        settings.append(("seeds", f"{len(seeds)}: {seeds[0]}..{seeds[-1]}"
                         if len(seeds) > 2 else ", ".join(map(str, seeds))))
    settings.append(("runs", ", ".join(f"{n} {status}"
                                       for status, n in sorted(counts.items()))
                     or "none"))
    failed = sum(cell.n_failed for cell in cells)
    unfinished = sum(cell.n_unfinished for cell in cells)
    excluded = ""
    if failed or unfinished:
        excluded = (f"Not included: {failed} failed run(s), {unfinished} unfinished "
                    "run(s); run the study again to complete them.")
    title = "initlab study report"
    if cells:
        first = cells[0].settings
        title += f": {first['dataset']} / {first['model']}"
    diagnostics = initial_diagnostics(cells, runs)
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("initlab.study", "templates"),
        autoescape=True, undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )
    template = environment.get_template("report.html.j2")
    return template.render(
        version=initlab.__version__,
        title=title,
        lead=(f"{len(cells)} grid cell(s), {len(runs)} run(s). Built from "
              "results.sqlite alone; rebuild it with `initlab report DIR`."),
        settings=settings,
        method=method_note().replace("`", "").replace("*", ""),
        summary=summary,
        notes=comparison_notes(cells),
        excluded=excluded,
        images={
            "curves": base64.b64encode(curves).decode("ascii"),
            "distributions": base64.b64encode(
                png_bytes(distribution_figure(cells))).decode("ascii"),
        },
        zoom_window=ZOOM_WINDOW,
        per_seed=_per_seed(cells, runs),
        diagnostics={
            "note": (
                "initlab.diagnose on each initializer's initial model (its first "
                f"seed; the weights the run started from), fed the first "
                f"{DIAGNOSE_BATCH} training examples: one forward and one backward "
                "pass, measured per layer. Verdicts: symmetric, exploding, dead, "
                "vanishing, saturated or healthy (docs/diagnostics.md). Training "
                "settings do not change the initial model, so each one is diagnosed "
                "once." if diagnostics else "No run to diagnose yet."),
            "rows": diagnostics,
        },
        explanation=explanation,
        explanation_missing=("This section was left out of this build "
                             f"({UNDEFINED} here)."),
        environment=_environment(store, runs),
    )
