"""Check that ``report.html`` renders every section with its plots in headless Chromium.

``python -m benchmarks.report_check`` (``make report-check``, after ``make demo``):

1. reads the HTML: every section of :data:`serving.report.sections.SECTION_IDS` is
   there (an optional one may be left out), each (but the overview) with at
   least one embedded PNG and one table, and nothing is loaded from elsewhere;
2. opens a copy in headless Chromium with a small probe script appended that, once the
   page has loaded, records per section how many images the browser decoded and where
   the section lies, and the page height (``--dump-dom``);
3. takes a full-page screenshot (``--screenshot``, window as tall as the page), crops it
   per section and checks that each crop has content: enough non-background pixels and,
   where the section has plots, coloured ones.

Screenshots go to ``--out`` (``data/report-check/report.png`` and ``sections/<id>.png``)
for a person to look at. Exit status 0 when every check passes, 1 otherwise. Chromium
comes from Debian's ``chromium`` package (``apt-get install chromium``).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
from PIL import Image

from serving.report.sections import OPTIONAL_SECTIONS, SECTION_IDS

WITHOUT_PLOTS = {"overview"}
WIDTH = 1400
BROWSERS = ("chromium", "chromium-browser", "google-chrome")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--hide-scrollbars",
    "--no-first-run",
    "--disable-dev-shm-usage",
)
MIN_INK = 0.02  # share of a section's pixels that differ from the page background
MIN_COLOUR = 0.002  # share of saturated pixels in a section with plots

PROBE = """<script>
window.addEventListener("load", function () {
  var out = Array.prototype.map.call(document.querySelectorAll("section"), function (s) {
    var imgs = Array.prototype.slice.call(s.querySelectorAll("img"));
    var r = s.getBoundingClientRect();
    return {id: s.id, images: imgs.length, tables: s.querySelectorAll("table").length,
            decoded: imgs.filter(function (i) { return i.complete && i.naturalWidth > 0; }).length,
            top: Math.round(r.top + window.scrollY), height: Math.round(r.height)};
  });
  var pre = document.createElement("pre");
  pre.id = "report-check-probe";
  pre.textContent = JSON.stringify({height: document.documentElement.scrollHeight, sections: out});
  document.body.appendChild(pre);
});
</script>"""


@dataclass
class Finding:
    """One section's results."""

    id: str
    images: int = 0
    tables: int = 0
    decoded: int = 0
    ink: float = 0.0
    colour: float = 0.0
    problems: list[str] = field(default_factory=list)


class _Sections(HTMLParser):
    def __init__(self):
        super().__init__()
        self.found: dict[str, Finding] = {}
        self.current: Finding | None = None
        self.external: list[str] = []
        self.tags: set[str] = set()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.add(tag)
        for key in ("src", "href"):
            if re.match(r"(https?:)?//", attrs.get(key) or ""):
                self.external.append(attrs[key])
        if tag == "section":
            self.current = self.found.setdefault(attrs.get("id", ""), Finding(attrs.get("id", "")))
        elif self.current and tag == "img":
            self.current.images += 1
            if not (attrs.get("src") or "").startswith("data:image/png;base64,"):
                self.current.problems.append("an image is not an embedded PNG")
        elif self.current and tag == "table":
            self.current.tables += 1


def check_html(html: str) -> tuple[dict[str, Finding], list[str]]:
    """Static checks of the document; returns per-section findings and page-level problems."""
    parser = _Sections()
    parser.feed(html)
    problems = [f"loads {url} from elsewhere" for url in parser.external]
    problems += [f"has a <{t}> tag" for t in ("link", "iframe") if t in parser.tags]
    findings: dict[str, Finding] = {}
    for sid in SECTION_IDS:
        if sid in OPTIONAL_SECTIONS and sid not in parser.found:
            continue  # left out by the report when its KPI has no data (e.g. no events)
        finding = parser.found.get(sid) or Finding(sid, problems=["missing from the page"])
        if sid not in WITHOUT_PLOTS and finding.images == 0:
            finding.problems.append("has no plot")
        if finding.tables == 0:
            finding.problems.append("has no table")
        findings[sid] = finding
    problems += [
        f"has a section {sid!r} that serving.report.sections does not define"
        for sid in parser.found
        if sid not in SECTION_IDS
    ]
    return findings, problems


def find_browser(explicit: str | None) -> str | None:
    """The Chromium executable: ``explicit`` or the first of :data:`BROWSERS` on PATH."""
    if explicit:
        return explicit if shutil.which(explicit) else None
    return next((path for name in BROWSERS if (path := shutil.which(name))), None)


def probe(browser: str, html: str, workdir: Path) -> dict:
    """Load a copy of the page with :data:`PROBE` and return what it recorded."""
    page = workdir / "probe.html"
    page.write_text(html.replace("</body>", PROBE + "</body>", 1), encoding="utf-8")
    run = subprocess.run(
        [
            browser,
            *FLAGS,
            f"--window-size={WIDTH},1000",
            "--virtual-time-budget=10000",
            "--dump-dom",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    found = re.search(r'<pre id="report-check-probe">(.*?)</pre>', run.stdout, re.S)
    if not found:
        raise RuntimeError(f"the probe did not report (exit {run.returncode}): {run.stderr[-500:]}")
    return json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))


def screenshot(browser: str, report: Path, height: int, out: Path) -> Path:
    """Full-page PNG of ``report`` (window ``WIDTH`` × ``height`` CSS pixels)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    run = subprocess.run(
        [
            browser,
            *FLAGS,
            f"--window-size={WIDTH},{height}",
            "--virtual-time-budget=10000",
            f"--screenshot={out}",
            report.resolve().as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    if not out.is_file():
        raise RuntimeError(f"no screenshot (exit {run.returncode}): {run.stderr[-500:]}")
    return out


def measure(crop: Image.Image) -> tuple[float, float]:
    """``(ink, colour)``: shares of pixels unlike the background, and of saturated pixels."""
    rgb = np.asarray(crop.convert("RGB"), dtype=np.int16)
    background = np.median(rgb.reshape(-1, 3), axis=0)
    ink = float((np.abs(rgb - background).sum(axis=2) > 60).mean())
    saturation = rgb.max(axis=2) - rgb.min(axis=2)
    return ink, float((saturation > 80).mean())


def run_check(report: Path, out: Path, browser: str | None) -> int:
    """Every check; prints a table and returns the exit status."""
    if not report.is_file():
        print(
            f"{report} does not exist: run `make demo` (or `churn report`) first.", file=sys.stderr
        )
        return 1
    html = report.read_text(encoding="utf-8")
    findings, page_problems = check_html(html)
    executable = find_browser(browser)
    if executable is None:
        print(
            "No Chromium found: install Debian's `chromium` package (apt-get install chromium).",
            file=sys.stderr,
        )
        return 1
    with tempfile.TemporaryDirectory() as tmp:
        layout = probe(executable, html, Path(tmp))
    shot = screenshot(executable, report, layout["height"], out / "report.png")
    image = Image.open(shot)
    scale = image.width / WIDTH
    (out / "sections").mkdir(parents=True, exist_ok=True)
    seen = {s["id"]: s for s in layout["sections"]}
    for sid, finding in findings.items():
        box = seen.get(sid)
        if box is None:
            finding.problems.append("not rendered")
            continue
        finding.decoded = box["decoded"]
        if box["decoded"] < box["images"]:
            finding.problems.append(f"only {box['decoded']} of {box['images']} images decoded")
        top, bottom = int(box["top"] * scale), int((box["top"] + box["height"]) * scale)
        crop = image.crop((0, top, image.width, min(bottom, image.height)))
        crop.save(out / "sections" / f"{sid}.png")
        finding.ink, finding.colour = measure(crop)
        if finding.ink < MIN_INK:
            finding.problems.append(f"looks blank ({finding.ink:.1%} ink)")
        if sid not in WITHOUT_PLOTS and finding.colour < MIN_COLOUR:
            finding.problems.append(f"shows no coloured plot ({finding.colour:.2%} colour)")
    row = "{:18} {:>6} {:>7} {:>6} {:>6} {:>7}  {}"
    print(row.format("section", "images", "decoded", "tables", "ink", "colour", "verdict"))
    for sid, f in findings.items():
        verdict = "; ".join(f.problems) or "ok"
        print(
            row.format(
                sid, f.images, f.decoded, f.tables, f"{f.ink:.1%}", f"{f.colour:.2%}", verdict
            )
        )
    for problem in page_problems:
        print(f"page: {problem}")
    print(f"screenshot: {shot} ({image.width}×{image.height}); per section: {out / 'sections'}")
    failed = page_problems or any(f.problems for f in findings.values())
    print(
        "report-check: FAILED" if failed else "report-check: every section renders with its plots"
    )
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--report", type=Path, default=Path("report.html"), help="the report to check"
    )
    parser.add_argument(
        "--out", type=Path, default=Path("data/report-check"), help="screenshot folder"
    )
    parser.add_argument("--browser", help="Chromium executable (default: chromium on PATH)")
    args = parser.parse_args(argv)
    return run_check(args.report, args.out, args.browser)


if __name__ == "__main__":
    sys.exit(main())
