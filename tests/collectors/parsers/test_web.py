"""collectors/parsers/web.py: nginx and Apache access and error lines."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from collectors import parsers
from collectors.files import read_file
from soc.errors import ParseError
from soc.events import EventNormaliser
from soc.timeutil import load_zone

NOW = datetime(2026, 11, 23, tzinfo=UTC)
HCM = load_zone("Asia/Ho_Chi_Minh")
WHEN = "[22/Nov/2026:10:00:00 +0700]"
COMBINED = (b'203.0.113.7 - alice [22/Nov/2026:10:00:00 +0700] "GET /dichvucong/hoso?id=42 '
            b'HTTP/1.1" 200 5120 "https://dichvucong.sonha.gov.vn/" '
            b'"Mozilla/5.0 (X11; Linux x86_64)"')
NGINX_ERROR = (b'2026/11/22 10:00:00 [error] 1234#1234: *5678 open() '
               b'"/usr/share/nginx/html/wp-login.php" failed (2: No such file or directory), '
               b'client: 203.0.113.7, server: dichvucong.sonha.gov.vn, request: '
               b'"GET /wp-login.php HTTP/1.1", host: "dichvucong.sonha.gov.vn"')
APACHE_ERROR = (b"[Sun Nov 22 10:00:00.123456 2026] [core:error] [pid 1234:tid 140000] "
                b"[client 203.0.113.7:51234] AH00126: Invalid URI in request "
                b"GET /../../etc/passwd HTTP/1.1")
ACCESS = {"@timestamp": "2026-11-22T10:00:00+07:00", "event.category": ["web"],
          "event.type": ["access"], "event.dataset": "nginx.access"}


def access(**fields: Any) -> dict[str, Any]:
    return ACCESS | {"source.address": "203.0.113.7", "source.ip": "203.0.113.7"} | fields


def test_combined_line_becomes_an_ecs_access_event() -> None:
    parser = parsers.get("nginx")
    assert parser.parse(COMBINED) == {
        "@timestamp": "2026-11-22T10:00:00+07:00", "event.category": ["web"],
        "event.type": ["access"], "event.dataset": "nginx.access", "event.outcome": "success",
        "http.response.status_code": 200, "source.address": "203.0.113.7",
        "source.ip": "203.0.113.7", "user.name": "alice", "http.response.body.bytes": 5120,
        "http.request.method": "GET", "url.original": "/dichvucong/hoso?id=42",
        "url.path": "/dichvucong/hoso", "url.query": "id=42", "http.version": "1.1",
        "http.request.referrer": "https://dichvucong.sonha.gov.vn/",
        "user_agent.original": "Mozilla/5.0 (X11; Linux x86_64)"}
    assert parser.timestamp_required and parser.keep_original


def test_apache_reads_the_same_access_line_under_its_own_dataset() -> None:
    nginx, apache = parsers.get("nginx").parse(COMBINED), parsers.get("apache").parse(COMBINED)
    assert apache == nginx | {"event.dataset": "apache.access"}


GET_ROOT = {"event.outcome": "success", "http.request.method": "GET", "url.original": "/",
            "url.path": "/", "http.version": "1.1"}


@pytest.mark.parametrize(("line", "expected"), [
    pytest.param(  # Common Log Format, and `-` for no body
        f'203.0.113.7 - - {WHEN} "GET / HTTP/1.1" 304 -',
        access(**GET_ROOT, **{"http.response.status_code": 304}), id="clf"),
    pytest.param(  # Apache vhost_combined: %v:%p first
        f'dichvucong.sonha.gov.vn:443 203.0.113.7 - - {WHEN} "GET / HTTP/1.1" 200 512 "-" '
        f'"curl/8.5.0"',
        access(**GET_ROOT, **{"http.response.status_code": 200,
                              "http.response.body.bytes": 512, "url.domain":
                              "dichvucong.sonha.gov.vn", "url.port": 443,
                              "user_agent.original": "curl/8.5.0"}), id="vhost_combined"),
    pytest.param(  # Apache vhost_common: %v, no port
        f'motcua.sonha.gov.vn 203.0.113.7 - - {WHEN} "GET / HTTP/1.1" 200 512',
        access(**GET_ROOT, **{"http.response.status_code": 200,
                              "http.response.body.bytes": 512,
                              "url.domain": "motcua.sonha.gov.vn"}), id="vhost_common"),
    pytest.param(
        f'2001:DB8:0::7 - - {WHEN} "POST /api/login HTTP/2.0" 401 0 "-" "-"',
        ACCESS | {"source.address": "2001:DB8:0::7", "source.ip": "2001:db8::7",
                  "event.outcome": "failure", "http.response.status_code": 401,
                  "http.response.body.bytes": 0, "http.request.method": "POST",
                  "url.original": "/api/login", "url.path": "/api/login",
                  "http.version": "2.0"}, id="ipv6-client"),
    pytest.param(  # Apache writes " and \ inside quoted fields as \" and \\
        f'203.0.113.7 - - {WHEN} "GET /search?q=\\"x\\" HTTP/1.1" 200 10 "-" '
        f'"sqlmap/1.8 (\\"https://sqlmap.org\\") C:\\\\tmp"',
        access(**{"event.outcome": "success", "http.request.method": "GET",
                  "url.original": '/search?q="x"', "url.path": "/search", "url.query": 'q="x"',
                  "http.version": "1.1", "http.response.status_code": 200,
                  "http.response.body.bytes": 10,
                  "user_agent.original": 'sqlmap/1.8 ("https://sqlmap.org") C:\\tmp'}),
        id="escaped-quotes"),
    pytest.param(  # a TLS ClientHello sent to port 80, as nginx logs it
        f'203.0.113.7 - - {WHEN} "\\x16\\x03\\x01\\x00\\xC8\\x01\\x00\\x00\\xC4\\x03\\x03" '
        f'400 157 "-" "-"',
        access(**{"event.outcome": "failure", "http.response.status_code": 400,
                  "http.response.body.bytes": 157, "nginx.access.request":
                  "\\x16\\x03\\x01\\x00\\xC8\\x01\\x00\\x00\\xC4\\x03\\x03"}),
        id="binary-request"),
    pytest.param(  # Apache's %r when the client sent nothing before timing out
        f'203.0.113.7 - - {WHEN} "-" 408 -',
        access(**{"event.outcome": "failure", "http.response.status_code": 408}),
        id="no-request"),
    pytest.param(  # nginx's default `main` format adds X-Forwarded-For
        f'10.45.0.10 - - {WHEN} "GET / HTTP/1.1" 200 612 "-" "Mozilla/5.0" "203.0.113.7"',
        ACCESS | GET_ROOT | {"source.address": "10.45.0.10", "source.ip": "10.45.0.10",
                             "http.response.status_code": 200, "http.response.body.bytes": 612,
                             "user_agent.original": "Mozilla/5.0",
                             "nginx.access.forwarded_for": "203.0.113.7"}, id="main-xff"),
    pytest.param(  # extra fields after the combined ones ($request_time) are left as logged
        f'203.0.113.7 - - {WHEN} "GET / HTTP/1.1" 200 612 "-" "Mozilla/5.0" 0.004',
        access(**GET_ROOT, **{"http.response.status_code": 200,
                              "http.response.body.bytes": 612,
                              "user_agent.original": "Mozilla/5.0"}), id="request-time"),
    pytest.param(  # a proxy request in absolute form, and a HTTP/0.9-style request line
        f'203.0.113.7 - - {WHEN} "CONNECT http://example.com:443/x?y=1 HTTP/1.1" 405 0',
        access(**{"event.outcome": "failure", "http.response.status_code": 405,
                  "http.response.body.bytes": 0, "http.request.method": "CONNECT",
                  "url.original": "http://example.com:443/x?y=1", "http.version": "1.1",
                  "url.scheme": "http", "url.domain": "example.com", "url.path": "/x",
                  "url.query": "y=1"}), id="absolute-url"),
    pytest.param(
        f'203.0.113.7 - - {WHEN} "GET /index.html" 200 12',
        access(**{"event.outcome": "success", "http.response.status_code": 200,
                  "http.response.body.bytes": 12, "http.request.method": "GET",
                  "url.original": "/index.html", "url.path": "/index.html"}), id="http09"),
    pytest.param(  # Apache with HostnameLookups on logs a name, nginx a unix socket
        f'crawler.example.net - - {WHEN} "GET / HTTP/1.1" 200 1',
        ACCESS | GET_ROOT | {"source.address": "crawler.example.net",
                             "source.domain": "crawler.example.net",
                             "http.response.status_code": 200,
                             "http.response.body.bytes": 1}, id="hostname-client"),
    pytest.param(
        f'unix: - - {WHEN} "GET / HTTP/1.1" 200 1',
        ACCESS | GET_ROOT | {"source.address": "unix:", "http.response.status_code": 200,
                             "http.response.body.bytes": 1}, id="unix-socket"),
])
def test_access_line_variants(line: str, expected: dict[str, Any]) -> None:
    assert parsers.get("nginx").parse(line.encode()) == expected


def test_a_10kb_user_agent_and_invalid_utf8_are_kept() -> None:
    agent = "Mozilla/5.0 " + "A" * 10_240
    parsed = parsers.get("nginx").parse(
        f'203.0.113.7 - - {WHEN} "GET /tra-cuu?ten='.encode() + b"Nguy\xe1\xbb\x85n\xff"
        + f' HTTP/1.1" 200 1 "-" "{agent}"'.encode())
    assert parsed["user_agent.original"] == agent
    assert parsed["url.query"] == "ten=Nguyễn\\xff"


def test_nginx_error_line() -> None:
    assert parsers.get("nginx").parse(NGINX_ERROR) == {
        "@timestamp": "2026-11-22T10:00:00", "event.category": ["web"],
        "event.type": ["error"], "event.dataset": "nginx.error", "log.level": "error",
        "message": NGINX_ERROR.decode()[45:], "process.pid": 1234,
        "process.thread.id": 1234, "nginx.error.connection_id": 5678,
        "source.address": "203.0.113.7", "source.ip": "203.0.113.7",
        "url.domain": "dichvucong.sonha.gov.vn", "http.request.method": "GET",
        "url.original": "/wp-login.php", "url.path": "/wp-login.php", "http.version": "1.1"}


@pytest.mark.parametrize(("line", "expected"), [
    pytest.param(  # no request yet: `server` is the listening address, not a name
        "2026/11/22 10:00:00 [info] 99#99: *7 SSL_do_handshake() failed (SSL: error:0A00006C:"
        "SSL routines::bad key share) while SSL handshaking, client: 198.51.100.4, server: "
        "0.0.0.0:443",
        {"log.level": "info", "nginx.error.connection_id": 7, "source.address": "198.51.100.4",
         "source.ip": "198.51.100.4"}, id="handshake"),
    pytest.param(  # no server_name matched (`_`): the Host header names the site
        '2026/11/22 10:00:00 [error] 99#99: *7 access forbidden by rule, client: 198.51.100.4, '
        'server: _, request: "GET /.env HTTP/1.1", host: "portal.sonha.gov.vn:8443", '
        'referrer: "http://portal.sonha.gov.vn/"',
        {"log.level": "error", "nginx.error.connection_id": 7, "source.address": "198.51.100.4",
         "source.ip": "198.51.100.4", "url.domain": "portal.sonha.gov.vn",
         "http.request.method": "GET", "url.original": "/.env", "url.path": "/.env",
         "http.version": "1.1", "http.request.referrer": "http://portal.sonha.gov.vn/"},
        id="catch-all-server"),
    pytest.param(  # a decoded path that pretends to carry the context: the real one is last
        '2026/11/22 10:00:00 [error] 99#99: *7 open() "/srv/a, client: 6.6.6.6, server: x" '
        'failed (2: No such file or directory), client: 198.51.100.4, server: '
        'portal.sonha.gov.vn, request: "GET /a%2C%20client HTTP/1.1"',
        {"log.level": "error", "nginx.error.connection_id": 7, "source.address": "198.51.100.4",
         "source.ip": "198.51.100.4", "url.domain": "portal.sonha.gov.vn",
         "http.request.method": "GET", "url.original": "/a%2C%20client",
         "url.path": "/a%2C%20client", "http.version": "1.1"}, id="spoofed-context"),
    pytest.param(
        "2026/11/22 10:00:00 [emerg] 1#1: bind() to 0.0.0.0:80 failed (98: Address already in "
        "use)", {"log.level": "emerg"}, id="no-client"),
])
def test_nginx_error_variants(line: str, expected: dict[str, Any]) -> None:
    parsed = parsers.get("nginx").parse(line.encode())
    assert parsed == {"@timestamp": "2026-11-22T10:00:00", "event.category": ["web"],
                      "event.type": ["error"], "event.dataset": "nginx.error",
                      "message": line.partition(": ")[2].removeprefix("*7 "),
                      "process.pid": parsed["process.pid"],
                      "process.thread.id": parsed["process.thread.id"]} | expected


def test_apache_24_error_line() -> None:
    assert parsers.get("apache").parse(APACHE_ERROR) == {
        "@timestamp": "2026-11-22T10:00:00.123456", "event.category": ["web"],
        "event.type": ["error"], "event.dataset": "apache.error", "log.level": "error",
        "message": "AH00126: Invalid URI in request GET /../../etc/passwd HTTP/1.1",
        "apache.error.module": "core", "process.pid": 1234, "process.thread.id": 140000,
        "error.code": "AH00126", "source.address": "203.0.113.7", "source.ip": "203.0.113.7",
        "source.port": 51234}


@pytest.mark.parametrize(("line", "expected"), [
    pytest.param(
        "[Sun Nov 22 10:00:00 2026] [error] [client 1.2.3.4] File does not exist: "
        "/var/www/favicon.ico",
        {"@timestamp": "2026-11-22T10:00:00", "log.level": "error",
         "message": "File does not exist: /var/www/favicon.ico", "source.address": "1.2.3.4",
         "source.ip": "1.2.3.4"}, id="apache-2.2"),
    pytest.param(  # 2.2 with IPv6: no port, so the last group is the address's own
        "[Sun Nov 22 10:00:00 2026] [error] [client 2001:db8::1:8080] script not found",
        {"@timestamp": "2026-11-22T10:00:00", "log.level": "error",
         "message": "script not found", "source.address": "2001:db8::1:8080",
         "source.ip": "2001:db8::1:8080"}, id="apache-2.2-ipv6"),
    pytest.param(  # 2.4 with IPv6: the port is glued on with one more colon
        "[Sun Nov 22 10:00:00.5 2026] [authz_core:error] [pid 77] [client 2001:db8::1:8080] "
        "AH01630: client denied by server configuration: /srv/www/.git, referer: "
        "http://portal.sonha.gov.vn/",
        {"@timestamp": "2026-11-22T10:00:00.500000", "log.level": "error",
         "apache.error.module": "authz_core", "process.pid": 77, "error.code": "AH01630",
         "message": "AH01630: client denied by server configuration: /srv/www/.git, referer: "
                    "http://portal.sonha.gov.vn/",
         "source.address": "2001:db8::1", "source.ip": "2001:db8::1", "source.port": 8080,
         "http.request.referrer": "http://portal.sonha.gov.vn/"}, id="apache-2.4-ipv6"),
    pytest.param(  # debug levels add the source file; an OS error comes before the client
        "[Sun Nov  1 09:05:00.000001 2026] [core:trace3] [pid 5:tid 6] request.c(309): "
        "(13)Permission denied: [client 10.45.1.5:40000] AH00035: access to / denied",
        {"@timestamp": "2026-11-01T09:05:00.000001", "log.level": "trace3",
         "apache.error.module": "core", "process.pid": 5, "process.thread.id": 6,
         "log.origin.file.name": "request.c", "log.origin.file.line": 309,
         "error.message": "(13)Permission denied", "error.code": "AH00035",
         "message": "AH00035: access to / denied", "source.address": "10.45.1.5",
         "source.ip": "10.45.1.5", "source.port": 40000}, id="apache-2.4-debug"),
])
def test_apache_error_variants(line: str, expected: dict[str, Any]) -> None:
    assert parsers.get("apache").parse(line.encode()) == {
        "event.category": ["web"], "event.type": ["error"],
        "event.dataset": "apache.error"} | expected


ACCESS_SHAPE = 'client ident user [time] "request" status size ...'


@pytest.mark.parametrize(("name", "raw", "reason"), [
    ("nginx", b"hello world",
     f"neither an nginx access line ({ACCESS_SHAPE}) nor an nginx error line "
     f"(yyyy/mm/dd hh:mm:ss [level] pid#tid: message)"),
    ("apache", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\xff",
     f"neither an apache access line ({ACCESS_SHAPE}) nor an apache error line "
     f"([Www Mmm dd hh:mm:ss yyyy] [module:level] [pid N] message)"),
    ("nginx", b"203.0.113.7 - - [22/Nov/2026:10:0", "nginx access line: the [time] is not closed"),
    ("nginx", b"203.0.113.7 - - [22/Nov/2026:10:00:00 +0700] GET / HTTP/1.1 200 1",
     'nginx access line: no quoted "request" after the [time]'),
    ("nginx", b'203.0.113.7 - - [22/Nov/2026:10:00:00 +0700] "GET /index.html HT',
     "nginx access line: unterminated quoted request"),
    ("apache", b'203.0.113.7 - - [22/Nov/2026:10:00:00 +0700] "GET / HTTP/1.1"',
     "apache access line: no 3-digit status after the request"),
    ("nginx", b'203.0.113.7 - - [22/Nov/2026:10:00:00 +0700] "GET / HTTP/1.1" 200',
     "nginx access line: no size (bytes or -) after the status"),
    ("nginx", b'203.0.113.7 - - [22/Nov/2026:10:00:00 +0700] "GET / HTTP/1.1" 200 1 "-" "Mozi',
     "nginx access line: unterminated quoted field after the size (referrer, user agent, ...)"),
    ("nginx", b'203.0.113.7 - - [22/11/2026:10:00:00 +0700] "GET / HTTP/1.1" 200 1',
     "access time '22/11/2026:10:00:00 +0700' is not dd/Mmm/yyyy:hh:mm:ss +hhmm"),
    ("nginx", b'203.0.113.7 - - [31/Nov/2026:10:00:00 +0700] "GET / HTTP/1.1" 200 1',
     "access time '31/Nov/2026:10:00:00 +0700' is not a real time (day is out of range for "
     "month)"),
    ("nginx", b"2026/11/22 10:00:00 [error] 12",
     "nginx error line: expected yyyy/mm/dd hh:mm:ss [level] pid#tid: message"),
    ("nginx", b"2026/13/22 10:00:00 [error] 1#1: x",
     "nginx error time '2026/13/22 10:00:00' is not a real time (month must be in 1..12)"),
    ("apache", b"[Sun Nov 22 10:00:00",
     "apache error line: expected [Www Mmm dd hh:mm:ss yyyy] [module:level] [pid N] message"),
    ("apache", b"[Sun Noe 22 10:00:00 2026] [error] x",
     "apache error time 'Noe 22 10:00:00 2026' is not a real time (no month 'Noe')"),
    ("apache", b"[Sun Feb 30 10:00:00 2026] [error] x",
     "apache error time 'Feb 30 10:00:00 2026' is not a real time (day is out of range for "
     "month)"),
])
def test_bad_lines_are_explained(name: str, raw: bytes, reason: str) -> None:
    with pytest.raises(ParseError) as caught:
        parsers.get(name).parse(raw)
    assert str(caught.value) == reason


def test_end_to_end_through_the_file_reader_and_the_normaliser(tmp_path: Path) -> None:
    path = tmp_path / "access.log"
    path.write_bytes(COMBINED + b"\n" + NGINX_ERROR + b"\n"
                     + b'203.0.113.7 - - [22/Nov/2026:10:00:00 +0700] "GET /x HT\n')
    normaliser = EventNormaliser(HCM, timedelta(days=1))
    records = list(read_file(path, parsers.get("nginx"), 1 << 20))
    assert [r.error for r in records] == [None, None,
                                          "nginx access line: unterminated quoted request"]
    access_event, error_event = (normaliser.normalise(r, NOW) for r in records[:2])
    # +07:00 from the line itself; the error log's zone-less time read in Asia/Ho_Chi_Minh.
    assert access_event["@timestamp"] == error_event["@timestamp"] == (
        "2026-11-22T03:00:00.000000Z")
    assert access_event["log.original"] == COMBINED.decode()
    assert access_event["log.file.path"] == str(path.resolve())
    assert (access_event["event.dataset"], error_event["event.dataset"]) == (
        "nginx.access", "nginx.error")
    assert access_event["event.category"] == ["web"] and error_event["event.type"] == ["error"]
    assert access_event["event.id"] != error_event["event.id"]
    apache_path = tmp_path / "error_log"
    apache_path.write_bytes(APACHE_ERROR + b"\n")
    (record,) = read_file(apache_path, parsers.get("apache"), 1 << 20)
    assert normaliser.normalise(record, NOW)["@timestamp"] == "2026-11-22T03:00:00.123456Z"
