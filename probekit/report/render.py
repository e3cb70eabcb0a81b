"""The report's document model and its two renderings: self-contained HTML and Markdown.

One concept: turning a document (a title and `Section`s of paragraphs, `Table`s and
`Figure`s) into text. `render_html` writes one self-contained page (inline CSS,
figures embedded as base64 PNG data URIs, every piece of text passed through
`html.escape`); `render_markdown` writes the same content as Markdown with escaped
inline text and returns the PNG files it links to; `text_table` lays a table out in
fixed-width columns for a terminal. `probekit.report.document` builds the
document from runs and sweeps.
"""

from __future__ import annotations

import base64
import html
import re
from dataclasses import dataclass, field


@dataclass
class Table:
    """A table; `row_verdicts` marks rows of the verdict table (for styling and tests)."""

    header: list[str]
    rows: list[list[str]]
    table_id: str | None = None
    row_verdicts: list[str] | None = None


@dataclass
class Figure:
    """A PNG figure with a file-name slug and a caption."""

    slug: str
    caption: str
    png: bytes


@dataclass
class Section:
    """A heading and its blocks: paragraphs (str), tables and figures."""

    title: str
    blocks: list = field(default_factory=list)
    level: int = 2


CSS = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 72em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.5em; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
tr.agrees td.verdict { background: #d9f2d9; }
tr.disagrees td.verdict { background: #f7d4d4; }
tr.inconclusive td.verdict { background: #f5ecc8; }
figure { display: inline-block; margin: 0.5em 1em 0.5em 0; }
figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { font-size: 0.85em; color: #555; }
"""


def _html_table(table: Table) -> str:
    e = html.escape
    attrs = f' id="{e(table.table_id)}"' if table.table_id else ""
    head = "".join(f"<th>{e(h)}</th>" for h in table.header)
    body = []
    for i, row in enumerate(table.rows):
        verdict = table.row_verdicts[i] if table.row_verdicts else None
        cls = f' class="verdict-row {e(verdict)}" data-verdict="{e(verdict)}"' if verdict else ""
        cells = "".join(
            f'<td class="verdict">{e(c)}</td>'
            if verdict and j == len(row) - 2
            else f"<td>{e(c)}</td>"
            for j, c in enumerate(row)
        )
        body.append(f"<tr{cls}>{cells}</tr>")
    return f"<table{attrs}><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def render_html(title: str, sections: list[Section]) -> str:
    """One self-contained HTML page: inline CSS, figures as base64 PNG data URIs."""
    e = html.escape
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{e(title)}</title><style>{CSS}</style></head><body>",
        f"<h1>{e(title)}</h1>",
    ]
    for section in sections:
        parts.append(f"<h{section.level}>{e(section.title)}</h{section.level}>")
        for block in section.blocks:
            if isinstance(block, Table):
                parts.append(_html_table(block))
            elif isinstance(block, Figure):
                data = base64.b64encode(block.png).decode("ascii")
                parts.append(
                    f'<figure><img src="data:image/png;base64,{data}" alt="{e(block.caption)}">'
                    f"<figcaption>{e(block.caption)}</figcaption></figure>"
                )
            else:
                parts.append(f"<p>{e(str(block))}</p>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _md(text: str) -> str:
    """Markdown-safe inline text: no line breaks, escaped table pipes and markup characters."""
    text = " ".join(str(text).split())
    return re.sub(r"([\\|*_`\[\]<>#])", r"\\\1", text)


def render_markdown(title: str, sections: list[Section]) -> tuple[str, dict[str, bytes]]:
    """Markdown text and the PNG files it links to (file name -> bytes)."""
    lines, files = [f"# {_md(title)}", ""], {}
    for section in sections:
        lines += [f"{'#' * section.level} {_md(section.title)}", ""]
        for block in section.blocks:
            if isinstance(block, Table):
                lines.append("| " + " | ".join(_md(h) for h in block.header) + " |")
                lines.append("|" + "---|" * len(block.header))
                lines += ["| " + " | ".join(_md(c) for c in row) + " |" for row in block.rows]
            elif isinstance(block, Figure):
                name = f"{block.slug}.png"
                while name in files:
                    name = f"{block.slug}-{len(files)}.png"
                files[name] = block.png
                lines.append(f"![{_md(block.caption)}]({name})")
                lines += ["", f"*{_md(block.caption)}*"]  # a caption the reader sees
            else:
                lines.append(_md(block))
            lines.append("")
    return "\n".join(lines), files


def text_table(header: list[str], rows: list[list[str]]) -> str:
    """A fixed-width plain-text table: the header, a rule, then the rows."""
    table = [list(map(str, header)), *[list(map(str, r)) for r in rows]]
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in table]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
