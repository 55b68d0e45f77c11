"""Shell text for our own iptables chains: made, filled, read and removed on a node.

Each fault has its own chain (``DH-PARTITION`` on INPUT, ``DH-LOSS`` on OUTPUT) so healing
one never touches the other or anything we did not add. A chain is replaced as a whole
with ``iptables-restore --noflush`` (atomic, and it flushes only the chains it names);
its first rule lets the control host's traffic through, so SSH always keeps working.
"""

from __future__ import annotations

from collections.abc import Sequence

IPTABLES = "iptables -w 10"
PARTITION = "DH-PARTITION"
LOSS = "DH-LOSS"
HOOKS = {PARTITION: "INPUT", LOSS: "OUTPUT"}
PREFIX = "DH-"


def _side(chain: str) -> str:
    """The address a rule of ``chain`` matches: the sender on INPUT, the receiver on OUTPUT."""
    return "-s" if HOOKS[chain] == "INPUT" else "-d"


def rules(chain: str, control: str | None, body: Sequence[str]) -> str:
    """Replace ``chain``'s rules with the control guard and ``body``, and hook it in."""
    lines = ["*filter", f":{chain} - [0:0]"]
    if control is not None:
        lines.append(f"-A {chain} {_side(chain)} {control} -j RETURN")
    lines += [f"-A {chain} {rule}" for rule in body]
    lines.append("COMMIT")
    hook = HOOKS[chain]
    text = "\n".join(lines)
    return (
        f"iptables-restore -w 10 --noflush <<'EOF'\n{text}\nEOF\n"
        f"{IPTABLES} -C {hook} -j {chain} 2>/dev/null || {IPTABLES} -I {hook} 1 -j {chain}"
    )


def drop_from(addresses: Sequence[str]) -> list[str]:
    """Partition rules: drop every packet that arrives from ``addresses``."""
    return [f"{_side(PARTITION)} {a} -j DROP" for a in addresses]


def lose_to(addresses: Sequence[str], probability: float) -> list[str]:
    """Loss rules: count every packet sent to each address, then drop it with ``probability``."""
    side = _side(LOSS)
    out = []
    for a in addresses:
        out.append(f"{side} {a}")
        out.append(f"{side} {a} -m statistic --mode random --probability {probability:.6f} -j DROP")
    return out


def counters(chain: str) -> str:
    """Print ``[packets:bytes] -A CHAIN …`` for every rule of ``chain``."""
    return f"iptables-save -c -t filter | grep -F -- '-A {chain} ' || true"


def parse_loss_counters(text: str) -> tuple[int, int]:
    """(packets counted, packets dropped) from ``counters(LOSS)`` output."""
    sent = dropped = 0
    for line in text.splitlines():
        if not line.startswith("["):
            continue
        packets = int(line[1:].split(":", 1)[0])
        if line.endswith("-j DROP"):
            dropped += packets
        elif " -j " not in line:
            sent += packets
    return sent, dropped


def remove(chain: str) -> str:
    """Unhook and delete ``chain``; nothing happens where it is absent (idempotent)."""
    hook = HOOKS[chain]
    return (
        f"while {IPTABLES} -D {hook} -j {chain} 2>/dev/null; do :; done; "
        f"{IPTABLES} -F {chain} 2>/dev/null || true; {IPTABLES} -X {chain} 2>/dev/null || true"
    )


def remove_all() -> str:
    """Remove every chain of ours, where iptables exists at all."""
    steps = "; ".join(remove(c) for c in HOOKS)
    return f"if command -v iptables >/dev/null 2>&1; then {steps}; fi"
