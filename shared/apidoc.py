"""OpenAPI descriptions of the bodies a report or download route answers besides its JSON (issue 12, finding 10:
CSV, XLSX, chart, calendar and PDF answers were in no OpenAPI document). One table of each `format` value's media
type, used by every service beside `@blp.response(200, …)`:

    @blp.response(200, schemas.SpendingReportSchema)
    @blp.doc(**apidoc.answers("csv", "xlsx", "svg", "png"))

or, in one line, `@apidoc.response(blp, "json", "csv", "xlsx")` in place of `@blp.response(200)`.

`tests/security/test_openapi_media.py` calls every such route in every format it offers and checks the media type
answered is the one documented."""
from __future__ import annotations

from shared.tabular import XLSX_MIME

MEDIA_TYPES = {
    "json": "application/json",
    "csv": "text/csv",              # answered as text/csv; charset=utf-8, with a BOM for Excel
    "xlsx": XLSX_MIME,
    "svg": "image/svg+xml",
    "png": "image/png",
    "ics": "text/calendar",
    "pdf": "application/pdf",
}
_TEXT = {"csv", "svg", "ics"}
_DESCRIPTION = {"csv": "CSV, UTF-8 with BOM, a Vietnamese header row", "xlsx": "XLSX workbook",
                "svg": "SVG chart", "png": "PNG chart", "ics": "iCalendar (RFC 5545)", "pdf": "PDF document",
                "json": "JSON"}


def answers(*formats: str, status: int = 200, description: str | None = None, rows: bool = False) -> dict:
    """`blp.doc` keyword arguments adding the media type of each of `formats` to the `status` response (merged with
    what `@blp.response` documents: leave "json" out where it gives a schema, or it would replace it). A JSON body
    without a schema is documented as an object, or as a list of objects (the rows) when `rows`."""
    unknown = set(formats) - set(MEDIA_TYPES)
    if unknown:
        raise ValueError(f"no media type for {sorted(unknown)}")
    content = {MEDIA_TYPES[f]: {"schema": {"type": "string"} if f in _TEXT else {"type": "string", "format": "binary"}}
               for f in formats if f != "json"}
    if "json" in formats:
        content[MEDIA_TYPES["json"]] = {"schema": {"type": "array", "items": {"type": "object"}} if rows
                                        else {"type": "object"}}
    response = {"content": content, "description": description or "By `format`: " + "; ".join(
        _DESCRIPTION[f] for f in ("json", *formats) if f in _DESCRIPTION and (f != "json" or "json" not in formats))}
    return {"responses": {status: response}}


def response(blp, *formats: str, schema=None, status: int = 200, description: str | None = None,
             rows: bool = False):
    """`@blp.response(status, schema)` and the media types of `formats` in one decorator (a JSON body without a
    schema, "json" in `formats`, is documented as an object, or a list of objects when `rows`)."""
    if schema is not None:
        formats = tuple(f for f in formats if f != "json")

    def decorate(func):
        documented = blp.doc(**answers(*formats, status=status, description=description, rows=rows))(func)
        return blp.response(status, schema)(documented) if schema is not None else blp.response(status)(documented)
    return decorate
