"""The book's build tooling, kept out of the installed ``acgan_lib`` package (as d2l keeps
``d2lbook`` apart from ``d2l``): the papermill executor (:mod:`.execute`), the notebook
conversion and stale check (:mod:`.notebooks`), the Jupyter Book build and the headless
Chromium page check (:mod:`.site`), and their command line (:mod:`.cli`), reached as
``python -m acgan_lib.book execute|refresh|build|check|screenshot|report`` from a checkout.
"""
