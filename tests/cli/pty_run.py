#!/usr/bin/python3
"""Runs a command at a pseudo-terminal, as a user at a terminal would, and
prints what the terminal showed, then a line `exit=N` (-9: killed after
the timeout).

usage: pty_run.py [--cols N] [--stdin FILE] [--stdout FILE] [--timeout S]
                  -- CMD ARGS...

stderr is always the terminal; stdin and stdout are too unless a FILE is
given. The window is N columns wide (TIOCSWINSZ; default 80).
"""
import fcntl
import os
import pty
import select
import signal
import struct
import sys
import termios
import time


def main():
    args = sys.argv[1:]
    cols, stdin, stdout, timeout = 80, None, None, 10.0
    while args and args[0] != "--":
        key, val = args[0], args[1]
        args = args[2:]
        if key == "--cols":
            cols = int(val)
        elif key == "--stdin":
            stdin = val
        elif key == "--stdout":
            stdout = val
        elif key == "--timeout":
            timeout = float(val)
        else:
            sys.exit("pty_run.py: unknown option " + key)
    args = args[1:]
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, cols, 0, 0))
    pid = os.fork()
    if pid == 0:
        os.setsid()
        fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
        fin = os.open(stdin, os.O_RDONLY) if stdin else slave
        fout = (os.open(stdout, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
                if stdout else slave)
        os.dup2(fin, 0)
        os.dup2(fout, 1)
        os.dup2(slave, 2)
        os.closerange(3, 1024)
        os.execvp(args[0], args)
    os.close(slave)
    data = b""
    deadline = time.monotonic() + timeout
    killed = False
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            os.kill(pid, signal.SIGKILL)
            killed = True
            break
        ready, _, _ = select.select([master], [], [], left)
        if not ready:
            continue
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: every holder of the terminal has gone
            break
        if not chunk:
            break
        data += chunk
    _, status = os.waitpid(pid, 0)
    code = -9 if killed else os.waitstatus_to_exitcode(status)
    sys.stdout.buffer.write(data)
    sys.stdout.write("\nexit=%d\n" % code)


main()
