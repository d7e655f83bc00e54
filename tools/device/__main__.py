"""``python -m tools.device {job}``: the GPU lease's tools (see tools/device/job.py)."""
import sys

VERBS = {"job": "tools.device.job"}


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in VERBS:
        print(f"usage: python -m tools.device {{{','.join(VERBS)}}} ... (got {argv[0] if argv else 'nothing'})",
              file=sys.stderr)
        return 2
    import importlib

    return importlib.import_module(VERBS[argv[0]]).main(argv[1:])


if __name__ == "__main__":
    raise SystemExit(main())
