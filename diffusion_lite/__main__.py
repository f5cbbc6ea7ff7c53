"""The command line: `python -m diffusion_lite COMMAND ...` (or `diffusion-lite COMMAND ...`).

    data check                  say where Fashion-MNIST was found, after verifying it
    data download [--dest D]    fetch Fashion-MNIST from upstream into data/fashion-mnist/ and verify it
"""
from __future__ import annotations

import argparse
import sys

from . import datasets


def _data(args) -> int:
    try:
        if args.action == "check":
            folder = datasets.find_fashion_mnist()
            for split in ("train", "test"):
                images, _ = datasets.load_fashion_mnist(split)
                print(f"{split}: {len(images)} images, verified")
            print(f"Fashion-MNIST OK in {folder}")
        else:
            folder = datasets.download_fashion_mnist(args.dest, args.url)
            print(f"Fashion-MNIST downloaded and verified in {folder}")
    except datasets.DataError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m diffusion_lite", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    data = commands.add_parser("data", help="check or download Fashion-MNIST")
    data.add_argument("action", choices=("check", "download"))
    data.add_argument("--dest", default=str(datasets.REPO_DIR), help="download folder (default: %(default)s)")
    data.add_argument("--url", default=datasets.UPSTREAM_URL, help="base URL of the four files (default: %(default)s)")
    args = parser.parse_args(argv)
    return {"data": _data}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
