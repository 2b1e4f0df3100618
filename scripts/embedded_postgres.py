"""Embedded PostgreSQL from the binaries bundled in the `pgserver` wheel, run detached under the data dir."""
from __future__ import annotations

import contextlib
import os
import pwd
import shlex
import stat
import urllib.parse
from pathlib import Path

import psutil

from embedded_common import (DEFAULT_DATA_DIR, START_TIMEOUT, STOP_TIMEOUT, EmbeddedError, live_process, locked,
                             package_dir, read_int, run, tail, wait_until)

PG_ROLE = "postgres"
PG_DATABASES = ("herald", "herald_test")
PG_PORT = 5432
# Same account the pgserver package creates, so a data dir it made stays usable.
PG_OS_ACCOUNT = "pgserver"
# Room for 2 gunicorn workers x 8 threads, celery children, flower and bench
# clients, each with its own SQLAlchemy pool.
PG_MAX_CONNECTIONS = 200

INITDB_TIMEOUT = 180.0
CONNECT_TIMEOUT = 5
# Longest unix socket path the kernel accepts (sun_path minus the NUL).
MAX_SOCKET_PATH = 107


def postgres_dir(data_dir: Path = DEFAULT_DATA_DIR) -> Path:
    """Cluster directory; the server's unix socket lives here too."""
    return Path(data_dir).resolve() / "pg"


def postgres_url(data_dir: Path = DEFAULT_DATA_DIR, database: str = "herald") -> str:
    """SQLAlchemy URL for psycopg2 over the embedded server's unix socket."""
    host = urllib.parse.quote(str(postgres_dir(data_dir)), safe="/")
    return f"postgresql+psycopg2://{PG_ROLE}@/{database}?host={host}"


def _pg_bin(name: str) -> str:
    """Path of a binary bundled with pgserver."""
    return str(_pg_install() / "bin" / name)


def _pg_install() -> Path:
    """pgserver's bundled PostgreSQL installation."""
    return package_dir("pgserver") / "pginstall"


def _pg_log(data_dir: Path) -> Path:
    """Server log file."""
    return Path(data_dir).resolve() / "logs" / "postgres.log"


def _server_account(pgdir: Path) -> pwd.struct_passwd | None:
    """Unprivileged account to run postgres as, or None when not root."""
    if os.geteuid() != 0:
        return None
    # postgres refuses to run as root; like pgserver, use a dedicated account,
    # or whoever already owns an existing cluster.
    with contextlib.suppress(OSError, KeyError):
        owner = pgdir.stat().st_uid
        if owner != 0:
            return pwd.getpwuid(owner)
    try:
        return pwd.getpwnam(PG_OS_ACCOUNT)
    except KeyError:
        pass
    code, out = run(["useradd", "--system", "--user-group", "--no-create-home",
                      "--shell", "/usr/sbin/nologin", PG_OS_ACCOUNT],
                     timeout=30, work_dir=pgdir.parent)
    if code != 0:
        raise EmbeddedError(f"postgres cannot run as root and useradd {PG_OS_ACCOUNT} failed:\n{out}")
    return pwd.getpwnam(PG_OS_ACCOUNT)


def _as_account(account: pwd.struct_passwd | None) -> dict:
    """subprocess keyword arguments that drop root privileges to account."""
    if account is None:
        return {}
    # Clear supplementary groups too, or the server would keep root's group.
    return {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}


def _ensure_traversable(path: Path) -> None:
    """Let other users reach path (o+x on every ancestor lacking it)."""
    for parent in [path, *path.parents]:
        mode = parent.stat().st_mode
        if not mode & stat.S_IXOTH:
            parent.chmod(mode | stat.S_IXOTH)


def _ensure_install_readable(install: Path) -> None:
    """Make pgserver's binaries usable by the unprivileged server account."""
    _ensure_traversable(install)
    if os.stat(install / "bin" / "postgres").st_mode & stat.S_IXOTH:
        return
    # Only reached when pip ran under a restrictive umask.
    for dirpath, _dirs, files in os.walk(install):
        Path(dirpath).chmod(Path(dirpath).stat().st_mode | stat.S_IROTH | stat.S_IXOTH)
        for name in files:
            path = Path(dirpath) / name
            mode = path.stat().st_mode
            extra = stat.S_IROTH | (stat.S_IXOTH if mode & stat.S_IXUSR else 0)
            path.chmod(mode | extra)


def _pg_socket(pgdir: Path) -> Path:
    """The server's unix socket file."""
    return pgdir / f".s.PGSQL.{PG_PORT}"


def _pg_connect(pgdir: Path, database: str = "postgres"):
    """Open a psycopg2 connection over the unix socket."""
    import psycopg2  # deferred: only needed once a server is involved

    return psycopg2.connect(host=str(pgdir), port=PG_PORT, user=PG_ROLE,
                            dbname=database, connect_timeout=CONNECT_TIMEOUT)


def _pg_accepting(pgdir: Path) -> bool:
    """True when the server answers a connection on its socket."""
    import psycopg2

    if not _pg_socket(pgdir).exists():
        return False
    try:
        _pg_connect(pgdir).close()
        return True
    except psycopg2.OperationalError:
        return False


def _postgres_process(pid: int | None) -> psutil.Process | None:
    """The live postgres process with this pid, if that is what it is."""
    proc = live_process(pid)
    try:
        return proc if proc is not None and proc.name() == "postgres" else None
    except psutil.Error:
        return None


def _postmaster(pgdir: Path) -> psutil.Process | None:
    """The running postmaster for this cluster, if any."""
    return _postgres_process(read_int(pgdir / "postmaster.pid"))


def _clear_stale_locks(pgdir: Path) -> None:
    """Remove lock files whose postmaster is gone, a zombie, or a reused pid."""
    # postgres treats any live pid in its lock files as a running postmaster
    # and refuses to start, zombies included.
    for lock in (pgdir / "postmaster.pid", pgdir / f".s.PGSQL.{PG_PORT}.lock"):
        if lock.exists() and _postgres_process(read_int(lock)) is None:
            lock.unlink(missing_ok=True)


def _initdb(pgdir: Path, account: pwd.struct_passwd | None) -> None:
    """Create a new cluster with trust auth for local connections."""
    pgdir.mkdir(mode=0o700, parents=True, exist_ok=True)
    if account is not None:
        os.chown(pgdir, account.pw_uid, account.pw_gid)
    argv = [_pg_bin("initdb"), "-D", str(pgdir), "-U", PG_ROLE, "--auth=trust",
            "--encoding=UTF8", "--no-locale"]
    code, out = run(argv, INITDB_TIMEOUT, pgdir.parent, cwd=pgdir, **_as_account(account))
    if code != 0:
        raise EmbeddedError(f"initdb failed in {pgdir}:\n{out}")


def _start_postgres(data_dir: Path) -> None:
    """initdb if needed, then start the server detached and wait until it accepts."""
    pgdir = postgres_dir(data_dir)
    if len(str(_pg_socket(pgdir))) > MAX_SOCKET_PATH:
        raise EmbeddedError(f"{pgdir} is too deep for a unix socket path; use a shorter data dir")
    pgdir.parent.mkdir(parents=True, exist_ok=True)
    account = _server_account(pgdir)
    log = _pg_log(data_dir)
    log.parent.mkdir(parents=True, exist_ok=True)
    log.touch()
    if account is not None:
        _ensure_install_readable(_pg_install())
        _ensure_traversable(pgdir.parent)
        _ensure_traversable(log.parent)
        os.chown(log, account.pw_uid, account.pw_gid)
    if not (pgdir / "PG_VERSION").exists():
        _initdb(pgdir, account)
    if _postmaster(pgdir) is not None:
        # Already starting up or recovering: give it the same time to get ready.
        if wait_until(lambda: _pg_accepting(pgdir), START_TIMEOUT):
            return
        raise EmbeddedError(f"postgres in {pgdir} runs but does not accept connections:\n{tail(log)}")
    _clear_stale_locks(pgdir)
    # pg_ctl forks the postmaster into its own session, so it outlives us.
    options = (f"-c listen_addresses='' -c max_connections={PG_MAX_CONNECTIONS} "
               f"-p {PG_PORT} -k {shlex.quote(str(pgdir))}")
    argv = [_pg_bin("pg_ctl"), "-D", str(pgdir), "-l", str(log), "-o", options,
            "-w", "-t", str(int(START_TIMEOUT)), "start"]
    code, out = run(argv, START_TIMEOUT + 30, pgdir.parent, cwd=pgdir, **_as_account(account))
    if code != 0 or not wait_until(lambda: _pg_accepting(pgdir), 10):
        raise EmbeddedError(f"postgres failed to start in {pgdir}:\n{out}\n--- {log}:\n{tail(log)}")


def _create_databases(pgdir: Path) -> None:
    """Create the app and test databases if missing."""
    import psycopg2
    from psycopg2 import errors, sql

    conn = _pg_connect(pgdir)
    try:
        # CREATE DATABASE cannot run inside a transaction block.
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("SELECT datname FROM pg_database WHERE datname = ANY(%s)",
                        (list(PG_DATABASES),))
            present = {row[0] for row in cur.fetchall()}
            for name in PG_DATABASES:
                if name in present:
                    continue
                with contextlib.suppress(errors.DuplicateDatabase):
                    cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    except psycopg2.Error as exc:
        raise EmbeddedError(f"could not create databases in {pgdir}: {exc}") from exc
    finally:
        conn.close()


def ensure_postgres(data_dir: Path = DEFAULT_DATA_DIR) -> str:
    """Return DATABASE_URL, starting the embedded server under data_dir if needed."""
    if os.environ.get("DATABASE_URL"):
        return os.environ["DATABASE_URL"]
    data_dir = Path(data_dir).resolve()
    pgdir = postgres_dir(data_dir)
    with locked(data_dir):
        if not _pg_accepting(pgdir):
            _start_postgres(data_dir)
        _create_databases(pgdir)
    return postgres_url(data_dir)


def stop_postgres(data_dir: Path = DEFAULT_DATA_DIR) -> bool:
    """Stop the embedded server if it runs; return True if one was stopped."""
    data_dir = Path(data_dir).resolve()
    pgdir = postgres_dir(data_dir)
    if not (pgdir / "PG_VERSION").exists():
        return False
    with locked(data_dir):
        postmaster = _postmaster(pgdir)
        if postmaster is None:
            return False
        account = _server_account(pgdir)
        for mode in ("fast", "immediate"):
            argv = [_pg_bin("pg_ctl"), "-D", str(pgdir), "-m", mode, "-w",
                    "-t", str(int(STOP_TIMEOUT)), "stop"]
            run(argv, STOP_TIMEOUT + 15, data_dir, cwd=pgdir, **_as_account(account))
            if wait_until(lambda: live_process(postmaster.pid) is None, 5):
                return True
        # Both shutdown modes failed: the postmaster is wedged.
        with contextlib.suppress(psutil.Error):
            postmaster.kill()
        if not wait_until(lambda: live_process(postmaster.pid) is None, 5):
            raise EmbeddedError(f"postgres pid {postmaster.pid} would not stop")
        return True


def postgres_status(data_dir: Path = DEFAULT_DATA_DIR) -> dict:
    """Describe the embedded server: state, pid and URL."""
    pgdir = postgres_dir(data_dir)
    postmaster = _postmaster(pgdir) if pgdir.exists() else None
    state = "stopped"
    if postmaster is not None:
        state = "running" if _pg_accepting(pgdir) else "not accepting"
    return {"name": "postgres", "state": state, "pid": postmaster.pid if postmaster else None,
            "url": postgres_url(data_dir)}
