#!/usr/bin/env python3
# Plays systemd for the socket-activation tests: opens the listening sockets
# once, starts the command with them as descriptors 3, 4, ... (LISTEN_FDS,
# LISTEN_PID set in the child after fork, as sd_listen_fds(3) expects, and
# LISTEN_FDNAMES), and stops and starts it again on request while holding
# the sockets, as `systemctl restart` does with a .socket unit. It never
# reads the sockets itself.
#
#   socket-manager.py [--udp HOST:PORT]... [--tcp HOST:PORT]... [--reuseport]
#                     [--log FILE] -- COMMAND [ARGS...]
#
# Port 0 means one free port for every socket (found with the first one).
# Reads commands on stdin, one a line: start, restart, stop, quit. Writes one
# JSON line per event on stdout: {"ports": [...]} once bound, then
# {"event": "started", "pid"}, {"event": "exited", "pid", "code"} and, for
# restart, {"event": "restarted", "stopMs"} (how long the old process took).

import fcntl
import json
import os
import select
import signal
import socket
import subprocess
import sys
import time

RECEIVE_BUFFER = 4 * 1024 * 1024


def parse_args(argv):
    specs, reuseport, log, command = [], False, None, None
    i = 0
    while i < len(argv):
        a = argv[i]
        if a in ('--udp', '--tcp'):
            host, _, port = argv[i + 1].rpartition(':')
            specs.append((a[2:], host.strip('[]'), int(port)))
            i += 2
        elif a == '--reuseport':
            reuseport = True
            i += 1
        elif a == '--log':
            log = argv[i + 1]
            i += 2
        elif a == '--':
            command = argv[i + 1:]
            break
        else:
            sys.exit(f'socket-manager: unknown argument {a}')
    if not specs or not command:
        sys.exit('usage: socket-manager.py [--udp HOST:PORT]... [--tcp HOST:PORT]... [--reuseport] [--log FILE] -- COMMAND...')
    return specs, reuseport, log, command


def open_sockets(specs, reuseport):
    for attempt in range(20):
        port, sockets = None, []
        try:
            for kind, host, wanted in specs:
                family = socket.AF_INET6 if ':' in host else socket.AF_INET
                s = socket.socket(family, socket.SOCK_DGRAM if kind == 'udp' else socket.SOCK_STREAM)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                if reuseport:
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
                if family == socket.AF_INET6:
                    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                if kind == 'udp':
                    # What ReceiveBuffer= does: room for the queries that arrive while no process reads.
                    try:
                        s.setsockopt(socket.SOL_SOCKET, 33, RECEIVE_BUFFER)  # SO_RCVBUFFORCE (root)
                    except OSError:
                        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
                s.bind((host, wanted or port or 0))
                if kind == 'tcp':
                    s.listen(128)
                port = port or s.getsockname()[1]
                sockets.append(s)
            return sockets, port
        except OSError:
            for s in sockets:
                s.close()
            if all(p != 0 for _, _, p in specs) or attempt == 19:
                raise
    raise RuntimeError('no free port')


def emit(event):
    sys.stdout.write(json.dumps(event) + '\n')
    sys.stdout.flush()


def start(sockets, command, log):
    fds = [s.fileno() for s in sockets]
    out = open(log, 'ab') if log else None
    pid = os.fork()
    if pid == 0:
        if out:
            os.dup2(out.fileno(), 1)
            os.dup2(out.fileno(), 2)
        # Move the sockets to 3, 4, ... by way of descriptors above that range, so that none is overwritten early.
        top = 3 + len(fds)
        high = [fcntl.fcntl(fd, fcntl.F_DUPFD, top) for fd in fds]
        for i, fd in enumerate(high):
            os.dup2(fd, 3 + i, inheritable=True)
        os.closerange(top, 4096)
        env = dict(os.environ, LISTEN_FDS=str(len(fds)), LISTEN_PID=str(os.getpid()), LISTEN_FDNAMES=':'.join(['aifence.socket'] * len(fds)))
        os.execvpe(command[0], command, env)
    if out:
        out.close()
    emit({'event': 'started', 'pid': pid})
    return pid


def stop(pid):
    """SIGTERM, then wait (SIGKILL after 15 s, as TimeoutStopSec=15s)."""
    t0 = time.monotonic()
    os.kill(pid, signal.SIGTERM)
    deadline = t0 + 15
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
        time.sleep(0.002)
    emit({'event': 'exited', 'pid': pid, 'code': os.waitstatus_to_exitcode(status)})
    return (time.monotonic() - t0) * 1000


def reaped(pid):
    """True (and reported) when the process has exited by itself."""
    done, status = os.waitpid(pid, os.WNOHANG)
    if done:
        emit({'event': 'exited', 'pid': pid, 'code': os.waitstatus_to_exitcode(status)})
    return bool(done)


def main():
    specs, reuseport, log, command = parse_args(sys.argv[1:])
    sockets, port = open_sockets(specs, reuseport)
    emit({'ports': [s.getsockname()[1] for s in sockets], 'port': port})
    pid = None
    pending = b''
    while True:
        if pid is not None and reaped(pid):
            pid = None
        if not select.select([0], [], [], 0.05)[0]:
            continue
        chunk = os.read(0, 4096)
        if not chunk:
            break
        pending += chunk
        while b'\n' in pending:
            line, pending = pending.split(b'\n', 1)
            what = line.decode().strip()
            if what == 'start' and pid is None:
                pid = start(sockets, command, log)
            elif what == 'restart' and pid is not None:
                stop_ms = stop(pid)
                pid = start(sockets, command, log)
                emit({'event': 'restarted', 'stopMs': round(stop_ms, 1)})
            elif what == 'stop' and pid is not None:
                stop(pid)
                pid = None
            elif what == 'quit':
                pending = None
                break
        if pending is None:
            break
    if pid is not None:
        stop(pid)


if __name__ == '__main__':
    main()
