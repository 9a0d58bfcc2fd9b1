"""A self-contained HTML report: sections of text, tables and PNGs embedded as base64."""

from __future__ import annotations

import base64
import datetime
import html

import numpy as np
import pandas as pd

from mtpflow import __version__

STYLE = """
body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}
h1{border-bottom:2px solid #446}h2{margin-top:2em;border-bottom:1px solid #ccd}
table{border-collapse:collapse;font-size:0.85em;margin:0.5em 0}
td,th{border:1px solid #ccd;padding:2px 6px;text-align:right}th{background:#eef}
td.l,th.l{text-align:left}.absent{color:#a40}.note{color:#555;font-size:0.9em}
img{max-width:100%;border:1px solid #eee;margin:0.3em 0}figure{margin:0.5em 0}
figcaption{font-size:0.85em;color:#555}
.scroll{overflow-x:auto;max-width:100%}.scroll table{margin:0}
"""


class Section:
    def __init__(self, title):
        self.title = title
        self.parts: list[str] = []
        self.has_content = False
        self.has_problem = False
        self.not_run = False  # an optional stage the config turned off: said, not a warning

    @property
    def status(self):
        if self.not_run and not self.has_content:
            return "not run"
        if not self.has_content:
            return "absent"
        return "partial" if self.has_problem else "present"

    def text(self, s, cls=None):
        c = f' class="{cls}"' if cls else ""
        self.parts.append(f"<p{c}>{html.escape(str(s))}</p>")

    def note(self, s):
        """A remark (not content: a section of notes only is still absent)."""
        self.parts.append(f'<p class="note">{html.escape(str(s))}</p>')

    def absent(self, reason):
        """A missing or unreadable input: said in the report instead of failing."""
        self.has_problem = True
        self.parts.append(f'<p class="absent">{html.escape(reason)}</p>')

    def heading(self, s):
        self.parts.append(f"<h3>{html.escape(str(s))}</h3>")

    def table(self, df: pd.DataFrame, max_rows=200, caption=None):
        if caption:
            self.parts.append(f'<p class="note">{html.escape(caption)}</p>')
        shown = df.head(max_rows)
        head = "".join(f'<th class="l">{html.escape(str(c))}</th>' for c in shown.columns)
        cells = [f'<div class="scroll"><table><tr>{head}</tr>']
        for _, row in shown.iterrows():
            tds = []
            for v in row:
                if v is None or (isinstance(v, float) and v != v):
                    s, cls = "null", ""
                elif isinstance(v, (bool, np.bool_)):
                    s, cls = str(bool(v)).lower(), ""
                elif isinstance(v, (float, np.floating)):
                    s, cls = f"{v:.6g}", ""
                elif isinstance(v, (int, np.integer)):
                    s, cls = str(v), ""
                else:
                    s, cls = str(v), ' class="l"'
                tds.append(f"<td{cls}>{html.escape(s)}</td>")
            cells.append("<tr>" + "".join(tds) + "</tr>")
        cells.append("</table></div>")
        if len(df) > max_rows:
            cells.append(f'<p class="note">first {max_rows} of {len(df)} rows</p>')
        self.parts.append("".join(cells))
        self.has_content = True

    def image(self, png: bytes, caption=""):
        data = base64.b64encode(png).decode("ascii")
        self.parts.append(f'<figure><img src="data:image/png;base64,{data}" '
                          f'alt="{html.escape(caption)}"><figcaption>{html.escape(caption)}'
                          "</figcaption></figure>")
        self.has_content = True


class Report:
    def __init__(self, title="mtpflow report"):
        self.title = title
        self.sections: list[Section] = []

    def section(self, title) -> Section:
        s = Section(title)
        self.sections.append(s)
        return s

    def render(self) -> str:
        when = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
        rows = "".join(f'<tr><td class="l"><a href="#s{k}">{html.escape(s.title)}</a></td>'
                       f'<td class="l {"absent" if s.status not in ("present", "not run") else ""}">{s.status}'
                       "</td></tr>" for k, s in enumerate(self.sections))
        body = "".join(f'<h2 id="s{k}">{html.escape(s.title)}</h2>' + "".join(s.parts)
                       for k, s in enumerate(self.sections))
        return (f"<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>"
                f"{html.escape(self.title)}</title><style>{STYLE}</style></head><body>"
                f"<h1>{html.escape(self.title)}</h1><p class=\"note\">generated {when} by "
                f"mtpflow {__version__} (mtpflow report)</p><table><tr><th class=\"l\">stage</th><th class=\"l\">status"
                f"</th></tr>{rows}</table>{body}</body></html>\n")
