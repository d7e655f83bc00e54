"""``python -m acgan_lib.book execute|refresh|build|check|screenshot|report``.

The build tooling lives in the checkout's ``tools/book/`` (not in the installed package);
this thin entry point finds it next to the package.
"""
import sys

from .core import repo_root

root = repo_root()
if root is None or not (root / "tools" / "book" / "cli.py").exists():
    print("error: the book's tooling (tools/book/) is only in a checkout of the repository; "
          "clone it to execute, check or build the book", file=sys.stderr)
    sys.exit(2)
sys.path.insert(0, str(root))
from tools.book.cli import main  # noqa: E402

sys.exit(main())
