"""report.html: self-contained, complete, deterministic, and rendered by a browser."""

import base64
import re

import pytest

import initlab
from initlab.study.report import write_report
from initlab.study.spec import StudySpec
from initlab.study.store import Store, new_owner
from initlab.study.train import EpochMetrics, RunResult

ACCURACY = {"he_normal": [0.93, 0.95, 0.94], "glorot_uniform": [0.92, 0.94, 0.95],
            "zeros": [0.10, 0.11, 0.10]}
TABLES = ("settings-table", "summary-table", "per-seed-table", "diagnostics-table",
          "determinism-table", "environment-table")


def _study(folder, diverged=(), fingerprint=None):
    """A study folder with fake results for real run settings (so the initial
    models can be rebuilt and diagnosed)."""
    folder.mkdir(parents=True, exist_ok=True)
    store = Store(folder / "results.sqlite")
    runs = StudySpec(inits=tuple(ACCURACY), seeds=3, epochs=2).runs()
    store.add_runs(runs)
    store.write_meta({"torch_version": "2.x", "platform": "<script>alert(1)</script>"})
    owner = new_owner()
    for run in runs:
        store.claim(run.run_id, owner)
        acc = ACCURACY[run.init.label][run.seed]
        curve = [EpochMetrics(e, 2.0 / (e + 1), 2.1 / (e + 1), acc * (e + 1) / 3)
                 for e in range(3)]
        status = "finished"
        if (run.init.label, run.seed) in diverged:
            curve[-1], status = EpochMetrics(2, None, None, None), "diverged"
        store.record(RunResult(run.run_id, status, fingerprint=fingerprint,
                               epochs=curve), owner)
    return store


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    folder = tmp_path_factory.mktemp("html") / "study"
    with _study(folder, diverged={("zeros", 1)}) as store:
        write_report(store, folder)
    return folder / "report.html"


def test_the_report_is_self_contained(report):
    text = report.read_text(encoding="utf-8")
    sources = re.findall(r'\ssrc="([^"]*)"', text)
    assert len(sources) == 2
    for source in sources:
        assert source.startswith("data:image/png;base64,")
        assert base64.b64decode(source.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    assert "http://" not in text and "https://" not in text
    assert "<link" not in text and "<script" not in text and "@import" not in text


def test_the_report_has_every_section(report):
    text = report.read_text(encoding="utf-8")
    for table in TABLES:
        assert f'id="{table}"' in text
    for heading in ("Ranked summary", "Learning curves", "Final-accuracy distributions",
                    "Per-seed results", "Initial diagnostics",
                    "Deterministic versus stochastic training", "Environment"):
        assert f">{heading}</h2>" in text
    # intervals, labels, the diverged run, the method and the meaning of ±
    assert "[0.9152, 0.9648]" in text and ">indistinguishable<" in text
    assert ">worse<" in text and "diverged (epoch 2)" in text
    assert "zeros: 1 diverged run(s) (seed 1), excluded from the statistics." in text
    assert "not the standard error" in text and "Student t" in text
    # the environment comes from the meta table, escaped
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "1 intra-op, 1 inter-op: 9 run(s)" in text


def test_initial_diagnostics_per_initializer(report):
    text = report.read_text(encoding="utf-8")
    table = text.split('id="diagnostics-table"')[1].split("</table>")[0]
    rows = re.findall(r"<tr><td class=\"text\">([^<]+)</td><td>(\d+)</td>"
                      r"<td class=\"text [^\"]+\">([a-z]+)</td>"
                      r"<td class=\"text\">([^<]*)</td>", table)
    assert {(init, seed, verdict) for init, seed, verdict, _ in rows} == {
        ("he_normal", "0", "healthy"), ("glorot_uniform", "0", "healthy"),
        ("zeros", "0", "symmetric")}
    assert ("zeros", "0", "symmetric", "hidden1") in rows


def test_a_failing_diagnosis_is_skipped_with_its_reason(tmp_path, monkeypatch):
    def broken(model, batch):
        raise RuntimeError("no diagnosis today")

    monkeypatch.setattr(initlab, "diagnose", broken)
    with _study(tmp_path / "study") as store:
        write_report(store, tmp_path / "study")
    text = (tmp_path / "study" / "report.html").read_text(encoding="utf-8")
    assert text.count("not diagnosed: RuntimeError: no diagnosis today") == 3
    assert "id=\"summary-table\"" in text


def test_the_report_is_rebuilt_byte_for_byte(report, tmp_path):
    folder = report.parent
    first = {name: (folder / name).read_bytes()
             for name in ("report.html", "report.md", "summary.csv", "curves.png")}
    with Store(folder / "results.sqlite") as store:
        write_report(store, folder)
    for name, data in first.items():
        assert (folder / name).read_bytes() == data, name


def test_the_report_renders_in_a_browser(report, report_browser):
    page = report_browser(report)
    assert page["state"] == "complete"
    assert page["title"] == "initlab study report: digits / mlp"
    assert len(page["images"]) == 2
    for image in page["images"]:
        assert image["complete"] and image["naturalWidth"] > 0, image["src"][:40]
    for table in TABLES:
        assert page["tables"].get(table, 0) > 1, table
    assert all(url.startswith("data:") for url in page["resources"])


def test_a_rebuilt_model_with_another_fingerprint_is_named(tmp_path):
    with _study(tmp_path / "study", fingerprint="0" * 16) as store:
        write_report(store, tmp_path / "study")
    text = (tmp_path / "study" / "report.html").read_text(encoding="utf-8")
    assert text.count(f"the run recorded {'0' * 16}: this initlab draws other "
                      "weights") == 3
    assert 'title="run ' in text and f"initial fingerprint {'0' * 16}" in text
