#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Print the tables and ratios of scripts/bench-copy.sh.

    report.py RESULTS [--markdown FILE]

RESULTS holds one measurement per line as key=value words (a line starting
with "meta" describes the run). Prints per-run tables, the ratios, and the
targets of issue 2 judged on the worst run. With --markdown the same goes
to FILE as Markdown, for BENCHMARKS.md.
"""
import argparse
import statistics
import sys

MIB = 1 << 20

# Targets of issue 2.
TARGET_SPEEDUP = 2.0  # full copy: rbd pipe time / rbdmove copy time
TARGET_DELTA_RATIO = 1.1  # delta: bytes streamed / bytes written
TARGET_RSS_MIB = 256  # peak RSS of rbdmove

LABELS = {
    "rbdmove-copy": "rbdmove copy",
    "rbd-pipe": "rbd export-diff | rbd import-diff",
    "rbdmove-export": "rbdmove export-diff | wc -c",
    "rbd-export": "rbd export-diff | wc -c",
}


def parse(path):
    meta, rows = {}, []
    for line in open(path):
        words = line.split()
        if not words:
            continue
        kv = dict(w.split("=", 1) for w in words if "=" in w)
        if words[0] == "meta":
            meta.update(kv)
        else:
            rows.append(kv)
    return meta, rows


def num(v, default=None):
    try:
        return float(v)
    except (TypeError, ValueError):
        return default


def mib(v):
    return "-" if v is None else f"{v / MIB:.1f} MiB"


def find(rows, run, phase, tool, **kw):
    for r in rows:
        if (
            r.get("run") == str(run)
            and r.get("phase") == phase
            and r.get("tool") == tool
            and all(r.get(k) == str(v) for k, v in kw.items())
        ):
            return r
    return None


class Out:
    """Writes plain text to stdout and, optionally, Markdown to a file."""

    def __init__(self, md_path):
        self.md = [] if md_path else None
        self.md_path = md_path

    def text(self, s=""):
        print(s)
        if self.md is not None:
            self.md.append(s)

    def table(self, head, rows, align=None):
        widths = [max(len(str(x)) for x in col) for col in zip(head, *rows)]
        align = align or ["<"] + [">"] * (len(head) - 1)

        def fmt(r):
            return "  ".join(f"{str(x):{a}{w}}" for x, a, w in zip(r, align, widths))

        print(fmt(head))
        print("  ".join("-" * w for w in widths))
        for r in rows:
            print(fmt(r))
        print()
        if self.md is not None:
            def cell(x):
                return str(x).replace("|", "\\|")

            self.md.append("| " + " | ".join(cell(x) for x in head) + " |")
            self.md.append(
                "|" + "|".join("---:" if a == ">" else ":---" for a in align) + "|"
            )
            for r in rows:
                self.md.append("| " + " | ".join(cell(x) for x in r) + " |")
            self.md.append("")

    def close(self):
        if self.md is not None:
            with open(self.md_path, "w") as f:
                f.write("\n".join(self.md) + "\n")


def ratio(a, b):
    return a / b if a is not None and b else None


def fx(v, digits=2):
    return "-" if v is None else f"{v:.{digits}f}x"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("results")
    ap.add_argument("--markdown")
    a = ap.parse_args()
    meta, rows = parse(a.results)
    out = Out(a.markdown)
    runs = sorted({int(r["run"]) for r in rows if "run" in r})
    if not runs:
        sys.exit("report: no measurements")

    out.text(
        f"Measured {meta.get('date', '?')}, commit {meta.get('commit', '?')}, "
        f"{meta.get('cores', '?')} cores, {meta.get('mem_gib', '?')} GiB RAM, "
        f"ceph {meta.get('ceph', '?')} (memstore lab {meta.get('lab', '?')}), "
        f"{len(runs)} runs in {meta.get('total_seconds', '?')} s."
    )
    out.text(
        f"Image {mib(num(meta.get('image')))} with {mib(num(meta.get('fill')))} "
        f"of random data in {mib(num(meta.get('fill_extent')))} extents at random "
        f"aligned offsets; delta {mib(num(meta.get('delta')))} in "
        f"{int(num(meta.get('delta_write'), 0)) >> 10} KiB writes at random "
        f"aligned offsets over the whole image (no two overlap)."
    )
    out.text()

    summary = {
        "speedup": [],
        "delta_speedup": [],
        "speedup_snap": [],
        "delta_speedup_snap": [],
        "speedup_xfer": [],
        "delta_copy_ratio": [],
        "delta_stream_ratio": [],
        "delta_rbd_ratio": [],
        "rss": [],
        "equal": [],
    }
    windows = {}
    for run in runs:
        out.text(f"Run {run}:")
        out.text()
        table = []
        for phase in ("full", "delta"):
            for tool in ("rbdmove-copy", "rbd-pipe", "rbdmove-export", "rbd-export"):
                r = find(rows, run, phase, tool)
                if not r:
                    continue
                if tool == "rbd-pipe":
                    rss = f"{num(r['rss']) / 1024:.0f} / {num(r['rss2']) / 1024:.0f} MiB"
                elif "rss" in r:
                    rss = f"{num(r['rss']) / 1024:.0f} MiB"
                else:
                    rss = "-"
                if tool == "rbdmove-copy":
                    moved = f"{mib(num(r['bytes']))} data (+{mib(num(r['zero']))} zeros read)"
                elif tool == "rbd-pipe":
                    s = find(rows, run, phase, "rbd-export")
                    moved = f"{mib(num(s['bytes']))} stream" if s else "-"
                else:
                    moved = f"{mib(num(r['bytes']))} stream"
                table.append(
                    [
                        phase,
                        LABELS[tool],
                        f"{num(r['wall']):.2f}",
                        f"{num(r['transfer']):.2f}" if "transfer" in r else "-",
                        r.get("cpu", "-"),
                        moved,
                        rss,
                    ]
                )
                snaps = find(rows, run, phase, "rbd-snaps")
                if tool == "rbd-pipe" and snaps:
                    table.append(
                        [
                            phase,
                            "  the same + rbd snap create/rm (as rbdmove does)",
                            f"{num(r['wall']) + num(snaps['wall']):.2f}",
                            "-",
                            "-",
                            "",
                            "",
                        ]
                    )
        out.table(
            ["phase", "command", "time s", "transfer s", "CPU s", "moved", "peak RSS"],
            table,
        )

        full_m = find(rows, run, "full", "rbdmove-copy")
        full_r = find(rows, run, "full", "rbd-pipe")
        delta_m = find(rows, run, "delta", "rbdmove-copy")
        delta_r = find(rows, run, "delta", "rbd-pipe")
        dexp_m = find(rows, run, "delta", "rbdmove-export")
        dexp_r = find(rows, run, "delta", "rbd-export")
        written = num(meta.get("delta"))
        sp = ratio(num(full_r["wall"]), num(full_m["wall"])) if full_m and full_r else None
        dsp = ratio(num(delta_r["wall"]), num(delta_m["wall"])) if delta_m and delta_r else None
        fs = find(rows, run, "full", "rbd-snaps")
        ds = find(rows, run, "delta", "rbd-snaps")
        sp_snap = (
            ratio(num(full_r["wall"]) + num(fs["wall"]), num(full_m["wall"]))
            if full_m and full_r and fs
            else None
        )
        dsp_snap = (
            ratio(num(delta_r["wall"]) + num(ds["wall"]), num(delta_m["wall"]))
            if delta_m and delta_r and ds
            else None
        )
        sp_xfer = (
            ratio(num(full_r["wall"]), num(full_m["transfer"]))
            if full_m and full_r and "transfer" in full_m
            else None
        )
        dcopy = ratio(num(delta_m["bytes"]), written) if delta_m else None
        dstream = ratio(num(dexp_m["bytes"]), written) if dexp_m else None
        drbd = ratio(num(dexp_r["bytes"]), written) if dexp_r else None
        rss = max(
            num(r["rss"]) / 1024
            for r in rows
            if r.get("run") == str(run)
            and r.get("tool") == "rbdmove-copy"
            and r.get("phase") in ("full", "delta")
        )
        summary["speedup"].append(sp)
        summary["delta_speedup"].append(dsp)
        summary["speedup_snap"].append(sp_snap)
        summary["delta_speedup_snap"].append(dsp_snap)
        summary["speedup_xfer"].append(sp_xfer)
        summary["delta_copy_ratio"].append(dcopy)
        summary["delta_stream_ratio"].append(dstream)
        summary["delta_rbd_ratio"].append(drbd)
        summary["rss"].append(rss)
        out.text(
            f"- rbd pipe time / rbdmove copy time: full copy {fx(sp)}, delta {fx(dsp)}; "
            f"with the rbd CLI doing the same snapshot work: full {fx(sp_snap)}, "
            f"delta {fx(dsp_snap)}; rbd pipe time / rbdmove's transfer alone "
            f"(full): {fx(sp_xfer)}"
        )
        out.text(
            f"- delta bytes / bytes written: rbdmove copy data {fx(dcopy)}, "
            f"rbdmove export-diff stream {fx(dstream)}, rbd export-diff stream {fx(drbd)}"
        )
        out.text(f"- peak RSS of rbdmove copy (default window): {rss:.0f} MiB")
        for phase in ("full", "delta"):
            cm = find(rows, run, phase, "check-rbdmove")
            cr = find(rows, run, phase, "check-rbd")
            if cm or cr:
                em = cm.get("equal") if cm else "-"
                er = cr.get("equal") if cr else "-"
                summary["equal"].append(em == "yes" and er == "yes")
                out.text(
                    f"- {phase}: destination equal to the source (rbd export | sha256): "
                    f"rbdmove {em}, rbd {er}"
                )
        setup = {}
        for r in rows:
            if r.get("run") == str(run) and r.get("phase") == "setup":
                setup[r["tool"]] = setup.get(r["tool"], 0) + num(r["wall"], 0)
        if setup:
            out.text(
                "- setup, not part of any comparison: "
                + ", ".join(f"{k} {v:.1f} s" for k, v in setup.items())
            )
        for r in rows:
            if r.get("run") == str(run) and r.get("phase") == "window":
                windows.setdefault(int(r["window"]), []).append(r)
        out.text()

    if windows:
        out.text("Full copy of the source head (fill + delta) by --window:")
        out.text()
        table = []
        for w in sorted(windows):
            rs = windows[w]
            walls = [num(r["wall"]) for r in rs]
            table.append(
                [
                    str(w),
                    " / ".join(f"{x:.2f}" for x in walls),
                    f"{statistics.median(walls):.2f}",
                    " / ".join(f"{num(r.get('transfer'), 0):.2f}" for r in rs),
                    " / ".join(r["cpu"] for r in rs),
                    f"{max(num(r['rss']) for r in rs) / 1024:.0f} MiB",
                ]
            )
        out.table(
            ["window", "time s (each run)", "median s", "transfer s", "CPU s", "peak RSS"],
            table,
        )

    def worst(key, fn):
        vals = [v for v in summary[key] if v is not None]
        return fn(vals) if vals else None

    sp = worst("speedup", min)
    dr = worst("delta_copy_ratio", max)
    ds = worst("delta_stream_ratio", max)
    rss = worst("rss", max)
    allok = all(summary["equal"]) and summary["equal"]

    def verdict(ok):
        return "MET" if ok else "NOT MET"

    out.text("Targets (issue 2), judged on the worst run:")
    out.text()
    out.table(
        ["target", "measured (worst run)", "all runs", "status"],
        [
            [
                f"full copy >= {TARGET_SPEEDUP:g}x faster than the rbd pipe",
                fx(sp),
                ", ".join(fx(v) for v in summary["speedup"]),
                verdict(sp is not None and sp >= TARGET_SPEEDUP),
            ],
            [
                f"delta bytes <= {TARGET_DELTA_RATIO:g}x written (rbdmove copy data)",
                fx(dr),
                ", ".join(fx(v) for v in summary["delta_copy_ratio"]),
                verdict(dr is not None and dr <= TARGET_DELTA_RATIO),
            ],
            [
                f"delta bytes <= {TARGET_DELTA_RATIO:g}x written (rbdmove export-diff stream)",
                fx(ds),
                ", ".join(fx(v) for v in summary["delta_stream_ratio"]),
                verdict(ds is not None and ds <= TARGET_DELTA_RATIO),
            ],
            [
                f"peak RSS < {TARGET_RSS_MIB} MiB (rbdmove copy, default window)",
                "-" if rss is None else f"{rss:.0f} MiB",
                ", ".join(f"{v:.0f}" for v in summary["rss"]),
                verdict(rss is not None and rss < TARGET_RSS_MIB),
            ],
            [
                "copies equal to the source",
                "yes" if allok else "NO",
                "",
                verdict(allok),
            ],
        ],
        align=["<", ">", "<", "<"],
    )
    out.text(
        "Not targets, for reading the above: rbd pipe time with the snapshot "
        "calls the job needs / rbdmove copy time: full "
        + ", ".join(fx(v) for v in summary["speedup_snap"])
        + "; delta "
        + ", ".join(fx(v) for v in summary["delta_speedup_snap"])
        + ". rbd pipe time / rbdmove's data transfer alone (full copy): "
        + ", ".join(fx(v) for v in summary["speedup_xfer"])
        + "."
    )
    out.text()
    out.text(
        "For reference, the rbd CLI's delta stream was "
        + ", ".join(fx(v, 1) for v in summary["delta_rbd_ratio"])
        + " the bytes written; rbd pipe time / rbdmove copy time for the delta: "
        + ", ".join(fx(v) for v in summary["delta_speedup"])
        + "."
    )
    out.close()
    return 0 if allok else 1


if __name__ == "__main__":
    sys.exit(main())
