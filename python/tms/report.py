"""The one report writer of `tms reproduce`: a self-contained report.html (figures embedded as data URIs, the
configuration, the measurements and the paper's claims next to what the run found; it opens from disk in any
browser, with no network and no scripts) and findings.json beside it. Every target ends in `write`."""
from __future__ import annotations

import base64
import html
import json
import os
import time
from typing import List, Optional, Sequence

from . import _tms, claims
from .claims import Finding

_CSS = """
body { font-family: -apple-system, "Segoe UI", "DejaVu Sans", Helvetica, Arial, sans-serif; color: #222;
       max-width: 1500px; margin: 2em auto; padding: 0 1.5em; line-height: 1.45; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; } h2 { margin-top: 1.8em; border-bottom: 1px solid #ddd; }
.meta { color: #555; } code, pre { font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 0.9em; }
pre { background: #f6f6f4; padding: 0.8em; overflow-x: auto; }
table { border-collapse: collapse; margin: 0.6em 0 1.2em; font-size: 0.92em; }
th, td { border: 1px solid #ddd; padding: 0.3em 0.6em; text-align: left; vertical-align: top; }
th { background: #f3f3f0; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
figure { margin: 1.2em 0 2em; } figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { color: #444; font-size: 0.92em; margin-top: 0.3em; }
.verdict { font-weight: bold; padding: 0.1em 0.5em; border-radius: 0.3em; white-space: nowrap; }
.agrees { background: #dcefdc; color: #1d5e1d; } .partly { background: #fbefc8; color: #7a5a00; }
.differs { background: #f6d5d5; color: #8a1c1c; } .na { background: #eee; color: #555; }
.banner { background: #fbefc8; border: 2px solid #d9b440; color: #5c4300; padding: 0.7em 1em; border-radius: 0.3em; }
"""

# Said once in every report, before the claims (which name features by these numbers).
NUMBERING = ("Features are numbered from 0, as in the arrays (feature i is W[k, i]) and in "
             "<code>tms analyze --features</code>")
NOT_JUDGED = "not judged (short run)"


def data_uri(path: str) -> str:
    """The file as a data: URI (PNG, SVG or JPEG by suffix)."""
    mime = {".png": "image/png", ".svg": "image/svg+xml", ".jpg": "image/jpeg"}[os.path.splitext(path)[1].lower()]
    with open(path, "rb") as f:
        return f"data:{mime};base64," + base64.b64encode(f.read()).decode("ascii")


def _fmt(v) -> str:
    if isinstance(v, float):
        if v != v:
            return "NaN"
        return f"{v:.4g}"
    return html.escape(str(v))


def _table(rows: Sequence[dict], columns: Sequence[tuple]) -> str:
    head = "".join(f"<th>{html.escape(label)}</th>" for _, label in columns)
    body = []
    for row in rows:
        cells = []
        for key, _ in columns:
            v = row.get(key, "")
            cls = ' class="num"' if isinstance(v, (int, float)) else ""
            cells.append(f"<td{cls}>{_fmt(v)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def findings_table(findings: Sequence[Finding]) -> str:
    """The claims next to what the run found. A finding that is not meaningful (a short run) shows "not judged"
    in grey, with the verdict its numbers give below it in small print."""
    rows = []
    for f in findings:
        if f.meaningful:
            cls = {"agrees": "agrees", "partly": "partly", "differs": "differs"}.get(f.verdict, "na")
            verdict = f'<span class="verdict {cls}">{html.escape(f.verdict)}</span>'
        else:
            verdict = (f'<span class="verdict na">{NOT_JUDGED}</span><br><small>the numbers give: '
                       f"{html.escape(f.verdict)}</small>")
        rows.append(f"<tr><td>{html.escape(f.claim)}<br><small>{html.escape(f.source)}</small></td>"
                    f"<td>{html.escape(f.found)}</td><td>{verdict}</td></tr>")
    return ("<table><thead><tr><th>The paper claims</th><th>This run found</th><th>Verdict</th></tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>")


MEASUREMENT_COLUMNS = [
    ("instance", "instance"), ("density", "1−S"), ("restart", "restart"), ("loss", "final loss"),
    ("frobenius_sq", "‖W‖_F²"), ("dims_per_feature", "m/‖W‖_F²"), ("represented", "represented"),
    ("superposition_represented", "mean superposition (represented)"),
]
# Run.loss_decomposition's keys per model and their column labels: the linear split is exact and sums to the
# expected loss; the ReLU split keeps only the inputs with at most one active feature (paper §4.2).
DECOMPOSITION_COLUMNS = {
    "linear": [("feature_benefit", "feature benefit lost"), ("interference", "interference"), ("bias", "bias term"),
               ("expected_loss", "expected loss")],
    "relu": [("feature_benefit", "1-sparse: feature benefit lost"), ("interference", "1-sparse: interference"),
             ("bias", "0-sparse: bias term"), ("one_sparse_loss", "1-sparse loss (inputs with ≤ 1 active feature)")],
}
DECOMPOSITION_NOTE = {
    "linear": "Loss decomposition (linear model, exact): the expected loss split into the feature benefit not "
              "attained, the interference between features and a bias term, averaged over features like the "
              "training loss; their sum is the expected loss, next to the measured final loss.",
    "relu": "Loss decomposition (ReLU output model, paper §4.2): the expected loss on inputs with at most one active "
            "feature, split into the feature benefit not attained and the interference (1-sparse inputs) and the "
            "bias term (no active feature), averaged over features like the training loss. Their sum, the 1-sparse "
            "loss, is a lower bound on the expected loss that approaches it as S → 1 (the rest is O((1−S)²)); "
            "compare it with the measured final loss. For dense features it means nothing: at 1−S = 1 almost no "
            "input has at most one active feature, so every term is about 0.",
}


def decomposition_columns(run) -> list:
    """The table columns of the run's loss decomposition (DECOMPOSITION_COLUMNS). Raises ValueError when its keys
    are not exactly the model's, so that a renamed key cannot leave a column silently empty."""
    columns = DECOMPOSITION_COLUMNS[run.model]
    expected = [key for key, _ in columns]
    if sorted(run.loss_decomposition) != sorted(expected):
        raise ValueError(f"loss_decomposition: keys {', '.join(sorted(run.loss_decomposition))}; expected "
                         f"{', '.join(expected)} for a {run.model} run")
    return columns


def measurement_table(run, chosen: Optional[Sequence[int]] = None) -> str:
    """Every instance's scalar measurements; instances in `chosen` are marked with ✓."""
    rows = run.rows()
    columns = list(MEASUREMENT_COLUMNS)
    if run.loss_decomposition is not None:
        columns += decomposition_columns(run)
    if chosen is not None:
        chosen = set(int(k) for k in chosen)
        for row in rows:
            row["chosen"] = "✓" if row["instance"] in chosen else ""
        columns = [("chosen", "shown")] + columns
    return _table(rows, columns)


def verdict_summary(findings: Sequence[Finding]) -> str:
    """"7 claims checked: 5 agrees, 2 differs", counting only the meaningful findings; the others as not judged."""
    verdicts = [f.verdict for f in findings if f.meaningful]
    counts = [f"{verdicts.count(v)} {v}" for v in ("agrees", "partly", "differs", "n/a") if verdicts.count(v)]
    skipped = len(findings) - len(verdicts)
    if skipped:
        counts.append(f"{skipped} {NOT_JUDGED}")
    return f"{len(findings)} claims checked: {', '.join(counts) or 'none'}"


def write_report(path: str, *, title: str, subtitle: str, command: str, intro_html: str,
                 findings: Sequence[Finding], figures: Sequence[dict], runs: Sequence[dict],
                 seconds: float, notes: Sequence[str] = (), sections: Sequence[str] = (),
                 short_run: Optional[str] = None, numbering: str = "") -> str:
    """Writes report.html. figures: dicts with png (path), caption, and optionally svg (path, linked).
    runs: dicts with name, run, folder (relative path), chosen (instances shown in the figures), and table=False
    to leave out the per-instance table (for runs of thousands of models). sections: extra HTML after the
    figures. short_run: why the run is too short to judge the claims (claims.short_run); it puts a banner at the
    top (mark the findings with claims.not_judged). numbering: what feature 0 is in this target, added to the
    sentence on feature numbers."""
    directory = os.path.dirname(os.path.abspath(path))
    parts: List[str] = []
    parts.append(f"<h1>{html.escape(title)}</h1>")
    if short_run is not None:
        parts.append(f'<p class="banner">Short run: not meaningful. This is {html.escape(short_run)}: too short '
                     "for the paper's claims to be judged. The figures and numbers below are this run's, but each "
                     f"verdict reads \"{NOT_JUDGED}\", with the one its numbers give in small print. Run the "
                     "target without --quick and with its default steps to judge the claims.</p>")
    parts.append(f'<p class="meta">{html.escape(subtitle)}<br>Command: <code>{html.escape(command)}</code><br>'
                 f"Run time: {seconds:.1f} s in total (training "
                 + ", ".join(f"{html.escape(r['name'])} {r['run'].seconds:.1f} s" for r in runs)
                 + ").</p>")
    parts.append(intro_html)
    parts.append(f"<h2>The paper's claims and what this run found</h2><p>{html.escape(verdict_summary(findings))}. "
                 "The numbers are computed from the trained weights of this run. "
                 f"{NUMBERING}{'; ' + html.escape(numbering) if numbering else ''}.</p>")
    parts.append(findings_table(findings))
    for note in notes:
        parts.append(f"<p>{html.escape(note)}</p>")
    parts.append("<h2>Figures</h2>")
    for fig in figures:
        rel_links = []
        for key in ("png", "svg"):
            if fig.get(key):
                rel = os.path.relpath(fig[key], directory)
                rel_links.append(f'<a href="{html.escape(rel)}">{key.upper()}</a>')
        parts.append(f'<figure><img src="{data_uri(fig["png"])}" alt="{html.escape(fig["caption"])}">'
                     f"<figcaption>{html.escape(fig['caption'])} ({' · '.join(rel_links)})</figcaption></figure>")
    parts.extend(sections)
    parts.append("<h2>Measurements</h2>")
    for model in sorted({r["run"].model for r in runs
                         if r.get("table", True) and r["run"].loss_decomposition is not None}):
        parts.append(f'<p class="meta">{html.escape(DECOMPOSITION_NOTE[model])}</p>')
    for r in runs:
        run = r["run"]
        parts.append(f"<h3>{html.escape(r['name'])} — run folder <code>{html.escape(r['folder'])}</code></h3>")
        if r.get("table", True):
            parts.append(measurement_table(run, r.get("chosen")))
        else:
            parts.append(f"<p>{run.K} models: the per-model table is left out; <code>tms analyze "
                         f"{html.escape(r['folder'])}</code> or <code>tms.load()</code> lists them.</p>")
    parts.append("<h2>Configuration</h2>")
    for r in runs:
        run = r["run"]
        cfg = dict(run.config)
        parts.append(f"<h3>{html.escape(r['name'])}</h3><pre>{html.escape(json.dumps(cfg, indent=1))}</pre>"
                     f"<p class=\"meta\">{run.K} instances, init std {run.init_std:.4g}, {run.threads} threads, "
                     f"{run.seconds:.2f} s.</p>")
    body = "\n".join(parts)
    doc = (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
           f'<meta name="viewport" content="width=device-width, initial-scale=1"><style>{_CSS}</style></head>'
           f"<body>\n{body}\n</body></html>\n")
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(doc)
    os.replace(tmp, path)
    return path


def write(job, *, start: float, findings: Sequence[Finding], figures: Sequence[dict], runs: Sequence[dict],
          intro_html: str, summary: dict, numbering: str, sections: Sequence[str] = ()) -> dict:
    """Writes a target's report.html and findings.json into job.out (a targets.common.Job), its findings marked
    not judged when the run is too short (job.short_run). start: time.monotonic() when the target began. runs:
    as write_report's, each with a key (its name in the result). summary: the target's own entries of
    findings.json, after the ones every target has (target, command, seconds, meaningful, reason, findings,
    figures). Returns {"report", "figures", "runs" (key -> Run), "findings", "seconds", "summary"}."""
    seconds = time.monotonic() - start
    target = job.target
    findings = claims.not_judged(findings, job.short_run)
    report_path = write_report(
        os.path.join(job.out, "report.html"), title=f"tms reproduce {target.name}: {target.title}",
        subtitle=f"tms {_tms.__version__}, written {time.strftime('%Y-%m-%d %H:%M:%S')}", command=job.command,
        intro_html=intro_html, findings=findings, figures=figures, runs=runs, seconds=seconds, sections=sections,
        short_run=job.short_run, numbering=numbering)
    summary = dict(target=target.name, command=job.command, seconds=seconds, meaningful=job.short_run is None,
                   reason=job.short_run, findings=[f.as_dict() for f in findings],
                   figures=[dict(png=f["png"], svg=f["svg"], caption=f["caption"]) for f in figures], **summary)
    with open(os.path.join(job.out, "findings.json"), "w", encoding="utf-8") as f:
        json.dump(summary, f, indent=1)
        f.write("\n")
    return dict(report=report_path, figures=list(figures), runs={r["key"]: r["run"] for r in runs},
                findings=findings, seconds=seconds, summary=summary)
