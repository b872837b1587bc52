"""The report: one self-contained static HTML page (no JavaScript, no external resources, figures inline),
rendered from results.json with the package's Jinja2 templates."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

from .._files import atomic_path
from ..errors import OutputError
from ._registry import PAPERS
from ._runner import load_results
from ._verdict import VERDICTS

__all__ = ["REPORT", "render_report", "write_report"]

REPORT = "report.html"
_MIME = {".png": "image/png", ".svg": "image/svg+xml", ".jpg": "image/jpeg", ".jpeg": "image/jpeg"}


def _data_uri(path: Path) -> str:
    mime = _MIME.get(path.suffix.lower())
    if mime is None:
        raise OutputError(f"{path}: figures must be PNG, SVG or JPEG")
    try:
        return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"
    except OSError as err:
        raise OutputError(f"cannot read the figure {path}: {err.strerror or err}") from None


def _number(x) -> str:
    if isinstance(x, bool) or x is None or not isinstance(x, int | float):
        return "—" if x is None else str(x)
    if isinstance(x, int):
        return str(x)
    return f"{x:.4g}"


def _scalars(measurements: dict) -> list[tuple[str, str]]:
    """The top-level numbers and flags of a claim's measurements, for the page's table."""
    return [(k, _number(v)) for k, v in measurements.items() if isinstance(v, int | float | str | bool) or v is None]


def render_report(results: dict, folder: str | os.PathLike) -> str:
    """The HTML page for `results` (figures read from `folder`)."""
    from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

    env = Environment(loader=PackageLoader("weightspace.reproduce", "templates"),
                      autoescape=select_autoescape(["html", "j2"]), undefined=StrictUndefined,
                      trim_blocks=True, lstrip_blocks=True)
    env.filters["number"] = _number
    claims = list(results["claims"].values())
    for c in claims:
        c["images"] = [{"name": f, "src": _data_uri(Path(folder) / f)} for f in c.get("figures", [])]
        c["scalars"] = _scalars(c.get("measurements", {}))
        c["details"] = json.dumps(c.get("measurements", {}), indent=1)
    order = {p: i for i, p in enumerate(PAPERS)}
    claims.sort(key=lambda c: (order.get(c["paper"], len(order)), c["id"]))
    sections = []
    for paper, title in PAPERS.items():
        mine = sorted((c for c in claims if c["paper"] == paper), key=lambda c: VERDICTS.index(c["verdict"]))
        if mine:
            sections.append({"paper": paper, "title": title, "claims": mine})
    counts = {v: sum(c["verdict"] == v for c in claims) for v in VERDICTS}
    return env.get_template("report.html.j2").render(results=results, claims=claims, sections=sections,
                                                     counts=counts)


def write_report(folder: str | os.PathLike) -> Path:
    """Render folder/report.html from folder/results.json, atomically."""
    results = load_results(folder)
    html = render_report(results, folder)
    target = Path(folder) / REPORT
    with atomic_path(target) as tmp:
        tmp.write_text(html, encoding="utf-8")
    return target
