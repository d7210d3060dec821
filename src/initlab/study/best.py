"""Keep the best configuration: the best grid cell, its best run, how to get it back.

:func:`find_best` ranks the cells of a study as its report does (by mean final test
accuracy over seeds) and picks the top cell's best run (its highest final test
accuracy, the lowest seed on ties). :func:`write_best` writes what it takes to
start that run again or use its starting point elsewhere:

- ``spec.toml`` (and the same keys in ``spec.json``): the one-run study
  (``seeds = 1``, the run's seed, its ``vary`` and fixed seed), so that
  ``initlab study spec.toml --out NEW`` trains the same run, with the same run id,
  bit for bit;
- ``initial_weights.safetensors``: the run's initial parameters, by their names in
  the model, with the run id, fingerprint and settings as metadata. Loading them
  into the model that :func:`initlab.study.models.build_model` builds for the run
  gives the recorded fingerprint.

The weights are initialized again from the recorded seed (they are not stored in
the study) and checked against the recorded fingerprint before anything is written.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import initlab
from initlab.study.replay import recorded_spec
from initlab.study.spec import StudySpec
from initlab.study.store import RESULTS_FILE, Store

__all__ = ["WEIGHTS_FILE", "BestRun", "find_best", "load_weights", "write_best"]

WEIGHTS_FILE = "initial_weights.safetensors"


@dataclass
class BestRun:
    """The best cell of a study and its best run.

    Attributes:
        folder: The study folder.
        cell: The best cell (:class:`initlab.study.report.Cell`).
        run: Its best run's row of the ``runs`` table.
        spec: The one-run spec that re-creates the run.
        interval: The 95 % interval of the cell's mean over seeds, or None
            (undefined below 2 seeds).
        interval_method: How the interval was computed.
        files: What :func:`write_best` wrote.
    """

    folder: Path
    cell: Any
    run: dict[str, Any]
    spec: StudySpec
    interval: tuple[float, float] | None
    interval_method: str
    files: list[Path] = field(default_factory=list)

    @property
    def cell_settings(self) -> dict[str, Any]:
        return dict(self.cell.settings)

    def accuracy_text(self) -> str:
        """``0.9787 [0.9712, 0.9862] (95 % CI, ..., n = 3)``, or mean ± std."""
        cell = self.cell
        if self.interval is not None:
            low, high = self.interval
            return (f"{cell.mean:.4f}, 95 % CI [{low:.4f}, {high:.4f}] "
                    f"({self.interval_method}, n = {cell.n})")
        std = "n/a" if cell.std is None else f"{cell.std:.4f}"
        return f"{cell.mean:.4f} ± {std} (sample std over seeds, n = {cell.n})"

    def to_dict(self) -> dict[str, Any]:
        """What ``initlab best --json`` prints."""
        return {
            "folder": str(self.folder), "cell": self.cell_settings,
            "test_acc_mean": self.cell.mean, "test_acc_std": self.cell.std,
            "n": self.cell.n,
            "ci95": list(self.interval) if self.interval is not None else None,
            "ci_method": self.interval_method if self.interval is not None else None,
            "run_id": self.run["run_id"], "seed": self.run["seed"],
            "init_seed": self.run.get("init_seed"),
            "order_seed": self.run.get("order_seed"),
            "test_acc": self.run["test_acc"], "fingerprint": self.run["fingerprint"],
            "files": [str(path) for path in self.files],
        }


def _interval(cell: Any) -> tuple[tuple[float, float] | None, str]:
    """The cell's 95 % interval from :mod:`initlab.study.stats` where it has one."""
    try:
        from initlab.study.stats import CI_METHOD

        stats = cell.stats
        low, high = stats.ci_low, stats.ci_high
    except (ImportError, AttributeError):
        return None, ""
    if low is None or high is None:
        return None, CI_METHOD
    return (float(low), float(high)), CI_METHOD


def find_best(folder: str | Path) -> BestRun:
    """The best cell of the study in ``folder`` and its best run.

    Raises:
        ValueError: no study in ``folder``, or no finished run in it.
    """
    from initlab.study.report import CELL_KEYS, summarize

    folder = Path(folder)
    path = folder / RESULTS_FILE
    if not path.is_file():
        raise ValueError(f"No study in {str(folder)!r}: {RESULTS_FILE} is missing. "
                         "Accepted: a folder written by initlab study.")
    Store.check_file(path)
    with Store(path) as store:
        cells = summarize(store)
        runs = store.runs()
    ranked = [cell for cell in cells if cell.mean is not None]
    if not ranked:
        raise ValueError(f"The study in {str(folder)!r} has no finished run yet; "
                         "run it (initlab study) before asking for the best.")
    cell = ranked[0]
    seed = cell.best_seed
    run = next(row for row in runs if row["status"] == "finished"
               and row["seed"] == seed
               and all(row[key] == cell.settings[key] for key in CELL_KEYS))
    interval, method = _interval(cell)
    return BestRun(folder, cell, run, recorded_spec(run), interval, method)


def _model_for(spec: StudySpec):
    from initlab.study.datasets import load_dataset
    from initlab.study.train import initialize_model, pinned_threads

    run = spec.runs()[0]
    dataset = load_dataset(run.data_key, run.split_seed)
    with pinned_threads():
        return initialize_model(run, dataset)


def _spec_text(best: BestRun) -> tuple[str, str]:
    from initlab.study.grid import spec_values, to_toml

    values = spec_values(best.spec)
    run = best.run
    comment = [
        f"The best run of {best.folder}: run {run['run_id']} (seed {run['seed']}, "
        f"final test accuracy {run['test_acc']!r}),",
        f"of the best cell, mean test accuracy {best.accuracy_text()}.",
        f"Initial weights: fingerprint {run['fingerprint']} "
        f"(stream version {run['stream_version']}).",
        "Train it again: initlab study spec.toml --out NEW_FOLDER",
    ]
    return to_toml(values, comment), json.dumps(values, indent=2) + "\n"


def write_best(best: BestRun, out: str | Path | None = None) -> list[Path]:
    """Write ``spec.toml``, ``spec.json`` and ``initial_weights.safetensors``.

    Args:
        best: From :func:`find_best`.
        out: The folder to write into. Defaults to ``<study folder>/best``.

    Returns:
        The files written (also kept in ``best.files``).

    Raises:
        ValueError: ``out`` is a file, or the weights initialized again do not give
            the recorded fingerprint (another platform or library version).
        ImportError: safetensors is not installed.
    """
    from safetensors.torch import save_file

    out = Path(out) if out is not None else best.folder / "best"
    if out.exists() and not out.is_dir():
        raise ValueError(f"Invalid --out {str(out)!r}: it exists and is not a folder.")
    model, fingerprint = _model_for(best.spec)
    if fingerprint != best.run["fingerprint"]:
        raise ValueError(
            f"The initial weights of run {best.run['run_id']} come out with "
            f"fingerprint {fingerprint} here, not the recorded "
            f"{best.run['fingerprint']}: another platform or library version; "
            "nothing was written."
        )
    toml_text, json_text = _spec_text(best)
    out.mkdir(parents=True, exist_ok=True)
    files = [out / "spec.toml", out / "spec.json", out / WEIGHTS_FILE]
    files[0].write_text(toml_text, encoding="utf-8")
    files[1].write_text(json_text, encoding="utf-8")
    run = best.run
    metadata = {
        "run_id": run["run_id"], "fingerprint": fingerprint,
        "stream_version": str(run["stream_version"]), "init": run["init"],
        "init_config": run["init_config"], "model": run["model"],
        "dataset": run["dataset"], "seed": str(run["seed"]),
        "init_seed": str(run.get("init_seed", run["seed"])),
        "initlab_version": initlab.__version__,
    }
    tensors = {name: param.detach().contiguous().clone()
               for name, param in model.named_parameters()}
    save_file(tensors, str(files[2]), metadata=metadata)
    best.files = files
    return files


def load_weights(model, path: str | Path) -> dict[str, str]:
    """Copy the tensors of ``path`` into ``model``'s parameters of the same names.

    Returns:
        The file's metadata (run id, fingerprint, settings).

    Raises:
        ValueError: a parameter missing from the file, or of another shape.
    """
    import torch
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as handle:
        metadata = handle.metadata() or {}
        names = set(handle.keys())
        params = dict(model.named_parameters())
        missing = sorted(set(params) - names)
        if missing:
            raise ValueError(f"{str(path)!r} has no tensor {missing[0]!r}; it holds "
                             f"the weights of another model.")
        with torch.no_grad():
            for name, param in params.items():
                tensor = handle.get_tensor(name)
                if tuple(tensor.shape) != tuple(param.shape):
                    raise ValueError(
                        f"{str(path)!r} holds {name!r} of shape {tuple(tensor.shape)}; "
                        f"the model's is {tuple(param.shape)}.")
                param.copy_(tensor)
    return metadata
