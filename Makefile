# Two commands do everything on a fresh machine:
#   make demo   set up (virtual environment, package, headless browser) and run the main job
#   make test   set up and run the test suite (what .ci/run calls)
VENV ?= .venv
PY := $(VENV)/bin/python
DEMO_OUT ?= runs/demo

.PHONY: setup demo test bench lint clean
setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml constraints.txt scripts/install_browser.sh
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# constraints.txt pins the CPU build of torch that is on disk: never a CUDA download
	$(PY) -m pip install -q -c constraints.txt -e '.[test]'
	scripts/install_browser.sh
	touch $@

demo: setup
	mkdir -p $(dir $(DEMO_OUT))
	$(VENV)/bin/hyperinterp demo --out $(DEMO_OUT)

# two test processes, each test file whole in one of them (a file's fixtures and its Ray cluster stay together):
# most tests leave a core idle, so the suite takes about 3/4 of its serial time on 2 cores
test: setup
	$(VENV)/bin/pytest -q -n 2 --dist loadfile

bench: setup
	$(VENV)/bin/hyperinterp bench

lint: setup
	$(VENV)/bin/ruff check src tests benchmarks

clean:
	rm -rf $(VENV) runs/demo
