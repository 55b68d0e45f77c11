"""``python -m nemesis.powerfs mount|unmount|drop|sync|status|serve``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from nemesis.powerfs.mount import PowerFsError, control, mount, preflight, status, unmount


def serve(backing: Path, mountpoint: Path) -> None:
    """Run the filesystem in the foreground until it is unmounted."""
    preflight()
    import mfusepy

    from nemesis.powerfs.fs import PowerFs

    mfusepy.FUSE(
        PowerFs(str(backing)),
        str(mountpoint),
        foreground=True,
        nothreads=True,
        attr_timeout=0,
        entry_timeout=0,
        negative_timeout=0,
        fsname="powerfs",
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m nemesis.powerfs", description=__doc__)
    sub = parser.add_subparsers(dest="cmd", required=True)
    for name in ("mount", "serve"):
        p = sub.add_parser(name, help="mount in the background" if name == "mount" else None)
        p.add_argument("backing", type=Path)
        p.add_argument("mountpoint", type=Path)
        if name == "mount":
            p.add_argument("--log", type=Path, help="where the server writes (default: discard)")
    for name, text in (
        ("unmount", "unmount (lazily if busy)"),
        ("drop", "power loss: forget all unsynced writes"),
        ("sync", "make all writes durable"),
        ("status", "files and unsynced bytes held"),
    ):
        sub.add_parser(name, help=text).add_argument("mountpoint", type=Path)
    args = parser.parse_args(argv)
    try:
        if args.cmd == "serve":
            serve(args.backing, args.mountpoint)
        elif args.cmd == "mount":
            proc = mount(args.backing, args.mountpoint, args.log)
            print(f"powerfs: {args.backing} mounted at {args.mountpoint} (server pid {proc.pid})")
        elif args.cmd == "unmount":
            unmount(args.mountpoint)
        elif args.cmd == "status":
            print(status(args.mountpoint), end="")
        else:
            control(args.mountpoint, args.cmd)
    except PowerFsError as exc:
        print(f"powerfs: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
