# diffusion-lite: `make lab` opens the book, `make test` runs every test. Both set everything up first
# (virtual environment, packages, Fashion-MNIST, notebooks) and are safe to run again.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
CHAPTERS := $(sort $(wildcard chapters/[0-9][0-9]_*.py))
NOTEBOOKS := $(CHAPTERS:.py=.ipynb)
PORT ?= 8888
LAB_FLAGS ?=
# Two pytest workers on two cores: one torch thread per worker (and per chapter kernel).
TEST_ENV := OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 PYDEVD_DISABLE_FILE_VALIDATION=1

.PHONY: lab test book setup data download-data notebooks checkpoints clean

lab: setup
	$(VENV)/bin/jupyter lab --notebook-dir=chapters --ServerApp.ip=127.0.0.1 --port=$(PORT) $(LAB_FLAGS)

test: setup chromium
	$(TEST_ENV) $(PY) -m pytest -n 2 --dist loadfile --nbval --nbval-current-env --nbval-cell-timeout=600 \
		tests $(NOTEBOOKS)

# The static HTML book in build/html/ (open build/html/index.html): every chapter executed, with its
# figures and math, readable offline. Navigation from chapters/toc.yml; see scripts/build_book.py.
book: setup
	$(PY) scripts/build_book.py --out build/html

setup: $(STAMP) data notebooks

$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check -q -r requirements.txt
	$(PY) -m pip install --disable-pip-version-check -q --no-deps -e .
	touch $@

# Fashion-MNIST: verified if present; else Debian's package where we are root with apt-get; else upstream.
data: $(STAMP)
	@if ! $(PY) -m diffusion_lite data check >/dev/null 2>&1; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			echo "Installing Fashion-MNIST with apt-get (dataset-fashion-mnist)"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist >/dev/null; \
		else \
			echo "Downloading Fashion-MNIST into data/fashion-mnist/"; \
			$(PY) -m diffusion_lite data download; \
		fi; \
		$(PY) -m diffusion_lite data check; \
	fi

# Chromium for tests/test_browser.py: Debian's package where we are root with apt-get (the test is skipped
# without it). Never fatal: the rest of the tests do not need a browser.
.PHONY: chromium
chromium:
	@if [ ! -x /usr/bin/chromium ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "Installing Chromium with apt-get (chromium), for the browser test"; \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
			|| echo "Could not install chromium; tests/test_browser.py will be skipped"; \
	fi

# The guidance scale at which the class-conditional checkpoint's metrics are recorded (chapter 06 chooses it).
CFG_SCALE ?= 2
# Retrain the book's checkpoints in data/checkpoints/ from scratch on the CPU (each records its time and metric);
# `make checkpoint-NAME` retrains one. The latent models come after the autoencoder they are built on.
CHECKPOINTS := fashion_classifier fashion_ddpm fashion_cfg fashion_vae fashion_ldm scenes_clip scenes_ldm
.PHONY: $(addprefix checkpoint-,$(CHECKPOINTS))
checkpoints: $(addprefix checkpoint-,$(CHECKPOINTS))

checkpoint-fashion_classifier: $(STAMP) data
	$(PY) scripts/train_classifier.py

checkpoint-fashion_ddpm: $(STAMP) data
	$(PY) -m diffusion_lite train --recipe fashion-ddpm --out data/runs/fashion-ddpm --evaluate 1000 \
		--export data/checkpoints/fashion_ddpm

checkpoint-fashion_cfg: $(STAMP) data
	$(PY) -m diffusion_lite train --recipe fashion-cfg --out data/runs/fashion-cfg --evaluate 1000 \
		--guidance-scale $(CFG_SCALE) --export data/checkpoints/fashion_cfg

checkpoint-fashion_vae: $(STAMP) data
	$(PY) -m diffusion_lite train --recipe fashion-vae --out data/runs/fashion-vae --threads 2 --evaluate 1000 \
		--export data/checkpoints/fashion_vae

# On the autoencoder above: retraining fashion_vae means retraining fashion_ldm (it checks the SHA-256). A run
# folder data/runs/NAME left from training on the old autoencoder is refused, not resumed: delete it first.
checkpoint-fashion_ldm: $(STAMP) data
	$(PY) -m diffusion_lite train --recipe fashion-ldm --out data/runs/fashion-ldm --threads 2 --evaluate 1000 \
		--export data/checkpoints/fashion_ldm

# The text encoder (chapter 08), trained CLIP-style on captioned scenes; its metric is caption retrieval.
checkpoint-scenes_clip: $(STAMP) data
	$(PY) -m diffusion_lite train --recipe scenes-clip --out data/runs/scenes-clip --threads 2 --evaluate 1000 \
		--export data/checkpoints/scenes_clip

# The guidance scale at which the text-to-image checkpoint's prompt fidelity is recorded (chapter 10 sweeps it).
SCENES_CFG_SCALE ?= 3
# Text-to-image (chapter 10): a latent DDPM on fashion_vae, reading captions through scenes_clip's frozen text
# encoder; retraining either means retraining this (it checks both SHA-256s). Its metric is prompt fidelity.
checkpoint-scenes_ldm: $(STAMP) data
	$(PY) -m diffusion_lite train --recipe scenes-ldm --out data/runs/scenes-ldm --threads 2 --evaluate 1000 \
		--guidance-scale $(SCENES_CFG_SCALE) --export data/checkpoints/scenes_ldm

download-data: $(STAMP)
	$(PY) -m diffusion_lite data download

notebooks: $(NOTEBOOKS)

chapters/%.ipynb: chapters/%.py $(STAMP)
	$(VENV)/bin/jupytext --quiet --update --to ipynb $<
	@touch $@

clean:
	rm -rf $(VENV) chapters/*.ipynb
