"""Read CPU time, RSS and fd limits from /proc, so each scenario can show who was busy."""

from __future__ import annotations

import os
import resource
from dataclasses import dataclass

CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> tuple[float, float]:
    """(user, system) CPU time of a process (all its threads), in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # fields[0] is the state (field 3 of stat); utime and stime are fields 14 and 15.
    return int(fields[11]) / CLK_TCK, int(fields[12]) / CLK_TCK


def runqueue_wait_seconds(pid: int) -> float:
    """Time the process's threads spent runnable but waiting for a CPU (from schedstat).

    High values mean the process was starved by other work on the machine, not idle.
    """
    total = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/schedstat") as f:
                total += int(f.read().split()[1])
        except FileNotFoundError:  # the thread ended between listdir and open
            continue
    return total / 1e9


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def nofile_limit(pid: int) -> tuple[int, int]:
    """(soft, hard) RLIMIT_NOFILE of another process, as it is now."""
    with open(f"/proc/{pid}/limits") as f:
        for line in f:
            if line.startswith("Max open files"):
                soft, hard = line.split()[3:5]
                return int(soft), int(hard)
    raise RuntimeError(f"no fd limit for pid {pid}")


def raise_nofile(wanted: int) -> int:
    """Raise our soft fd limit towards `wanted` (capped by the hard limit); children inherit it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    return soft


@dataclass(frozen=True)
class SystemCpu:
    """Machine-wide CPU seconds, to tell our load from other tenants'.

    Interrupt time is kept apart: the kernel charges loopback TCP receive processing to
    softirq, not to the process that caused it, so it is our traffic, not another tenant's.
    """

    busy: float  # user + nice + system (process context)
    irq: float  # irq + softirq
    total: float

    @staticmethod
    def read() -> SystemCpu:
        with open("/proc/stat") as f:
            user, nice, system, idle, iowait, irq, softirq, steal = (int(v) for v in f.readline().split()[1:9])
        total = user + nice + system + idle + iowait + irq + softirq + steal
        return SystemCpu((user + nice + system) / CLK_TCK, (irq + softirq) / CLK_TCK, total / CLK_TCK)
