"""Statements files into ``raw.statements`` on Spark: the rows of the DuckDB loader
(:mod:`orchestration.ingest.statements`), read and minified by Spark, never one statement at a
time on the driver.

JSON lines (``.jsonl``, ``.ndjson``, gzipped too) are read with ``spark.read.text``; a line's
number is its position in the file, counted per partition and offset by the lines of the
partitions before it (no single-partition sort), blank lines counted and dropped as by DuckDB.
A ``.json`` file is one document (``wholetext``): an array, a Caliper envelope (``data`` an
array and no ``actor``) or one value; a document DuckDB would not parse fails its file.

Each statement is parsed by Spark's Jackson (``get_json_object``), then written as DuckDB's
``json(text)::varchar`` (yyjson) writes it, so the text, and the MD5 id of a statement without
``id``, are DuckDB's. Jackson's minified text differs from yyjson's in two ways, both rewritten
here: a double outside [1e-3, 1e7) is ``1.0E7`` for yyjson's ``10000000.0`` (yyjson: decimal
when the point falls within 21 digits left or 5 zeros right, else ``1e22``), and a character
beyond the BMP is escaped as a surrogate pair (``\\uD83D\\uDE00``), which yyjson writes as UTF-8.
Jackson, as Spark configures it, also accepts what DuckDB rejects: content after the value,
single-quoted strings, raw control characters in strings, lone surrogate escapes; those are
checked here and stay invalid (``invalid_json`` in staging), as in DuckDB. What still differs
(NaN and trailing commas DuckDB accepts, ...) is listed in docs/scale-out.md (statements).
"""

from __future__ import annotations

from orchestration.ingest.contract import LandingFileError

# Jackson stops after the first value and ignores the rest: ``[text,0]`` parses back to a
# two-element array ending in 0 only when the text is one JSON value with nothing after it,
# unless the text itself holds ``,0]`` (``{...},0] rest``): then ``[text,1]`` must end in 1.
SENTINEL, SECOND_SENTINEL = ",0]", ",1]"
# A surrogate pair as Jackson escapes it, and a double as Java's Double.toString writes it
# outside [1e-3, 1e7), in the text between two JSON strings (its chunks).
PAIR = r"\\u[dD][89abAB][0-9a-fA-F]{2}\\u[dD][c-fC-F][0-9a-fA-F]{2}"
SCIENTIFIC = r"(?<![-0-9.E])-?[0-9]\.[0-9]+E-?[0-9]+(?![0-9])"
# JSON text as strings and what lies between them.
STRING_OR_CHUNK = r'"(?:[^"\\]++|\\.)*+"|[^"]++'
# yyjson writes a double in decimal notation when its point lies in (-6, 21] digits.
DECIMAL_POINT_RANGE = (-6, 21)


def _sf():
    from pyspark.sql import functions as sf

    return sf


def wrapped(text, sentinel: str = SENTINEL):
    """Jackson's minified ``[text,0]``: NULL when it does not parse."""
    sf = _sf()
    return sf.get_json_object(sf.concat(sf.lit("["), text, sf.lit(sentinel)), "$")


def duckdb_valid(text, w):
    """True when DuckDB's ``json_valid`` accepts ``text`` (``w``: ``wrapped(text)``)."""
    sf = _sf()
    parsed = w.isNotNull() & w.endswith(SENTINEL) & (sf.json_array_length(w) == 2)
    whole = ~text.contains(SENTINEL) | wrapped(text, SECOND_SENTINEL).endswith(SECOND_SENTINEL)
    # Raw control characters: never valid outside a string, and DuckDB rejects them inside
    # one; tabs and line ends are whitespace outside strings only (removing them changes
    # nothing there).
    no_controls = ~text.rlike("[\\x00-\\x08\\x0B\\x0C\\x0E-\\x1F]")
    whitespace = ~text.rlike("[\\t\\n\\r]") | (
        wrapped(sf.regexp_replace(text, "[\\t\\n\\r]", "")) == w
    )
    # A single quote may only sit inside a double-quoted string, where a blank keeps it valid.
    quotes = ~text.contains("'") | wrapped(sf.translate(text, "'", " ")).isNotNull()
    # Every \uD800-\uDFFF escape pairs up (escaped backslashes taken out first).
    unpaired = sf.regexp_replace(sf.regexp_replace(w, r"\\\\", ""), PAIR, "")
    surrogates = ~unpaired.rlike(r"(?i)\\ud[89a-f]")
    return parsed & whole & no_controls & whitespace & quotes & surrogates


def yyjson_double(x):
    """The yyjson text of a double written by Java in scientific notation (``-1.5E-7``)."""
    sf = _sf()
    mantissa = sf.concat(
        sf.regexp_extract(x, r"([0-9])\.([0-9]+)E", 1),
        sf.regexp_extract(x, r"([0-9])\.([0-9]+)E", 2),
    )
    digits = sf.regexp_replace(mantissa, "0+$", "")
    exponent = sf.regexp_extract(x, "E(-?[0-9]+)$", 1).cast("int")
    n, point = sf.length(digits), exponent + 1
    low, high = DECIMAL_POINT_RANGE
    decimal = (
        sf.when(point <= 0, sf.concat(sf.lit("0."), sf.repeat(sf.lit("0"), -point), digits))
        .when(point >= n, sf.concat(digits, sf.repeat(sf.lit("0"), point - n), sf.lit(".0")))
        .otherwise(
            sf.concat(
                sf.substr(digits, sf.lit(1), point), sf.lit("."), sf.substr(digits, point + 1)
            )
        )
    )
    scientific = sf.concat(
        sf.substr(digits, sf.lit(1), sf.lit(1)),
        sf.when(n > 1, sf.concat(sf.lit("."), sf.substr(digits, sf.lit(2)))).otherwise(""),
        sf.lit("e"),
        exponent.cast("string"),
    )
    sign = sf.when(x.startswith("-"), "-").otherwise("")
    return sf.concat(sign, sf.when((point > low) & (point <= high), decimal).otherwise(scientific))


def _chunk_doubles(chunk):
    sf = _sf()
    found = sf.array_distinct(sf.regexp_extract_all(chunk, sf.lit(SCIENTIFIC), 0))

    def replace(text, x):
        pattern = sf.concat(sf.lit(r"(?<![-0-9.E])\Q"), x, sf.lit(r"\E(?![0-9])"))
        return sf.regexp_replace(text, pattern, yyjson_double(x))

    return sf.aggregate(found, chunk, replace)


def yyjson_text(j):
    """Jackson's minified JSON text of a valid value as DuckDB's ``json(...)::varchar``."""
    sf = _sf()
    pairs = sf.array_distinct(sf.regexp_extract_all(j, sf.lit(PAIR), 0))

    def decode(text, pair):
        units = sf.concat(
            sf.substr(pair, sf.lit(3), sf.lit(4)), sf.substr(pair, sf.lit(9), sf.lit(4))
        )
        return sf.replace(text, pair, sf.decode(sf.unhex(units), "UTF-16BE"))

    j = sf.when(j.rlike(PAIR), sf.aggregate(pairs, j, decode)).otherwise(j)
    parts = sf.regexp_extract_all(j, sf.lit(STRING_OR_CHUNK), 0)
    rewritten = sf.transform(
        parts, lambda part: sf.when(part.startswith('"'), part).otherwise(_chunk_doubles(part))
    )
    return sf.when(j.rlike(SCIENTIFIC), sf.array_join(rewritten, "")).otherwise(j)


def member_text(m, key: str):
    """DuckDB's ``json_extract_string(m, '$.key')`` of a yyjson text ``m``."""
    sf = _sf()
    value = sf.get_json_object(m, f"$.{key}")
    container = value.startswith("{") | value.startswith("[")
    return sf.when(container, yyjson_text(value)).otherwise(value)


def statement_rows(texts, load_id: int, file_path: str):
    """raw.statements rows of (text, n): the columns of ``statements.insert_statements_sql``."""
    sf = _sf()
    parsed = texts.select("text", "n", wrapped(sf.col("text")).alias("w"))
    checked = parsed.select(
        "text",
        "n",
        sf.when(duckdb_valid(sf.col("text"), sf.col("w")), sf.col("w")).alias("w"),
    )
    inner = sf.substr(sf.col("w"), sf.lit(2), sf.length("w") - len(SENTINEL) - 1)
    minified = checked.select("text", "n", yyjson_text(inner).alias("m"))
    m = sf.col("m")
    is_object = m.startswith("{")
    digest = sf.md5(m)
    hashed = sf.concat_ws("-", *(sf.substr(digest, sf.lit(s), sf.lit(n)) for s, n in _UUID_PARTS))
    has_id = sf.array_contains(sf.json_object_keys(m), "id")
    return minified.select(
        sf.when(m.isNull(), None)
        .when(is_object & has_id, member_text(m, "id"))
        .otherwise(hashed)
        .alias("statement_id"),
        sf.when(is_object, member_text(m, "stored")).alias("stored"),
        sf.coalesce(m, sf.col("text")).alias("statement"),
        sf.lit("file").alias("source"),
        sf.lit(load_id).cast("int").alias("_load_id"),
        sf.lit(file_path).alias("_source_file"),
        sf.col("n").cast("bigint").alias("_row_number"),
    )


# 8-4-4-4-12: the UUID shape of an MD5 (statements.HASH_ID_SQL).
_UUID_PARTS = ((1, 8), (9, 4), (13, 4), (17, 4), (21, 12))


def _not_utf8(file_path: str, fmt: str) -> LandingFileError:
    """DuckDB fails a file that is not UTF-8; Spark's text reader passes its bytes on."""
    return LandingFileError(f"{file_path}: cannot be read as {fmt}: the file is not UTF-8")


def _without_bom(column):
    sf = _sf()
    return sf.regexp_replace(column, "^\ufeff", "")


def json_lines(spark, location: str, file_path: str):
    """(text, n) of every non-blank line, n its line number (blank lines counted)."""
    sf = _sf()
    lines = (
        spark.read.text(location)
        .select(
            "value",
            sf.spark_partition_id().alias("part"),
            sf.monotonically_increasing_id().alias("pos"),
        )
        .localCheckpoint(eager=True)
    )
    parts = lines.groupBy("part").agg(
        sf.count("*").alias("lines"), sf.count_if(~sf.is_valid_utf8("value")).alias("bad")
    )
    counts = {row.part: row for row in parts.collect()}
    if any(row.bad for row in counts.values()):
        raise _not_utf8(file_path, "jsonl")
    offsets, before = {}, 0
    for part in sorted(counts):
        offsets[part], before = before, before + counts[part].lines
    offset = sf.element_at(
        sf.create_map(*(sf.lit(v) for kv in offsets.items() for v in kv)), sf.col("part")
    )
    # monotonically_increasing_id: the partition in the upper bits, the record below.
    n = offset + (sf.col("pos") - sf.shiftleft(sf.col("part").cast("long"), 33)) + 1
    text = sf.when(n == 1, _without_bom(sf.col("value"))).otherwise(sf.col("value"))
    return lines.select(text.alias("text"), n.alias("n")).where(sf.trim("text") != "")


def json_value(spark, location: str, file_path: str):
    """The file's one JSON document as Jackson's minified text ``j`` (no row when the file
    holds only blanks); raises when DuckDB would not parse it."""
    sf = _sf()
    doc = spark.read.text(location, wholetext=True).select(
        sf.is_valid_utf8("value").alias("utf8"), _without_bom(sf.col("value")).alias("doc")
    )
    doc = doc.where(~sf.col("doc").rlike(r"^\s*$")).select(
        "utf8", "doc", wrapped(sf.col("doc")).alias("w")
    )
    valid = sf.when(duckdb_valid(sf.col("doc"), sf.col("w")), sf.col("w"))
    inner = sf.substr(valid, sf.lit(2), sf.length(valid) - len(SENTINEL) - 1)
    doc = doc.select("utf8", inner.alias("j")).localCheckpoint(eager=True)
    problems = doc.where(~sf.col("utf8") | sf.col("j").isNull()).select("utf8").collect()
    if problems and not problems[0].utf8:
        raise _not_utf8(file_path, "json")
    if problems:
        raise LandingFileError(
            f"{file_path}: cannot be read as json: not one JSON document (malformed, or several "
            "documents in one file: land those one per line as .jsonl)"
        )
    return doc.select("j")


def json_document(spark, location: str, file_path: str):
    """(text, n) of the statements of one JSON document: an array's elements, a Caliper
    envelope's ``data``, or the document itself."""
    sf = _sf()
    doc, j = json_value(spark, location, file_path), sf.col("j")
    envelope = sf.from_json(j, "struct<data:array<string>>")["data"]
    is_envelope = (
        j.startswith("{")
        & envelope.isNotNull()
        & ~sf.array_contains(sf.json_object_keys(j), "actor")
    )
    texts = (
        sf.when(j.startswith("["), sf.from_json(j, "array<string>"))
        .when(is_envelope, envelope)
        .otherwise(sf.array(j))
    )
    types = sf.when(j.startswith("["), sf.from_json(j, "array<variant>")).when(
        is_envelope, sf.from_json(j, "struct<data:array<variant>>")["data"]
    )
    elements = doc.select(sf.posexplode(texts), types.alias("types"))
    element, value = sf.col("col"), sf.element_at("types", sf.col("pos") + 1)
    # Array<string> gives objects and arrays as JSON text in their order, a string unquoted:
    # the variant of the same element says which it was, and quotes it.
    quoted = sf.to_json(value)
    text = (
        sf.when(element.isNull(), sf.lit("null"))
        .when(value.isNotNull() & quoted.startswith('"'), quoted)
        .otherwise(element)
    )
    return elements.select(text.alias("text"), (sf.col("pos") + 1).alias("n"))


def read_statements(spark, location: str, fmt: str, file_path: str, load_id: int):
    """The raw.statements rows of one statements file, materialised; raises on a bad file."""
    if fmt == "jsonl":
        texts = json_lines(spark, location, file_path)
    else:
        texts = json_document(spark, location, file_path)
    return statement_rows(texts, load_id, file_path).localCheckpoint(eager=True)
