"""How values are spelled in landed files: header styles, timestamp formats, row flags.

A timestamp travels as epoch seconds plus a format number: an index into
``TIMESTAMP_OFFSETS`` (UTC without offset, ``Z``, three local offsets), or ``FORMAT_NULL``
(no value) or ``FORMAT_TEXT`` (unparseable text put there by a fault). Row flags blank or
garble one value of an attempt row when it is written.
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np

# Share of timestamps written with an offset (Z or local) instead of plain UTC.
OFFSET_SHARE = 0.1
# Format numbers of a timestamp in CSV: UTC without offset, Z, and three local offsets (seconds).
TIMESTAMP_OFFSETS = (None, 0, 7200, -18000, 19800)
FORMAT_NULL, FORMAT_TEXT = -1, 9

FLAG_ATTEMPT_ID_NULL = 1
FLAG_LEARNER_ID_NULL = 2
FLAG_ITEM_ID_NULL = 4
FLAG_SCORE_NULL = 8
FLAG_SCORE_TEXT = 16

HEADER_STYLES = ("lower", "upper", "title")


def header_name(name: str, style: str) -> str:
    """``name`` in a header style: lower (as is), upper, or title (``Learner_Id``)."""
    if style == "upper":
        return name.upper()
    if style == "title":
        return "_".join(part.capitalize() for part in name.split("_"))
    return name


def offset_text(seconds: int) -> str:
    sign = "+" if seconds >= 0 else "-"
    hours, minutes = divmod(abs(seconds) // 60, 60)
    return f"{sign}{hours:02d}:{minutes:02d}"


def iso_text(epoch_seconds: int, time_format: int = 0) -> str:
    """ISO 8601 text of ``epoch_seconds`` in format ``time_format`` (see TIMESTAMP_OFFSETS)."""
    offset = TIMESTAMP_OFFSETS[time_format]
    moment = datetime.fromtimestamp(epoch_seconds + (offset or 0), UTC)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if offset is None:
        return text
    return text + ("Z" if time_format == 1 else offset_text(offset))


def iso_texts(epoch_seconds: np.ndarray, time_formats: np.ndarray) -> list[str]:
    """``iso_text`` for many timestamps: vectorised for plain UTC, row by row for offsets."""
    seconds = np.asarray(epoch_seconds, dtype=np.int64).astype("datetime64[s]")
    text = np.datetime_as_string(seconds).tolist()
    for j in np.flatnonzero(time_formats):
        text[j] = iso_text(int(epoch_seconds[j]), int(time_formats[j]))
    return text


def timestamp_sql(epoch_column: str, format_column: str) -> str:
    """SQL text of ``iso_text`` for two columns: epoch seconds and format number."""
    pattern = "'%Y-%m-%dT%H:%M:%S'"
    parts = [f"when {format_column} = {FORMAT_NULL} then null"]
    for number, offset in enumerate(TIMESTAMP_OFFSETS):
        if offset is None:
            parts.append(
                f"when {format_column} = {number} "
                f"then strftime(make_timestamp({epoch_column} * 1000000), {pattern})"
            )
            continue
        suffix = "Z" if number == 1 else offset_text(offset)
        parts.append(
            f"when {format_column} = {number} then strftime("
            f"make_timestamp(({epoch_column} + {offset}) * 1000000), {pattern}) || '{suffix}'"
        )
    return "case " + " ".join(parts) + " end"


# An attempt row before it is written: serial numbers instead of text ids (A%010d, L%07d,
# ITM%06d), the submission time as epoch seconds plus format number, and row flags.
ATTEMPT_COLUMNS = (
    "attempt_serial",
    "learner_serial",
    "item_serial",
    "submitted_epoch",
    "time_format",
    "score",
    "attempt_number",
    "flags",
)
