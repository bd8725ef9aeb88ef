"""Rendering the auditor's report (rows from engine.audit.report) as CSV or a printable HTML
page. The HTML template is autoescaped: every cell is workflow or user text."""

from __future__ import annotations

import csv
import io
from datetime import datetime

import jinja2

from engine import AUDIT_REPORT_COLUMNS, ReportRow

_PAGE = """\
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Approvals in {{ tenant }}, {{ since }} to {{ until }}</title>
<style>
  body { font: 13px/1.4 system-ui, sans-serif; margin: 2em; color: #111; }
  table { border-collapse: collapse; width: 100%; }
  th, td { border: 1px solid #999; padding: 4px 6px; text-align: left; vertical-align: top; }
  th { background: #eee; }
  td.hash { font-family: monospace; font-size: 10px; word-break: break-all; }
  tr.violated td { background: #fdd; }
  ul { margin: 0; padding-left: 1.2em; }
  @media print {
    body { margin: 0; font-size: 9pt; }
    @page { size: A4 landscape; margin: 12mm; }
    thead { display: table-header-group; }
    tr { break-inside: avoid; }
    th, tr.violated td { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  }
</style>
</head>
<body>
<h1>Approvals decided in {{ tenant }}</h1>
<p>From {{ since }} to {{ until }} (UTC): {{ rows|length }} step(s),
{{ violated }} with separation of duties violated, {{ unverified }} in runs that did not verify.
Each decision hash is the hash of the event that decided the step in the run's audit chain;
each "shown" hash, of what that approver was shown when they decided (its text is in the bundle);
check the runs with <code>countersign audit export</code> and <code>audit verify</code>.</p>
<table>
<thead><tr>
  <th>Run</th><th>Workflow</th><th>Requester</th><th>Step</th><th>Approvers</th>
  <th>Decisions</th><th>Separation of duties</th><th>Requested</th><th>Decided</th>
  <th>Time to decision</th><th>Outcome</th><th>Run</th><th>Evidence</th>
</tr></thead>
<tbody>
{% for r in rows %}
<tr{% if r.separation_of_duties == "VIOLATED" %} class="violated"{% endif %}>
  <td>{{ r.run_id }}</td>
  <td>{{ r.workflow }} v{{ r.version }}</td>
  <td>{{ r.requester }}</td>
  <td>{{ r.step_id }}</td>
  <td>{{ r.approvers|join(", ") }}</td>
  <td><ul>{% for d in r.decisions %}<li>{{ d.text() }}</li>{% endfor %}</ul></td>
  <td>{{ r.separation_of_duties }}</td>
  <td>{{ r.requested_at.isoformat() if r.requested_at else "" }}</td>
  <td>{{ r.decided_at.isoformat() }}</td>
  <td>{{ "" if r.seconds_to_decision is none else r.seconds_to_decision ~ " s" }}</td>
  <td>{{ r.outcome }}</td>
  <td>{{ r.run_status }}</td>
  <td class="hash">decision {{ r.decision_hash }}<br>head {{ r.run_head_hash }}<br>
    {% for d in r.decisions if not d.override and d.channel != "system" %}
    shown to {{ d.actor }}: {{ d.shown or "none recorded" }}<br>{% endfor %}
    chain verified: {{ "yes" if r.chain_verified else "NO" }}</td>
</tr>
{% endfor %}
</tbody>
</table>
</body>
</html>
"""

_TEMPLATE = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined).from_string(_PAGE)


def render(rows: list[ReportRow], fmt: str, tenant: str, since: datetime, until: datetime) -> str:
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=AUDIT_REPORT_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(r.cells() for r in rows)
        return out.getvalue()
    return _TEMPLATE.render(
        rows=rows,
        tenant=tenant,
        since=since.isoformat(),
        until=until.isoformat(),
        violated=sum(r.separation_of_duties == "VIOLATED" for r in rows),
        unverified=sum(not r.chain_verified for r in rows),
    )
