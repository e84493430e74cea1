"""Read a `/usr/bin/time -v` report: wall seconds, CPU seconds (user + system), peak RSS MB.

As a program: `python3 time_v.py FILE [DIGITS]` prints "wall cpu rss_mb" (wall and cpu with
DIGITS decimals, default 2). Imported: `parse(path) -> (wall, cpu, rss_mb)`.
"""
import sys


def parse(path):
    t = open(path).read()

    def g(k):
        for line in t.splitlines():
            if k in line:
                return line.rsplit(": ", 1)[1].strip()
        return "0"

    parts = [float(x) for x in g("Elapsed (wall clock) time").split(":")]
    wall = sum(p * 60 ** i for i, p in enumerate(reversed(parts)))
    cpu = float(g("User time")) + float(g("System time"))
    rss = int(g("Maximum resident set size")) / 1024
    return wall, cpu, rss


if __name__ == "__main__":
    d = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    wall, cpu, rss = parse(sys.argv[1])
    print(f"{wall:.{d}f} {cpu:.{d}f} {rss:.0f}")
