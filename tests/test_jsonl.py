"""Record I/O: input errors name file and line; resumable output survives crashes."""

from __future__ import annotations

import doctest
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import chestx_reasoner.jsonl as jsonl_module
from chestx_reasoner.jsonl import (
    RecordError,
    ResumableWriter,
    UniqueIds,
    iter_records,
    record_id,
    require_fields,
)


def test_docstring_examples_hold() -> None:
    assert doctest.testmod(jsonl_module).failed == 0


class TestIterRecordsJsonl:
    def test_yields_line_numbers_and_skips_blank_lines(self, tmp_path: Path) -> None:
        path = tmp_path / "r.jsonl"
        path.write_text('{"id": "a"}\n\n   \n{"id": "b", "x": [1]}\n', encoding="utf-8")
        assert list(iter_records(path)) == [(1, {"id": "a"}), (4, {"id": "b", "x": [1]})]

    def test_reads_utf8_with_bom_and_crlf(self, tmp_path: Path) -> None:
        path = tmp_path / "r.jsonl"
        path.write_bytes(b'\xef\xbb\xbf{"id": "\xc3\xa9"}\r\n{"id": "b"}\r\n')
        assert [record["id"] for _, record in iter_records(path)] == ["é", "b"]

    def test_invalid_json_names_file_and_line(self, tmp_path: Path) -> None:
        path = tmp_path / "reports.jsonl"
        path.write_text('{"id": "a"}\n{"id": "b" "report": "x"}\n', encoding="utf-8")
        with pytest.raises(RecordError) as info:
            list(iter_records(path))
        assert str(info.value) == f"{path}:2: invalid JSON (Expecting ',' delimiter)"
        assert "\n" not in str(info.value)

    @pytest.mark.parametrize(("line", "kind"), [("[1, 2]", "array"), ('"text"', "string"),
                                                ("3", "number"), ("null", "null")])
    def test_non_object_line_is_an_error(self, tmp_path: Path, line: str, kind: str) -> None:
        path = tmp_path / "r.jsonl"
        path.write_text(f'{{"id": "a"}}\n{line}\n', encoding="utf-8")
        with pytest.raises(RecordError, match=rf":2: expected a JSON object, got {kind}$"):
            list(iter_records(path))

    def test_bad_utf8_names_the_line(self, tmp_path: Path) -> None:
        path = tmp_path / "r.jsonl"
        path.write_bytes(b'{"id": "a"}\n{"id": "\xff"}\n')
        with pytest.raises(RecordError, match=r"r\.jsonl:2: not UTF-8"):
            list(iter_records(path))

    def test_records_before_a_bad_line_are_yielded(self, tmp_path: Path) -> None:
        path = tmp_path / "r.jsonl"
        path.write_text('{"id": "a"}\n{oops\n', encoding="utf-8")
        records = iter_records(path)
        assert next(records) == (1, {"id": "a"})
        with pytest.raises(RecordError):
            next(records)

    def test_unreadable_file(self, tmp_path: Path) -> None:
        with pytest.raises(RecordError, match=r"missing\.jsonl: cannot read \(No such file"):
            list(iter_records(tmp_path / "missing.jsonl"))

    def test_directory_is_unreadable(self, tmp_path: Path) -> None:
        folder = tmp_path / "dir.jsonl"
        folder.mkdir()
        with pytest.raises(RecordError, match="cannot read"):
            list(iter_records(folder))

    def test_unsupported_suffix(self, tmp_path: Path) -> None:
        path = tmp_path / "r.txt"
        path.write_text("{}\n", encoding="utf-8")
        with pytest.raises(RecordError, match=r"unsupported file type '\.txt'"):
            list(iter_records(path))

    def test_never_evaluates_python(self, tmp_path: Path) -> None:
        path = tmp_path / "r.jsonl"
        path.write_text("{'id': __import__('os').getpid()}\n", encoding="utf-8")
        with pytest.raises(RecordError, match="invalid JSON"):
            list(iter_records(path))


class TestIterRecordsCsv:
    def test_rows_become_string_records(self, tmp_path: Path) -> None:
        path = tmp_path / "r.csv"
        path.write_bytes(
            '\ufeffid,report,source\n'
            'a,"FINDINGS: Clear, no effusion.\nIMPRESSION: Normal.",mimic\n'
            '\n'
            'b,Heart is enlarged.,openi\n'.encode())
        records = list(iter_records(path))
        assert [line for line, _ in records] == [3, 5]
        assert records[0][1] == {"id": "a", "source": "mimic",
                                 "report": "FINDINGS: Clear, no effusion.\nIMPRESSION: Normal."}
        assert records[1][1]["id"] == "b"

    def test_header_only_file_has_no_records(self, tmp_path: Path) -> None:
        path = tmp_path / "r.csv"
        path.write_text("id,report\n", encoding="utf-8")
        assert list(iter_records(path)) == []

    def test_wrong_field_count_names_the_line(self, tmp_path: Path) -> None:
        path = tmp_path / "r.csv"
        path.write_text("id,report\na,ok\nb,too,many\n", encoding="utf-8")
        with pytest.raises(RecordError, match=r"r\.csv:3: expected 2 fields, got 3"):
            list(iter_records(path))

    def test_duplicate_column(self, tmp_path: Path) -> None:
        path = tmp_path / "r.csv"
        path.write_text("id,report,id\n1,x,2\n", encoding="utf-8")
        with pytest.raises(RecordError, match=r"r\.csv:1: duplicate column 'id'"):
            list(iter_records(path))


class TestFieldChecks:
    def test_require_fields_names_the_missing_field(self) -> None:
        require_fields("r.jsonl", 1, {"id": "a", "report": ""}, ["id", "report"])  # no error
        with pytest.raises(RecordError) as info:
            require_fields("r.jsonl", 17, {"id": "a"}, ["id", "report"])
        assert str(info.value) == "r.jsonl:17: missing field 'report'"

    def test_record_id_accepts_strings_and_integers(self) -> None:
        assert record_id("r.jsonl", 1, {"id": "s1"}) == "s1"
        assert record_id("r.jsonl", 1, {"id": 12}) == "12"

    @pytest.mark.parametrize(("value", "message"), [
        (None, "must be a string or integer, got null"),
        (True, "must be a string or integer, got boolean"),
        (1.5, "must be a string or integer, got number"),
        (["a"], "must be a string or integer, got array"),
        ("  ", "is empty"),
    ])
    def test_record_id_rejects(self, value: object, message: str) -> None:
        with pytest.raises(RecordError, match=rf"^r\.jsonl:4: field 'id' {message}$"):
            record_id("r.jsonl", 4, {"id": value})

    def test_record_id_missing(self) -> None:
        with pytest.raises(RecordError, match=r"^r\.jsonl:2: missing field 'id'$"):
            record_id("r.jsonl", 2, {"report": "x"})

    def test_unique_ids_report_both_lines(self) -> None:
        ids = UniqueIds("r.jsonl")
        ids.add(1, "a")
        ids.add(2, "b")
        expected = r"^r\.jsonl:9: duplicate id 'a' \(first seen on line 1\)$"
        with pytest.raises(RecordError, match=expected):
            ids.add(9, "a")
        assert list(ids) == ["a", "b"]
        assert "b" in ids
        assert len(ids) == 2


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


class TestResumableWriter:
    def test_writes_one_line_per_record_unescaped(self, tmp_path: Path) -> None:
        out = tmp_path / "sub" / "out.jsonl"
        with ResumableWriter(out) as writer:
            writer.write({"id": "a", "text": "épanchement"})
            writer.write({"id": 2, "text": "x"})
            assert writer.written == 2
            assert "a" in writer
            assert "2" in writer
        assert out.read_text(encoding="utf-8") == (
            '{"id": "a", "text": "épanchement"}\n{"id": 2, "text": "x"}\n')

    def test_reopen_collects_done_ids_and_appends(self, tmp_path: Path) -> None:
        out = tmp_path / "out.jsonl"
        with ResumableWriter(out) as writer:
            writer.write({"id": "a"})
            writer.write({"id": 7})
        with ResumableWriter(out) as writer:
            assert writer.done_ids == {"a", "7"}
            assert writer.resumed == 2
            assert writer.truncated_bytes == 0
            writer.write({"id": "c"})
        assert [r["id"] for r in _lines(out)] == ["a", 7, "c"]

    def test_partial_last_line_is_cut_atomically(self, tmp_path: Path) -> None:
        out = tmp_path / "out.jsonl"
        good = '{"id": "a", "v": 1}\n\n{"id": "b", "v": 2}\n'
        out.write_text(good + '{"id": "c", "v', encoding="utf-8")
        with ResumableWriter(out) as writer:
            assert writer.done_ids == {"a", "b"}
            assert writer.truncated_bytes == len('{"id": "c", "v')
            assert out.read_text(encoding="utf-8") == good  # cut before anything is appended
            writer.write({"id": "c", "v": 3})
        assert [r["id"] for r in _lines(out)] == ["a", "b", "c"]
        assert sorted(p.name for p in tmp_path.iterdir()) == ["out.jsonl"]  # no temp file left

    def test_line_without_newline_is_not_committed(self, tmp_path: Path) -> None:
        # A crash can stop just before the newline; the record is redone rather than guessed at.
        out = tmp_path / "out.jsonl"
        out.write_text('{"id": "a"}\n{"id": "b"}', encoding="utf-8")
        with ResumableWriter(out) as writer:
            assert writer.done_ids == {"a"}
        assert out.read_text(encoding="utf-8") == '{"id": "a"}\n'

    def test_garbage_last_line_is_cut(self, tmp_path: Path) -> None:
        out = tmp_path / "out.jsonl"
        out.write_bytes(b'{"id": "a"}\n\x00\x00\x00{"id\n')
        with ResumableWriter(out) as writer:
            assert writer.done_ids == {"a"}
        assert out.read_bytes() == b'{"id": "a"}\n'

    def test_damage_before_the_last_line_is_an_error(self, tmp_path: Path) -> None:
        out = tmp_path / "out.jsonl"
        content = '{"id": "a"}\n{broken\n{"id": "c"}\n'
        out.write_text(content, encoding="utf-8")
        with pytest.raises(RecordError, match=r"out\.jsonl:2: invalid JSON in output"):
            ResumableWriter(out).open()
        assert out.read_text(encoding="utf-8") == content  # nothing guessed, nothing lost

    def test_output_line_without_id_is_an_error(self, tmp_path: Path) -> None:
        out = tmp_path / "out.jsonl"
        out.write_text('{"x": 1}\n{"id": "b"}\n', encoding="utf-8")
        with pytest.raises(RecordError, match=r"out\.jsonl:1: output line has no field 'id'"):
            ResumableWriter(out).open()

    def test_fsyncs_every_n_records_and_on_close(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        calls: list[int] = []
        real_fsync = os.fsync
        monkeypatch.setattr(jsonl_module.os, "fsync", lambda fd: (calls.append(fd), real_fsync(fd)))
        with ResumableWriter(tmp_path / "out.jsonl", fsync_every=2, fsync_seconds=3600) as writer:
            calls.clear()  # ignore the directory sync on create
            for i in range(5):
                writer.write({"id": i})
            assert len(calls) == 2  # after records 2 and 4
        assert len(calls) == 3  # record 5 synced on close

    def test_fsyncs_at_least_every_interval(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        calls: list[int] = []
        with ResumableWriter(tmp_path / "out.jsonl", fsync_every=1000, fsync_seconds=0.0) as writer:
            monkeypatch.setattr(jsonl_module.os, "fsync", calls.append)
            writer.write({"id": "a"})
            writer.write({"id": "b"})
            assert len(calls) == 2

    def test_write_after_close_is_refused(self, tmp_path: Path) -> None:
        writer = ResumableWriter(tmp_path / "out.jsonl")
        writer.open()
        writer.close()
        writer.close()  # twice is fine
        with pytest.raises(RuntimeError, match="not open"):
            writer.write({"id": "a"})

    @pytest.mark.skipif(sys.platform == "win32", reason="needs SIGKILL")
    def test_kill_9_loses_nothing_already_written(self, tmp_path: Path) -> None:
        out = tmp_path / "out.jsonl"
        script = textwrap.dedent(f"""
            from chestx_reasoner.jsonl import ResumableWriter
            with ResumableWriter({str(out)!r}, fsync_every=10**9, fsync_seconds=10**9) as w:
                i = 0
                while True:
                    w.write({{"id": i, "pad": "x" * (i % 5000)}})
                    i += 1
        """)
        env = {**os.environ, "PYTHONPATH": str(Path(jsonl_module.__file__).parents[1])}
        proc = subprocess.Popen([sys.executable, "-c", script], env=env)
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and (
                    not out.exists() or out.stat().st_size < 2_000_000):
                time.sleep(0.05)
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        assert out.stat().st_size >= 2_000_000
        with ResumableWriter(out) as writer:
            done = writer.done_ids
        records = _lines(out)
        assert [r["id"] for r in records] == list(range(len(records)))  # no gap, no damage
        assert done == {str(i) for i in range(len(records))}
