#!/usr/bin/env python3
"""Start or stop a real single-node SLURM cluster on localhost (for the workflow tests and demos).

    python tools/local_slurm.py start [--dir /tmp/mtpflow-slurm] [--timeout 60]
    python tools/local_slurm.py stop  [--dir /tmp/mtpflow-slurm]
    python tools/local_slurm.py status [--dir /tmp/mtpflow-slurm]

Follows the verified recipe in ../shared/docs/local-slurm.md: slurm-wlm and munge from Debian
(installed with apt-get when missing and running as root), munged/slurmctld/slurmd started without
systemd, readiness = `sinfo` shows the node idle, stop = kill the PIDs from the pid files this script
configured (never by process name). SLURM's own per-job record is written to <dir>/log/jobcomp.txt.

The configuration file path is fixed by SLURM (/etc/slurm/slurm.conf); a file there that this script
did not write is left alone unless --force is given (it is then kept as slurm.conf.mtpflow-backup).
`foreign_configuration()` says why a machine's SLURM set-up is not this script's (the workflow's
SLURM tests skip with that reason instead of touching a real cluster).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

CONF_PATH = Path("/etc/slurm/slurm.conf")
MARKER = "# written by mtpflow tools/local_slurm.py"
DEFAULT_DIR = Path(os.environ.get("MTPFLOW_SLURM_DIR", "/tmp/mtpflow-slurm"))
PARTITION = "main"
DAEMONS = ("slurmd", "slurmctld")  # stop order: node daemon first


class SlurmSetupError(RuntimeError):
    pass


def _written_here(path: Path) -> bool:
    return MARKER in path.read_text(errors="replace")


def foreign_configuration(conf_path: Path = CONF_PATH, env=None) -> str | None:
    """Why SLURM on this machine is configured by someone else (None when it is not): a SLURM_CONF
    pointing away from the file this script writes, or a configuration file without its marker.
    Reads only; never changes anything."""
    env = os.environ if env is None else env
    other = env.get("SLURM_CONF")
    if other and Path(other).resolve() != Path(conf_path).resolve():
        return (f"SLURM_CONF={other} points SLURM at another configuration than {conf_path}, which "
                "tools/local_slurm.py writes")
    conf = Path(conf_path)
    if conf.exists():
        try:
            if not _written_here(conf):
                return (f"{conf} exists and was not written by tools/local_slurm.py (a real cluster's "
                        "configuration); it is left alone")
        except OSError as exc:
            return f"{conf} exists and cannot be read ({exc.strerror}); it is left alone"
    return None


def _run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, check=False, text=True, capture_output=True, **kw)


def _sbin(name: str) -> str | None:
    return shutil.which(name) or next(
        (str(p) for p in (Path("/usr/sbin") / name, Path("/sbin") / name) if p.exists()), None
    )


def ensure_installed() -> None:
    """apt-get install slurm-wlm and munge when missing (root only)."""
    missing = [n for n in ("slurmctld", "slurmd", "munged", "sinfo", "srun") if _sbin(n) is None]
    if not missing:
        return
    if os.geteuid() != 0:
        raise SlurmSetupError(
            f"SLURM programs missing ({', '.join(missing)}) and not running as root: "
            "install them with `apt-get install slurm-wlm munge` (Debian) or run as root"
        )
    if shutil.which("apt-get") is None:
        raise SlurmSetupError("SLURM missing and apt-get not found: install slurm-wlm and munge")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    print("local_slurm: installing slurm-wlm and munge with apt-get (a minute or two)", flush=True)
    for cmd in (["apt-get", "update"], ["apt-get", "install", "-y", "slurm-wlm", "munge"]):
        res = _run(cmd, env=env)
        if res.returncode != 0:
            raise SlurmSetupError(f"{' '.join(cmd)} failed:\n{res.stdout[-2000:]}\n{res.stderr[-2000:]}")


def _mem_mib() -> int:
    with open("/proc/meminfo") as fh:
        for line in fh:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) // 1024
    raise SlurmSetupError("cannot read MemTotal from /proc/meminfo")


def slurm_conf(state_dir: Path, cpus: int, mem_mib: int) -> str:
    d = state_dir
    return f"""{MARKER} for state directory {d}
ClusterName=local
SlurmctldHost=localhost(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation={d}/state
SlurmdSpoolDir={d}/spool
SlurmctldPidFile={d}/slurmctld.pid
SlurmdPidFile={d}/slurmd.pid
SlurmctldLogFile={d}/log/slurmctld.log
SlurmdLogFile={d}/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=pmi2
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=500
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/filetxt
JobCompLoc={d}/log/jobcomp.txt
MinJobAge=600
ReturnToService=2
SlurmdTimeout=60
NodeName=localhost NodeAddr=127.0.0.1 CPUs={cpus} RealMemory={mem_mib} State=UNKNOWN
PartitionName={PARTITION} Nodes=localhost Default=YES MaxTime=INFINITE State=UP
"""


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _read_pid(path: Path) -> int | None:
    try:
        pid = int(path.read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if _pid_alive(pid) else None


def _munge_ok() -> bool:
    if shutil.which("munge") is None or shutil.which("unmunge") is None:
        return False
    enc = _run(["munge", "-n"])
    return enc.returncode == 0 and _run(["unmunge"], input=enc.stdout).returncode == 0


MUNGE_PID = Path("/run/munge/munged.pid")


def start_munge(state_dir: Path) -> None:
    """Start munged unless one works already; remember (state_dir/munged.started) that we did."""
    if _munge_ok():
        return
    key = Path("/etc/munge/munge.key")
    for d in ("/etc/munge", "/run/munge", "/var/lib/munge", "/var/log/munge"):
        Path(d).mkdir(parents=True, exist_ok=True)
        shutil.chown(d, "munge", "munge")
    if not key.exists() or key.stat().st_size < 32:
        key.write_bytes(os.urandom(1024))
    shutil.chown(key, "munge", "munge")
    key.chmod(0o400)
    res = _run(["runuser", "-u", "munge", "--", _sbin("munged") or "munged", "--force"])
    if res.returncode != 0:
        raise SlurmSetupError(f"munged failed to start: {res.stderr.strip()}")
    for _ in range(50):
        if _munge_ok():
            (state_dir / "munged.started").write_text(MUNGE_PID.read_text() if MUNGE_PID.exists() else "")
            return
        time.sleep(0.1)
    raise SlurmSetupError("munged started but `munge -n | unmunge` does not work")


def node_state() -> str:
    if shutil.which("sinfo") is None:
        return ""
    res = _run(["sinfo", "-h", "-o", "%t"])
    return res.stdout.strip() if res.returncode == 0 else ""


def is_ready() -> bool:
    return node_state() in ("idle", "mix", "alloc")


def start(state_dir: Path, timeout: float = 60.0, force: bool = False) -> None:
    if os.geteuid() != 0:
        raise SlurmSetupError("starting a local SLURM needs root (daemons run as root, conf in /etc)")
    ensure_installed()
    state_dir = state_dir.resolve()
    running = [n for n in DAEMONS if _read_pid(state_dir / f"{n}.pid")]
    if len(running) == len(DAEMONS) and is_ready():
        print(f"local_slurm: already running ({state_dir})")
        return
    if running:  # half-up from an earlier run: restart cleanly
        stop(state_dir)
    for sub in ("state", "spool", "log"):
        (state_dir / sub).mkdir(parents=True, exist_ok=True)
    if CONF_PATH.exists() and not _written_here(CONF_PATH):
        if not force:
            raise SlurmSetupError(
                f"{CONF_PATH} exists and was not written by this script: pass --force to replace it "
                "(it is kept as slurm.conf.mtpflow-backup)"
            )
        shutil.copy2(CONF_PATH, CONF_PATH.with_name("slurm.conf.mtpflow-backup"))
    CONF_PATH.parent.mkdir(parents=True, exist_ok=True)
    mem = max(500, int(_mem_mib() * 0.9))
    tmp = CONF_PATH.with_suffix(".tmp")
    tmp.write_text(slurm_conf(state_dir, os.cpu_count() or 1, mem))
    tmp.replace(CONF_PATH)
    start_munge(state_dir)
    for cmd in ([_sbin("slurmctld")], [_sbin("slurmd"), "-N", "localhost"]):
        res = _run(cmd)
        if res.returncode != 0:
            raise SlurmSetupError(
                f"{cmd[0]} failed to start ({res.returncode}): {res.stderr.strip()}; "
                f"see {state_dir}/log/"
            )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = node_state()
        if state in ("idle", "mix", "alloc"):
            print(f"local_slurm: ready (partition {PARTITION}, state dir {state_dir})")
            return
        if state.startswith("down") or state.startswith("drain"):
            _run(["scontrol", "update", "NodeName=localhost", "State=RESUME"])
        time.sleep(0.5)
    raise SlurmSetupError(
        f"SLURM not ready after {timeout:.0f} s (sinfo state {node_state()!r}); "
        f"see {state_dir}/log/slurmctld.log and slurmd.log"
    )


def stop(state_dir: Path, timeout: float = 20.0) -> None:
    """Stop slurmd and slurmctld by the PIDs in their pid files, and munged if we started it."""
    state_dir = state_dir.resolve()
    for name in DAEMONS:
        pid_file = state_dir / f"{name}.pid"
        pid = _read_pid(pid_file)
        if pid is None:
            continue
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while _pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if _pid_alive(pid):
            os.kill(pid, signal.SIGKILL)
        print(f"local_slurm: stopped {name} (pid {pid})")
    marker = state_dir / "munged.started"  # munged only when this script started it
    if marker.exists():
        pid = _read_pid(marker)
        if pid is not None:
            os.kill(pid, signal.SIGTERM)
            print(f"local_slurm: stopped munged (pid {pid})")
        marker.unlink()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("action", choices=("start", "stop", "status"))
    ap.add_argument("--dir", type=Path, default=DEFAULT_DIR, help="state/log directory")
    ap.add_argument("--timeout", type=float, default=60.0, help="readiness wait (s)")
    ap.add_argument("--force", action="store_true", help="replace a foreign /etc/slurm/slurm.conf")
    args = ap.parse_args(argv)
    try:
        if args.action == "start":
            start(args.dir, args.timeout, args.force)
        elif args.action == "stop":
            stop(args.dir)
        else:
            state = node_state()
            print(f"local_slurm: node state {state or 'unreachable'}")
            return 0 if state in ("idle", "mix", "alloc") else 1
    except SlurmSetupError as exc:
        print(f"local_slurm: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
