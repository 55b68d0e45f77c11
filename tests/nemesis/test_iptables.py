"""Our chains under real iptables, in a throw-away network namespace (``unshare -n``).

Nothing here touches the machine's own rules: each test runs the nemesis's shell text in
a namespace that dies with the command.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from nemesis import iptables

pytestmark = pytest.mark.privileged

CONTROL = "10.9.0.1"
FOREIGN = "iptables -w -N OTHER && iptables -w -A OTHER -s 1.2.3.4 -j DROP && " + (
    "iptables -w -I INPUT 1 -j OTHER && iptables -w -A OUTPUT -d 1.2.3.4 -j DROP"
)


def isolated(script: str) -> str:
    """Run ``script`` in a fresh network namespace (loopback up); its stdout."""
    r = subprocess.run(
        ["unshare", "-n", "sh", "-ec", f"ip link set lo up\n{script}"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    return r.stdout


def rules_of(save: str) -> list[str]:
    return [ln for ln in save.splitlines() if ln.startswith(("-A", ":")) and "DH-" in ln]


def test_a_partition_drops_from_the_grudge_and_never_the_control_host() -> None:
    body = iptables.drop_from(["10.9.0.13", "10.9.0.14"])
    out = isolated(f"{iptables.rules(iptables.PARTITION, CONTROL, body)}\niptables-save")
    assert rules_of(out) == [
        ":DH-PARTITION - [0:0]",
        "-A INPUT -j DH-PARTITION",
        f"-A DH-PARTITION -s {CONTROL}/32 -j RETURN",
        "-A DH-PARTITION -s 10.9.0.13/32 -j DROP",
        "-A DH-PARTITION -s 10.9.0.14/32 -j DROP",
    ]


def test_replacing_and_removing_our_chains_leaves_other_rules_alone() -> None:
    ours = [
        iptables.rules(iptables.PARTITION, CONTROL, iptables.drop_from(["10.9.0.13"])),
        iptables.rules(iptables.LOSS, CONTROL, iptables.lose_to(["10.9.0.12"], 0.5)),
        iptables.rules(iptables.PARTITION, CONTROL, iptables.drop_from(["10.9.0.15"])),
    ]
    saved = "iptables-save | grep -v '^#'"
    script = "\n".join([FOREIGN, f"{saved} > /tmp/before.$$", *ours, "iptables-save", "echo ====="])
    script += f"\n{iptables.remove_all()}\n{iptables.remove_all()}\niptables-save\n"
    script += f"{saved} | diff - /tmp/before.$$ >&2; rm /tmp/before.$$"
    during, after = isolated(script).split("=====")
    assert "-A DH-PARTITION -s 10.9.0.15/32 -j DROP" in during
    assert "10.9.0.13" not in during  # replaced, not appended
    assert during.count("-j DH-PARTITION") == 1 and during.count("-j DH-LOSS") == 1
    assert "DH-" not in after
    assert "-A OTHER -s 1.2.3.4/32 -j DROP" in after and "-A INPUT -j OTHER" in after


PROBE = """
import socket, sys
n = int(sys.argv[1])
rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
rx.bind(("127.0.0.2", 9999))
rx.settimeout(0.5)
tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
got = 0
for i in range(n):
    try:  # a packet iptables drops on OUTPUT fails the send with EPERM
        tx.sendto(b"x", ("127.0.0.2", 9999))
        rx.recv(16)
        got += 1
    except (PermissionError, TimeoutError):
        pass
print(got)
"""


def test_loss_drops_packets_at_about_the_asked_rate_and_counts_them() -> None:
    n, p = 2000, 0.3
    start = iptables.rules(iptables.LOSS, CONTROL, iptables.lose_to(["127.0.0.2"], p))
    count = iptables.counters(iptables.LOSS)
    out = isolated(f"{start}\n{sys.executable} -c '{PROBE}' {n}\necho =====\n{count}")
    received, counters = out.split("=====")
    lost = 1 - int(received) / n
    sent, dropped = iptables.parse_loss_counters(counters)
    assert sent == n and dropped == n - int(received)
    sd = (p * (1 - p) / n) ** 0.5
    assert abs(lost - p) < 5 * sd, f"asked {p}, lost {lost:.3f}"


def test_counters_parse_counting_and_drop_rules_but_not_the_guard() -> None:
    text = (
        "[7:420] -A DH-LOSS -d 10.9.0.1/32 -j RETURN\n"
        "[100:6000] -A DH-LOSS -d 10.9.0.12/32\n"
        "[21:1260] -A DH-LOSS -d 10.9.0.12/32 -m statistic --mode random "
        "--probability 0.20000000019 -j DROP\n"
    )
    assert iptables.parse_loss_counters(text) == (100, 21)
