"""The Store contract: every backend passes these. Elasticsearch runs when SOC_ES_URL is set."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from soc.errors import ConflictError, NotFoundError, StoreError
from soc.store import Collection, Filter, Op, Query, Store, open_store

T0 = datetime(2026, 11, 20, 0, 0, tzinfo=UTC)


def ts(minutes: int) -> str:
    return (T0 + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@pytest.fixture(params=["sqlite", pytest.param("elasticsearch", marks=pytest.mark.elasticsearch)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'contract.db'}"
    else:
        if not os.environ.get("SOC_ES_URL"):
            pytest.skip("Elasticsearch contract run needs SOC_ES_URL (a real cluster)")
        url = os.environ["SOC_ES_URL"]
    with open_store(url) as opened:
        yield opened


def event(i: int, **fields: object) -> dict:
    return {"event.id": f"e{i:03d}", "@timestamp": ts(i), "message": f"event number {i}",
            **fields}


EVENTS = [
    event(0, **{"source.ip": "10.45.1.10", "host.name": "dvc-web-01", "event.code": "4625",
                "event.category": ["authentication"], "source.port": 22,
                "event.dataset": "sshd", "user.name": "root"}),
    event(1, **{"source.ip": "10.45.2.20", "host.name": "mail-01", "event.code": "4624",
                "event.category": ["authentication", "iam"], "source.port": 443,
                "event.dataset": "windows.security", "message": "Đăng nhập thất bại từ Hà Nội"}),
    event(2, **{"source.ip": "2001:db8::5", "host.name": "dvc-web-02", "source.port": 8080,
                "event.category": ["network"], "event.dataset": "sshd", "user.name": "admin"}),
    event(3, **{"source.ip": "203.0.113.7", "host.name": "qlvb-app-01", "source.port": 22,
                "event.dataset": "nginx.access", "url.path": "/admin/login"}),
    event(4, **{"destination.ip": "10.45.1.50", "event.dataset": "nginx.access",
                "url.path": "/api/v1", "labels.tag": None}),
]


def ids(page_items: list[dict]) -> list[str]:
    return [item["event.id"] for item in page_items]


def search(store: Store, *filters: Filter, **options: object) -> list[str]:
    query = Query(filters=list(filters), limit=100, **options)  # type: ignore[arg-type]
    return ids(store.search(Collection.EVENTS, query).items)


def test_put_is_idempotent_on_id(store: Store) -> None:
    first = store.put(Collection.EVENTS, EVENTS)
    assert (first.stored, first.duplicates) == (5, 0)
    again = store.put(Collection.EVENTS, [*EVENTS[:2], event(9), event(9)])
    assert (again.stored, again.duplicates) == (1, 3)
    assert store.count(Collection.EVENTS, Query()) == 6


def test_get_returns_the_whole_document(store: Store) -> None:
    store.put(Collection.EVENTS, EVENTS)
    assert store.get(Collection.EVENTS, "e001").document == EVENTS[1]
    with pytest.raises(NotFoundError):
        store.get(Collection.EVENTS, "missing")


def test_time_range_is_half_open(store: Store) -> None:
    store.put(Collection.EVENTS, EVENTS)
    assert search(store, since=T0 + timedelta(minutes=1), until=T0 + timedelta(minutes=3),
                  order="asc") == ["e001", "e002"]
    assert search(store, Filter(field="@timestamp", op=Op.GTE, value=ts(3)),
                  order="asc") == ["e003", "e004"]


@pytest.mark.parametrize(("condition", "expected"), [
    (Filter(field="host.name", value="mail-01"), ["e001"]),
    (Filter(field="event.code", value=4625), ["e000"]),  # typed as a number, stored as text
    (Filter(field="source.port", value="22"), ["e000", "e003"]),  # text against a number
    (Filter(field="event.category", value="iam"), ["e001"]),  # any element of a list
    (Filter(field="event.dataset", op=Op.NE, value="sshd"), ["e001", "e003", "e004"]),
    (Filter(field="user.name", op=Op.NE, value="root"), ["e001", "e002", "e003", "e004"]),
    (Filter(field="event.category", op=Op.NE, value="authentication"), ["e002", "e003",
                                                                         "e004"]),
    (Filter(field="host.name", op=Op.IN, value=["mail-01", "dvc-web-02"]), ["e001", "e002"]),
    (Filter(field="host.name", op=Op.PREFIX, value="dvc-"), ["e000", "e002"]),
    (Filter(field="url.path", op=Op.PREFIX, value="/a"), ["e003", "e004"]),
    (Filter(field="source.ip", value="10.45.1.10"), ["e000"]),
    (Filter(field="source.ip", value="2001:DB8:0::5"), ["e002"]),  # any spelling of an address
    (Filter(field="source.ip", op=Op.IN, value=["203.0.113.7", "10.45.2.20", "10.9.9.9"]),
     ["e001", "e003"]),
    (Filter(field="source.ip", op=Op.NE, value="10.45.1.10"), ["e001", "e002", "e003", "e004"]),
    (Filter(field="source.ip", value="not-an-address"), []),
    (Filter(field="destination.ip", value="10.45.1.50"), ["e004"]),
    (Filter(field="destination.ip", value="10.45.1.10"), []),
    (Filter(field="source.ip", op=Op.CIDR, value="10.45.0.0/16"), ["e000", "e001"]),
    (Filter(field="source.ip", op=Op.CIDR, value="2001:db8::/32"), ["e002"]),
    (Filter(field="source.port", op=Op.GT, value=443), ["e002"]),
    (Filter(field="source.port", op=Op.GTE, value=443), ["e001", "e002"]),
    (Filter(field="source.port", op=Op.LT, value=443), ["e000", "e003"]),
    (Filter(field="source.port", op=Op.LTE, value=22), ["e000", "e003"]),
    (Filter(field="user.name", op=Op.EXISTS), ["e000", "e002"]),
    (Filter(field="user.name", op=Op.MISSING), ["e001", "e003", "e004"]),
    (Filter(field="labels.tag", op=Op.MISSING), ["e000", "e001", "e002", "e003", "e004"]),
    (Filter(field="message", value="event number 3"), ["e003"]),
])
def test_field_filters(store: Store, condition: Filter, expected: list[str]) -> None:
    store.put(Collection.EVENTS, EVENTS)
    assert search(store, condition, order="asc") == expected


def test_filters_combine_with_and(store: Store) -> None:
    store.put(Collection.EVENTS, EVENTS)
    assert search(store, Filter(field="event.dataset", value="sshd"),
                  Filter(field="source.port", op=Op.LT, value=1000)) == ["e000"]


@pytest.mark.parametrize(("text", "expected"), [
    ("event number", ["e000", "e002", "e003", "e004"]),
    ("number 4", ["e004"]),
    ("ha noi", ["e001"]),               # diacritics do not matter
    ("HÀ NỘI thất", ["e001"]),
    ('"quoted" or', []),                # search syntax is inert
])
def test_full_text(store: Store, text: str, expected: list[str]) -> None:
    store.put(Collection.EVENTS, EVENTS)
    assert search(store, text=text, order="asc") == expected


def test_sort_by_time_and_by_field(store: Store) -> None:
    store.put(Collection.EVENTS, EVENTS)
    assert search(store) == ["e004", "e003", "e002", "e001", "e000"]
    assert search(store, order="asc") == ["e000", "e001", "e002", "e003", "e004"]
    assert search(store, Filter(field="source.port", op=Op.EXISTS), sort="source.port",
                  order="desc")[:2] == ["e002", "e001"]


@pytest.mark.parametrize("order", ["asc", "desc"])
@pytest.mark.parametrize("sort", ["@timestamp", "host.name"])
def test_cursor_pages_cover_everything_once(store: Store, sort: str, order: str) -> None:
    documents = [event(i, **({"host.name": f"h{i % 3}"} if i % 4 else {})) for i in range(23)]
    documents += [{**event(100 + i), "@timestamp": ts(5)} for i in range(4)]  # equal times
    store.put(Collection.EVENTS, documents)
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        page = store.search(Collection.EVENTS, Query(sort=sort, order=order, limit=4,
                                                     cursor=cursor))  # type: ignore[arg-type]
        seen.extend(ids(page.items))
        pages += 1
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert sorted(seen) == sorted(d["event.id"] for d in documents)
    assert len(seen) == len(set(seen)) == 27
    assert pages == 7


def test_bad_cursor_is_an_error(store: Store) -> None:
    with pytest.raises(ValueError, match="invalid cursor"):
        store.search(Collection.EVENTS, Query(cursor="not-a-cursor"))


def test_counts(store: Store) -> None:
    store.put(Collection.EVENTS, EVENTS)
    assert store.count(Collection.EVENTS, Query()) == 5
    assert store.count(Collection.EVENTS, Query(
        filters=[Filter(field="event.dataset", value="sshd")])) == 2
    by_dataset = store.count_by(Collection.EVENTS, Query(), "event.dataset")
    assert [(b.value, b.count) for b in by_dataset] == [
        ("nginx.access", 2), ("sshd", 2), ("windows.security", 1)]
    by_category = store.count_by(Collection.EVENTS, Query(), "event.category", size=2)
    assert [(b.value, b.count) for b in by_category] == [("authentication", 2), ("iam", 1)]
    recent = store.count_by(Collection.EVENTS, Query(since=T0 + timedelta(minutes=2)),
                            "event.dataset")
    assert [(b.value, b.count) for b in recent] == [("nginx.access", 2), ("sshd", 1)]


def test_replace_with_optimistic_concurrency(store: Store) -> None:
    incident = {"id": "inc-1", "@timestamp": ts(0), "title": "SSH brute force", "status": "new"}
    store.put(Collection.INCIDENTS, [incident])
    current = store.get(Collection.INCIDENTS, "inc-1")
    changed = {**current.document, "status": "acknowledged"}
    new_version = store.replace(Collection.INCIDENTS, changed, current.version)
    assert store.get(Collection.INCIDENTS, "inc-1") .document["status"] == "acknowledged"
    with pytest.raises(ConflictError):
        store.replace(Collection.INCIDENTS, {**changed, "status": "resolved"}, current.version)
    store.replace(Collection.INCIDENTS, {**changed, "title": "SSH brute force on mail-01"},
                  new_version)
    hits = store.search(Collection.INCIDENTS, Query(text="mail")).items
    assert [h["id"] for h in hits] == ["inc-1"]
    assert store.search(Collection.INCIDENTS, Query(text="brute force")).items[0]["status"] == (
        "acknowledged")
    with pytest.raises(NotFoundError):
        store.replace(Collection.INCIDENTS, {**incident, "id": "nope"}, new_version)


def test_audit_log_is_append_only(store: Store) -> None:
    entry = {"id": "a1", "@timestamp": ts(0), "actor": "analyst1", "action": "acknowledge"}
    store.put(Collection.AUDIT, [entry])
    with pytest.raises(StoreError):
        store.replace(Collection.AUDIT, {**entry, "actor": "mallory"}, "1")
    with pytest.raises(StoreError):
        store.delete_before(Collection.AUDIT, T0 + timedelta(days=1))
    assert store.get(Collection.AUDIT, "a1").document == entry


def test_retention_deletes_old_documents_and_their_text(store: Store) -> None:
    store.put(Collection.EVENTS, EVENTS)
    assert store.delete_before(Collection.EVENTS, T0 + timedelta(minutes=2)) == 2
    assert search(store, order="asc") == ["e002", "e003", "e004"]
    assert search(store, text="event number 0") == []


def test_checkpoints(store: Store) -> None:
    assert store.get_checkpoint("files:/var/log/a") is None
    store.set_checkpoint("files:/var/log/a", {"inode": 12, "offset": 4096})
    store.set_checkpoint("files:/var/log/a", {"inode": 12, "offset": 8192})
    assert store.get_checkpoint("files:/var/log/a") == {"inode": 12, "offset": 8192}
    store.set_checkpoint("files:/var/log/b", {"inode": 13, "offset": 0})
    store.set_checkpoint("source:syslog-udp", {"received": 5})
    assert store.checkpoints("files:") == {"files:/var/log/a": {"inode": 12, "offset": 8192},
                                           "files:/var/log/b": {"inode": 13, "offset": 0}}
    assert store.checkpoints("sftp:") == {}


def test_check_reports_counts(store: Store) -> None:
    store.put(Collection.EVENTS, EVENTS)
    facts = store.check()
    assert facts["documents"]["events"] == 5


def test_document_without_id_or_time_is_refused(store: Store) -> None:
    with pytest.raises(StoreError, match=r"lacks event\.id"):
        store.put(Collection.EVENTS, [{"@timestamp": ts(0)}])
    with pytest.raises(StoreError, match="lacks @timestamp"):
        store.put(Collection.ALERTS, [{"id": "x"}])
