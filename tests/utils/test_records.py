"""Streaming readers: JSON lines, JSON arrays, CSV rows, positions and the errors they raise."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from airflow_provider_mircate.exceptions import MircateConfigError, MircateValidationError
from airflow_provider_mircate.utils import records
from airflow_provider_mircate.utils.records import (
    csv_header,
    detect_format,
    iter_memory,
    iter_product_records,
    iter_rows,
    open_source,
)


def write(path: Path, data: str | bytes) -> Path:
    if isinstance(data, str):
        data = data.encode("utf-8")
    path.write_bytes(data)
    return path


# -- format detection ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [("a.jsonl", "jsonl"), ("a.NDJSON", "jsonl"), ("dir/a.json", "json"), ("a.csv", "csv")],
)
def test_detect_format_from_suffix(name: str, expected: str) -> None:
    assert detect_format(name) == expected


def test_detect_format_override_wins() -> None:
    assert detect_format("export.txt", "csv") == "csv"
    assert detect_format("export.json", "ndjson") == "jsonl"


def test_detect_format_unknown_suffix_names_fix() -> None:
    with pytest.raises(MircateConfigError, match="source_format"):
        detect_format("export.txt")


def test_detect_format_unknown_override() -> None:
    with pytest.raises(MircateConfigError, match="'xml'"):
        detect_format("a.json", "xml")


# -- in-memory ------------------------------------------------------------------------------------


def test_iter_memory_single_dict_is_item_zero() -> None:
    assert list(iter_memory({"a": 1})) == [(0, {"a": 1})]


def test_iter_memory_list_uses_indexes() -> None:
    assert list(iter_memory([{"a": 1}, {"b": 2}])) == [(0, {"a": 1}), (1, {"b": 2})]


# -- JSON lines -----------------------------------------------------------------------------------


def test_jsonl_positions_are_line_numbers(tmp_path: Path) -> None:
    path = write(tmp_path / "p.jsonl", '{"a": 1}\n\n{"b": 2}\n')
    assert list(iter_rows(path, "jsonl")) == [(1, {"a": 1}), (3, {"b": 2})]


def test_jsonl_without_final_newline(tmp_path: Path) -> None:
    path = write(tmp_path / "p.jsonl", '{"a": 1}\n{"b": 2}')
    assert [row for _, row in iter_rows(path, "jsonl")] == [{"a": 1}, {"b": 2}]


def test_jsonl_byte_order_mark_is_dropped(tmp_path: Path) -> None:
    path = write(tmp_path / "p.jsonl", '\ufeff{"a": 1}\n')
    assert list(iter_rows(path, "jsonl")) == [(1, {"a": 1})]


def test_jsonl_malformed_line_names_line(tmp_path: Path) -> None:
    path = write(tmp_path / "p.jsonl", '{"a": 1}\n{"a": 2}\n{"a": \n')
    with pytest.raises(MircateValidationError, match="Line 3 of") as info:
        list(iter_rows(path, "jsonl"))
    assert "not valid JSON" in str(info.value)


def test_jsonl_rows_before_error_are_yielded(tmp_path: Path) -> None:
    path = write(tmp_path / "p.jsonl", '{"a": 1}\nnot json\n')
    rows = iter_rows(path, "jsonl")
    assert next(rows) == (1, {"a": 1})
    with pytest.raises(MircateValidationError, match="Line 2"):
        next(rows)


def test_jsonl_line_not_object(tmp_path: Path) -> None:
    path = write(tmp_path / "p.jsonl", '{"a": 1}\n[1, 2]\n')
    with pytest.raises(MircateValidationError, match="Line 2 of .* is a JSON list") as info:
        list(iter_rows(path, "jsonl"))
    assert '"dataType"' in str(info.value)


def test_jsonl_not_utf8_names_line_and_offset(tmp_path: Path) -> None:
    content = b'{"a": 1}\n{"a": "caf\xe9"}\n'
    path = write(tmp_path / "p.jsonl", content)
    with pytest.raises(MircateValidationError, match="not valid UTF-8") as info:
        list(iter_rows(path, "jsonl"))
    message = str(info.value)
    assert "line 2" in message
    offset = content.index(b"\xe9")
    assert f"byte offset {offset}" in message
    assert "0xe9" in message


@pytest.mark.parametrize("content", ["", "\n\n  \n"])
def test_jsonl_empty_file(tmp_path: Path, content: str) -> None:
    path = write(tmp_path / "p.jsonl", content)
    with pytest.raises(MircateValidationError, match="is empty"):
        list(iter_rows(path, "jsonl"))


def test_error_uses_given_name(tmp_path: Path) -> None:
    path = write(tmp_path / "spool.jsonl", "")
    with pytest.raises(MircateValidationError, match="s3://bucket/products.jsonl"):
        list(iter_rows(path, "jsonl", name="s3://bucket/products.jsonl"))


# -- JSON arrays ----------------------------------------------------------------------------------


def test_json_array_positions_are_indexes(tmp_path: Path) -> None:
    path = write(tmp_path / "p.json", ' [ {"a": 1} ,\n{"b": [1, {"c": "]"}]} ] \n')
    assert list(iter_rows(path, "json")) == [(0, {"a": 1}), (1, {"b": [1, {"c": "]"}]})]


def test_json_array_across_small_chunks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(records, "READ_CHUNK", 3)
    items = [{"sku": f"S{i}", "n": 12345 + i, "text": "é" * i} for i in range(40)]
    path = write(tmp_path / "p.json", json.dumps(items))
    assert [row for _, row in iter_rows(path, "json")] == items


def test_json_array_large_item_across_chunks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(records, "READ_CHUNK", 16)
    items = [{"blob": "x" * 5000}, {"n": 1}]
    path = write(tmp_path / "p.json", json.dumps(items))
    assert [row for _, row in iter_rows(path, "json")] == items


def test_json_array_buffer_stays_small(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(records, "READ_CHUNK", 64)
    path = write(tmp_path / "p.json", json.dumps([{"i": i, "pad": "y" * 50} for i in range(2000)]))
    largest = 0
    count = 0
    with open(path, "rb") as handle:
        reader = records._JsonArrayReader(handle, "p.json")
        for index, row in reader:
            assert row["i"] == index
            largest = max(largest, len(reader.buffer))
            count += 1
    assert count == 2000
    assert largest < 400


def test_json_single_object_is_one_record(tmp_path: Path) -> None:
    path = write(tmp_path / "p.json", '{"dataType": "PRODUCT"}')
    assert list(iter_rows(path, "json")) == [(0, {"dataType": "PRODUCT"})]


def test_json_empty_array_yields_nothing(tmp_path: Path) -> None:
    path = write(tmp_path / "p.json", "[ ]")
    assert list(iter_rows(path, "json")) == []


def test_json_empty_file(tmp_path: Path) -> None:
    path = write(tmp_path / "p.json", "  \n")
    with pytest.raises(MircateValidationError, match="is empty"):
        list(iter_rows(path, "json"))


def test_json_item_not_object_names_index(tmp_path: Path) -> None:
    path = write(tmp_path / "p.json", '[{"a": 1}, 7]')
    with pytest.raises(MircateValidationError, match="Item 1 of .* is a JSON int"):
        list(iter_rows(path, "json"))


def test_json_malformed_item_names_index(tmp_path: Path) -> None:
    path = write(tmp_path / "p.json", '[{"a": 1}, {"a": }]')
    with pytest.raises(MircateValidationError, match="item 1 is malformed"):
        list(iter_rows(path, "json"))


def test_json_truncated_array(tmp_path: Path) -> None:
    path = write(tmp_path / "p.json", '[{"a": 1}, {"a": 2}')
    with pytest.raises(MircateValidationError, match="not a valid JSON array"):
        list(iter_rows(path, "json"))


def test_json_trailing_comma(tmp_path: Path) -> None:
    path = write(tmp_path / "p.json", '[{"a": 1},]')
    with pytest.raises(MircateValidationError, match="trailing comma"):
        list(iter_rows(path, "json"))


def test_json_missing_comma(tmp_path: Path) -> None:
    path = write(tmp_path / "p.json", '[{"a": 1} {"a": 2}]')
    with pytest.raises(MircateValidationError, match="expected ',' or ']' after item 0"):
        list(iter_rows(path, "json"))


def test_json_data_after_array(tmp_path: Path) -> None:
    path = write(tmp_path / "p.json", '[{"a": 1}] [')
    with pytest.raises(MircateValidationError, match="after the array"):
        list(iter_rows(path, "json"))


def test_json_not_an_array(tmp_path: Path) -> None:
    path = write(tmp_path / "p.json", '"text"')
    with pytest.raises(MircateValidationError, match="expected '\\['"):
        list(iter_rows(path, "json"))


def test_json_not_utf8_names_byte_offset(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(records, "READ_CHUNK", 4)
    content = b'[{"a": "ok"}, {"a": "\xff"}]'
    path = write(tmp_path / "p.json", content)
    offset = content.index(b"\xff")
    with pytest.raises(MircateValidationError, match=f"byte offset {offset}"):
        list(iter_rows(path, "json"))


# -- CSV ------------------------------------------------------------------------------------------


def test_csv_header_is_line_one(tmp_path: Path) -> None:
    path = write(tmp_path / "p.csv", "sku,family\nA1,f\n\nA2,g\n")
    assert list(iter_rows(path, "csv")) == [
        (2, {"sku": "A1", "family": "f"}),
        (4, {"sku": "A2", "family": "g"}),
    ]


def test_csv_quoted_newline_keeps_start_line(tmp_path: Path) -> None:
    path = write(tmp_path / "p.csv", 'sku,text\nA1,"two\nlines"\nA2,x\n')
    assert [line for line, _ in iter_rows(path, "csv")] == [2, 4]


def test_csv_closed_multiline_cell_is_kept(tmp_path: Path) -> None:
    path = write(tmp_path / "p.csv", 'sku,text\nA1,"line one\nline ""two""\n"\nA2,x\n')
    assert list(iter_rows(path, "csv")) == [
        (2, {"sku": "A1", "text": 'line one\nline "two"\n'}),
        (5, {"sku": "A2", "text": "x"}),
    ]


def test_csv_unclosed_quote_names_start_line(tmp_path: Path) -> None:
    rows = "".join(f"Q_{n},shoes,ACTIVE,Name {n}\n" for n in range(4, 102))
    content = 'sku,family,status,name\nQ_1,shoes,ACTIVE,ok\nQ_2,shoes,ACTIVE,"Broken name\n' + rows
    path = write(tmp_path / "p.csv", content)
    with pytest.raises(MircateValidationError) as info:
        list(iter_rows(path, "csv"))
    message = str(info.value)
    assert message.startswith("Line 3 of ")
    assert "never closed" in message
    assert "Close the quote on line 3" in message


def test_csv_unclosed_quote_after_closed_multiline_cell(tmp_path: Path) -> None:
    content = 'sku,a,b\nA1,"two\nlines","open\nA2,x,y\n'
    path = write(tmp_path / "p.csv", content)
    with pytest.raises(MircateValidationError, match="Line 3 of .* never closed"):
        list(iter_rows(path, "csv"))


def test_csv_unclosed_quote_in_header(tmp_path: Path) -> None:
    path = write(tmp_path / "p.csv", 'sku,"name\nA1,x\n')
    with pytest.raises(MircateValidationError, match="Line 1 of .* never closed"):
        csv_header(path)


def test_csv_text_after_closing_quote(tmp_path: Path) -> None:
    path = write(tmp_path / "p.csv", 'sku,name\nA1,"x"y\n')
    with pytest.raises(MircateValidationError) as info:
        list(iter_rows(path, "csv"))
    assert str(info.value).startswith("Line 2 of ")
    assert "not valid CSV" in str(info.value)


def test_csv_quote_closed_on_later_row_names_start(tmp_path: Path) -> None:
    path = write(tmp_path / "p.csv", 'sku,name\nA1,"broken\nA2,"x"\n')
    with pytest.raises(MircateValidationError) as info:
        list(iter_rows(path, "csv"))
    assert str(info.value).startswith("Line 3 of ")
    assert "The record starts on line 2" in str(info.value)


def test_csv_short_row_is_padded(tmp_path: Path) -> None:
    path = write(tmp_path / "p.csv", "sku,family,status\nA1\n")
    assert list(iter_rows(path, "csv")) == [(2, {"sku": "A1", "family": "", "status": ""})]


def test_csv_long_row_names_line(tmp_path: Path) -> None:
    path = write(tmp_path / "p.csv", "sku,family\nA1,f\nA2,f,extra\n")
    with pytest.raises(MircateValidationError, match="Line 3 of .* has 3 cells"):
        list(iter_rows(path, "csv"))


def test_csv_not_utf8_names_line(tmp_path: Path) -> None:
    content = b"sku,family\nA1,f\nA2,caf\xe9\n"
    path = write(tmp_path / "p.csv", content)
    offset = content.index(b"\xe9")
    with pytest.raises(MircateValidationError, match=f"line 3, byte offset {offset}"):
        list(iter_rows(path, "csv"))


def test_csv_empty_file(tmp_path: Path) -> None:
    path = write(tmp_path / "p.csv", "")
    with pytest.raises(MircateValidationError, match="is empty"):
        list(iter_rows(path, "csv"))


def test_csv_header_reads_first_record(tmp_path: Path) -> None:
    path = write(tmp_path / "p.csv", "\ufeff sku , family\nA1,f\n")
    assert csv_header(path) == ["sku", "family"]


# -- sources --------------------------------------------------------------------------------------


def test_open_source_local_file(tmp_path: Path) -> None:
    write(tmp_path / "p.jsonl", '{"a": 1}\n')
    with open_source(str(tmp_path / "p.jsonl")) as source:
        assert source.fmt == "jsonl"
        assert source.position_name == "line"
        assert list(iter_product_records(source)) == [(1, {"a": 1})]


def test_open_source_missing_file(tmp_path: Path) -> None:
    with pytest.raises(MircateConfigError, match="does not exist"):
        with open_source(f"file://{tmp_path}/missing.jsonl"):
            pass


@pytest.mark.s3
def test_open_source_spools_s3_object(s3_bucket: str, s3_client) -> None:
    s3_client.put_object(Bucket=s3_bucket, Key="in/p.json", Body=b'[{"a": 1}, {"a": 2}]')
    with open_source(f"s3://{s3_bucket}/in/p.json", conn_id="mircate_test_s3") as source:
        spool = source.path
        assert spool.exists()
        assert source.name.endswith("/in/p.json")
        assert [row for _, row in iter_product_records(source)] == [{"a": 1}, {"a": 2}]
    assert not spool.exists()
