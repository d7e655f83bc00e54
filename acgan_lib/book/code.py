"""Show the library code a chapter teaches (d2l's ``#@save`` the other way round: the
library stays the single copy and the chapter displays it)."""
from __future__ import annotations

import inspect
import textwrap


def source(*objs) -> None:
    """Display the source of each function, method or class in ``objs`` (highlighted in a
    notebook, printed elsewhere)."""
    for obj in objs:
        code = textwrap.dedent(inspect.getsource(obj))
        try:
            from IPython.display import Code, display
        except ImportError:
            print(code)
        else:
            display(Code(code, language="python"))
