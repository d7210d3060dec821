"""The ``initlab`` command: one thin command per job.

Exit codes: 0 success, 1 a run failed at run time, 2 bad input. Errors go to stderr
as one sentence; the traceback only with ``--verbose``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

import initlab
from initlab.study.spec import StudySpec, default_inits, split_entries

EXIT_OK = 0
EXIT_RUNTIME = 1
EXIT_BAD_INPUT = 2

app = typer.Typer(
    help="Neural-network weight initialization: the Keras catalog, reproducible "
    "seeds, diagnostics and multi-seed studies.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
err_console = Console(stderr=True)
_state = {"verbose": False}


class BadInput(Exception):
    """Raised by command code for input that the user must fix (exit code 2)."""


def fail(message: str, code: int = EXIT_BAD_INPUT) -> NoReturn:
    """Print one sentence to stderr and exit with ``code``.

    The message is escaped: it often quotes user input, and text such as ``[/x]``
    would otherwise be read as rich markup (and crash on an unmatched tag).
    """
    err_console.print(f"[red]error:[/red] {escape(str(message))}", highlight=False,
                      soft_wrap=True)
    raise typer.Exit(code)


def guarded(code: int = EXIT_BAD_INPUT):
    """Turn known input errors raised inside the block into ``fail``."""

    class _Guard:
        def __enter__(self):
            return self

        def __exit__(self, kind, exc, tb):
            if exc is None or isinstance(exc, (typer.Exit, KeyboardInterrupt)):
                return False
            if isinstance(exc, (BadInput, ValueError, TypeError, KeyError)):
                if _state["verbose"]:
                    return False
                message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
                fail(str(message), code)
            return False

    return _Guard()


def _version_callback(value: bool) -> None:
    if value:
        console.print(f"initlab {initlab.__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version_callback, is_eager=True,
                     help="Print the version and exit."),
    ] = False,
    verbose: Annotated[
        bool, typer.Option("--verbose", help="Show tracebacks on errors.")
    ] = False,
) -> None:
    _state["verbose"] = verbose


def parse_initializer(text: str) -> initlab.Initializer:
    """A name (``he_normal``) or a config as JSON (``{"class_name": ...}``)."""
    text = text.strip()
    if text.startswith("{"):
        try:
            config = json.loads(text)
        except json.JSONDecodeError as exc:
            raise BadInput(f"Invalid initializer config JSON {text!r}: {exc.msg}.") from None
        return initlab.deserialize(config)
    return initlab.get(text)


def parse_shape(text: str) -> tuple[int, ...]:
    """``"512,256"`` -> ``(512, 256)``; ``""`` or ``"()"`` -> ``()``."""
    stripped = text.strip().strip("()[]").strip()
    if not stripped:
        return ()
    dims = []
    for part in stripped.split(","):
        part = part.strip()
        if not (part.isascii() and part.isdigit()):  # not '²' or other digits
            raise BadInput(
                f"Malformed --shape {text!r}: {part!r} is not a non-negative integer. "
                "Accepted: comma-separated non-negative integers, e.g. 512,256."
            )
        dims.append(int(part))
    return tuple(dims)


# ----------------------------------------------------------------------------- list


@app.command("list")
def list_command(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List every initializer with its aliases and formula."""
    entries = initlab.catalog(include_extras=True)
    if as_json:
        print(json.dumps(entries, indent=2))
        return
    table = Table(title="initlab catalog")
    for column in ("name", "class_name", "aliases", "formula"):
        table.add_column(column)
    for entry in entries:
        table.add_row(entry["name"] + ("" if entry["keras"] else " *"),
                      entry["class_name"], ", ".join(entry["aliases"]), entry["formula"])
    console.print(table)
    console.print("* beyond Keras's catalog: Keras cannot load these configs.")


# --------------------------------------------------------------------------- sample


def sample_summary(init: initlab.Initializer, name: str, shape: tuple[int, ...],
                   layout: str, dtype: str, seed: int | None) -> dict[str, Any]:
    """Draw one array and summarize it against what the initializer promises."""
    import numpy as np

    if seed is not None and init.random:
        config = init.get_config()
        config["seed"] = seed
        init = type(init).from_config(config)
    values = init(shape, dtype, layout=layout)
    stats = init.statistics(shape, layout)
    wide = values.astype(np.float64)
    empty = wide.size == 0
    bounds = stats["bounds"]
    return {
        "name": name,
        "class_name": type(init).__name__,
        "config": init.get_config(),
        "shape": list(shape),
        "layout": layout,
        "dtype": str(values.dtype),
        "seed": seed,
        "fan_in": stats["fan_in"],
        "fan_out": stats["fan_out"],
        "expected_mean": stats["expected_mean"],
        "expected_std": stats["expected_std"],
        "bounds": list(bounds) if bounds is not None else None,
        "mean": None if empty else float(wide.mean()),
        "std": None if empty else float(wide.std()),
        "min": None if empty else float(wide.min()),
        "max": None if empty else float(wide.max()),
        "stream_version": initlab.STREAM_VERSION,
        "_values": wide,
    }


@app.command("sample")
def sample_command(
    name: Annotated[str, typer.Argument(help="Initializer name, alias, or config as JSON.")],
    shape: Annotated[str, typer.Option("--shape", help="Comma-separated shape, e.g. 512,256.")],
    layout: Annotated[str, typer.Option("--layout", help="keras (in, out) or torch (out, in).")] = "keras",
    seed: Annotated[int | None, typer.Option(
        "--seed", help="Seed of the draw (non-negative). Default: the config's own "
        "seed, else 0.")] = None,
    dtype: Annotated[str, typer.Option("--dtype", help="float16, bfloat16, float32 or float64.")] = "float32",
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    plot: Annotated[Path | None, typer.Option("--plot", help="Write a histogram PNG.")] = None,
) -> None:
    """Draw one weight tensor and compare its statistics with the formula."""
    with guarded():
        init = parse_initializer(name)
        dims = parse_shape(shape)
        if layout not in ("keras", "torch"):
            raise BadInput(f"Invalid --layout {layout!r}. Accepted: keras, torch.")
        if seed is None:  # a config's own int seed, else 0
            seed = getattr(init, "seed", None)
            seed = 0 if seed is None else seed
        if seed < 0:
            raise BadInput(f"Invalid --seed {seed}: it must be a non-negative integer.")
        summary = sample_summary(init, initlab.canonical_name(init), dims, layout, dtype,
                                 seed)
        drawn = initlab.deserialize({"class_name": summary["class_name"],
                                     "config": summary["config"]})
    values = summary.pop("_values")
    if plot is not None:
        from initlab.plots import sample_histogram

        with guarded(EXIT_RUNTIME):
            try:
                sample_histogram(values, drawn, summary, plot)
            except (ImportError, OSError) as exc:
                if _state["verbose"]:
                    raise
                if isinstance(exc, ImportError):
                    fail(f"--plot needs matplotlib ({exc}); install initlab[plot].",
                         EXIT_RUNTIME)
                fail(f"Cannot write the histogram to {str(plot)!r}: "
                     f"{exc.strerror or exc}.", EXIT_RUNTIME)
    if as_json:
        print(json.dumps(summary))
        return
    table = Table(title=f"{summary['name']} {tuple(dims)} ({layout} layout, {summary['dtype']})")
    table.add_column("quantity")
    table.add_column("value", justify="right")
    for key in ("fan_in", "fan_out", "expected_mean", "expected_std", "bounds", "mean",
                "std", "min", "max"):
        value = summary[key]
        if isinstance(value, float):
            value = f"{value:.6g}"
        elif isinstance(value, list):
            value = f"[{value[0]:.6g}, {value[1]:.6g}]"
        table.add_row(key, str(value))
    console.print(table)
    if plot is not None:
        console.print(f"histogram written to {plot}")


# ---------------------------------------------------------------------------- study


#: The defaults of the study flags: those of StudySpec, so they cannot drift apart.
_SPEC = {name: spec_field.default
         for name, spec_field in StudySpec.__dataclass_fields__.items()}


def parse_study_seed(text: str) -> int | str:
    """``"7"`` -> 7; ``"random"`` stays ``"random"`` (drawn when the spec is built)."""
    text = text.strip()
    if text == "random":
        return text
    if not text.isdigit():
        raise BadInput(
            f"Invalid --seed {text!r}. Accepted: a non-negative integer or 'random'."
        )
    return int(text)


def parse_inits(text: str | None) -> tuple[Any, ...]:
    """``--inits`` text -> entries: names as given, JSON configs as initializers."""
    if text is None:
        return default_inits()
    entries: list[Any] = []
    for entry in split_entries(text):
        if not entry.startswith("{"):
            entries.append(entry)  # a name or policy, resolved by StudySpec
            continue
        try:
            entries.append(parse_initializer(entry))
        except ValueError as exc:
            raise BadInput(f"Invalid --inits entry {entry!r}: {exc}") from None
    return tuple(entries)


def _study_table(cells: list[Any], title: str) -> Table:
    from rich import box

    from initlab.study.report import ranked_rows

    header, rows = ranked_rows(cells, compact=True)
    table = Table(title=title, box=box.SIMPLE_HEAD, collapse_padding=True,
                  caption="n: seeds in the statistics; div: diverged runs, excluded; "
                  "± std: sample standard deviation over seeds (ddof=1).")
    for column in header:
        if column == "init":
            table.add_column(column, overflow="fold")
        else:
            table.add_column(column, justify="right", no_wrap=True)
    for row in rows:
        table.add_row(*row)
    return table


@app.command("study")
def study_command(
    dataset: Annotated[str, typer.Option(help="Dataset: digits.")] = _SPEC["dataset"],
    model: Annotated[str, typer.Option(help="Model: mlp.")] = _SPEC["model"],
    inits: Annotated[str | None, typer.Option(
        help="Comma-separated initializer names or JSON configs, or the policies "
        "keras, torch. Default: the 15 catalog initializers.")] = None,
    seeds: Annotated[int, typer.Option(
        help="Seeds per init entry.")] = _SPEC["seeds"],
    seed: Annotated[str, typer.Option(
        help="First run seed (runs use S..S+N-1), or 'random'.")] = str(_SPEC["seed"]),
    epochs: Annotated[int, typer.Option(
        help="Training epochs per run.")] = _SPEC["epochs"],
    out: Annotated[Path | None, typer.Option(
        help="Output folder. Default: runs/<dataset>-<model>-<spec hash>.")] = None,
    depth: Annotated[int, typer.Option(
        help="Hidden layers of the MLP.")] = _SPEC["depth"],
    width: Annotated[int, typer.Option(
        help="Units per hidden layer.")] = _SPEC["width"],
    activation: Annotated[str, typer.Option(
        help="relu, tanh, sigmoid, selu, gelu or linear.")] = _SPEC["activation"],
    optimizer: Annotated[str, typer.Option(
        help="sgd or adam.")] = _SPEC["optimizer"],
    lr: Annotated[float, typer.Option(help="Learning rate.")] = _SPEC["lr"],
    momentum: Annotated[float, typer.Option(
        help="SGD momentum (sgd only).")] = _SPEC["momentum"],
    batch_size: Annotated[int, typer.Option(
        help="Examples per step.")] = _SPEC["batch_size"],
    split_seed: Annotated[int, typer.Option(
        help="Seed of the stratified 80/20 train/test split.")] = _SPEC["split_seed"],
    workers: Annotated[int | None, typer.Option(
        help="Training processes. Default: min(2, CPU count).")] = None,
    quiet: Annotated[bool, typer.Option(
        "--quiet", help="No progress bar and no table; print the output folder.")
    ] = False,
) -> None:
    """Train every init entry on every seed; rank the entries by test accuracy.

    Writes results.sqlite, summary.csv, report.md and curves.png into --out.
    Running the same command again skips the runs already done.
    """
    with guarded():
        spec = StudySpec(
            dataset=dataset, model=model, inits=parse_inits(inits), seeds=seeds,
            seed=parse_study_seed(seed), epochs=epochs, depth=depth, width=width,
            activation=activation, optimizer=optimizer, lr=lr, momentum=momentum,
            batch_size=batch_size, split_seed=split_seed,
        )
        from initlab.study.runner import run_study, validate_study

        out_dir, n_workers = validate_study(spec, out, workers)
    seed_note = f"seed {spec.seed}" + (
        f" (drawn at random; --seed {spec.seed} repeats it)" if spec.seed_drawn else ""
    )
    with guarded(EXIT_RUNTIME):
        if quiet:
            outcome = run_study(spec, out_dir, workers=n_workers)
        else:
            err_console.print(
                f"study {spec.dataset}/{spec.model}: {len(spec.inits)} init entries x "
                f"{spec.seeds} seeds = {len(spec.inits) * spec.seeds} runs, "
                f"{seed_note}, into {out_dir}", highlight=False)
            outcome = _run_with_progress(spec, out_dir, n_workers, run_study)
    if quiet:
        print(out_dir)
    else:
        title = (f"{spec.dataset} / {spec.model}: final test accuracy "
                 f"({spec.epochs} epochs, {spec.seeds} seeds)")
        console.print(_study_table(outcome.cells, title))
        console.print(
            f"trained {outcome.trained} run(s), skipped {outcome.skipped} already done"
            + (f", {outcome.elsewhere} held by another process" if outcome.elsewhere
               else "") + f"; {seed_note}. Results in {out_dir}", highlight=False)
    for run_id, error in outcome.failures:
        err_console.print(f"[red]run {run_id} failed:[/red] {error}", highlight=False)
    if outcome.failures:
        fail(f"{len(outcome.failures)} run(s) failed; their errors are in "
             f"{out_dir / 'results.sqlite'}; run the command again to retry them.",
             EXIT_RUNTIME)


def _run_with_progress(spec: StudySpec, out_dir: Path, workers: int,
                       run_study: Any) -> Any:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("runs"), TimeElapsedColumn(), TextColumn("left"),
               TimeRemainingColumn())
    with Progress(*columns, console=err_console) as bar:
        task = bar.add_task("training", total=None)

        def advance(done: int, total: int, result: Any) -> None:
            if result is None:  # the start: runs already done count as done
                bar.reset(task, total=total, completed=done)
            else:
                bar.update(task, completed=done)

        return run_study(spec, out_dir, workers=workers, progress=advance)


def main() -> None:
    """Entry point of the ``initlab`` script."""
    try:
        app()
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)


if __name__ == "__main__":
    main()
