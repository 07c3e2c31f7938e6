"""A streaming .xlsx writer for big, plainly styled sheets (the monthly report).

openpyxl builds a Python object per cell and writes it through an XML library: some 20 µs a
cell, 10+ s for a district's month (600,000 cells). This writes each row's XML as one
string: strings shared (sharedStrings.xml, as Excel writes them), numbers as they are, a handful of fixed styles, column widths and a frozen pane. The result reads the
same in Excel, WPS, LibreOffice and openpyxl.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from xml.sax.saxutils import escape

# the styles a cell may have (their index in styles.xml's cellXfs)
PLAIN, HEADER, TITLE, RED_ROW, BLACK_ROW = range(5)

_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")  # not allowed in XML 1.0
_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG_REL = "http://schemas.openxmlformats.org/package/2006/relationships"
_HEAD = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'


@dataclass(slots=True)
class Styled:
    """A cell value with one of the styles above."""

    value: object
    style: int


@dataclass(slots=True)
class Sheet:
    """One worksheet: rows of values (str, int, float, None or Styled), widths, a frozen pane."""

    title: str
    rows: list[Sequence[object]] = field(default_factory=list)
    widths: dict[int, float] = field(default_factory=dict)  # 1-based column -> width
    freeze: tuple[int, int] | None = None  # (row, column) of the first unfrozen cell, 1-based
    row_styles: dict[int, int] = field(default_factory=dict)  # 1-based row -> style of its cells

    def append(self, row: Sequence[object], style: int | None = None) -> None:
        """Add a row below the last one (every cell in it styled, when a style is given)."""
        self.rows.append(row)
        if style is not None:
            self.row_styles[len(self.rows)] = style


def column_letter(i: int) -> str:
    """1 -> A, 27 -> AA."""
    out = ""
    while i:
        i, r = divmod(i - 1, 26)
        out = chr(65 + r) + out
    return out


class _Strings:
    """The shared strings table: each distinct string once, cells refer to it by index."""

    def __init__(self) -> None:
        self.index: dict[str, int] = {}

    def ref(self, text: str) -> int:
        i = self.index.get(text)
        if i is None:
            i = self.index[text] = len(self.index)
        return i

    def xml(self) -> Iterable[str]:
        yield _HEAD
        n = len(self.index)
        yield f'<sst xmlns="{_MAIN}" count="{n}" uniqueCount="{n}">'
        for text in self.index:
            space = ' xml:space="preserve"' if text != text.strip() else ""
            yield f"<si><t{space}>{escape(_ILLEGAL.sub('', text))}</t></si>"
        yield "</sst>"


def _cell(ref: str, value: object, s: str, strings: _Strings) -> str:
    """One cell's XML (s: its style attribute, '' for none)."""
    if isinstance(value, Styled):
        s = f' s="{value.style}"' if value.style else ""
        value = value.value
    if value is None or value == "":
        return f'<c r="{ref}"{s}/>' if s else ""
    if isinstance(value, str):
        return f'<c r="{ref}"{s} t="s"><v>{strings.ref(value)}</v></c>'
    if isinstance(value, bool):
        return f'<c r="{ref}"{s} t="b"><v>{int(value)}</v></c>'
    if isinstance(value, int | float):
        return f'<c r="{ref}"{s} t="n"><v>{value}</v></c>'
    return f'<c r="{ref}"{s} t="s"><v>{strings.ref(str(value))}</v></c>'


def _sheet_xml(sheet: Sheet, strings: _Strings) -> Iterable[str]:
    letters = [column_letter(i) for i in range(1, 1 + max((len(r) for r in sheet.rows), default=1))]
    last = f"{letters[-1]}{max(1, len(sheet.rows))}"
    yield _HEAD
    yield f'<worksheet xmlns="{_MAIN}" xmlns:r="{_REL}"><dimension ref="A1:{last}"/>'
    yield '<sheetViews><sheetView workbookViewId="0">'
    if sheet.freeze:
        first_row, first_col = sheet.freeze
        top_left = f"{column_letter(first_col)}{first_row}"
        yield (
            f'<pane xSplit="{first_col - 1}" ySplit="{first_row - 1}" topLeftCell="{top_left}" '
            f'activePane="bottomRight" state="frozen"/>'
            f'<selection pane="topRight"/><selection pane="bottomLeft"/>'
            '<selection pane="bottomRight" activeCell="A1" sqref="A1"/>'
        )
    else:
        yield '<selection activeCell="A1" sqref="A1"/>'
    yield '</sheetView></sheetViews><sheetFormatPr baseColWidth="8" defaultRowHeight="15"/>'
    if sheet.widths:
        yield "<cols>"
        for col, width in sorted(sheet.widths.items()):
            yield f'<col min="{col}" max="{col}" width="{width:g}" customWidth="1"/>'
        yield "</cols>"
    yield "<sheetData>"
    shared = strings.index
    for r, row in enumerate(sheet.rows, start=1):
        row_style = sheet.row_styles.get(r, PLAIN)
        s_row = f' s="{row_style}"' if row_style else ""
        cells = []
        for letter, value in zip(letters, row, strict=False):
            kind = type(value)
            if kind is str:  # most cells: inline here, the rest below
                if value:
                    i = shared.get(value)  # type: ignore[call-overload]
                    if i is None:
                        i = shared[value] = len(shared)  # type: ignore[index]
                    cells.append(f'<c r="{letter}{r}"{s_row} t="s"><v>{i}</v></c>')
                elif s_row:
                    cells.append(f'<c r="{letter}{r}"{s_row}/>')
            elif kind is int:
                cells.append(f'<c r="{letter}{r}"{s_row} t="n"><v>{value}</v></c>')
            else:
                cells.append(_cell(f"{letter}{r}", value, s_row, strings))
        yield f'<row r="{r}">{"".join(cells)}</row>' if cells else f'<row r="{r}"/>'
    yield "</sheetData>"
    yield (
        '<pageMargins left="0.75" right="0.75" top="1" bottom="1" header="0.5" footer="0.5"/>'
        "</worksheet>"
    )


_STYLES = (
    _HEAD + f'<styleSheet xmlns="{_MAIN}">'
    '<fonts count="3">'
    '<font><sz val="11"/><color theme="1"/><name val="Calibri"/><family val="2"/>'
    '<scheme val="minor"/></font>'
    '<font><b val="1"/><color rgb="00FFFFFF"/></font>'
    '<font><b val="1"/><sz val="14"/></font>'
    "</fonts>"
    '<fills count="5">'
    '<fill><patternFill patternType="none"/></fill>'
    '<fill><patternFill patternType="gray125"/></fill>'
    '<fill><patternFill patternType="solid"><fgColor rgb="00C0392B"/>'
    "</patternFill></fill>"
    '<fill><patternFill patternType="solid"><fgColor rgb="00FADBD8"/>'
    "</patternFill></fill>"
    '<fill><patternFill patternType="solid"><fgColor rgb="00D5D8DC"/>'
    "</patternFill></fill>"
    "</fills>"
    '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
    '<cellXfs count="5">'
    '<xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
    '<xf numFmtId="0" fontId="1" fillId="2" borderId="0" xfId="0" applyFont="1" applyFill="1" '
    'applyAlignment="1"><alignment horizontal="center" vertical="center"/></xf>'
    '<xf numFmtId="0" fontId="2" fillId="0" borderId="0" xfId="0" applyFont="1"/>'
    '<xf numFmtId="0" fontId="0" fillId="3" borderId="0" xfId="0" applyFill="1"/>'
    '<xf numFmtId="0" fontId="0" fillId="4" borderId="0" xfId="0" applyFill="1"/>'
    "</cellXfs>"
    '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
    "</styleSheet>"
)


def write_xlsx(path: Path, sheets: Sequence[Sheet]) -> Path:
    """Write the sheets to an .xlsx file."""
    strings = _Strings()
    n = len(sheets)
    content_types = (
        _HEAD + '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" '
        'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/xl/workbook.xml" ContentType="application/'
        'vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
        + "".join(
            f'<Override PartName="/xl/worksheets/sheet{i}.xml" ContentType="application/'
            'vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
            for i in range(1, n + 1)
        )
        + '<Override PartName="/xl/styles.xml" ContentType="application/'
        'vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
        '<Override PartName="/xl/sharedStrings.xml" ContentType="application/'
        'vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>'
        '<Override PartName="/docProps/core.xml" '
        'ContentType="application/vnd.openxmlformats-package.core-properties+xml"/>'
        '<Override PartName="/docProps/app.xml" ContentType="application/'
        'vnd.openxmlformats-officedocument.extended-properties+xml"/>'
        "</Types>"
    )
    root_rels = (
        _HEAD + f'<Relationships xmlns="{_PKG_REL}">'
        f'<Relationship Id="rId1" Type="{_REL}/officeDocument" Target="xl/workbook.xml"/>'
        '<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/package/2006/'
        'relationships/metadata/core-properties" Target="docProps/core.xml"/>'
        f'<Relationship Id="rId3" Type="{_REL}/extended-properties" Target="docProps/app.xml"/>'
        "</Relationships>"
    )
    workbook = (
        _HEAD + f'<workbook xmlns="{_MAIN}" xmlns:r="{_REL}"><bookViews>'
        '<workbookView activeTab="0"/></bookViews><sheets>'
        + "".join(
            f'<sheet name="{escape(s.title, {chr(34): "&quot;"})}" sheetId="{i}" r:id="rId{i}"/>'
            for i, s in enumerate(sheets, start=1)
        )
        + "</sheets></workbook>"
    )
    workbook_rels = (
        _HEAD
        + f'<Relationships xmlns="{_PKG_REL}">'
        + "".join(
            f'<Relationship Id="rId{i}" Type="{_REL}/worksheet" Target="worksheets/sheet{i}.xml"/>'
            for i in range(1, n + 1)
        )
        + f'<Relationship Id="rId{n + 1}" Type="{_REL}/styles" Target="styles.xml"/>'
        f'<Relationship Id="rId{n + 2}" Type="{_REL}/sharedStrings" Target="sharedStrings.xml"/>'
        "</Relationships>"
    )
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    core = (
        _HEAD + '<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/'
        'metadata/core-properties" xmlns:dc="http://purl.org/dc/elements/1.1/" '
        'xmlns:dcterms="http://purl.org/dc/terms/" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        f'<dcterms:created xsi:type="dcterms:W3CDTF">{now}</dcterms:created>'
        f'<dcterms:modified xsi:type="dcterms:W3CDTF">{now}</dcterms:modified>'
        "</cp:coreProperties>"
    )
    app = (
        _HEAD + '<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/'
        'extended-properties"><Application>redsteward</Application></Properties>'
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as z:
        z.writestr("[Content_Types].xml", content_types)
        z.writestr("_rels/.rels", root_rels)
        z.writestr("docProps/core.xml", core)
        z.writestr("docProps/app.xml", app)
        z.writestr("xl/workbook.xml", workbook)
        z.writestr("xl/_rels/workbook.xml.rels", workbook_rels)
        z.writestr("xl/styles.xml", _STYLES)
        for i, sheet in enumerate(sheets, start=1):
            with z.open(f"xl/worksheets/sheet{i}.xml", "w") as f:
                _write(f, _sheet_xml(sheet, strings))
        with z.open("xl/sharedStrings.xml", "w") as f:
            _write(f, strings.xml())
    return path


def _write(f: object, parts: Iterable[str]) -> None:
    """Write XML parts in chunks of about 1 MB (one write per part would be slow)."""
    buf: list[str] = []
    size = 0
    for part in parts:
        buf.append(part)
        size += len(part)
        if size > 1 << 20:
            f.write("".join(buf).encode())  # type: ignore[attr-defined]
            buf, size = [], 0
    f.write("".join(buf).encode())  # type: ignore[attr-defined]
