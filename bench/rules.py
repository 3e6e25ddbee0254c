"""Benchmark: events/s of the rule engine (`RuleEngine.detect`) on one core.

No store, no parsing: N mixed flat ECS events (default 1,000,000: network flows, web access,
Windows Security, Sysmon process creation, Linux auth, DNS), built in memory from a few thousand
seeded templates before any timing starts, are passed to `RuleEngine.detect` in pipeline-sized
batches, once against the shipped rules (`rules/sigma`) and once against M generated Sigma rules
(default 2,000) shaped like the public SigmaHQ corpus: mostly Windows process_creation
(`Image|endswith`, `OriginalFileName`, `CommandLine|contains[|all]`, `ParentImage`, `not
filter_*`), Security/System `EventID` rules, PowerShell script blocks, Sysmon network, DNS, file
and registry events, Linux auth, web server, flow/firewall, DNS rules, a few `re` and keyword
rules. A small share of the events (`--attack-rate`) are made from what a generated rule looks
for, so that a realistic fraction matches. Prints one JSON line of figures; diagnostics (rule
index keys per logsource, candidates per event kind, the profile) go to stderr. Usage:
python bench/rules.py [--events N] [--rules M] [--seed S] [--batch B] [--profile] [--details]
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import hashlib
import os
import platform
import pstats
import random
import resource
import sys
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
# Run as a script, this file's folder comes first on sys.path, and its name would shadow the
# `rules` package it measures.
if sys.path and Path(sys.path[0] or ".").resolve() == HERE:
    sys.path[0] = str(ROOT)

from rules.engine import RuleEngine  # noqa: E402
from rules.field_view import FieldView  # noqa: E402
from rules.index_keys import BROAD_FIELDS  # noqa: E402
from rules.sigma_rules import (  # noqa: E402
    SHIPPED_RULES,
    DetectionRule,
    RuleSet,
    load_rule_paths,
    load_rule_text,
)

Event = dict[str, Any]
# Event kinds and their share of the stream (a provincial SOC's mix).
KINDS: dict[str, float] = {"flow": 0.35, "web": 0.20, "security": 0.15, "sysmon": 0.10,
                           "auth": 0.10, "dns": 0.10}
TEMPLATES = 5000
# Generated rules per logsource family, as shares of --rules (process_creation takes the rest).
FAMILIES: dict[str, float] = {
    "security": 0.09, "system": 0.03, "ps_script": 0.06, "win_network": 0.03, "win_dns": 0.02,
    "file_event": 0.04, "sysmon_registry": 0.02, "linux": 0.05, "web": 0.07, "flow": 0.04,
    "firewall": 0.01, "dns": 0.02, "proxy": 0.01, "keywords": 0.01}
BATCH = 500  # soc.config's default pipeline batch_size
PROFILE_EVENTS = 100_000
SAMPLE_EVENTS = 100_000

# --- vocabulary -------------------------------------------------------------------------------

SYLLABLES = ("ka", "lo", "mi", "zen", "tar", "vex", "qu", "or", "bi", "nex", "sol", "dra", "pi",
             "mor", "ul", "tek", "ra", "yo", "fi", "gar", "shi", "ven", "cro", "plu", "ix", "zu")
LOLBINS = (
    "certutil.exe", "bitsadmin.exe", "mshta.exe", "regsvr32.exe", "rundll32.exe", "wmic.exe",
    "powershell.exe", "pwsh.exe", "cmd.exe", "cscript.exe", "wscript.exe", "msiexec.exe",
    "schtasks.exe", "reg.exe", "net.exe", "net1.exe", "sc.exe", "vssadmin.exe", "wevtutil.exe",
    "bcdedit.exe", "whoami.exe", "nltest.exe", "dsquery.exe", "msbuild.exe", "installutil.exe",
    "regasm.exe", "regsvcs.exe", "odbcconf.exe", "forfiles.exe", "pcalua.exe", "cmstp.exe",
    "mavinject.exe", "msdt.exe", "hh.exe", "control.exe", "esentutl.exe", "expand.exe",
    "extrac32.exe", "findstr.exe", "ftp.exe", "ieexec.exe", "makecab.exe", "replace.exe",
    "xwizard.exe", "csc.exe", "vbc.exe", "jsc.exe", "diskshadow.exe", "dnscmd.exe",
    "ntdsutil.exe", "procdump.exe", "psexec.exe", "psexesvc.exe", "adfind.exe", "rclone.exe",
    "ngrok.exe", "plink.exe", "anydesk.exe", "7z.exe", "winrar.exe", "rar.exe", "curl.exe",
    "tar.exe", "attrib.exe", "icacls.exe", "takeown.exe", "netsh.exe", "route.exe", "arp.exe",
    "systeminfo.exe", "tasklist.exe", "taskkill.exe", "quser.exe", "qwinsta.exe", "klist.exe",
    "setspn.exe", "nslookup.exe", "cipher.exe", "fsutil.exe", "wbadmin.exe", "auditpol.exe",
    "secedit.exe", "gpresult.exe", "sdbinst.exe", "mmc.exe", "eventvwr.exe", "fodhelper.exe",
    "computerdefaults.exe", "sdclt.exe", "wsreset.exe", "dism.exe", "pnputil.exe", "cdb.exe",
    "dotnet.exe", "wsl.exe", "bash.exe", "sqlcmd.exe", "wuauclt.exe", "conhost.exe")
PARENTS = ("winword.exe", "excel.exe", "powerpnt.exe", "outlook.exe", "msaccess.exe",
           "mspub.exe", "onenote.exe", "w3wp.exe", "httpd.exe", "tomcat9.exe", "java.exe",
           "sqlservr.exe", "wmiprvse.exe", "mshta.exe", "wscript.exe", "cscript.exe",
           "acrord32.exe", "foxitreader.exe", "hwp.exe", "teams.exe")
SUSPICIOUS_ARGS = (
    " -urlcache", " -split", " -decode", " -encode", "/transfer ", " -enc ", " -EncodedCommand",
    " -w hidden", "DownloadString(", "DownloadFile(", "IEX(", "Invoke-Expression",
    "FromBase64String", "Net.WebClient", "Start-BitsTransfer", "javascript:", "vbscript:",
    "RunHTMLApplication", "scrobj.dll", "/i:http", "comsvcs.dll", "MiniDump", " #24", "lsass",
    "sekurlsa::", "privilege::debug", "shadowcopy delete", "delete shadows",
    "resize shadowstorage", "recoveryenabled no", "bootstatuspolicy ignoreallfailures",
    " cl Security", " cl System", "Set-MpPreference", "Add-MpPreference", "-ExclusionPath",
    "DisableRealtimeMonitoring", "firewall set opmode disable", "set allprofiles state off",
    "localgroup administrators", " /add", "user /domain", "domain admins", "domain_trusts",
    "/dclist:", "objectcategory=computer", "trustdmp", " -ma ", "ntds.dit", "save hklm\\sam",
    "hklm\\security", "\\CurrentVersion\\Run", "binpath=", "/create /tn", "/sc onlogon",
    "/ru system", "process call create", "/node:", "Win32_ShadowCopy", "AppData\\Local\\Temp\\",
    "\\Users\\Public\\", ".hta", ".vbs", "pastebin.com", "raw.githubusercontent.com",
    "transfer.sh", "ngrok.io", "mimikatz", "rubeus", "kerberoast", "asreproast",
    "Invoke-Mimikatz", "Invoke-ShareFinder", "Get-DomainUser", "PowerView", "SharpHound",
    "--CollectionMethod", "tunnel --url", "rclone copy", " mega:", " -hp", "cipher /w:",
    "usn deletejournal", "auditpol /clear", "/grant everyone:F", "attrib +h +s",
    "url.dll,FileProtocolHandler", "zipfldr.dll,RouteTheCall", "advpack.dll,LaunchINFSection",
    "pcwutl.dll,LaunchApplication", "shell32.dll,ShellExec_RunDLL",
    "setupapi.dll,InstallHinfSection", "desk.cpl,InstallScreenSaver", "-nop -w hidden",
    "Reflection.Assembly", "-noni -ep bypass", "AmsiUtils", "VirtualAlloc", "/c ping -n")
PS_SCRIPT = ("Invoke-Mimikatz", "Get-ADComputer", "New-Object Net.Sockets.TCPClient",
             "[System.Convert]::FromBase64String", "AmsiUtils", "amsiInitFailed", "VirtualAlloc",
             "Invoke-Shellcode", "Get-GPPPassword", "Invoke-Kerberoast", "Add-Type -TypeDefinition",
             "Get-WmiObject Win32_Shadowcopy", "Set-MpPreference", "Compress-Archive",
             "Invoke-WebRequest", "DownloadString", "Invoke-SMBExec", "Get-Keystrokes",
             "Out-Minidump", "Invoke-DCSync", "Get-LAPSPasswords", "Export-PfxCertificate")
URL_ATTACKS = ("../", "..%2f", "%2e%2e", "union select", "<script", "cmd=", "/wp-admin",
               "/.env", "/.git/", "phpunit", "eval-stdin.php", "/cgi-bin/", "jndi:", "${",
               "/actuator/", "/boaform/", "wget+http", "chmod+777", "xdebug_session", "/solr/",
               "/owa/auth/", "autodiscover.json", "/ecp/", "/api/jsonws/invoke",
               "Telerik.Web.UI.WebResource.axd", "/tmui/login.jsp", "/remote/fgt_lang",
               "/dana-na/", "aspnet_client", "xp_cmdshell", "sleep(", "benchmark(",
               "information_schema", "waitfor delay", "/etc/passwd", "win.ini", "onerror=",
               "alert(", "/shell?", "/vendor/", "php://input", "/console/", "base64_decode(")
ATTACK_AGENTS = ("sqlmap", "nikto", "masscan", "zgrab", "nuclei", "gobuster", "dirbuster",
                 "python-requests", "go-http-client", "libwww-perl", "wpscan", "hydra",
                 "nmap scripting engine", "acunetix", "netsparker", "fuzz faster u fool")
BAD_TLDS = (".top", ".xyz", ".onion", ".duckdns.org", ".ngrok.io", ".serveo.net", ".tk",
            ".pw", ".bit", ".no-ip.org", ".ddns.net", ".hopto.org", ".zapto.org")
BAD_PORTS = (4444, 1337, 31337, 6667, 6666, 9001, 9030, 8888, 5555, 4899, 5900, 5901, 1080,
             3128, 2222, 23, 2323, 445, 3389, 135, 139, 5985, 5986, 1433, 3306, 11211, 27017,
             6379, 2375, 10250, 6881, 51820, 1194)
AUTH_KEYWORDS = ("POSSIBLE BREAK-IN ATTEMPT", "error: kex_exchange_identification",
                 "Did not receive identification string", "Bad protocol version identification",
                 "COMMAND=/bin/bash", "COMMAND=/usr/bin/su", "/dev/tcp/", "base64 -d",
                 "chmod 777 /tmp", "nc -e /bin/sh", "authorized_keys", "pam_unix(sudo:auth)",
                 "maximum authentication attempts exceeded", "Unable to negotiate with")
USERS = ("nguyenvana", "tranthib", "lethic", "phamvand", "hoangthie", "vanthu", "ketoan01",
         "admin", "quantri", "vuongquoch", "dangthik", "buivanl", "doanthim", "ngothin")
WIN_HOSTS = (*(f"{unit}-{kind}-{n:02d}" for unit in ("snv", "stc", "sxd", "syt", "ubnd")
                for kind in ("pc", "ws") for n in range(1, 9)), "dc-01", "dc-02", "fs-01")
LINUX_HOSTS = ("dvc-web-01", "dvc-web-02", "motcua-app-01", "qlvb-app-01", "mail-01",
               "lgsp-01", "lgsp-02", "db-01", "bastion-01")
DOMAIN = "SO-NOI-VU"
ORGANIZATIONS = tuple(f"000.00.{n:02d}.H45" for n in range(0, 30))
SECURITY_CODES = {"4624": 35, "4634": 15, "4625": 8, "4672": 10, "4688": 12, "4648": 4,
                  "4768": 4, "4769": 6, "4776": 4, "5140": 2}
SECURITY_META: dict[str, tuple[list[str], list[str], str, str]] = {
    "4624": (["authentication"], ["start"], "logged-in", "success"),
    "4625": (["authentication"], ["start"], "logon-failed", "failure"),
    "4634": (["authentication"], ["end"], "logged-out", "success"),
    "4648": (["authentication"], ["start"], "logged-in-explicit", "success"),
    "4672": (["iam"], ["admin"], "logged-in-special", "success"),
    "4688": (["process"], ["start"], "created-process", "success"),
    "4768": (["authentication"], ["start"], "kerberos-authentication-ticket-requested",
             "success"),
    "4769": (["authentication"], ["start"], "kerberos-service-ticket-requested", "success"),
    "4776": (["authentication"], ["start"], "credential-validated", "success"),
}
SYSTEM32 = "C:\\Windows\\System32\\"
SYSTEM_DIRS = (SYSTEM32, "C:\\Windows\\SysWOW64\\")
ODD_DIRS = ("C:\\Users\\Public\\", "C:\\ProgramData\\", "C:\\Windows\\Temp\\", "C:\\PerfLogs\\",
            "C:\\Users\\{user}\\AppData\\Local\\Temp\\", "C:\\Users\\{user}\\Downloads\\")
EXPLORER = "C:\\Windows\\explorer.exe"
SVCHOST = SYSTEM32 + "svchost.exe"
CHROME = "C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe"
OFFICE = "C:\\Program Files\\Microsoft Office\\root\\Office16\\"
# Benign process creations: (image, OriginalFileName, command line, parent image, weight).
BENIGN_PROCESSES: tuple[tuple[str, str, str, str, int], ...] = (
    (SVCHOST, "svchost.exe", "C:\\Windows\\system32\\svchost.exe -k {svc} -p -s {svcname}",
     SYSTEM32 + "services.exe", 14),
    (CHROME, "chrome.exe", '"{image}" --type=renderer --lang=vi --renderer-client-id={n} '
     "--field-trial-handle={n},i,{hex}", CHROME, 14),
    ("C:\\Program Files (x86)\\Microsoft\\Edge\\Application\\msedge.exe", "msedge.exe",
     '"{image}" --single-argument https://dichvucong.gov.vn/p/home/dvc-tthc-{n}.html', EXPLORER,
     6),
    (EXPLORER, "EXPLORER.EXE", "C:\\Windows\\Explorer.EXE", SYSTEM32 + "userinit.exe", 2),
    (OFFICE + "WINWORD.EXE", "WinWord.exe",
     '"{image}" /n "C:\\Users\\{user}\\Documents\\cong_van_{n}.docx" /o ""', EXPLORER, 5),
    (OFFICE + "EXCEL.EXE", "Excel.exe",
     '"{image}" "C:\\Users\\{user}\\Downloads\\bao_cao_{n}.xlsx"', EXPLORER, 4),
    (OFFICE + "OUTLOOK.EXE", "Outlook.exe", '"{image}" /recycle', EXPLORER, 2),
    (SYSTEM32 + "conhost.exe", "CONHOST.EXE", "\\??\\C:\\Windows\\system32\\conhost.exe "
     "0xffffffff -ForceV1", SYSTEM32 + "cmd.exe", 8),
    (SYSTEM32 + "taskhostw.exe", "taskhostw.exe", "taskhostw.exe {hex}", SVCHOST, 4),
    (SYSTEM32 + "RuntimeBroker.exe", "RuntimeBroker.exe", "{image} -Embedding", SVCHOST, 4),
    (SYSTEM32 + "dllhost.exe", "dllhost.exe", "C:\\Windows\\system32\\DllHost.exe "
     "/Processid:{{{guid}}}", SVCHOST, 4),
    (SYSTEM32 + "wbem\\WmiPrvSE.exe", "Wmiprvse.exe",
     "C:\\Windows\\system32\\wbem\\wmiprvse.exe -secured -Embedding", SVCHOST, 3),
    (SYSTEM32 + "cmd.exe", "Cmd.Exe", 'C:\\Windows\\system32\\cmd.exe /c "C:\\Scripts\\sao_luu_{n}'
     '.bat"', SVCHOST, 4),
    (SYSTEM32 + "WindowsPowerShell\\v1.0\\powershell.exe", "PowerShell.EXE",
     'powershell.exe -NoLogo -File "C:\\Program Files\\Agent\\inventory_{n}.ps1"', SVCHOST, 3),
    (SYSTEM32 + "rundll32.exe", "RUNDLL32.EXE", "C:\\Windows\\system32\\rundll32.exe "
     "C:\\Windows\\system32\\shell32.dll,Control_RunDLL desk.cpl", EXPLORER, 2),
    (SYSTEM32 + "SearchProtocolHost.exe", "searchprotocolhost.exe",
     '"{image}" Global\\UsGthrFltPipeMssGthrPipe{n}_ Global\\UsGthrCtrlFltPipeMssGthrPipe{n}',
     SYSTEM32 + "SearchIndexer.exe", 3),
    (SYSTEM32 + "backgroundTaskHost.exe", "backgroundTaskHost.exe",
     '"{image}" -ServerName:BackgroundTaskHost.WebAccountProvider', SVCHOST, 2),
    ("C:\\ProgramData\\Microsoft\\Windows Defender\\Platform\\4.18.24090.11-0\\MpCmdRun.exe",
     "MpCmdRun.exe", '"{image}" SignatureUpdate -ScheduleJob -RestrictPrivileges', SVCHOST, 2),
    (SYSTEM32 + "gpupdate.exe", "GPUpdate.exe", "gpupdate.exe /target:computer", SVCHOST, 1),
    (SYSTEM32 + "msiexec.exe", "msiexec.exe", "C:\\Windows\\system32\\msiexec.exe /V",
     SYSTEM32 + "services.exe", 1),
    (SYSTEM32 + "sc.exe", "sc.exe", "sc.exe query {svcname}", SYSTEM32 + "cmd.exe", 1),
    (SYSTEM32 + "reg.exe", "reg.exe", 'reg query "HKLM\\SOFTWARE\\VNPT\\Agent{n}" /v Version',
     SYSTEM32 + "cmd.exe", 1),
    (SYSTEM32 + "net.exe", "net.exe", "net use Z: \\\\fs-01\\phong_{n}", EXPLORER, 1),
    ("C:\\Users\\{user}\\AppData\\Local\\ZaloPC\\Zalo.exe", "Zalo.exe",
     '"{image}" --type=gpu-process --gpu-preferences={hex}', EXPLORER, 4),
    ("C:\\Program Files\\UltraViewer\\UltraViewer_Desktop.exe", "UltraViewer_Desktop.exe",
     '"{image}" /silent', EXPLORER, 1),
    ("C:\\Program Files\\Microsoft OneDrive\\OneDrive.exe", "OneDrive.exe",
     '"{image}" /background', EXPLORER, 2),
    (SYSTEM32 + "schtasks.exe", "schtasks.exe", "schtasks.exe /query /fo csv /nh",
     SYSTEM32 + "cmd.exe", 1),
    (SYSTEM32 + "ipconfig.exe", "ipconfig.exe", "ipconfig /all", SYSTEM32 + "cmd.exe", 1),
    ("C:\\Program Files\\Java\\jre1.8.0_{n}\\bin\\java.exe", "java.exe",
     "java -Xmx2g -jar C:\\app\\motcua-{n}.jar", SYSTEM32 + "services.exe", 1),
    (SYSTEM32 + "inetsrv\\w3wp.exe", "w3wp.exe",
     'c:\\windows\\system32\\inetsrv\\w3wp.exe -ap "DVC_{n}" -v "v4.0"', SVCHOST, 1),
)
SERVICES = ("netsvcs", "LocalService", "NetworkService", "DcomLaunch", "RPCSS", "utcsvc")
SERVICE_NAMES = ("Schedule", "gpsvc", "BITS", "wuauserv", "Dnscache", "LanmanWorkstation",
                 "EventLog", "Winmgmt", "CryptSvc", "TrkWks", "UsoSvc")
WEB_PATHS = ("/", "/dichvucong/hoso", "/dichvucong/tracuu", "/api/v1/tthc", "/tin-tuc/{slug}",
             "/van-ban/{n}", "/static/js/app.{hex}.js", "/static/css/main.{hex}.css",
             "/images/banner_{n}.jpg", "/favicon.ico", "/login", "/portal/home",
             "/api/v1/hoso/{n}/trangthai", "/thu-tuc-hanh-chinh/{slug}", "/lien-he")
WEB_QUERIES = ("", "", "", "?id={n}", "?page={small}", "?ma_hs=H45.{n}", "?q=giay+phep+{slug}",
               "?lang=vi", "?token={hex}")
SLUGS = ("cap-giay-phep-xay-dung", "dang-ky-ho-kinh-doanh", "chung-thuc-ban-sao",
         "cap-doi-can-cuoc", "dang-ky-khai-sinh", "thong-bao-lich-tiep-dan", "ket-qua-tuyen-sinh")
BROWSERS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/{v}.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/{v}.0.0.0 Safari/537.36 Edg/{v}.0.0.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; SM-A546E) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/{v}.0.0.0 Mobile Safari/537.36 Zalo android/12100",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:{v}.0) Gecko/20100101 Firefox/{v}.0",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (compatible; coccocbot-web/1.0; +http://help.coccoc.com/searchengine)")
DOMAINS = ("www.google.com", "dichvucong.gov.vn", "mail.{prov}.gov.vn", "login.microsoftonline.com",
           "settings-win.data.microsoft.com", "zalo.me", "chat.zalo.me", "update.bkav.com",
           "www.facebook.com", "static.xx.fbcdn.net", "api.{prov}.gov.vn", "vnexpress.net",
           "ctldl.windowsupdate.com", "{word}.cdn.vnpt.vn", "ocsp.digicert.com", "{word}.gov.vn",
           "time.windows.com", "www.youtube.com", "clients4.google.com", "dvc.{prov}.gov.vn")
COMMON_PORTS = {443: 40, 80: 12, 53: 14, 123: 3, 445: 4, 389: 3, 3389: 2, 22: 2, 25: 1, 587: 1,
                993: 1, 8080: 3, 8443: 2, 1433: 1, 3306: 1, 5432: 1, 137: 1, 161: 1, 514: 1,
                9200: 1, 5985: 1}


def _weighted(table: Mapping[Any, float]) -> tuple[list[Any], list[float]]:
    return list(table), list(table.values())


# --- generated rules --------------------------------------------------------------------------


@dataclass
class Generated:
    """One generated rule: its Sigma document, and (for the event kinds in the mix) the event
    fields that make it match (`witness`, overlaid on a template of `kind`)."""

    document: dict[str, Any]
    family: str
    kind: str | None = None
    witness: dict[str, Any] | None = None


class RuleFactory:
    """Seeded Sigma rules of the shapes the public SigmaHQ corpus is made of."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.serial = 0

    # vocabulary helpers

    def word(self, low: int = 2, high: int = 4) -> str:
        return "".join(self.rng.choice(SYLLABLES) for _ in range(self.rng.randint(low, high)))

    def tool(self) -> str:
        """An executable name: a living-off-the-land binary, else a made-up hack tool."""
        if self.rng.random() < 0.45:
            return self.rng.choice(LOLBINS)
        return self.hacktool()

    def tools(self, low: int, high: int) -> list[str]:
        return list(dict.fromkeys(self.tool() for _ in range(self.rng.randint(low, high))))

    def hacktool(self) -> str:
        """A made-up hack tool's executable name (rules that need no command line)."""
        return self.word() + self.rng.choice(("", "", "64", "_x86", "-cli")) + ".exe"

    def hacktools(self, low: int, high: int) -> list[str]:
        return list(dict.fromkeys(self.hacktool() for _ in range(self.rng.randint(low, high))))

    def argument(self) -> str:
        rng = self.rng
        if rng.random() < 0.45:
            return rng.choice(SUSPICIOUS_ARGS)
        word, pick = self.word(), rng.random()
        if pick < 0.25:
            return f" -{word}"
        if pick < 0.4:
            return f" /{word}"
        if pick < 0.55:
            return f"{word.title()}.dll,{self.word().title()}"
        if pick < 0.7:
            return f"Invoke-{word.title()}"
        if pick < 0.85:
            return f"\\{word}\\"
        return f"{word}{rng.choice(BAD_TLDS)}"

    def arguments(self, low: int, high: int) -> list[str]:
        return list(dict.fromkeys(self.argument() for _ in range(self.rng.randint(low, high))))

    def odd_dir(self) -> str:
        return self.rng.choice(ODD_DIRS).format(user=self.rng.choice(USERS))

    def domain(self) -> str:
        return self.word() + self.rng.choice(BAD_TLDS)

    def network(self) -> str:
        rng = self.rng
        return f"{rng.randint(11, 223)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.0/24"

    def document(self, title: str, logsource: dict[str, str], detection: dict[str, Any],
                 family: str) -> dict[str, Any]:
        rng = self.rng
        self.serial += 1
        technique = f"attack.t{rng.randint(1001, 1609)}"
        if rng.random() < 0.4:
            technique += f".{rng.randint(1, 12):03d}"
        return {
            "title": f"{title} {self.serial}",
            "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "status": rng.choice(("test", "experimental", "stable")),
            "description": f"Generated {family} rule for the rule engine benchmark.",
            "author": "bench/rules.py", "date": "2026-11-22",
            "tags": [rng.choice(("attack.execution", "attack.persistence",
                                 "attack.defense_evasion", "attack.discovery",
                                 "attack.credential_access", "attack.lateral_movement",
                                 "attack.command_and_control")), technique],
            "logsource": logsource, "detection": detection,
            "falsepositives": ["Unknown"],
            "level": rng.choice(("low", "medium", "medium", "high", "high", "critical")),
        }

    # families

    def generate(self, count: int) -> list[Generated]:
        counts = {family: round(share * count) for family, share in FAMILIES.items()}
        counts["process_creation"] = count - sum(counts.values())
        builders: dict[str, Callable[[], Generated]] = {
            "process_creation": self.process_creation, "security": self.security,
            "system": self.system, "ps_script": self.ps_script, "win_network": self.win_network,
            "win_dns": self.win_dns, "file_event": self.file_event,
            "sysmon_registry": self.sysmon_registry, "linux": self.linux, "web": self.web,
            "flow": self.flow, "firewall": self.firewall, "dns": self.dns, "proxy": self.proxy,
            "keywords": self.keywords}
        rules = [builders[family]() for family, n in counts.items() for _ in range(n)]
        self.rng.shuffle(rules)
        return rules

    def process_creation(self) -> Generated:
        rng = self.rng
        shape = rng.choices(("image", "image_or_ofn", "parent_child", "cmd_all", "ofn_cmd",
                             "one_of", "regex", "base64", "odd_dir"),
                            (24, 30, 10, 11, 5, 8, 3, 2, 7))[0]
        detection: dict[str, Any] = {}
        names = self.tools(1, 3)
        exe: str | None = None
        ofn: str | None = None
        parent = EXPLORER
        cmd_parts: list[str] = []
        condition = "all of selection_*"
        witness = True
        endswith = ["\\" + n for n in names]
        if shape == "image":
            # A hack tool's name is enough; a system binary's needs its command line.
            hacktools = rng.random() < 0.5
            if hacktools:
                names = self.hacktools(1, 4)
                endswith = ["\\" + n for n in names]
            detection["selection_img"] = {"Image|endswith": _one(endswith)}
            exe = names[0]
            if not hacktools:
                args = self.arguments(1, 4)
                detection["selection_cli"] = {"CommandLine|contains": _one(args)}
                cmd_parts = args[:1]
        elif shape == "image_or_ofn":
            detection["selection_img"] = [{"Image|endswith": _one(endswith)},
                                          {"OriginalFileName": _one(names)}]
            args = self.arguments(1, 5)
            windash = all(a.startswith(" -") for a in args) and rng.random() < 0.6
            mode = "|windash" if windash else ""
            if len(args) > 1 and rng.random() < 0.5:
                detection["selection_cli"] = {f"CommandLine|contains|all{mode}": args}
                cmd_parts = args
            else:
                detection["selection_cli"] = {f"CommandLine|contains{mode}": _one(args)}
                cmd_parts = args[:1]
            exe, ofn = names[0], names[0]
        elif shape == "parent_child":
            parents = rng.sample(PARENTS, rng.randint(1, 6))
            children = self.tools(2, 8)
            detection["selection_parent"] = {"ParentImage|endswith": _one(
                ["\\" + p for p in parents])}
            detection["selection_child"] = {"Image|endswith": _one(["\\" + c for c in children])}
            exe, parent = children[0], "C:\\Program Files\\Vendor\\" + parents[0]
        elif shape == "cmd_all":
            args = self.arguments(2, 5)
            if len(args) < 2:
                args.append(self.argument())
            detection["selection"] = {"CommandLine|contains|all": args}
            condition, cmd_parts, exe = "selection", args, self.tool()
        elif shape == "ofn_cmd":
            args = self.arguments(1, 4)
            detection["selection"] = {"OriginalFileName": names[0],
                                      "CommandLine|contains": _one(args)}
            condition, cmd_parts, exe, ofn = "selection", args[:1], self.tool(), names[0]
        elif shape == "one_of":
            detection["selection_img"] = {"Image|endswith": [
                "\\" + n for n in self.hacktools(2, 8)]}
            detection["selection_cli"] = {"CommandLine|contains": self.arguments(2, 6)}
            condition = "1 of selection_*"
            exe = detection["selection_img"]["Image|endswith"][0][1:]
        elif shape == "regex":
            first, second = self.word(), self.word()
            detection["selection"] = {"CommandLine|re": f"-{first}\\s+[a-z0-9]{{4,12}}\\.{second}"}
            if rng.random() < 0.5:
                detection["selection"]["Image|endswith"] = endswith[0]
            condition, exe = "selection", names[0]
            cmd_parts = [f" -{first} x{rng.randint(1000, 9999)}.{second}"]
        elif shape == "base64":
            detection["selection"] = {"CommandLine|base64offset|contains": _one(
                [f"IEX ({self.word()}", f"Invoke-{self.word().title()}"])}
            condition, witness = "selection", False
        else:  # a binary run from a folder where it has no business
            detection["selection"] = {"Image|contains": _one(
                [rng.choice(ODD_DIRS).split("{user}")[-1] or "\\Temp\\"
                 for _ in range(rng.randint(1, 3))]), "Image|endswith": _one(endswith)}
            condition, exe = "selection", names[0]
        filtered_system = False
        if rng.random() < 0.35:
            filters = rng.sample(("system", "parent", "cmd", "null", "integrity"),
                                 rng.randint(1, 2))
            for name in filters:
                if name == "system":
                    detection["filter_main_system"] = {"Image|startswith": list(SYSTEM_DIRS)}
                    filtered_system = True
                elif name == "parent":
                    detection["filter_optional_parent"] = {
                        "ParentImage|endswith": "\\" + self.word() + ".exe"}
                elif name == "cmd":
                    detection["filter_optional_cmd"] = {"CommandLine|contains": f" --{self.word()}"}
                elif name == "null":
                    detection["filter_main_null"] = {"ParentImage": None}
                else:
                    detection["filter_main_integrity"] = {"IntegrityLevel": "System"}
            condition = f"{condition} and not 1 of filter_*" if " " not in condition \
                else f"({condition}) and not 1 of filter_*"
        detection["condition"] = condition
        document = self.document("Suspicious Process Creation",
                                 {"category": "process_creation", "product": "windows"},
                                 detection, "process_creation")
        if not witness:
            return Generated(document, "process_creation")
        image_dir = self.odd_dir() if filtered_system or shape == "odd_dir" or \
            rng.random() < 0.5 else SYSTEM32
        if shape == "odd_dir":
            image_dir = _odd_dir_for(detection["selection"]["Image|contains"], rng)
        image = image_dir + (exe or self.tool())
        command = f'"{image}"' + "".join(
            (part if part.startswith(" ") else " " + part) for part in cmd_parts)
        fields = {"process.executable": image, "process.name": image.rsplit("\\", 1)[-1],
                  "process.command_line": command, "process.parent.executable": parent,
                  "process.parent.name": parent.rsplit("\\", 1)[-1],
                  "process.pe.original_file_name": ofn or image.rsplit("\\", 1)[-1],
                  "winlog.event_data.IntegrityLevel": "Medium"}
        return Generated(document, "process_creation", "sysmon", fields)

    def security(self) -> Generated:
        rng = self.rng
        code = rng.choices(("4624", "4625", "4688", "4672", "4648", "4698", "4697", "5145",
                            "4662", "4720", "4732", "4738", "4769", "4768", "4776", "5136",
                            "1102", "4657", "4663", "4673", "5140", "4742", "4799", "5156"),
                           (8, 4, 6, 2, 3, 6, 4, 6, 5, 3, 3, 2, 4, 2, 2, 4, 1, 2, 4, 2, 2, 2, 2,
                            2))[0]
        selection: dict[str, Any] = {"EventID": int(code)}
        witness: dict[str, Any] = {"event.code": code}
        options = _SECURITY_FIELDS.get(code, _SECURITY_FIELDS["*"])
        for sigma_field, ecs, make in rng.sample(options, min(len(options), rng.randint(1, 3))):
            rule_value, event_value = make(self)
            selection[sigma_field] = rule_value
            witness[ecs] = event_value
        detection: dict[str, Any] = {"selection": selection}
        condition = "selection"
        if rng.random() < 0.3:
            detection["filter_main_local"] = {"IpAddress|cidr": ["127.0.0.0/8", "::1/128"]}
            witness.setdefault("source.ip", f"10.45.{rng.randint(1, 200)}.{rng.randint(2, 250)}")
            if not any(name.startswith("TargetUserName") for name in selection):
                detection["filter_main_machine"] = {"TargetUserName|endswith": "$"}
                witness[_DATA + "TargetUserName"] = rng.choice(USERS)
            condition = "selection and not 1 of filter_*"
        detection["condition"] = condition
        document = self.document("Windows Security Event", {"product": "windows",
                                                            "service": "security"},
                                 detection, "security")
        return Generated(document, "security", "security", witness)

    def system(self) -> Generated:
        detection = {"selection": {"Provider_Name": "Service Control Manager", "EventID": 7045,
                                   "ImagePath|contains": _one(self.arguments(1, 4))},
                     "condition": "selection"}
        return Generated(self.document("Suspicious Service Installed",
                                       {"product": "windows", "service": "system"}, detection,
                                       "system"), "system")

    def ps_script(self) -> Generated:
        rng = self.rng
        values = [rng.choice(PS_SCRIPT) if rng.random() < 0.4 else f"Invoke-{self.word().title()}"
                  for _ in range(rng.randint(1, 5))]
        key = "ScriptBlockText|contains|all" if len(values) > 1 and rng.random() < 0.5 \
            else "ScriptBlockText|contains"
        detection: dict[str, Any] = {"selection": {key: _one(list(dict.fromkeys(values)))},
                                     "condition": "selection"}
        if rng.random() < 0.2:
            detection["filter_optional_path"] = {"Path|startswith": "C:\\Program Files\\"}
            detection["condition"] = "selection and not 1 of filter_*"
        return Generated(self.document("Suspicious PowerShell Script Block",
                                       {"product": "windows", "category": "ps_script"},
                                       detection, "ps_script"), "ps_script")

    def win_network(self) -> Generated:
        rng = self.rng
        selection: dict[str, Any] = {"Image|endswith": _one(["\\" + n for n in self.tools(1, 4)])}
        if rng.random() < 0.5:
            selection["DestinationPort"] = _one(rng.sample(BAD_PORTS, rng.randint(1, 4)))
        else:
            selection["DestinationHostname|endswith"] = _one(
                [self.domain() for _ in range(rng.randint(1, 4))])
        selection["Initiated"] = "true"
        detection = {"selection": selection,
                     "filter_main_local": {"DestinationIp|cidr": ["10.0.0.0/8", "172.16.0.0/12",
                                                                   "192.168.0.0/16"]},
                     "condition": "selection and not 1 of filter_*"}
        return Generated(self.document("Suspicious Outbound Connection",
                                       {"product": "windows", "category": "network_connection"},
                                       detection, "win_network"), "win_network")

    def win_dns(self) -> Generated:
        detection: dict[str, Any] = {
            "selection": {"QueryName|endswith": _one([self.domain() for _ in range(
                self.rng.randint(1, 6))])}, "condition": "selection"}
        if self.rng.random() < 0.4:
            detection["filter_optional_browsers"] = {"Image|endswith": ["\\chrome.exe",
                                                                        "\\msedge.exe"]}
            detection["condition"] = "selection and not 1 of filter_*"
        return Generated(self.document("Suspicious DNS Query", {"product": "windows",
                                                                "category": "dns_query"},
                                       detection, "win_dns"), "win_dns")

    def file_event(self) -> Generated:
        rng = self.rng
        selection: dict[str, Any] = {}
        if rng.random() < 0.5:
            selection["TargetFilename|endswith"] = _one(
                [f"\\{self.word()}{rng.choice(('.dll', '.exe', '.ps1', '.hta', '.lnk'))}"
                 for _ in range(rng.randint(1, 4))])
        else:
            selection["TargetFilename|contains"] = _one(
                [f"\\{self.word()}\\" for _ in range(rng.randint(1, 3))])
        if rng.random() < 0.5:
            selection["Image|endswith"] = _one(["\\" + n for n in self.tools(1, 3)])
        return Generated(self.document("Suspicious File Created", {"product": "windows",
                                                                   "category": "file_event"},
                                       {"selection": selection, "condition": "selection"},
                                       "file_event"), "file_event")

    def sysmon_registry(self) -> Generated:
        detection = {"selection": {
            "EventID": _one(self.rng.sample((12, 13, 14), self.rng.randint(1, 2))),
            "TargetObject|contains": _one(
                [f"\\Software\\{self.word().title()}\\" for _ in range(self.rng.randint(1, 3))])},
            "condition": "selection"}
        return Generated(self.document("Suspicious Registry Change", {"product": "windows",
                                                                      "service": "sysmon"},
                                       detection, "sysmon_registry"), "sysmon_registry")

    def linux(self) -> Generated:
        rng = self.rng
        service = rng.choices(("auth", "sshd", "sudo", "syslog"), (5, 3, 1, 1))[0]
        shape = "sudo" if service == "sudo" else rng.choice(
            ("users", "cidr", "regex") if service == "sshd" else ("users", "sudo", "cidr",
                                                                  "regex"))
        selection: dict[str, Any]
        witness: dict[str, Any]
        if shape == "users":
            users = [f"{self.word()}{rng.randint(1, 99)}" for _ in range(rng.randint(1, 5))]
            selection = {"event.outcome": "success", "user.name": _one(users)}
            witness = {"event.outcome": "success", "user.name": users[0],
                       "event.action": "ssh_login", "process.name": "sshd"}
        elif shape == "sudo":
            command = f"COMMAND=/usr/bin/{self.word()}"
            selection = {"message|contains": command}
            if service != "sudo":
                selection["process.name"] = "sudo"
            witness = {"process.name": "sudo", "message": f"{rng.choice(USERS)} : TTY=pts/0 ; "
                       f"PWD=/home ; USER=root ; {command} -x"}
        elif shape == "cidr":
            network = self.network()
            selection = {"event.outcome": "success", "source.ip|cidr": network}
            witness = {"event.outcome": "success", "source.ip": network.replace(".0/24", ".7"),
                       "process.name": "sshd"}
        else:
            word = self.word()
            selection = {"message|re": f"Accepted (password|publickey) for {word}[0-9]* from"}
            witness = {"process.name": "sshd",
                       "message": f"Accepted password for {word}42 from 203.0.113.5 port 5022"}
        if "message" in witness:
            witness["log.original"] = (f"Nov 22 08:00:00 bastion-01 {witness['process.name']}"
                                       f"[4242]: {witness['message']}")
        document = self.document("Suspicious Linux Authentication",
                                 {"product": "linux", "service": service},
                                 {"selection": selection, "condition": "selection"}, "linux")
        return Generated(document, "linux", "auth", witness)

    def web(self) -> Generated:
        rng = self.rng
        shape = rng.choices(("contains", "contains_all", "agent", "method", "regex"),
                            (45, 15, 20, 12, 8))[0]
        witness: dict[str, Any] = {}
        path = f"/{self.word()}/{self.word()}.php"
        if shape == "contains":
            values = [rng.choice(URL_ATTACKS) if rng.random() < 0.3 else f"/{self.word()}.php"
                      for _ in range(rng.randint(2, 10))]
            values = list(dict.fromkeys(values))
            selection: dict[str, Any] = {"url.original|contains": _one(values)}
            witness["url.original"] = path + "?x=" + values[0]
        elif shape == "contains_all":
            values = [f"{self.word()}=" for _ in range(rng.randint(2, 3))]
            selection = {"url.original|contains|all": values}
            witness["url.original"] = path + "?" + "&".join(v + "1" for v in values)
        elif shape == "agent":
            values = [rng.choice(ATTACK_AGENTS) if rng.random() < 0.3 else f"{self.word()}/"
                      for _ in range(rng.randint(1, 6))]
            values = list(dict.fromkeys(values))
            selection = {"user_agent.original|contains": _one(values)}
            witness["user_agent.original"] = f"{values[0]}1.2 (+https://example.org)"
            witness["url.original"] = path
        elif shape == "method":
            suffixes = [f"/{self.word()}.{rng.choice(('aspx', 'jsp', 'php', 'ashx'))}"
                        for _ in range(rng.randint(1, 4))]
            selection = {"http.request.method": "POST", "url.original|endswith": _one(suffixes)}
            witness = {"http.request.method": "POST", "url.original": "/upload" + suffixes[0]}
        else:
            word = self.word()
            selection = {"url.original|re": f"/{word}/[a-z0-9_]{{3,16}}\\.(php|jsp)"}
            witness["url.original"] = f"/{word}/x{rng.randint(100, 999)}.jsp"
        detection: dict[str, Any] = {"selection": selection, "condition": "selection"}
        if rng.random() < 0.3:
            detection["filter_main_status"] = {"http.response.status_code": 404}
            detection["condition"] = "selection and not 1 of filter_*"
            witness["http.response.status_code"] = 200
        witness.setdefault("url.path", witness["url.original"].split("?", 1)[0])
        return Generated(self.document("Suspicious Web Request", {"category": "webserver"},
                                       detection, "web"), "web", "web", witness)

    def flow(self) -> Generated:
        rng = self.rng
        shape = rng.choice(("port_external", "bad_network", "udp_bytes", "internal_port"))
        detection: dict[str, Any] = {}
        witness: dict[str, Any]
        if shape == "port_external":
            ports = rng.sample(BAD_PORTS, rng.randint(1, 6))
            detection["selection"] = {"destination.port": _one(ports)}
            detection["filter_main_private"] = {"destination.ip|cidr": [
                "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"]}
            detection["condition"] = "selection and not 1 of filter_*"
            witness = {"destination.port": ports[0], "destination.ip": "198.51.100.23"}
        elif shape == "bad_network":
            networks = [self.network() for _ in range(rng.randint(1, 8))]
            detection["selection"] = {"destination.ip|cidr": networks}
            detection["condition"] = "selection"
            witness = {"destination.ip": networks[0].replace(".0/24", ".77")}
        elif shape == "udp_bytes":
            port = rng.choice(BAD_PORTS)
            detection["selection"] = {"network.transport": "udp", "destination.port": port,
                                      "network.bytes|gte": 50_000_000}
            detection["condition"] = "selection"
            witness = {"network.transport": "udp", "destination.port": port,
                       "network.bytes": 73_000_000}
        else:
            subnet = f"10.45.{rng.randint(1, 250)}.0/24"
            ports = rng.sample(BAD_PORTS, rng.randint(1, 4))
            detection["selection"] = {"source.ip|cidr": subnet, "destination.port": _one(ports)}
            detection["condition"] = "selection"
            witness = {"source.ip": subnet.replace(".0/24", ".9"), "destination.port": ports[0]}
        return Generated(self.document("Suspicious Network Flow",
                                       {"category": "network_connection"}, detection, "flow"),
                         "flow", "flow", witness)

    def firewall(self) -> Generated:
        ports = self.rng.sample(BAD_PORTS, self.rng.randint(1, 5))
        detection = {"selection": {"event.action": "deny", "destination.port": _one(ports)},
                     "condition": "selection"}
        return Generated(self.document("Firewall Denied Port", {"category": "firewall"},
                                       detection, "firewall"), "firewall")

    def dns(self) -> Generated:
        rng = self.rng
        domains = [self.domain() for _ in range(rng.randint(1, 8))]
        if rng.random() < 0.7:
            selection: dict[str, Any] = {"dns.question.name|endswith": _one(domains)}
            witness = {"dns.question.name": "a." + domains[0]}
        else:
            selection = {"dns.question.type": "TXT",
                         "dns.question.name|contains": _one([d.split(".")[0] for d in domains])}
            witness = {"dns.question.type": "TXT", "dns.question.name": domains[0]}
        return Generated(self.document("Suspicious DNS Request", {"category": "dns"},
                                       {"selection": selection, "condition": "selection"},
                                       "dns"), "dns", "dns", witness)

    def proxy(self) -> Generated:
        detection = {"selection": {"url.original|contains": _one(
            [f"/{self.word()}/" for _ in range(self.rng.randint(1, 5))])},
            "condition": "selection"}
        return Generated(self.document("Suspicious Proxy Request", {"category": "proxy"},
                                       detection, "proxy"), "proxy")

    def keywords(self) -> Generated:
        rng = self.rng
        if rng.random() < 0.7:
            logsource, kind, known = {"product": "linux", "service": "syslog"}, "auth", \
                AUTH_KEYWORDS
        else:
            logsource, kind, known = {"category": "webserver"}, "web", URL_ATTACKS
        words = list(dict.fromkeys(
            rng.choice(known) if rng.random() < 0.2 else f"{self.word()} {self.word()}"
            for _ in range(rng.randint(1, 5))))
        document = self.document("Suspicious Keyword", logsource,
                                 {"keywords": words, "condition": "keywords"}, "keywords")
        message = f"pam_unix(sshd:session): {words[0]} for user root"
        return Generated(document, "keywords", kind, {"message": message,
                                                      "log.original": "<86>" + message})


def _one(values: list[Any]) -> Any:
    """A single value stays a scalar, as rule authors write it."""
    return values[0] if len(values) == 1 else values


def _odd_dir_for(contains: str | list[str], rng: random.Random) -> str:
    needle = contains if isinstance(contains, str) else contains[0]
    if needle.startswith("C:"):
        return needle + "x\\"
    return "C:\\Users\\" + rng.choice(USERS) + needle


def _text_value(values: Sequence[str]) -> Callable[[RuleFactory], tuple[Any, Any]]:
    def make(factory: RuleFactory) -> tuple[Any, Any]:
        value = factory.rng.choice(values)
        return value, value
    return make


def _word_value(prefix: str = "", suffix: str = "") -> Callable[[RuleFactory], tuple[Any, Any]]:
    def make(factory: RuleFactory) -> tuple[Any, Any]:
        value = f"{prefix}{factory.word()}{suffix}"
        return value, value
    return make


def _contains_value(prefix: str = "", suffix: str = ""
                    ) -> Callable[[RuleFactory], tuple[Any, Any]]:
    def make(factory: RuleFactory) -> tuple[Any, Any]:
        words = [f"{prefix}{factory.word()}{suffix}" for _ in range(factory.rng.randint(1, 3))]
        return _one(words), f"x {words[0]} y"
    return make


def _endswith_dollar(factory: RuleFactory) -> tuple[Any, Any]:
    return "$", f"{factory.word().upper()}$"


def _guid_value(factory: RuleFactory) -> tuple[Any, Any]:
    value = str(uuid.UUID(int=factory.rng.getrandbits(128), version=4))
    return value, f"%%7688 {{{value}}}"


def _logon_type(factory: RuleFactory) -> tuple[Any, Any]:
    value = factory.rng.choice((3, 9, 10))
    return value, str(value)


FieldMaker = tuple[str, str, Callable[[RuleFactory], tuple[Any, Any]]]
_DATA = "winlog.event_data."
# Per EventID: (Sigma field with modifiers, the ECS field pySigma's Windows pipeline maps it to,
# a maker of (rule value, an event value that passes)).
_SECURITY_FIELDS: dict[str, list[FieldMaker]] = {
    "4624": [("LogonType", _DATA + "LogonType", _logon_type),
             ("AuthenticationPackageName", _DATA + "AuthenticationPackageName",
              _text_value(("NTLM", "Negotiate"))),
             ("LogonProcessName", _DATA + "LogonProcessName", _text_value(("seclogo", "Advapi"))),
             ("TargetUserName", _DATA + "TargetUserName", _word_value("svc_")),
             ("WorkstationName", _DATA + "WorkstationName", _word_value("WS-")),
             ("KeyLength", _DATA + "KeyLength", _text_value(("0",)))],
    "4625": [("Status", _DATA + "Status", _text_value(("0xc0000072", "0xc000006f",
                                                        "0xc0000070", "0xc0000413"))),
             ("SubStatus", _DATA + "SubStatus", _text_value(("0xc0000071", "0xc0000193"))),
             ("TargetUserName", _DATA + "TargetUserName", _word_value("adm_"))],
    "4688": [("NewProcessName|endswith", "process.executable", _word_value("\\", ".exe")),
             ("CommandLine|contains", "process.command_line", _contains_value(" -")),
             ("ParentProcessName|endswith", _DATA + "ParentProcessName",
              _word_value("\\", ".exe"))],
    "4698": [("TaskName|contains", _DATA + "TaskName", _contains_value("\\")),
             ("TaskContent|contains", _DATA + "TaskContent", _contains_value("<Command>"))],
    "4697": [("ServiceFileName|contains", _DATA + "ServiceFileName", _contains_value("\\"))],
    "5145": [("ShareName|endswith", _DATA + "ShareName", _text_value(("IPC$", "ADMIN$", "C$"))),
             ("RelativeTargetName|contains", _DATA + "RelativeTargetName",
              _contains_value("\\")),
             ("AccessMask", _DATA + "AccessMask", _text_value(("0x3", "0x12019f")))],
    "4662": [("Properties|contains", _DATA + "Properties", _guid_value),
             ("AccessMask", _DATA + "AccessMask", _text_value(("0x100",))),
             ("ObjectType|contains", _DATA + "ObjectType", _text_value(("domainDNS",)))],
    "4769": [("TicketEncryptionType", _DATA + "TicketEncryptionType",
              _text_value(("0x17", "0x18"))),
             ("TicketOptions", _DATA + "TicketOptions", _text_value(("0x40810000",))),
             ("ServiceName|endswith", "service.name", _word_value("svc"))],
    "4768": [("TicketEncryptionType", _DATA + "TicketEncryptionType", _text_value(("0x17",))),
             ("PreAuthType", _DATA + "PreAuthType", _text_value(("0",)))],
    "4720": [("TargetUserName|endswith", _DATA + "TargetUserName", _endswith_dollar)],
    "4732": [("TargetUserName", _DATA + "TargetUserName",
              _text_value(("Administrators", "Remote Desktop Users")))],
    "5136": [("AttributeLDAPDisplayName", _DATA + "AttributeLDAPDisplayName",
              _text_value(("gPCMachineExtensionNames", "msDS-KeyCredentialLink",
                           "servicePrincipalName"))),
             ("AttributeValue|contains", _DATA + "AttributeValue", _guid_value)],
    "4657": [("ObjectName|contains", _DATA + "ObjectName", _contains_value("\\Software\\"))],
    "4663": [("ObjectName|endswith", _DATA + "ObjectName", _word_value("\\", ".dmp")),
             ("AccessMask", _DATA + "AccessMask", _text_value(("0x10", "0x1")))],
    "*": [("SubjectUserName|endswith", _DATA + "SubjectUserName", _endswith_dollar),
          ("ObjectName|contains", _DATA + "ObjectName", _contains_value("\\"))],
}


# --- events -----------------------------------------------------------------------------------


# The EventData copies of a Sysmon process creation's ECS fields.
SYSMON_DATA = {"process.executable": "Image", "process.command_line": "CommandLine",
               "process.parent.executable": "ParentImage",
               "process.pe.original_file_name": "OriginalFileName"}


class EventFactory:
    """Templates of the mixed stream, and the stream made of them."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.record = 100_000

    def inside(self) -> str:
        subnet = self.rng.choice((1, 10, 11, 12, 41, 101, 105, 120))
        return f"10.45.{subnet}.{self.rng.randint(2, 250)}"

    def outside(self) -> str:
        rng = self.rng
        first = rng.choice((14, 27, 42, 58, 113, 115, 117, 118, 171, 203))
        return f"{first}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"

    def common(self) -> Event:
        return {"organization.id": self.rng.choice(ORGANIZATIONS)}

    def build(self, kind: str) -> Event:
        return getattr(self, kind)()

    def flow(self) -> Event:
        rng = self.rng
        ports, weights = _weighted(COMMON_PORTS)
        port = rng.choices(ports, weights)[0]
        # Out to the Internet for the web, mail, DNS and time; the rest stays on the WAN.
        outbound = port in (443, 80, 53, 123, 25, 587, 993) and rng.random() < 0.6
        source, destination = self.inside(), self.outside() if outbound else self.inside()
        transport = "udp" if port in (53, 123, 137, 161, 514) else "tcp"
        dataset = "network.flow" if rng.random() < 0.6 else "netflow.flow"
        packets = rng.randint(1, 400)
        sport = rng.randint(1024, 65535)
        nbytes = packets * rng.randint(60, 1400)
        line = (f"{dataset} {source}:{sport} -> {destination}:{port} {transport} "
                f"packets={packets} bytes={nbytes}")
        return {**self.common(), "event.dataset": dataset, "event.category": ["network"],
                "event.type": ["connection"], "event.action": "network_flow",
                "source.ip": source, "source.port": sport, "destination.ip": destination,
                "destination.port": port, "network.transport": transport,
                "network.bytes": nbytes, "network.packets": packets,
                "observer.name": rng.choice(("dc-fw-01", "wan-rt-01", "wan-rt-02")),
                "message": line, "log.original": line}

    def web(self) -> Event:
        rng = self.rng
        n = rng.randint(1, 99999)
        fill = {"slug": rng.choice(SLUGS), "n": n, "hex": f"{rng.getrandbits(32):08x}",
                "small": rng.randint(1, 20)}
        path = rng.choice(WEB_PATHS).format(**fill)
        url = path + rng.choice(WEB_QUERIES).format(**fill)
        method = rng.choices(("GET", "POST", "HEAD"), (85, 13, 2))[0]
        status = rng.choices((200, 304, 302, 404, 500), (75, 10, 6, 7, 2))[0]
        agent = rng.choice(BROWSERS).format(v=rng.randint(118, 131))
        client = self.outside()
        size = rng.randint(200, 90000)
        line = (f'{client} - - [22/Nov/2026:08:00:00 +0700] "{method} {url} HTTP/1.1" {status} '
                f'{size} "-" "{agent}"')
        event = {**self.common(), "event.dataset": "nginx.access", "event.category": ["web"],
                 "event.type": ["access"], "event.outcome": "failure" if status >= 400
                 else "success", "http.request.method": method, "http.version": "1.1",
                 "http.response.status_code": status, "http.response.body.bytes": size,
                 "url.original": url, "url.path": path, "user_agent.original": agent,
                 "source.ip": client, "host.name": rng.choice(("dvc-web-01", "dvc-web-02")),
                 "message": line, "log.original": line}
        if "?" in url:
            event["url.query"] = url.split("?", 1)[1]
        return event

    def security(self, code: str | None = None) -> Event:
        rng = self.rng
        codes, weights = _weighted(SECURITY_CODES)
        code = code or rng.choices(codes, weights)[0]
        host = rng.choice(WIN_HOSTS)
        user = rng.choice(USERS)
        ip = self.inside()
        self.record += rng.randint(1, 50)
        data = {"SubjectUserSid": "S-1-5-18", "SubjectUserName": f"{host.upper()}$",
                "SubjectDomainName": DOMAIN, "SubjectLogonId": "0x3e7",
                "TargetUserName": user, "TargetDomainName": DOMAIN,
                "TargetLogonId": f"0x{rng.getrandbits(24):x}",
                "LogonType": rng.choice(("3", "3", "3", "2", "10", "5")),
                "LogonProcessName": rng.choice(("Kerberos", "NtLmSsp ", "User32 ")),
                "AuthenticationPackageName": rng.choice(("Kerberos", "NTLM", "Negotiate")),
                "WorkstationName": rng.choice(WIN_HOSTS).upper(), "IpAddress": ip,
                "IpPort": str(rng.randint(49152, 65535)),
                "ProcessName": "C:\\Windows\\System32\\lsass.exe"}
        event = {**self.common(), "winlog.channel": "Security",
                 "event.dataset": "windows.security", "event.code": code,
                 "winlog.event_id": int(code),
                 "winlog.provider_name": "Microsoft-Windows-Security-Auditing",
                 "event.provider": "Microsoft-Windows-Security-Auditing",
                 "winlog.computer_name": f"{host}.{DOMAIN.lower()}.local",
                 "host.name": f"{host}.{DOMAIN.lower()}.local",
                 "winlog.record_id": self.record, "log.level": "information",
                 "user.name": user, "user.domain": DOMAIN, "source.ip": ip,
                 "winlog.logon.id": data["TargetLogonId"]}
        if code == "4688":
            image, _, command, parent = self.process()
            data.update({"NewProcessName": image, "CommandLine": command,
                         "ParentProcessName": parent, "TokenElevationType": "%%1938",
                         "MandatoryLabel": "S-1-16-8192"})
            event.update({"process.executable": image, "process.name": image.rsplit("\\", 1)[1],
                          "process.command_line": command, "process.parent.executable": parent,
                          "process.parent.name": parent.rsplit("\\", 1)[1]})
        meta = SECURITY_META.get(code)
        if meta:
            categories, types, action, outcome = meta
            event.update({"event.category": categories, "event.type": types,
                          "event.action": action, "event.outcome": outcome,
                          "winlog.keywords": ["Audit Failure" if outcome == "failure"
                                              else "Audit Success"]})
        if code in ("4624", "4625"):
            event["winlog.logon.type"] = {"2": "Interactive", "3": "Network", "5": "Service",
                                          "10": "RemoteInteractive"}[data["LogonType"]]
            event["source.domain"] = data["WorkstationName"]
        for key, value in data.items():
            event[_DATA + key] = value
        event["message"] = (f"Security event {code} for {DOMAIN}\\{user} on {host} from {ip} "
                            f"(logon type {data['LogonType']}).")
        event["log.original"] = orjson.dumps({"EventID": int(code), "Channel": "Security",
                                              "Computer": host, "EventData": data}).decode()
        return event

    def process(self) -> tuple[str, str, str, str]:
        """(image, OriginalFileName, command line, parent image) of a benign process."""
        rng = self.rng
        image, ofn, command, parent, _ = rng.choices(
            BENIGN_PROCESSES, [p[4] for p in BENIGN_PROCESSES])[0]
        fill = {"user": rng.choice(USERS), "n": rng.randint(100, 99999),
                "hex": f"{rng.getrandbits(48):012x}", "guid": str(uuid.UUID(
                    int=rng.getrandbits(128), version=4)).upper(),
                "svc": rng.choice(SERVICES), "svcname": rng.choice(SERVICE_NAMES)}
        image = image.format(**fill)
        fill["image"] = image
        return image, ofn, command.format(**fill), parent.format(**fill)

    def sysmon(self) -> Event:
        rng = self.rng
        image, ofn, command, parent = self.process()
        host = rng.choice(WIN_HOSTS)
        user = rng.choice((*USERS, "SYSTEM", "LOCAL SERVICE", "NETWORK SERVICE"))
        domain = DOMAIN if user == user.lower() else "NT AUTHORITY"
        integrity = "System" if domain == "NT AUTHORITY" else rng.choice(("Medium", "High"))
        self.record += rng.randint(1, 50)
        guid = "{" + str(uuid.UUID(int=rng.getrandbits(128), version=4)).upper() + "}"
        pid, ppid = rng.randint(400, 30000), rng.randint(400, 30000)
        data = {"RuleName": "-", "UtcTime": "2026-11-22 01:00:00.000", "ProcessGuid": guid,
                "ProcessId": str(pid), "Image": image, "FileVersion": "10.0.19041.1",
                "Description": ofn.split(".")[0], "Product": "Microsoft Windows",
                "Company": "Microsoft Corporation", "OriginalFileName": ofn,
                "CommandLine": command, "CurrentDirectory": "C:\\Windows\\system32\\",
                "User": f"{domain}\\{user}", "LogonId": f"0x{rng.getrandbits(24):x}",
                "IntegrityLevel": integrity, "ParentImage": parent,
                "ParentProcessId": str(ppid), "ParentCommandLine": parent,
                "Hashes": f"SHA256={rng.getrandbits(256):064X}"}
        event = {**self.common(), "winlog.channel": "Microsoft-Windows-Sysmon/Operational",
                 "event.dataset": "windows.sysmon", "event.code": "1", "winlog.event_id": 1,
                 "winlog.provider_name": "Microsoft-Windows-Sysmon",
                 "event.provider": "Microsoft-Windows-Sysmon",
                 "winlog.computer_name": f"{host}.{DOMAIN.lower()}.local",
                 "host.name": f"{host}.{DOMAIN.lower()}.local", "winlog.record_id": self.record,
                 "event.category": ["process"], "event.type": ["start"],
                 "event.action": "Process creation", "process.executable": image,
                 "process.name": image.rsplit("\\", 1)[1], "process.pid": pid,
                 "process.entity_id": guid, "process.command_line": command,
                 "process.working_directory": "C:\\Windows\\system32\\",
                 "process.parent.executable": parent, "process.parent.name":
                 parent.rsplit("\\", 1)[1], "process.parent.pid": ppid,
                 "process.parent.command_line": parent, "process.pe.original_file_name": ofn,
                 "process.pe.description": data["Description"],
                 "process.pe.company": data["Company"], "process.pe.product": data["Product"],
                 "process.hash.sha256": data["Hashes"][7:].lower(), "user.name": user,
                 "user.domain": domain}
        for key, value in data.items():
            event[_DATA + key] = value
        event["message"] = f"Process Create:\nImage: {image}\nCommandLine: {command}\nUser: " \
                           f"{domain}\\{user}"
        event["log.original"] = orjson.dumps({"EventID": 1, "Computer": host,
                                              "EventData": data}).decode()
        return event

    def auth(self) -> Event:
        rng = self.rng
        host = rng.choice(LINUX_HOSTS)
        user = rng.choice((*USERS, "root", "ubuntu", "oracle", "test"))
        ip = self.outside() if rng.random() < 0.7 else self.inside()
        port = rng.randint(1024, 65535)
        pid = rng.randint(1000, 99999)
        program = rng.choices(("sshd", "sudo", "CRON", "systemd-logind"), (70, 15, 10, 5))[0]
        event: Event = {**self.common(), "event.dataset": "system.auth", "host.name": host,
                        "process.name": program, "process.pid": pid}
        if program == "sshd":
            pick = rng.random()
            if pick < 0.55:
                text = f"Failed password for {user} from {ip} port {port} ssh2"
                fields = {"event.action": "ssh_login", "event.outcome": "failure",
                          "event.category": ["authentication"], "event.type": ["info"]}
            elif pick < 0.7:
                text = f"Invalid user {user}x from {ip} port {port}"
                fields = {"event.action": "ssh_invalid_user", "event.outcome": "failure",
                          "event.category": ["authentication"], "event.type": ["info"]}
            elif pick < 0.9:
                text = f"Accepted publickey for {user} from {ip} port {port} ssh2: ED25519 " \
                       f"SHA256:{rng.getrandbits(64):016x}"
                fields = {"event.action": "ssh_login", "event.outcome": "success",
                          "event.category": ["authentication"], "event.type": ["start"]}
            else:
                text = f"Connection closed by {ip} port {port} [preauth]"
                fields = {"event.action": "ssh_disconnect", "event.category": ["authentication"],
                          "event.type": ["end"]}
            event.update(fields)
            event.update({"source.ip": ip, "source.port": port, "user.name": user})
        elif program == "sudo":
            command = f"/usr/bin/systemctl restart {rng.choice(('nginx', 'tomcat'))}"
            text = (f"{user} : TTY=pts/{rng.randint(0, 9)} ; PWD=/home/{user} ; USER=root ; "
                    f"COMMAND={command}")
            # As collectors/parsers/sudo.py writes it: a process start, with its command line.
            event.update({"event.action": "sudo_command", "event.outcome": "success",
                          "event.category": ["process"], "event.type": ["start"],
                          "process.command_line": command, "user.name": user})
        elif program == "CRON":
            text = "pam_unix(cron:session): session opened for user root(uid=0) by (uid=0)"
            event.update({"event.action": "session_opened", "user.name": "root"})
        else:
            text = f"New session {rng.randint(1, 9999)} of user {user}."
            event.update({"event.action": "session_opened", "user.name": user})
        event["message"] = text
        event["log.original"] = f"Nov 22 08:00:00 {host} {program}[{pid}]: {text}"
        return event

    def dns(self) -> Event:
        rng = self.rng
        name = rng.choice(DOMAINS).format(prov=rng.choice(("bacninh", "hanam", "thaibinh")),
                                          word=rng.choice(SLUGS).split("-")[0]
                                          + str(rng.randint(1, 99)))
        client = self.inside()
        qtype = rng.choices(("A", "AAAA", "HTTPS", "TXT", "PTR"), (70, 20, 6, 2, 2))[0]
        line = f"client {client}#{rng.randint(1024, 65535)}: query: {name} IN {qtype} +"
        return {**self.common(), "event.dataset": "network.dns",
                "event.category": ["network"], "event.type": ["protocol"],
                "dns.question.name": name, "dns.question.type": qtype,
                "dns.response_code": "NOERROR", "source.ip": client,
                "destination.ip": "10.45.1.53", "destination.port": 53,
                "network.transport": "udp", "network.protocol": "dns",
                "message": line, "log.original": line}

    def witness(self, rule: Generated) -> Event:
        assert rule.kind is not None and rule.witness is not None
        code = rule.witness.get("event.code") if rule.kind == "security" else None
        event = self.security(code) if code else self.build(rule.kind)
        if rule.kind == "sysmon":
            for key, name in SYSMON_DATA.items():
                event[_DATA + name] = rule.witness[key]
        event.update(rule.witness)
        return event


def make_events(count: int, seed: int, generated: Sequence[Generated], attack_rate: float
                ) -> tuple[list[Event], list[str], list[Event], list[Generated]]:
    """The stream (and each event's kind), built from seeded templates; plus the witness
    templates and the rules they were made for."""
    rng = random.Random(seed)
    factory = EventFactory(rng)
    pool: list[tuple[str, Event]] = []
    for kind, share in KINDS.items():
        pool += [(kind, factory.build(kind)) for _ in range(round(share * TEMPLATES))]
    witnessed = [rule for rule in generated if rule.witness is not None]
    witnesses = [factory.witness(rule) for rule in witnessed]
    picks = rng.choices(pool, k=count)
    attacks = [i for i in range(count) if rng.random() < attack_rate] if witnesses else []
    for i in attacks:
        j = rng.randrange(len(witnesses))
        picks[i] = (f"{witnessed[j].kind}", witnesses[j])
    start = datetime(2026, 11, 22, 1, 0, 0)
    events: list[Event] = []
    kinds: list[str] = []
    for i, (kind, template) in enumerate(picks):
        event = dict(template)
        event["@timestamp"] = (start + timedelta(microseconds=i * 2500)).isoformat(
            timespec="milliseconds") + "Z"
        event["event.id"] = hashlib.blake2b(b"bench-rules:%d:%d" % (seed, i),
                                            digest_size=16).hexdigest()
        events.append(event)
        kinds.append(kind)
    return events, kinds, witnesses, witnessed


# --- measuring --------------------------------------------------------------------------------


def load_generated(count: int, seed: int) -> tuple[list[Generated], RuleSet, float]:
    generated = RuleFactory(random.Random(seed)).generate(count)
    text = yaml.safe_dump_all([g.document for g in generated], sort_keys=False,
                              allow_unicode=True)
    started = time.perf_counter()
    ruleset = load_rule_text(text, "<generated>")
    seconds = time.perf_counter() - started
    errors = ruleset.errors
    assert not errors, f"{len(errors)} generated rules failed to load, e.g. {errors[0]}"
    assert len(ruleset.detections) == count, (len(ruleset.detections), count)
    return generated, ruleset, seconds


def run(engine: RuleEngine, events: Sequence[Event], batch: int
        ) -> tuple[float, list[dict[str, Any]]]:
    """Seconds spent in detect/flush over the whole stream, and the alerts."""
    alerts: list[dict[str, Any]] = []
    detect = engine.detect
    started = time.perf_counter()
    for i in range(0, len(events), batch):
        alerts += detect(events[i:i + batch])
    alerts += engine.flush()
    return time.perf_counter() - started, alerts


def candidates(engine: RuleEngine, events: Sequence[Event], kinds: Sequence[str]
               ) -> tuple[float, dict[str, float]]:
    """Average rules tested per event, overall and per event kind (untimed)."""
    step = max(1, len(events) // SAMPLE_EVENTS)
    per_kind: dict[str, list[int]] = defaultdict(list)
    total = counted = 0
    for i in range(0, len(events), step):
        found = len(engine.index.candidates(FieldView(events[i])))
        per_kind[kinds[i]].append(found)
        total += found
        counted += 1
    return total / max(counted, 1), {k: round(sum(v) / len(v), 1)
                                     for k, v in sorted(per_kind.items())}


def key_report(generated: Sequence[Generated], rules: Sequence[DetectionRule]) -> str:
    """Per logsource family: how many rules are unkeyed, keyed on a broad field, keyed on a
    specific one; and the biggest index buckets."""
    lines = ["index keys of the generated rules, per family (unkeyed / broad / specific):"]
    by_family: dict[str, Counter[str]] = defaultdict(Counter)
    buckets: Counter[str] = Counter()
    for gen, rule in zip(generated, rules, strict=True):
        if rule.keys is None:
            label = "unkeyed"
        else:
            label = " | ".join(("broad " if key.field in BROAD_FIELDS else "")
                               + ("~" if key.substring else "") + key.field for key in rule.keys)
            for key in rule.keys:
                for value in key.values:
                    buckets[f"{key.field}{'~' if key.substring else '='}{value}"] += 1
        by_family[gen.family][label] += 1
    for family, labels in sorted(by_family.items(), key=lambda item: -sum(item[1].values())):
        shown = ", ".join(f"{label}: {n}" for label, n in labels.most_common())
        lines.append(f"  {family} ({sum(labels.values())}): {shown}")
    lines.append("largest index buckets (field=value: rules):")
    lines += [f"  {bucket}: {n}" for bucket, n in buckets.most_common(12)]
    return "\n".join(lines)


def profile(engine: RuleEngine, events: Sequence[Event], batch: int) -> None:
    profiler = cProfile.Profile()
    profiler.enable()
    for i in range(0, len(events), batch):
        engine.detect(events[i:i + batch])
    profiler.disable()
    print(f"--- cProfile: {len(events)} events, generated rules, top 25 by tottime ---",
          file=sys.stderr)
    pstats.Stats(profiler, stream=sys.stderr).sort_stats("tottime").print_stats(25)


def alerted_events(alerts: Sequence[Mapping[str, Any]]) -> int:
    return len({event_id for alert in alerts if alert.get("rule.type") == "detection"
                for event_id in alert.get("event.ids", ())})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--rules", type=int, default=2000, help="generated rules")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--batch", type=int, default=BATCH, help="events per detect() call")
    parser.add_argument("--attack-rate", type=float, default=0.003,
                        help="share of events made to match a generated rule")
    parser.add_argument("--profile", action="store_true",
                        help=f"cProfile {PROFILE_EVENTS:,} events against the generated rules")
    parser.add_argument("--details", action="store_true",
                        help="print index keys per logsource and candidates per event kind")
    args = parser.parse_args()

    shipped = load_rule_paths([SHIPPED_RULES])
    generated, ruleset, load_seconds = load_generated(args.rules, args.seed)
    events, kinds, witnesses, witnessed = make_events(args.events, args.seed, generated,
                                                      args.attack_rate)
    by_id = {rule.id: rule for rule in ruleset.detections}
    missed = [w.document["title"] for w, event in zip(witnessed, witnesses, strict=True)
              if not by_id[w.document["id"]].matches(event)]
    if missed:
        print(f"warning: {len(missed)} of {len(witnesses)} witness events do not match their "
              f"rule, e.g. {missed[:3]}", file=sys.stderr)
    gc.collect()
    gc.freeze()  # the stream is long-lived input, not the engine's garbage

    shipped_engine = RuleEngine(shipped)
    shipped_seconds, shipped_alerts = run(shipped_engine, events, args.batch)
    engine = RuleEngine(ruleset)
    seconds, alerts = run(engine, events, args.batch)

    per_event, per_kind = candidates(engine, events, kinds)
    shipped_per_event, shipped_per_kind = candidates(RuleEngine(shipped), events, kinds)
    if args.details:
        print(key_report(generated, ruleset.detections), file=sys.stderr)
        print(f"candidates per event kind, generated rules: {per_kind}", file=sys.stderr)
        print(f"candidates per event kind, shipped rules: {shipped_per_kind}", file=sys.stderr)
    if args.profile:
        profile(RuleEngine(ruleset), events[:PROFILE_EVENTS], args.batch)

    print(orjson.dumps({
        "benchmark": "rules", "events": len(events), "batch": args.batch,
        "shipped_rules": len(shipped.detections), "shipped_problems": len(shipped.errors),
        "shipped_correlations": len(shipped.correlations),
        "shipped_seconds": round(shipped_seconds, 2),
        "shipped_events_per_s": round(len(events) / shipped_seconds),
        "shipped_alerts": len(shipped_alerts),
        "shipped_candidates_per_event": round(shipped_per_event, 2),
        "generated_rules": len(ruleset.detections),
        "generated_load_s": round(load_seconds, 2),
        "generated_seconds": round(seconds, 2),
        "generated_events_per_s": round(len(events) / seconds),
        "generated_alerts": len(alerts),
        "match_rate": round(alerted_events(alerts) / len(events), 5),
        "candidates_per_event": round(per_event, 2), "candidates_by_kind": per_kind,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "python": platform.python_version(), "cores": os.cpu_count(),
        "date": datetime.now().strftime("%Y-%m-%d"),
    }).decode())


if __name__ == "__main__":
    main()
