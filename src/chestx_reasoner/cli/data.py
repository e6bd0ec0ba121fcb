"""`chestx synth`, `chestx build` and `chestx bench stats`: make a cohort, build a benchmark
from dataset releases, and show what a benchmark holds."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from chestx_reasoner.cli.common import (
    EXIT_INTERRUPTED,
    GROUP_HELP,
    app,
    fail,
    progress_bar,
    table_width,
)

# ---------------------------------------------------------------------------------------------
# synth


@app.command("synth")
def synth_command(
    out: Annotated[Path, typer.Option("--out", help="Cohort folder (MIMIC-CXR-JPG layout).")],
    n: Annotated[int | None, typer.Option("--n", min=1, help="Studies (default: 2000, or the "
                                          "folder's own when resuming).")] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed (default: 0).")] = None,
    size: Annotated[int | None, typer.Option(min=64, max=2048,
                                             help="Image side in pixels (default: 256).")] = None,
    prevalence: Annotated[list[str] | None, typer.Option(
        help="Override a label's share of studies: 'Edema=0.2' (positive) or "
        "'Edema=0.2:0.05:0.1' (positive:uncertain:negative). Repeatable.")] = None,
    workers: Annotated[int, typer.Option(min=1, help="Processes rendering images.")] = 1,
    overwrite: Annotated[bool, typer.Option(help="Replace a different cohort in --out.")] = False,
    preview: Annotated[int | None, typer.Option(
        min=1, help="Also write a contact sheet of N studies with their labels.")] = None,
    preview_out: Annotated[Path | None, typer.Option(
        help="Contact sheet path (default: OUT/preview.png).")] = None,
) -> None:
    """Make the embedded synthetic cohort: images, reports, labels, splits and prior pairs.

    The layout and file names are MIMIC-CXR-JPG 2.0.0's (plus an MS-CXR-T-style pair table), so
    the MIMIC-CXR adapter reads it unchanged. Rerun the same command to resume an interrupted
    run; with only --out (and --preview), an existing cohort is reused as it is.
    """
    from chestx_reasoner.data.synth import settings_for
    from chestx_reasoner.data.synth.writer import CohortExistsError, synthesize

    console = Console(stderr=True, highlight=False, soft_wrap=True)
    try:
        config = settings_for(out, n=n, seed=seed, size=size, prevalence=prevalence or [])
    except ValueError as exc:
        fail(str(exc))
    try:
        with progress_bar(console, unit="studies") as progress:
            task = progress.add_task("synth", total=config.n)
            summary = synthesize(out, config, overwrite=overwrite, workers=workers,
                                 progress=lambda k: progress.advance(task, k))
    except CohortExistsError as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        console.print(f"interrupted; images so far are kept in {out}: rerun to resume")
        raise typer.Exit(EXIT_INTERRUPTED) from None
    except OSError as exc:
        fail(f"{exc.filename or out}: {exc.strerror or exc}")
    console.print(f"{summary.studies} studies of {summary.patients} patients in {out} "
                  f"({summary.images_written} images written, {summary.images_skipped} already "
                  f"there), {summary.pairs} prior/current pairs")
    _print_prevalence(console, summary.label_counts, summary.studies)
    if preview:
        from chestx_reasoner.data.synth import write_preview

        path = write_preview(out, preview, preview_out or out / "preview.png")
        console.print(f"contact sheet of {preview} studies: {path}")


def _print_prevalence(console: Console, counts: dict[str, dict[str, int]], total: int) -> None:
    from rich.table import Table

    from chestx_reasoner.data.synth.cohort import MIMIC_NO_FINDING, MIMIC_PREVALENCE

    table = Table(title="label shares (MIMIC-CXR in brackets)", title_justify="left")
    for column in ("label", "1.0", "-1.0", "0.0"):
        table.add_column(column, justify="left" if column == "label" else "right")
    for label, values in counts.items():
        mimic = MIMIC_PREVALENCE.get(label) or (
            (MIMIC_NO_FINDING, 0.0, 0.0) if label == "No Finding" else None)
        cells = []
        for i, key in enumerate(("1.0", "-1.0", "0.0")):
            share = values[key] / total
            cells.append(f"{share:.3f}" + (f" [{mimic[i]:.3f}]" if mimic else ""))
        table.add_row(label, *cells)
    console.print(table)




# ---------------------------------------------------------------------------------------------
# build


def _split_list(values: list[str] | None) -> list[str]:
    return [v.strip() for value in values or [] for v in value.split(",") if v.strip()]


@app.command("build")
def build_command(
    source: Annotated[list[str], typer.Option(
        "--source", help="Dataset adapter: synthetic, mimic-cxr, ms-cxr-t, chexpert-plus, "
        "openi, siim, rsna. Repeat with --root to merge sources.")],
    root: Annotated[list[Path], typer.Option(
        "--root", help="The source's release folder, in the order of --source.")],
    out: Annotated[Path, typer.Option("--out", help="Benchmark folder.")],
    tasks: Annotated[list[str] | None, typer.Option(
        help="Task families, comma-separated (default: all).")] = None,
    per_finding: Annotated[int, typer.Option(
        min=2, help="binary: items per finding and split (half yes, half no).")] = 200,
    per_task: Annotated[int | None, typer.Option(
        min=1, help="Other tasks: at most N items per source and split.")] = None,
    seed: Annotated[int, typer.Option(help="Seed of sampling and option order.")] = 0,
    uncertain: Annotated[str, typer.Option(
        help="Uncertain (-1) labels: ignore, ones (present) or zeros (absent).")] = "ignore",
    test_fraction: Annotated[float, typer.Option(
        help="Share of patients in test, for sources without their own split.")] = 0.2,
    images: Annotated[str, typer.Option(
        help="Place images in OUT/images by symlink ('link') or 'copy'; DICOM becomes PNG.")
    ] = "link",
    format: Annotated[list[str] | None, typer.Option(
        "--format", help="Also write 'parquet' (OUT/{train,test}.parquet) and/or 'hf' "
        "(OUT/hf, a datasets folder); images embedded.")] = None,
    overwrite: Annotated[bool, typer.Option(
        help="Also delete files in OUT that this build does not make (mined chains, "
        "predictions of the earlier items).")] = False,
) -> None:
    """Build a RadRBench-CXR benchmark: Sample records of every task family, split by patient.

    Writes OUT/train.jsonl, OUT/test.jsonl and OUT/manifest.json (sources, skipped studies,
    counts, seed, version), then prints the benchmark's stats. An earlier build in OUT is
    cleared first; other files there are refused unless --overwrite.
    """
    from chestx_reasoner.bench.build import BuildConfig, SourceSpec, build_benchmark
    from chestx_reasoner.bench.export import FORMATS, export_benchmark
    from chestx_reasoner.data.sources import SOURCES, DatasetError
    from chestx_reasoner.registry import UnknownNameError

    console = Console(stderr=True, highlight=False, soft_wrap=True, width=table_width())
    if len(source) != len(root):
        fail(f"give one --root per --source ({len(source)} sources, {len(root)} roots)")
    formats = _split_list(format)
    try:
        for name in source:
            SOURCES.get(name)
        config = BuildConfig(
            tasks=tuple(_split_list(tasks)) or BuildConfig().tasks, per_finding=per_finding,
            per_task=per_task, seed=seed, uncertain=uncertain, test_fraction=test_fraction,
            images=images)
        if bad := [f for f in formats if f not in FORMATS]:
            raise ValueError(f"--format {bad[0]!r}: choose from {', '.join(FORMATS)}")
        specs = [SourceSpec(name, path) for name, path in zip(source, root, strict=True)]
        with console.status("building") as status:
            manifest = build_benchmark(specs, out, config, progress=status.update,
                                       overwrite=overwrite)
            if formats:
                status.update(f"writing {', '.join(formats)}")
                written = export_benchmark(out, formats)
    except (UnknownNameError, ValueError, DatasetError) as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        console.print("interrupted: rerun the same command (a build starts over; it is quick)")
        raise typer.Exit(EXIT_INTERRUPTED) from None
    except OSError as exc:
        fail(f"{exc.filename or out}: {exc.strerror or exc}")
    for record in manifest["sources"]:
        console.print(f"{record['name']}: {record['studies']} studies of {record['patients']} "
                      f"patients ({record['test_patients']} in test); {_skips(record)}")
    console.print(f"wrote {out}/train.jsonl, {out}/test.jsonl, {out}/manifest.json"
                  + "".join(f", {p}" for p in (written if formats else [])))
    _print_stats(console, out)


def _skips(record: dict) -> str:
    """Every skip the manifest records for one source: studies the source left out and items
    dropped while building (an image file missing, a duplicate of another source's item), so
    the summary never says 'none' while the manifest counts some."""
    studies = ", ".join(f"{n} {why}" for why, n in record.get("skipped", {}).items())
    items = ", ".join(f"{n} {why}" for why, n in record.get("items_dropped", {}).items())
    return (f"skipped studies: {studies or 'none'}; "
            f"dropped items: {items or 'none'}")


# ---------------------------------------------------------------------------------------------
# bench stats

bench_app = typer.Typer(help=GROUP_HELP["bench"], no_args_is_help=True)
app.add_typer(bench_app, name="bench")


@bench_app.command("stats")
def bench_stats_command(
    bench: Annotated[Path, typer.Argument(help="Benchmark folder (or one JSONL file).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")
                       ] = False,
) -> None:
    """Items per task, source and split; answer and option-position balance; reasoning steps."""
    from chestx_reasoner.bench.stats import benchmark_stats, read_samples

    try:
        stats = benchmark_stats(read_samples(bench))
    except (OSError, ValueError) as exc:
        fail(f"{bench}: {exc}" if str(bench) not in str(exc) else str(exc))
    if as_json:
        typer.echo(json.dumps(stats, indent=2))
        return
    _print_stats(Console(highlight=False, width=table_width()), bench, stats)


def _print_stats(console: Console, bench: Path, stats: dict | None = None) -> None:
    from rich.table import Table

    from chestx_reasoner.bench.stats import benchmark_stats, read_samples

    stats = stats or benchmark_stats(read_samples(bench))
    table = Table(title=f"{bench}: {stats['n']} items "
                  f"({', '.join(f'{k} {v}' for k, v in stats['by_split'].items())})",
                  title_justify="left")
    for column in ("task", "train", "test", "sources", "answers (multi_open: Nf = N findings)",
                   "answer letters",
                   "with reasoning", "steps/item"):
        table.add_column(column, justify="right" if column in (
            "train", "test", "with reasoning", "steps/item") else "left")
    for task, row in stats["by_task"].items():
        table.add_row(
            task, str(row["by_split"].get("train", 0)), str(row["by_split"].get("test", 0)),
            " ".join(f"{k} {v}" for k, v in row["by_source"].items()),
            " ".join(f"{k} {v}" for k, v in row["answers"].items()),
            " ".join(f"{k} {v}" for k, v in row["answer_positions"].items()),
            str(row["with_reasoning"]), f"{row['steps_mean']:.1f}")
    console.print(table)
