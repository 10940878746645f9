#!/usr/bin/env python3
"""config/<daemon>.yaml lists every key its daemon reads, and no key it does not: the keys
come from the code (every dfs_config_str/int/ms/bool call, or a daemon's *_key wrapper, with a
literal key and every
row of a {"key", ...} table in src/<daemon>/*.c, plus the common keys: log.level and
insecure for every daemon, tls.* for those that call dfs_tls_from_config), the file's
from its `key:` and `#key:` lines (a commented line shows the default). A key added to
the code without its line in the file, or a line left for a key that is gone, fails.
No daemon is started."""

import glob
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check  # noqa: E402

# dfs_config_str/int/ms/bool and the daemons' small wrappers around them (int_key...)
CALL = re.compile(r'(?:dfs_config_(?:str|int|ms|bool)(?:_within)?|\w+_key)\(\s*[\w>.-]+\s*,\s*'
                  r'"([a-z_][a-z_.0-9]*)"')
ROW = re.compile(r'\{"([a-z_]+\.[a-z_.0-9]+)",\s*[01],')
COMMON = ("log.level", "insecure")
TLS = ("tls.enabled", "tls.require_client_cert", "tls.verify_hostname", "tls.ca", "tls.cert",
       "tls.key")
# keys the code builds at run time or reads under another name, and why
DYNAMIC = {
    "chunkd": {"meta.address.0": "meta.address given as a YAML list is read as meta.address.N"},
    "metad": {},
    "authd": {},
    "gateway": {},
}
# keys in the file on purpose that no dfs_config_* call names literally
FILE_ONLY = {
    "chunkd": {"scrub.rate": "the older name of scrub.bytes_per_s (chunkd reads either)"},
    "metad": {},
    "authd": {},
    "gateway": {},
}
# the config file of a daemon whose sources live elsewhere
CONFIG_NAME = {"gateway": "dfsgw"}


def code_keys(daemon):
    keys, tls = set(COMMON), False
    for path in glob.glob(os.path.join(harness.SOURCE, "src", daemon, "*.c")):
        text = open(path).read()
        keys |= set(CALL.findall(text)) | set(ROW.findall(text))
        tls |= "dfs_tls_from_config(" in text
    if tls:
        keys |= set(TLS)
    return keys - set(DYNAMIC[daemon])


def file_keys(path):
    keys, section = set(), None
    for line in open(path):
        m = re.match(r"^(#?)([a-z_0-9]+):\s*(.*?)\s*$", line)
        if m:
            section = m.group(2) if m.group(3) == "" else None
            if m.group(3) != "":
                keys.add(m.group(2))
            continue
        m = re.match(r"^  #?([a-z_0-9]+):", line)
        if m and section:
            keys.add(section + "." + m.group(1))
    return keys


def check_daemon(daemon):
    path = os.path.join(harness.SOURCE, "config", CONFIG_NAME.get(daemon, daemon) + ".yaml")
    code, listed = code_keys(daemon), file_keys(path) - set(FILE_ONLY[daemon])
    missing, stale = sorted(code - listed), sorted(listed - code)
    check(not missing, "config/%s.yaml lacks keys %s reads: %s (add a commented line with "
          "the default)" % (daemon, daemon, ", ".join(missing)))
    check(not stale, "config/%s.yaml lists keys %s does not read: %s" % (
        daemon, daemon, ", ".join(stale)))
    print("    %s: %d keys, all listed" % (daemon, len(code)), flush=True)


def main(r):
    for daemon in ("metad", "chunkd", "authd", "gateway"):
        r.case("config/%s.yaml lists exactly the keys %s reads" % (daemon, daemon),
               check_daemon, daemon)


if __name__ == "__main__":
    harness.run(main)
